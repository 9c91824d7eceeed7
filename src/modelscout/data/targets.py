"""Read a table's target column as one task's Targets: classes, numbers or label sets.

``detect_task`` says which task a column holds when the user did not; ``TARGET_READERS``
maps each task to how its column is read, in two steps: ``parse`` (each row's value, and
which rows are usable, before the inputs are read) and ``build`` (the Targets of the rows
finally kept, checked for what cross-validation needs). Every problem is a one-line
``UserError`` that says what to fix; values left out are listed in a note.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from modelscout.data.inputs import ClassTargets, LabelSetTargets, NumberTargets, Targets
from modelscout.data.tables import NOT_ONE_VALUE
from modelscout.errors import UserError
from modelscout.records import Task

# 3..MAX_WHOLE_CLASSES distinct whole numbers may be classes (star ratings) or a score: the
# user says which. More distinct values than this read as a score.
MAX_WHOLE_CLASSES = 20
# Regression: at most this share of the filled rows may be left out for not being finite
# numbers; more means the column is not (yet) a numeric target. Detection tolerates the same
# share, so that a price column with a few "n/a" is read as numbers and they are listed.
MAX_UNUSABLE_SHARE = 0.10
SHOWN = 5  # bad values named in a note or message
LIST_TYPES = (list, tuple, np.ndarray)  # np.ndarray: a Parquet list column's cells


@dataclass(frozen=True)
class TargetOptions:
    """What reading a target column needs to know, and to say in messages."""

    column: str
    where: str  # the table's name in messages
    offset: int  # row index + offset = the row number the user sees
    min_rows: int = 2  # rows each class or label needs (the folds)
    delimiter: str | None = None  # multilabel: what joins the labels in one cell
    transform: str | None = None  # regression: None | "log"


@dataclass
class Parsed:
    """A target column parsed: each row's value (float, label tuple or class name) with the
    table's index kept (row numbers), which rows are usable, and what the report says."""

    values: pd.Series
    kept: np.ndarray  # (N,) bool over the rows given
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TargetReader:
    """How one task's target column is read."""

    parse: Callable[[pd.Series, TargetOptions], Parsed]
    build: Callable[[pd.Series, TargetOptions], tuple[Targets, list[str]]]
    keeps_empty: bool  # an empty cell is a row (with no label) rather than a missing target
    single_values: bool  # each cell must hold one value (not a list)


def is_empty(values: pd.Series) -> pd.Series:
    """(N,) bool: the cell is missing or blank text."""
    return values.isna() | (values.astype(str).str.strip() == "")


def detect_task(values: pd.Series, label_delimiter: str | None, where: str = "the data") -> Task:
    """The task a target column holds: multilabel for a delimiter or lists in every filled
    row; regression for numbers with fractions or more than MAX_WHOLE_CLASSES distinct
    values; classification for two distinct numbers or anything else. 3..MAX_WHOLE_CLASSES
    distinct whole numbers are a ``UserError`` asking which the user means."""
    if label_delimiter:
        return "multilabel"
    filled = values[~is_empty(values).to_numpy()]
    if len(filled) and filled.map(_is_label_list).all():
        return "multilabel"
    numbers = as_numbers(filled)
    finite = numbers[np.isfinite(numbers)]
    if len(finite) == 0 or len(finite) < (1 - MAX_UNUSABLE_SHARE) * len(filled):
        return "classification"
    distinct = np.unique(finite)
    # Two values are a binary label whatever they are (0/1, 0.0/1.0, -1/1).
    if len(distinct) <= 2:
        return "classification"
    if not np.all(distinct == np.round(distinct)) or len(distinct) > MAX_WHOLE_CLASSES:
        return "regression"
    raise UserError(
        f"{where}: '{values.name}' holds {len(distinct)} distinct whole numbers "
        f"({distinct[0]:g} to {distinct[-1]:g}): classes or a score? set task: classification "
        "or task: regression"
    )


def _is_label_list(value: Any) -> bool:
    if isinstance(value, LIST_TYPES):
        return True
    return isinstance(value, str) and isinstance(_json_list(value), list)


def _json_list(text: str) -> list | None:
    """The list a string holds as JSON ('["a", "b"]', '[]'), or None."""
    text = text.strip()
    if not text.startswith("["):
        return None
    try:
        found = json.loads(text)
    except ValueError:
        return None
    return found if isinstance(found, list) else None


def as_numbers(values: pd.Series) -> pd.Series:
    """Each value as a float: numbers, and strings that parse as one; NaN for anything
    else (text, lists, booleans: True is a class, not the number 1)."""
    return values.map(_number).astype(np.float64)


def _number(value: Any) -> float:
    if isinstance(value, (bool, np.bool_)):
        return np.nan
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return np.nan
    return np.nan


def rows_and_values(values: pd.Series, offset: int) -> str:
    """'row 5 '$120', row 9 'n/a'' for the first SHOWN values, '…' after them if more."""
    shown = ", ".join(f"row {i + offset} {str(v)!r}" for i, v in values.head(SHOWN).items())
    return shown + ("…" if len(values) > SHOWN else "")


# classification -----------------------------------------------------------------------


def _parse_classes(values: pd.Series, options: TargetOptions) -> Parsed:
    return Parsed(values.astype(str).str.strip(), np.ones(len(values), dtype=bool))


def _build_classes(values: pd.Series, options: TargetOptions) -> tuple[Targets, list[str]]:
    classes, label_ids = classes_of(
        values, f"in '{options.column}'", options.where, options.min_rows
    )
    return ClassTargets(label_ids.astype(np.int64), [str(c) for c in classes]), []


def classes_of(
    labels: pd.Series, among: str, where: str, min_rows_per_class: int
) -> tuple[np.ndarray, np.ndarray]:
    """The sorted class names and each row's class index; ``UserError`` for fewer than two
    classes or a class too small for the cross-validation. ``among``: where the classes
    come from, in messages ("in 'label'")."""
    classes, label_ids = np.unique(labels.to_numpy(), return_inverse=True)
    if len(classes) < 2:
        raise UserError(
            f"{where}: only one class ('{classes[0]}') {among}; classification needs at least 2"
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


# regression ---------------------------------------------------------------------------


def _parse_numbers(values: pd.Series, options: TargetOptions) -> Parsed:
    """Finite numbers kept; the rest listed in a note, or a ``UserError`` when more than
    MAX_UNUSABLE_SHARE of the rows are."""
    numbers = as_numbers(values)
    bad = ~np.isfinite(numbers.to_numpy())
    count = int(bad.sum())
    if count > MAX_UNUSABLE_SHARE * len(values):
        row = int(values.index[np.flatnonzero(bad)[0]])
        raise UserError(
            f"{options.where}: {count} of {len(values)} rows ({count / len(values):.0%}) of "
            f"'{options.column}' are not finite numbers (first: row {row + options.offset}, "
            f"{str(values.loc[row])!r}); fix them or give a numeric target column"
        )
    notes = []
    if count:
        notes.append(
            f"{count} row(s) whose '{options.column}' is not a finite number were left out: "
            + rows_and_values(values[bad], options.offset)
        )
    return Parsed(numbers, ~bad, notes)


def _build_numbers(values: pd.Series, options: TargetOptions) -> tuple[Targets, list[str]]:
    """NumberTargets; ``UserError`` for a constant target or, with the log transform, any
    value <= 0."""
    numbers = values.to_numpy(dtype=np.float64)
    distinct = np.unique(numbers)
    if len(distinct) < 2:
        raise UserError(
            f"{options.where}: every row's '{options.column}' is {distinct[0]:g}; "
            "regression needs a target that varies"
        )
    if options.transform == "log":
        low = values[numbers <= 0]
        if len(low):
            raise UserError(
                f"{options.where}: target_transform log needs every '{options.column}' > 0, "
                f"but {len(low)} row(s) are <= 0 (first: row {low.index[0] + options.offset}, "
                f"value {low.iloc[0]:g}); drop them or leave target_transform unset"
            )
    return NumberTargets(numbers, options.transform), []


# multilabel ---------------------------------------------------------------------------


def _parse_label_sets(values: pd.Series, options: TargetOptions) -> Parsed:
    sets = pd.Series(
        [_label_set(v, i, options) for i, v in values.items()], index=values.index, dtype=object
    )
    return Parsed(sets, np.ones(len(values), dtype=bool))


def _label_set(value: Any, row: int, options: TargetOptions) -> tuple[str, ...]:
    """One cell's labels, stripped, empties dropped, each once, in the order written."""
    if isinstance(value, LIST_TYPES):
        items = list(value)
    elif isinstance(value, str):
        found = _json_list(value)
        if found is not None:
            items = found
        else:
            items = value.split(options.delimiter) if options.delimiter else [value]
    elif value is None or pd.isna(value):
        items = []
    else:
        items = [value]  # a number: one label
    nested = [item for item in items if isinstance(item, NOT_ONE_VALUE + (dict,))]
    if nested:
        raise UserError(
            f"{options.where}: label column '{options.column}' holds a "
            f"{type(nested[0]).__name__} inside a row's labels (row {row + options.offset}); "
            "give each row a flat list of label names"
        )
    labels = (str(item).strip() for item in items if item is not None)
    return tuple(dict.fromkeys(label for label in labels if label))


def _build_label_sets(values: pd.Series, options: TargetOptions) -> tuple[Targets, list[str]]:
    """LabelSetTargets with names sorted; ``UserError`` for fewer than two labels or a label
    too rare for the cross-validation; notes on rows without a label and labels per row."""
    names = sorted({label for labels in values for label in labels})
    if len(names) < 2:
        found = f"only '{names[0]}'" if names else "none"
        raise UserError(
            f"{options.where}: the labels in '{options.column}' are {found}; multi-label "
            "data needs at least 2 (set label_delimiter if a cell joins several)"
        )
    position = {name: j for j, name in enumerate(names)}
    indicators = np.zeros((len(values), len(names)), dtype=np.uint8)
    for i, labels in enumerate(values):
        indicators[i, [position[label] for label in labels]] = 1
    support = indicators.sum(axis=0)
    if support.min() < options.min_rows:
        rare = int(support.argmin())
        raise UserError(
            f"{options.where}: label '{names[rare]}' has {support[rare]} row(s); "
            f"{options.min_rows}-fold cross-validation needs at least {options.min_rows} per "
            "label: add rows, drop the label, or lower --folds"
        )
    return LabelSetTargets(indicators, names), _label_notes(indicators.sum(axis=1))


def _label_notes(per_row: np.ndarray) -> list[str]:
    """'312 rows (6%) have no label' and '84% one label, 14% two, 2% three or more'."""
    notes = []
    empty = int((per_row == 0).sum())
    if empty:
        notes.append(f"{empty:,} rows ({empty / len(per_row):.0%}) have no label")
    shares = [(per_row == 1).mean(), (per_row == 2).mean(), (per_row >= 3).mean()]
    words = ("one label", "two", "three or more")
    notes.append(
        "labels per row: "
        + ", ".join(f"{share:.0%} {word}" for share, word in zip(shares, words, strict=True))
    )
    return notes


# A task is one more entry here (and its Targets class in data/inputs.py).
TARGET_READERS: dict[Task, TargetReader] = {
    "classification": TargetReader(_parse_classes, _build_classes, False, True),
    "regression": TargetReader(_parse_numbers, _build_numbers, False, True),
    "multilabel": TargetReader(_parse_label_sets, _build_label_sets, True, False),
}
