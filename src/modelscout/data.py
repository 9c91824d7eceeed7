"""Load the user's labelled data, check it, fingerprint it and draw the sample.

Everything a user can get wrong about their file is caught here and reported
as a ``UserError`` that says what to fix.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelscout.errors import UserError, require_file
from modelscout.spec import in_memory_kind

READERS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "json", ".parquet": "parquet"}
DEFAULT_SLICE_COLUMNS = ("language", "lang", "locale")
# Every text is cut to this many characters when read. The models cut inputs to at most a few
# thousand tokens (512 for most encoders; a token is 3 to 5 characters of English), so 20,000
# characters is well past what any of them reads, while one 10 MB cell (192 s and 2.2 GB for a
# baseline-only run before the cap) can no longer stall TF-IDF or the tokenizers.
MAX_TEXT_CHARS = 20_000

log = logging.getLogger(__name__)


@dataclass
class TaskData:
    """A labelled text-classification dataset (or a sample of one)."""

    texts: list[str]
    labels: np.ndarray  # (N,) int, indices into ``classes``
    classes: list[str]
    slices: dict[str, np.ndarray] = field(default_factory=dict)  # column -> (N,) str
    source: str = ""
    rows_in_file: int = 0
    rows_dropped: int = 0
    rows_cut: int = 0  # texts cut to MAX_TEXT_CHARS characters
    notes: list[str] = field(default_factory=list)  # what the report must say about the data

    @property
    def fingerprint(self) -> str:
        """sha256 over the texts, labels and slice values, in order."""
        digest = hashlib.sha256()
        for text, label in zip(self.texts, self.labels, strict=True):
            digest.update(
                text.encode("utf-8") + b"\x1f" + self.classes[label].encode("utf-8") + b"\x1e"
            )
        for column in sorted(self.slices):
            digest.update(column.encode("utf-8") + "\x1f".join(self.slices[column]).encode("utf-8"))
        return digest.hexdigest()

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, rows: np.ndarray) -> TaskData:
        """The rows ``rows`` (indices) as a new TaskData with the same classes."""
        return TaskData(
            texts=[self.texts[i] for i in rows],
            labels=self.labels[rows],
            classes=self.classes,
            slices={k: v[rows] for k, v in self.slices.items()},
            source=self.source,
            rows_in_file=self.rows_in_file,
            rows_dropped=self.rows_dropped,
            rows_cut=self.rows_cut,
            notes=list(self.notes),
        )


def _read_table(path: Path) -> pd.DataFrame:
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


def _open(source: str | Path | Any) -> tuple[pd.DataFrame, str, str, int]:
    """The table, its name in messages, its ``source`` description and the offset from a row
    index to the number the user sees (a CSV's line: the header is line 1)."""
    kind = in_memory_kind(source)
    if kind == "DataFrame":
        return (
            source.reset_index(drop=True),
            "the DataFrame",
            f"pandas.DataFrame ({len(source)} rows)",
            0,
        )
    if kind == "Dataset":
        return source.to_pandas(), "the Dataset", f"datasets.Dataset ({len(source)} rows)", 0
    path = require_file(source)
    offset = 2 if READERS.get(path.suffix.lower()) in ("csv", "tsv") else 1
    return _read_table(path).reset_index(drop=True), path.name, str(path), offset


def _column(frame: pd.DataFrame, name: str, role: str, flag: str, where: str) -> pd.Series:
    if name not in frame.columns:
        available = ", ".join(map(str, frame.columns[:12]))
        raise UserError(
            f"{where} has no {role} column '{name}' (columns: {available}); pass {flag}"
        )
    return frame[name]


def _require_strings(texts: pd.Series, column: str, where: str, offset: int) -> None:
    """Refuse a text column holding lists, dicts, arrays, bytes or numbers: turned into their
    Python repr they would be ranked as if they were the text."""
    not_text = texts.map(lambda value: not isinstance(value, str)) & texts.notna()
    if not_text.any():
        row, name = _first_found(texts, not_text)
        raise UserError(
            f"{where}: text column '{column}' holds {name} values, not text (first at row "
            f"{row + offset}); give a column of strings (join or flatten the values first)"
        )


# Values that are many values (or raw bytes): as a label or slice their Python repr,
# "['x']", would become a class or a slice of its own.
NOT_ONE_VALUE = (list, tuple, dict, set, frozenset, np.ndarray, bytes, bytearray)


def _require_single_values(
    values: pd.Series, column: str, role: str, where: str, offset: int
) -> None:
    """Refuse a label or slice column holding lists, dicts, arrays or bytes. Strings and
    numbers (a 0/1 label, a year slice) are single values, kept and read as text."""
    nested = values.map(lambda value: isinstance(value, NOT_ONE_VALUE))
    if nested.any():
        row, name = _first_found(values, nested)
        raise UserError(
            f"{where}: {role} column '{column}' holds {name} values, not one value per row "
            f"(first at row {row + offset}); give a string or number in each row"
        )


def _first_found(values: pd.Series, found: pd.Series) -> tuple[int, str]:
    """The position of the first ``found`` row, and the type name of its value."""
    row = int(np.flatnonzero(found.to_numpy())[0])
    kind = type(values.iloc[row])
    name = kind.__qualname__
    if kind.__module__ != "builtins":
        name = f"{kind.__module__.split('.')[0]}.{name}"
    return row, name


def _cut_long_texts(texts: pd.Series) -> tuple[pd.Series, int]:
    """The texts cut to ``MAX_TEXT_CHARS`` characters, and how many were cut."""
    long = texts.str.len() > MAX_TEXT_CHARS
    return (texts.str.slice(0, MAX_TEXT_CHARS) if long.any() else texts), int(long.sum())


def _require_texts(texts: pd.Series, column: str, where: str, offset: int) -> None:
    """``UserError`` naming the first rows whose text is empty, if any."""
    empty = texts.isna() | (texts.astype(str).str.strip() == "")
    if empty.any():
        first = texts.index[np.flatnonzero(empty.to_numpy())[:5]]
        rows = ", ".join(str(i + offset) for i in first)
        lines = "file lines" if offset == 2 else "rows"
        raise UserError(
            f"{where}: {int(empty.sum())} row(s) have an empty '{column}' "
            f"({lines} {rows}{'…' if empty.sum() > 5 else ''}); fill or drop them"
        )


def _classes(
    labels: pd.Series, column: str, where: str, min_rows_per_class: int
) -> tuple[np.ndarray, np.ndarray]:
    """The sorted class names and each row's class index; ``UserError`` for fewer than two
    classes or a class too small for the cross-validation."""
    classes, label_ids = np.unique(labels.to_numpy(), return_inverse=True)
    if len(classes) < 2:
        raise UserError(
            f"{where}: only one class ('{classes[0]}') in '{column}'; "
            "classification needs at least 2"
        )
    counts = np.bincount(label_ids)
    if counts.min() < min_rows_per_class:
        small = classes[counts.argmin()]
        raise UserError(
            f"{where}: class '{small}' has {counts.min()} row(s); {min_rows_per_class}-fold "
            f"cross-validation needs at least {min_rows_per_class} per class: add rows, "
            "drop the class, or lower --folds"
        )
    return classes, label_ids


def load_task_data(
    path: str | Path | Any,
    text_column: str = "text",
    label_column: str = "label",
    slice_columns: list[str] | None = None,
    min_rows_per_class: int = 2,
) -> TaskData:
    """Read and check a labelled dataset: a file, a ``pandas.DataFrame`` or a
    ``datasets.Dataset``.

    Rows whose label is missing are dropped (and counted); texts longer than
    ``MAX_TEXT_CHARS`` are cut (and counted); every other problem is a ``UserError``:
    missing file or column, empty or non-string texts, fewer than two classes, a class
    with fewer than ``min_rows_per_class`` rows.
    """
    frame, where, source, offset = _open(path)
    if frame.empty:
        raise UserError(f"{where} has no rows; give a file with labelled examples")
    texts = _column(frame, text_column, "text", "--text-column", where)
    labels = _column(frame, label_column, "label", "--label-column", where)
    _require_strings(texts, text_column, where, offset)
    _require_single_values(labels, label_column, "label", where, offset)
    wanted = (
        slice_columns
        if slice_columns is not None
        else [c for c in DEFAULT_SLICE_COLUMNS if c in frame.columns]
    )
    for name in wanted:
        column = _column(frame, name, "slice", "--slice-column", where)
        _require_single_values(column, name, "slice", where, offset)

    missing_label = labels.isna() | (labels.astype(str).str.strip() == "")
    if missing_label.all():
        raise UserError(f"{where}: every row's '{label_column}' is empty; label the data first")
    frame = frame.loc[~missing_label.to_numpy()]
    texts, labels = frame[text_column], frame[label_column].astype(str).str.strip()

    _require_texts(texts, text_column, where, offset)
    classes, label_ids = _classes(labels, label_column, where, min_rows_per_class)

    # as objects: a numeric column (a year) cannot hold the "(missing)" text
    slices = {
        name: frame[name].astype(object).fillna("(missing)").astype(str).to_numpy()
        for name in wanted
    }
    texts, cut = _cut_long_texts(texts)
    notes = []
    if cut:
        notes.append(
            f"{cut} text(s) longer than {MAX_TEXT_CHARS:,} characters were cut to that length"
        )
        log.warning("%s: %s", where, notes[-1])
    return TaskData(
        texts=texts.tolist(),
        labels=label_ids.astype(np.int64),
        classes=[str(c) for c in classes],
        slices=slices,
        source=source,
        rows_in_file=int(len(missing_label)),
        rows_dropped=int(missing_label.sum()),
        rows_cut=cut,
        notes=notes,
    )


def stratified_sample(data: TaskData, max_samples: int, seed: int, min_per_class: int) -> TaskData:
    """At most ``max_samples`` rows, class proportions kept, each class at least ``min_per_class``.

    Sampling is per class with a seeded generator, so the same (data, max_samples,
    seed) always gives the same rows, in file order. A ``max_samples`` too small to hold
    ``min_per_class`` rows of every class is a ``UserError``; a sample of all the data, fewer
    rows than asked, carries a note saying so.
    """
    if len(data) <= max_samples:
        if len(data) < max_samples:
            data = data.subset(np.arange(len(data)))  # notes of its own, the data's untouched
            data.notes.append(
                f"the data has {len(data):,} usable rows, fewer than max_samples "
                f"{max_samples:,}: all of them are used"
            )
        return data
    needed = len(data.classes) * min_per_class
    if needed > max_samples:
        # Every class needs min_per_class (the folds) rows in the sample: taking fewer would
        # break the cross-validation, taking more would break the cap the user set.
        raise UserError(
            f"max_samples {max_samples:,} is below the {needed:,} rows that {min_per_class}-fold "
            f"cross-validation on {len(data.classes):,} classes needs; raise --max-samples to "
            f"{needed} or lower --folds"
        )
    rng = np.random.default_rng(seed)
    counts = np.bincount(data.labels, minlength=len(data.classes))
    quota = np.minimum(
        counts, np.maximum(min_per_class, np.floor(counts * max_samples / len(data)))
    )
    quota = quota.astype(int)
    # Trim the rounding surplus from the largest classes, never below the per-class floor.
    while quota.sum() > max_samples and (quota > min_per_class).any():
        quota[np.argmax(np.where(quota > min_per_class, quota, -1))] -= 1
    # Hand out what floor() left over to the classes with the most rows to spare.
    while quota.sum() < max_samples and (quota < counts).any():
        quota[np.argmax(counts - quota)] += 1
    order = np.argsort(data.labels, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    chosen = [
        rng.choice(order[start : start + count], size=take, replace=False)
        for start, count, take in zip(starts, counts, quota, strict=True)
    ]
    return data.subset(np.sort(np.concatenate(chosen)))


def nested_subsamples(
    labels: np.ndarray, fractions: tuple[float, ...], seed: int, min_per_class: int = 2
) -> list[np.ndarray]:
    """Row indices of nested stratified subsamples, one per fraction (ascending).

    Each class is shuffled once; a fraction f takes the first max(min_per_class,
    ceil(f * n_c)) rows of every class, so a smaller subsample is inside every larger one.
    """
    rng = np.random.default_rng(seed)
    shuffled = [rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    return [
        np.sort(
            np.concatenate(
                [
                    rows[: min(len(rows), max(min_per_class, int(np.ceil(f * len(rows)))))]
                    for rows in shuffled
                ]
            )
        )
        for f in sorted(fractions)
    ]
