"""What kind of input a model folder reads, and at what size, from its files alone.

A folder's modality is told by what it ships and declares, in this order: a sentence-transformers
folder or tokenizer files read text; an image processor (``preprocessor_config.json`` with an
``image_processor_type`` or image mean/std) or a vision ``model_type`` reads images; a dual
text-image model (CLIP, SigLIP) in a plain transformers folder is used through its vision tower,
so it reads images. Unknown stays unknown (None), never guessed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelscout.catalog.files import read_json
from modelscout.records import TASKS, Modality, Task

# config.json model types whose inputs are images (the vision towers of CLIP and SigLIP, and SAM's
# image encoder, are read from their dual or full model's folder).
VISION_MODEL_TYPES = frozenset(
    {
        "vit",
        "deit",
        "beit",
        "swin",
        "swinv2",
        "convnext",
        "convnextv2",
        "resnet",
        "efficientnet",
        "mobilenet_v1",
        "mobilenet_v2",
        "mobilevit",
        "dinov2",
        "dinov2_with_registers",
        "clip",
        "clip_vision_model",
        "siglip",
        "siglip_vision_model",
        "sam",
        "sam_vision_model",
        "regnet",
        "levit",
        "poolformer",
        "pvt",
        "focalnet",
    }
)
SPEECH_HINTS = ("feature_extractor_type",)  # with a sampling_rate: an audio model's processor


def processor_config(folder: Path) -> dict[str, Any]:
    """The folder's image processor settings (``preprocessor_config.json``), or {}."""
    return read_json(folder / "preprocessor_config.json")


def _is_image_processor(processor: dict[str, Any]) -> bool:
    return "image_processor_type" in processor or "image_mean" in processor


def folder_modality(folder: Path, config: dict[str, Any], has_tokenizer: bool) -> Modality | None:
    """ "text", "image" or "audio" for a model folder; None when its files do not say."""
    if (folder / "modules.json").is_file():
        return "text"
    processor = processor_config(folder)
    model_type = config.get("model_type")
    vision_type = isinstance(model_type, str) and model_type in VISION_MODEL_TYPES
    if _is_image_processor(processor) or vision_type:
        return "image"
    if "sampling_rate" in processor and any(k in processor for k in SPEECH_HINTS):
        return "audio"
    return "text" if has_tokenizer else None


def tasks_for(modality: Modality | None) -> list[Task]:
    """Every task a feature extractor of a known modality can be probed for (its head, if any,
    is one more source of features, not a limit)."""
    return list(TASKS) if modality is not None else []


def image_size(folder: Path, config: dict[str, Any]) -> int | None:
    """The side in pixels images are fed at: the processor's crop or resize size, else the
    config's ``image_size`` (the vision tower's, for dual models)."""
    processor = processor_config(folder)
    for key in ("crop_size", "size"):
        size = processor.get(key)
        if isinstance(size, int) and not isinstance(size, bool):
            return size
        if isinstance(size, dict):
            for inner in ("height", "shortest_edge", "width"):
                if isinstance(size.get(inner), int):
                    return size[inner]
    for source in (config, config.get("vision_config")):
        if isinstance(source, dict) and isinstance(source.get("image_size"), int):
            return source["image_size"]
    return None


def vision_embedding_dim(config: dict[str, Any]) -> int | None:
    """The width of a vision backbone's pooled features: the last stage's width for
    convolutional stages (``hidden_sizes``), the vision tower's hidden size for dual models."""
    sizes = config.get("hidden_sizes")
    if isinstance(sizes, list) and sizes and isinstance(sizes[-1], int):
        return sizes[-1]
    vision = config.get("vision_config")
    if isinstance(vision, dict) and isinstance(vision.get("hidden_size"), int):
        return vision["hidden_size"]
    return None
