"""ModelMeta: one normalized record of what is known about a candidate without running it.

Every field may be unknown (None); unknown is shown as unknown, never guessed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from modelscout.catalog.files import read_json
from modelscout.catalog.modality import folder_modality, image_size, tasks_for, vision_embedding_dim
from modelscout.records import ModelMeta

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
)
LAYER_INDEX = re.compile(r"\.(?:layer|layers|h|block|blocks)\.(\d+)\.")


# config.json's name for the number of transformer layers: BERT-likes, GPT-2, DistilBERT, T5.
LAYER_KEYS = ("num_hidden_layers", "n_layer", "n_layers", "num_layers")


def config_layers(config: dict[str, Any]) -> tuple[int, str] | None:
    """The number of transformer layers config.json gives, and the key it is under."""
    for key in LAYER_KEYS:
        if (count := as_int(config.get(key))) is not None:
            return count, key
    return None


def read_config(folder: Path) -> dict[str, Any]:
    """The folder's config.json as a dict; {} when it is missing or unreadable."""
    return read_json(folder / "config.json")


# Config and card fields are read by type: a value of another type (a card's `language: 5`, a
# config's `hidden_size: "big"`) is unknown, never guessed at nor a reason to fail.
def as_int(value: Any) -> int | None:
    """An integer, or None (a bool is no count)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_text(value: Any) -> str | None:
    """A non-empty string, or None."""
    return value if isinstance(value, str) and value else None


def as_names(value: Any) -> str | None:
    """A name, or a list of names joined: a card may give several base models or licences."""
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return ", ".join(value)
    return as_text(value)


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _as_list(value: Any) -> list[str] | None:
    """A string or a list of them as a list; the strings of a mixed list; else None."""
    items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return [v for v in items if isinstance(v, str)] or None


def first_architecture(config: dict[str, Any]) -> str | None:
    architectures = config.get("architectures")
    return as_text(architectures[0]) if isinstance(architectures, list) and architectures else None


def read_card(folder: Path) -> tuple[dict[str, Any], list[str]]:
    """The YAML front matter of README.md and the titles of its sections."""
    readme = folder / "README.md"
    if not readme.is_file():
        return {}, []
    from huggingface_hub import metadata_load

    try:
        front = metadata_load(readme) or {}
    except Exception:  # a malformed card is a card with no metadata, not a failure
        front = {}
    text = readme.read_text(encoding="utf-8", errors="replace")
    text = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    sections = [m.strip() for m in re.findall(r"^#{1,3}\s+(.+)$", text, flags=re.MULTILINE)]
    return front, sections


def _weights(folder: Path) -> tuple[list[Path], str | None]:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    safetensors = [p for p in files if p.suffix == ".safetensors"]
    pickles = [p for p in files if p.suffix in PICKLE_SUFFIXES and "optimizer" not in p.name]
    if safetensors:
        return safetensors, "safetensors"
    if pickles:
        return pickles, "pickle"
    return [], None


def count_params(files: list[Path], keep_layers: int | None = None) -> int | None:
    """Parameter count from safetensors headers, without loading any tensor.

    With ``keep_layers`` the tensors of transformer layers numbered ``keep_layers``
    and above are left out, which is the count of the first-K-layers variant.
    """
    from safetensors import safe_open

    total = 0
    for path in files:
        if path.suffix != ".safetensors":
            return None
        with safe_open(str(path), framework="numpy") as handle:
            for name in handle.keys():  # noqa: SIM118 - safe_open is not a mapping
                match = LAYER_INDEX.search(f".{name}")
                if keep_layers is not None and match and int(match.group(1)) >= keep_layers:
                    continue
                count = 1
                for size in handle.get_slice(name).get_shape():
                    count *= size
                total += count
    return total


def _max_input_tokens(folder: Path, config: dict[str, Any]) -> int | None:
    limits = []
    st_config = read_json(folder / "sentence_bert_config.json")
    if isinstance(st_config.get("max_seq_length"), int):
        limits.append(st_config["max_seq_length"])
    tokenizer = read_json(folder / "tokenizer_config.json")
    if isinstance(tokenizer.get("model_max_length"), int) and tokenizer["model_max_length"] < 10**6:
        limits.append(tokenizer["model_max_length"])
    if isinstance(config.get("max_position_embeddings"), int):
        limits.append(config["max_position_embeddings"])
    return min(limits) if limits else None


def _embedding_dim(folder: Path, config: dict[str, Any]) -> int | None:
    modules = (
        json.loads((folder / "modules.json").read_text())
        if (folder / "modules.json").is_file()
        else []
    )
    dim = None
    for module in modules:
        module_config = read_json(folder / module.get("path", "") / "config.json")
        if "Pooling" in module.get("type", ""):
            width = module_config.get("word_embedding_dimension") or module_config.get(
                "embedding_dimension"
            )
            modes = [
                k for k, v in module_config.items() if k.startswith("pooling_mode_") and v is True
            ]
            dim = width * max(1, len(modes)) if width else None
        elif "Dense" in module.get("type", ""):
            dim = module_config.get("out_features", dim)
    for key in ("hidden_size", "d_model", "dim"):
        dim = dim or as_int(config.get(key))
    return as_int(dim) or None


def read_folder_meta(folder: Path, author: str | None = None) -> ModelMeta:
    """Everything the files in a Hugging Face format folder say about the model."""
    config = read_json(folder / "config.json")
    front, sections = read_card(folder)
    front = as_dict(front)
    weight_files, weight_format = _weights(folder)
    tokenizers = [name for name in TOKENIZER_FILES if (folder / name).is_file()]
    modality = folder_modality(folder, config, bool(tokenizers))
    return ModelMeta(
        modality=modality,
        tasks=tasks_for(modality),
        library="sentence-transformers" if (folder / "modules.json").is_file() else "transformers",
        model_type=as_text(config.get("model_type")),
        architecture=first_architecture(config),
        params=count_params(weight_files) if weight_format == "safetensors" else None,
        disk_size_bytes=sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()),
        embedding_dim=(
            (modality == "image" and vision_embedding_dim(config)) or _embedding_dim(folder, config)
        ),
        layers=(config_layers(config) or (None,))[0],
        max_input_tokens=_max_input_tokens(folder, config) if modality != "image" else None,
        image_size=image_size(folder, config) if modality == "image" else None,
        license=as_names(front.get("license")),
        languages=_as_list(front.get("language")),
        datasets=_as_list(front.get("datasets")),
        pipeline_tag=as_text(front.get("pipeline_tag")),
        base_model=as_names(front.get("base_model")),
        author=author,
        weight_format=weight_format,
        weight_files=[str(p.relative_to(folder)) for p in weight_files],
        tokenizer_files=tokenizers,
        needs_remote_code="auto_map" in config,
        card_sections=sections,
    )
