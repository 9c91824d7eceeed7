"""Candidates from the Hugging Face Hub: the local cache first, a download when allowed.

Nothing reaches the network unless the id is not cached and ``HF_HUB_OFFLINE``
is unset; pickle weights are never downloaded unless the user opted in.
"""

from __future__ import annotations

import re
from pathlib import Path

_REPO_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")
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


def find(repo_id: str, allow_pickle: bool = False) -> tuple[str, Path, str] | None:
    """The snapshot folder and commit sha of a Hub model, or None if it can't be had."""
    if not _REPO_ID.match(repo_id) or repo_id.startswith("."):
        return None
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    patterns = SAFE_PATTERNS + (PICKLE_PATTERNS if allow_pickle else [])
    try:
        folder = Path(snapshot_download(repo_id, allow_patterns=patterns, local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError):
        folder = _download(repo_id, patterns)
    if folder is None:
        return None
    return "hub", folder, folder.name


def _download(repo_id: str, patterns: list[str]) -> Path | None:
    from huggingface_hub import constants, snapshot_download

    if constants.HF_HUB_OFFLINE:
        return None
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns))
    except Exception:  # no network, unknown repo, gated repo: the id does not resolve
        return None
