"""The two kinds of failure modelscout distinguishes.

``UserError``: the input is wrong (a missing file, a malformed spec, an unknown
candidate). The CLI prints its one-line message and exits with code 2.

``CandidateError``: one candidate cannot be measured (corrupt weights, pickle
weights without opt-in, remote code without opt-in). The run goes on; the
candidate becomes a ``failed`` row carrying the message as its reason.
"""

from __future__ import annotations

import tempfile
from pathlib import Path


class UserError(Exception):
    """Bad input: the message says what was wrong and what to do about it."""


class CandidateError(Exception):
    """One candidate cannot be loaded or measured; the message is its reason."""


def require_file(path: str | Path) -> Path:
    """``path`` as a Path, or the ``UserError`` for a data file that is not there."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"data file {path} does not exist; check the path given to --data")
    return path


def require_writable_folder(path: str | Path, setting: str = "--output") -> Path:
    """``path`` as a Path to a folder that exists (created if need be) and takes new files, or
    the ``UserError`` saying why not, naming ``setting``: checked by writing (permissions alone
    can lie), before any measuring, not after."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{setting} {folder} is a file, not a folder; give {setting} a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".modelscout-write-check-"):
            pass
    except OSError as error:
        raise UserError(
            f"cannot write to {setting} folder {folder} ({error.strerror or error}); "
            f"give {setting} a writable folder"
        ) from None
    return folder


def one_line(error: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message, prefixed by its type when unhelpful alone."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if not isinstance(error, (UserError, CandidateError)):
        text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
