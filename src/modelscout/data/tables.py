"""Read the user's table (a file, a ``pandas.DataFrame`` or a ``datasets.Dataset``) and check
its columns: the parts every modality's table shares.

Everything a user can get wrong about the table is a one-line ``UserError`` saying what to fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelscout.errors import UserError, require_file
from modelscout.spec import in_memory_kind

READERS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "json", ".parquet": "parquet"}
DEFAULT_SLICE_COLUMNS = ("language", "lang", "locale")
# Values that are many values (or raw bytes): as a label or slice their Python repr,
# "['x']", would become a class or a slice of its own.
NOT_ONE_VALUE = (list, tuple, dict, set, frozenset, np.ndarray, bytes, bytearray)


@dataclass
class Table:
    """A table as read, with what messages and relative paths need to know about it."""

    frame: pd.DataFrame  # index 0..N-1
    where: str  # its name in messages: the file name, "the DataFrame" or "the Dataset"
    source: str  # what the report says the data was
    offset: int  # row index + offset = the row number the user sees (a CSV's header is line 1)
    folder: Path  # where paths in the table are relative to


def read_table(path: Path) -> pd.DataFrame:
    """The file at ``path`` as a DataFrame of strings (CSV/TSV) or JSON/Parquet values."""
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise UserError(
            f"{path.name}: unsupported file type {path.suffix or '(none)'}; "
            "use .csv, .tsv, .jsonl, .json or .parquet"
        )
    try:
        if kind in ("csv", "tsv"):
            return pd.read_csv(
                path,
                sep="\t" if kind == "tsv" else ",",
                encoding="utf-8",
                encoding_errors="strict",
                dtype=str,
                keep_default_na=False,
                na_values=[""],
            )
        if kind in ("jsonl", "json"):
            raw = path.read_bytes().decode("utf-8")
            # A .json file holds either one array of objects or (as many exports name it) one
            # object per line; the first character tells which.
            array = kind == "json" and raw.lstrip().startswith("[")
            return pd.read_json(StringIO(raw), lines=not array, orient="records", dtype=False)
        return pd.read_parquet(path)
    except UnicodeDecodeError as error:
        raise UserError(
            f"{path.name} is not valid UTF-8 (byte 0x{error.object[error.start]:02x} at offset "
            f"{error.start}); re-save it as UTF-8"
        ) from None
    except (ValueError, pd.errors.ParserError, OSError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"{path.name} could not be read as {kind}: {first}") from None


def open_table(source: str | Path | Any) -> Table:
    """The table in ``source``: a file path, a ``pandas.DataFrame`` or a ``datasets.Dataset``."""
    kind = in_memory_kind(source)
    if kind == "DataFrame":
        frame = source.reset_index(drop=True)
        return Table(frame, "the DataFrame", f"pandas.DataFrame ({len(source)} rows)", 0, Path())
    if kind == "Dataset":
        frame = source.to_pandas()
        return Table(frame, "the Dataset", f"datasets.Dataset ({len(source)} rows)", 0, Path())
    path = require_file(source)
    offset = 2 if READERS.get(path.suffix.lower()) in ("csv", "tsv") else 1
    frame = read_table(path).reset_index(drop=True)
    return Table(frame, path.name, str(path), offset, path.parent)


def column(frame: pd.DataFrame, name: str, role: str, flag: str, where: str) -> pd.Series:
    """The column ``name``, or the ``UserError`` listing the columns there are."""
    if name not in frame.columns:
        available = ", ".join(map(str, frame.columns[:12]))
        raise UserError(
            f"{where} has no {role} column '{name}' (columns: {available}); pass {flag}"
        )
    return frame[name]


def require_strings(values: pd.Series, name: str, role: str, where: str, offset: int) -> None:
    """Refuse a text (or path) column holding lists, dicts, arrays, bytes or numbers: turned
    into their Python repr they would be read as if they were the text."""
    not_text = values.map(lambda value: not isinstance(value, str)) & values.notna()
    if not_text.any():
        row, kind = first_found(values, not_text)
        raise UserError(
            f"{where}: {role} column '{name}' holds {kind} values, not text (first at row "
            f"{row + offset}); give a column of strings (join or flatten the values first)"
        )


def require_single_values(values: pd.Series, name: str, role: str, where: str, offset: int) -> None:
    """Refuse a label or slice column holding lists, dicts, arrays or bytes. Strings and
    numbers (a 0/1 label, a year slice) are single values, kept and read as text."""
    nested = values.map(lambda value: isinstance(value, NOT_ONE_VALUE))
    if nested.any():
        row, kind = first_found(values, nested)
        raise UserError(
            f"{where}: {role} column '{name}' holds {kind} values, not one value per row "
            f"(first at row {row + offset}); give a string or number in each row"
        )


def require_filled(values: pd.Series, name: str, where: str, offset: int) -> None:
    """``UserError`` naming the first rows whose value is empty, if any."""
    empty = values.isna() | (values.astype(str).str.strip() == "")
    if empty.any():
        first = values.index[np.flatnonzero(empty.to_numpy())[:5]]
        rows = ", ".join(str(i + offset) for i in first)
        lines = "file lines" if offset == 2 else "rows"
        raise UserError(
            f"{where}: {int(empty.sum())} row(s) have an empty '{name}' "
            f"({lines} {rows}{'…' if empty.sum() > 5 else ''}); fill or drop them"
        )


def first_found(values: pd.Series, found: pd.Series) -> tuple[int, str]:
    """The position of the first ``found`` row, and the type name of its value."""
    row = int(np.flatnonzero(found.to_numpy())[0])
    kind = type(values.iloc[row])
    name = kind.__qualname__
    if kind.__module__ != "builtins":
        name = f"{kind.__module__.split('.')[0]}.{name}"
    return row, name


def slice_values(frame: pd.DataFrame, names: list[str]) -> dict[str, np.ndarray]:
    """Each slice column as (N,) str; a missing value is the slice "(missing)"."""
    # as objects: a numeric column (a year) cannot hold the "(missing)" text
    return {
        name: frame[name].astype(object).fillna("(missing)").astype(str).to_numpy()
        for name in names
    }
