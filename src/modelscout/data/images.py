"""Image data: find the image files (a folder per class, or a table's path column), check that
each one reads, and load one image as the models want it.

Imports Pillow and numpy only, so that the image backends can import ``load_image`` from here.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from modelscout.errors import UserError, one_line

# Up to this share of unreadable images is left out (and listed); past it the data is more
# likely mis-exported than sparsely damaged, and ranking on what remains would mislead.
MAX_UNREADABLE_SHARE = 0.10
SHOWN = 3  # files named in a one-line message


@cache
def image_suffixes() -> frozenset[str]:
    """The file name extensions (".png", lower case) Pillow opens."""
    return frozenset(Image.registered_extensions())


def is_image_path(value: object) -> bool:
    """Whether ``value`` is a string naming a file whose extension Pillow opens."""
    return isinstance(value, str) and Path(value.strip()).suffix.lower() in image_suffixes()


def load_image(path: str | Path) -> Image.Image:
    """The image file at ``path`` as an 8-bit RGB ``PIL.Image.Image``.

    Turned upright as its EXIF orientation tag says (phones store photos sideways and tag
    them); grey, palette and CMYK images converted to RGB; 16-bit grey scaled to 8 bits;
    transparency composited on white. Raises ``OSError`` (``PIL.UnidentifiedImageError`` for a
    file that is no image) when the file cannot be read.
    """
    with Image.open(path) as opened:
        image = ImageOps.exif_transpose(opened)  # a loaded copy: usable after the file closes
    if image.mode.startswith("I"):
        # 16-bit (or 32-bit) grey: convert() would clip every value above 255 to white.
        grey = np.asarray(image, dtype=np.float64) / 257
        image = Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8))
    if image.has_transparency_data:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")


def check_image(path: Path) -> tuple[str, str | None]:
    """The sha256 of the file's bytes, and why it cannot be read as an image (None: it can).

    Reads the header and, where the format checks them cheaply, the data: PNG's chunk
    checksums via ``verify()``; a JPEG decoded at 1/8 scale, which reads every byte of it and
    so finds a truncated file, at a small part of a full decode's cost.
    """
    try:
        raw = path.read_bytes()
    except OSError as error:
        return "", error.strerror or one_line(error)
    digest = hashlib.sha256(raw).hexdigest()
    try:
        with Image.open(BytesIO(raw)) as image:
            if image.format == "JPEG":
                image.draft("RGB", (1, 1))
                image.load()
            else:
                image.verify()
    except UnidentifiedImageError:
        return digest, "not an image file Pillow can read"
    except Exception as error:  # whatever Pillow raises for a damaged file is its reason
        return digest, one_line(error)
    return digest, None


def check_images(paths: list[Path], where: str) -> tuple[list[str], dict[Path, str]]:
    """Every file's sha256, and the unreadable ones with their reasons.

    Files are read on a few threads (the time is disk and decoding, which release the GIL).
    More than ``MAX_UNREADABLE_SHARE`` unreadable is a ``UserError`` naming a few of them.
    """
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        checked = list(pool.map(check_image, paths))
    unreadable = {p: reason for p, (_, reason) in zip(paths, checked, strict=True) if reason}
    if len(unreadable) > MAX_UNREADABLE_SHARE * len(paths):
        raise UserError(
            f"{where}: {len(unreadable)} of {len(paths)} images "
            f"({len(unreadable) / len(paths):.0%}) cannot be read ({_some(unreadable)}); "
            f"fix or remove them (up to {MAX_UNREADABLE_SHARE:.0%} are left out and listed)"
        )
    return [digest for digest, _ in checked], unreadable


def unreadable_note(unreadable: dict[Path, str]) -> str:
    """The sentence the report shows about the images left out."""
    return f"{len(unreadable)} image(s) could not be read and were left out: {_some(unreadable)}"


def _some(unreadable: dict[Path, str]) -> str:
    return _listed([f"{_short(p)}: {reason}" for p, reason in unreadable.items()], "; ")


def _listed(names: list[str], sep: str = ", ") -> str:
    """The first ``SHOWN`` names, and an ellipsis for the rest."""
    return sep.join(names[:SHOWN]) + (f"{sep}…" if len(names) > SHOWN else "")


def _short(path: Path) -> str:
    """The file with its folder (a class's name, in a folder per class)."""
    return f"{path.parent.name}/{path.name}" if path.parent.name else path.name


def folder_images(folder: Path) -> tuple[list[Path], list[str], list[str]]:
    """The image files in each sub-folder of ``folder`` (at any depth below it), the class of
    each (its sub-folder's name), and notes on what was left out; ``UserError`` for a folder
    that is missing or holds no images in sub-folders."""
    if not folder.is_dir():
        raise UserError(f"data folder {folder} does not exist; check the path given to --data")
    subfolders = sorted(p for p in folder.iterdir() if p.is_dir() and not _hidden(p))
    paths: list[Path] = []
    classes: list[str] = []
    others: list[Path] = []
    for subfolder in subfolders:
        files = sorted(p for p in subfolder.rglob("*") if p.is_file() and not _hidden(p))
        images = [p for p in files if p.suffix.lower() in image_suffixes()]
        paths += images
        classes += [subfolder.name] * len(images)
        others += [p for p in files if p.suffix.lower() not in image_suffixes()]
    if not paths:
        raise UserError(
            f"data folder {folder} has no image files in sub-folders; put each class's "
            "images in a sub-folder named after the class"
        )
    notes = []
    if others:
        names = _listed([_short(p) for p in others])
        notes.append(f"{len(others)} file(s) not named as images were left out: {names}")
    return paths, classes, notes


def _hidden(path: Path) -> bool:
    return path.name.startswith(".")


def table_image_paths(values: list[str], folder: Path, name: str, where: str) -> list[Path]:
    """The paths in an image column, relative ones read from ``folder`` (the table's);
    ``UserError`` naming a few that lead to no file."""
    paths = [folder / value.strip() for value in values]  # an absolute path stays as it is
    missing = [p for p in paths if not p.is_file()]
    if missing:
        shown = _listed([str(p) for p in missing])
        base = f"the table's folder {folder}" if str(folder) != "." else "the current folder"
        raise UserError(
            f"{where}: {len(missing)} of {len(paths)} path(s) in image column '{name}' lead to "
            f"no file ({shown}); relative paths are read from {base}"
        )
    return paths
