"""Candidates from the Hugging Face Hub: the local cache first, then the Hub's metadata.

Nothing reaches the network unless the id is not cached and ``HF_HUB_OFFLINE``
is unset. A model that is not cached is described from ``model_info`` alone, so
the metadata requirements are checked before anything is downloaded; only an
accepted candidate is downloaded (``download``). Pickle weights are fetched only
with ``allow_pickle`` and the model's own Python code only with ``trust_remote_code``.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

from modelscout.catalog.meta import (
    PICKLE_SUFFIXES,
    TOKENIZER_FILES,
    _as_list,
    as_dict,
    as_int,
    as_names,
    as_text,
    config_layers,
    first_architecture,
    read_config,
)
from modelscout.errors import UserError
from modelscout.records import HubModel, ModelMeta

# org/name, optionally @revision (a branch, tag or commit sha; tags and PR refs may hold "/").
_HUB_ID = re.compile(r"^(?P<repo>[\w.-]+(?:/[\w.-]+)?)(?:@(?P<revision>[\w./-]+))?$")
SAFE_PATTERNS = [
    "*.json",
    "*.txt",
    "*.model",
    "*.safetensors",
    "*.md",
    "*/*.json",
    "*/*.safetensors",
]
PICKLE_PATTERNS = ["*.bin", "*/*.bin"]
CODE_PATTERNS = ["*.py"]


def parse_id(text: str) -> tuple[str, str | None] | None:
    """``(repo_id, revision)`` of ``org/name[@revision]``, or None when ``text`` is no Hub id."""
    match = _HUB_ID.match(text)
    if match is None or text.startswith("."):
        return None
    return match["repo"], match["revision"]


def allow_patterns(allow_pickle: bool = False, trust_remote_code: bool = False) -> list[str]:
    """The files a download fetches: configs, tokenizers, safetensors, and what was opted in."""
    return (
        SAFE_PATTERNS
        + (PICKLE_PATTERNS if allow_pickle else [])
        + (CODE_PATTERNS if trust_remote_code else [])
    )


def find(text: str, allow_pickle: bool = False, trust_remote_code: bool = False) -> HubModel | None:
    """The cached snapshot of a Hub id, else its Hub metadata; None if it is no Hub id or
    the Hub is off. A Hub that refuses or does not answer raises ``UserError``."""
    parsed = parse_id(text)
    if parsed is None:
        return None
    repo_id, revision = parsed
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    patterns = allow_patterns(allow_pickle, trust_remote_code)
    try:
        folder = Path(
            snapshot_download(
                repo_id, revision=revision, allow_patterns=patterns, local_files_only=True
            )
        )
        return HubModel(repo_id, revision, folder.name, folder=folder)
    except (LocalEntryNotFoundError, OSError, ValueError):
        pass
    if constants.HF_HUB_OFFLINE:
        return None
    info = _model_info(repo_id, revision)
    return HubModel(repo_id, revision, info.sha, meta=meta_from_info(info, patterns))


def download(model: HubModel, allow_pickle: bool, trust_remote_code: bool) -> Path:
    """Download the snapshot of an accepted candidate; the folder is named by its commit."""
    from huggingface_hub import snapshot_download

    patterns = allow_patterns(allow_pickle, trust_remote_code)
    with _plain_hub_errors(model.repo_id, model.revision):
        # The revision as named (not the commit) so the cache records the branch or tag
        # too, and the next run finds the snapshot without asking the Hub.
        return Path(
            snapshot_download(model.repo_id, revision=model.revision, allow_patterns=patterns)
        )


def fetch_config(model: HubModel) -> dict[str, Any]:
    """The config.json of a Hub model not downloaded yet (a few kB; {} if it has none), so that
    variants are checked before the weights come: the Hub's ``model_info`` gives only a few
    keys of it (architectures, model_type), not the layers or positions.

    It is fetched into a scratch folder, not the cache: huggingface_hub takes a snapshot folder
    in the cache for a downloaded model, even one holding only config.json."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import RemoteEntryNotFoundError

    with tempfile.TemporaryDirectory() as scratch, _plain_hub_errors(model.repo_id, model.revision):
        try:
            hf_hub_download(model.repo_id, "config.json", revision=model.commit, local_dir=scratch)
        except RemoteEntryNotFoundError:
            return {}
        return read_config(Path(scratch))


def _model_info(repo_id: str, revision: str | None) -> Any:
    from huggingface_hub import HfApi

    api = HfApi()
    with _plain_hub_errors(repo_id, revision):
        info = api.model_info(repo_id, revision=revision, files_metadata=True)
        if info.gated:  # a gated model's metadata is public, its files are not: ask first
            api.auth_check(repo_id)
    return info


@contextmanager
def _plain_hub_errors(repo_id: str, revision: str | None) -> Iterator[None]:
    """Turns what the Hub answers with into one line that says what to do."""
    try:
        yield
    except Exception as error:
        message = hub_error_message(error, repo_id, revision)
        if message is None:
            raise
        raise UserError(message) from error


def hub_error_message(error: BaseException, repo_id: str, revision: str | None) -> str | None:
    """The one-line explanation of a Hub failure, or None for an error that is not the Hub's."""
    from huggingface_hub import constants
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )
    from huggingface_hub.utils import httpx  # httpx2, exported as httpx from huggingface_hub 2.0

    page = f"{constants.ENDPOINT}/{repo_id}"
    login = "log in with `hf auth login` (or set HF_TOKEN)"
    if isinstance(error, GatedRepoError):
        return f"{repo_id} is gated on the Hub: accept its terms at {page} and {login}"
    if isinstance(error, RevisionNotFoundError):
        return f"{repo_id} has no revision '{revision}' on the Hub; name a branch, tag or commit"
    if isinstance(error, RepositoryNotFoundError):
        status = error.response.status_code if error.response is not None else None
        if status in (401, 403):
            return f"{repo_id} is private on the Hub or does not exist: check the id, or {login}"
        return f"unknown candidate '{repo_id}': no such model on the Hub ({page})"
    if isinstance(error, (httpx.TransportError, OfflineModeIsEnabled)):
        return (
            f"cannot reach the Hub at {constants.ENDPOINT} to fetch {repo_id} ({error}); check "
            "the network, or download it beforehand and set HF_HUB_OFFLINE=1"
        )
    if isinstance(error, HfHubHTTPError):
        return f"the Hub refused {repo_id}: {str(error).splitlines()[0]}"
    return None


def meta_from_info(info: Any, patterns: list[str]) -> ModelMeta:
    """ModelMeta from the Hub's ``model_info`` (with ``files_metadata``): what is known before
    downloading. Sizes count the files a download would fetch, as for a downloaded folder."""
    from huggingface_hub.utils import filter_repo_objects

    card = info.card_data.to_dict() if info.card_data else {}
    config = as_dict(info.config)
    sizes = {s.rfilename: s.size or 0 for s in info.siblings or []}
    kept = set(filter_repo_objects(sizes, allow_patterns=patterns))
    safetensors = sorted(n for n in sizes if n.endswith(".safetensors"))
    pickles = sorted(
        n for n in sizes if n.endswith(PICKLE_SUFFIXES) and "optimizer" not in PurePosixPath(n).name
    )
    sentence_transformers = "modules.json" in sizes
    return ModelMeta(
        library="sentence-transformers" if sentence_transformers else "transformers",
        model_type=as_text(config.get("model_type")),
        architecture=first_architecture(config),
        params=info.safetensors.total if info.safetensors else None,
        disk_size_bytes=sum(size for name, size in sizes.items() if name in kept) or None,
        embedding_dim=None if sentence_transformers else as_int(config.get("hidden_size")),
        layers=(config_layers(config) or (None,))[0],
        max_input_tokens=as_int(config.get("max_position_embeddings")),
        license=_license(card, info.tags or []),
        languages=_as_list(card.get("language")),
        datasets=_as_list(card.get("datasets")),
        pipeline_tag=info.pipeline_tag,
        base_model=as_names(card.get("base_model")),
        author=info.author or (info.id.split("/")[0] if "/" in info.id else None),
        weight_format="safetensors" if safetensors else "pickle" if pickles else None,
        weight_files=safetensors or pickles,
        tokenizer_files=[name for name in TOKENIZER_FILES if name in sizes],
        needs_remote_code="auto_map" in config,
    )


def _license(card: dict[str, Any], tags: list[str]) -> str | None:
    found = [tag.removeprefix("license:") for tag in tags if tag.startswith("license:")]
    return as_names(card.get("license")) or (found[0] if found else None)
