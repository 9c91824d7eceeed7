"""Load the user's labelled data, check it and fingerprint it: ``TaskData``.

The data is a table (a file, a ``pandas.DataFrame`` or a ``datasets.Dataset``) with an input
column (texts, or paths to image files) and a label column, or a folder of images with one
sub-folder per class. Everything a user can get wrong about it is a ``UserError`` that says
what to fix.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelscout.data.images import (
    check_images,
    folder_images,
    is_image_path,
    table_image_paths,
    unreadable_note,
)
from modelscout.data.inputs import ClassTargets, ImageInputs, Inputs, Targets, TextInputs
from modelscout.data.tables import (
    DEFAULT_SLICE_COLUMNS,
    READERS,
    Table,
    column,
    open_table,
    require_filled,
    require_single_values,
    require_strings,
    slice_values,
)
from modelscout.data.targets import (
    TARGET_READERS,
    TargetOptions,
    TargetReader,
    as_numbers,
    classes_of,
    detect_task,
    is_empty,
)
from modelscout.data.text import text_inputs
from modelscout.errors import UserError
from modelscout.records import Modality, Task

log = logging.getLogger(__name__)


@dataclass
class TaskData:
    """A labelled dataset (or a sample of one): N inputs, N targets, N values per slice."""

    inputs: Inputs
    targets: Targets
    slices: dict[str, np.ndarray] = field(default_factory=dict)  # column -> (N,) str
    source: str = ""
    rows_in_file: int = 0
    rows_dropped: int = 0  # rows without a label, and unreadable images
    rows_cut: int = 0  # texts cut to MAX_TEXT_CHARS characters
    notes: list[str] = field(default_factory=list)  # what the report must say about the data
    unreadable: dict[str, str] = field(default_factory=dict)  # image file -> why left out
    # spec.baseline_columns -> (N,) values (object: str for categories, float for numbers):
    # what the columns baseline (backends/columns.py) is fitted on; not in the fingerprint
    # (only that baseline reads them, and its candidate key names the columns)
    columns: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def of_texts(
        cls, texts: list[str], labels: np.ndarray, classes: list[str], **fields: Any
    ) -> TaskData:
        """Text classification data from its texts, (N,) int labels and class names."""
        return cls(TextInputs(texts), ClassTargets(labels, classes), **fields)

    @property
    def modality(self) -> Modality:
        return self.inputs.modality

    @property
    def task(self) -> Task:
        """classification, multilabel or regression: what the targets are."""
        return self.targets.task

    @property
    def texts(self) -> list[str]:
        """The texts of text data (kept for the steps that read text only)."""
        if not isinstance(self.inputs, TextInputs):
            raise AttributeError(f"{self.modality} data has no texts; read .inputs.items")
        return self.inputs.texts

    @property
    def labels(self) -> np.ndarray:
        """(N,) int class indices of classification data."""
        return self._class_targets().labels

    @property
    def classes(self) -> list[str]:
        """The class names of classification data, sorted."""
        return self._class_targets().classes

    def _class_targets(self) -> ClassTargets:
        if not isinstance(self.targets, ClassTargets):
            raise AttributeError(f"{type(self.targets).__name__} have no classes")
        return self.targets

    @property
    def fingerprint(self) -> str:
        """sha256 over the inputs (texts, or image files' bytes), targets and slices, in order."""
        digest = hashlib.sha256()
        parts = zip(self.inputs.fingerprint_parts(), self.targets.fingerprint_parts(), strict=True)
        for item, target in parts:
            digest.update(item + b"\x1f" + target + b"\x1e")
        for name in sorted(self.slices):
            digest.update(name.encode("utf-8") + "\x1f".join(self.slices[name]).encode("utf-8"))
        return digest.hexdigest()

    def __len__(self) -> int:
        return len(self.inputs)

    def subset(self, rows: np.ndarray) -> TaskData:
        """The rows ``rows`` (indices) as a new TaskData with the same classes."""
        return TaskData(
            inputs=self.inputs.take(rows),
            targets=self.targets.take(rows),
            slices={k: v[rows] for k, v in self.slices.items()},
            source=self.source,
            rows_in_file=self.rows_in_file,
            rows_dropped=self.rows_dropped,
            rows_cut=self.rows_cut,
            notes=list(self.notes),
            unreadable=dict(self.unreadable),
            columns={k: v[rows] for k, v in self.columns.items()},
        )


@dataclass
class InputsRead:
    """A table's input column read: the inputs of the rows kept, and what the report says."""

    inputs: Inputs
    kept: np.ndarray  # (N,) bool over the rows given
    notes: list[str] = field(default_factory=list)
    rows_cut: int = 0
    unreadable: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class InputColumn:
    """How one modality's inputs are named and read from a table."""

    role: str  # in messages: "text column 'body'"
    flag: str  # the setting that names the column
    read: Callable[[pd.Series, Table], InputsRead]


def _read_texts(values: pd.Series, table: Table) -> InputsRead:
    inputs, cut, notes = text_inputs(values, table.where)
    return InputsRead(inputs, np.ones(len(values), dtype=bool), notes, rows_cut=cut)


def _read_images(values: pd.Series, table: Table) -> InputsRead:
    paths = table_image_paths(values.tolist(), table.folder, str(values.name), table.where)
    return _readable(paths, table.where)


def _readable(paths: list[Path], where: str) -> InputsRead:
    """The images that read, and the note listing those that do not."""
    digests, unreadable = check_images(paths, where)
    kept = np.array([path not in unreadable for path in paths], dtype=bool)
    notes = [unreadable_note(unreadable)] if unreadable else []
    if notes:
        log.warning("%s: %s", where, notes[0])
    inputs = ImageInputs(
        [p for p, keep in zip(paths, kept, strict=True) if keep],
        [d for d, keep in zip(digests, kept, strict=True) if keep],
    )
    return InputsRead(inputs, kept, notes, unreadable={str(p): r for p, r in unreadable.items()})


# A modality is one more entry here (and its Inputs class in data/inputs.py).
INPUT_COLUMNS: dict[str, InputColumn] = {
    "text": InputColumn("text", "--text-column", _read_texts),
    "image": InputColumn("image", "--image-column (spec: image_column)", _read_images),
}


def load_task_data(
    path: str | Path | Any,
    text_column: str = "text",
    label_column: str = "label",
    slice_columns: list[str] | None = None,
    min_rows_per_class: int = 2,
    *,
    modality: Modality | None = None,
    image_column: str = "image",
    task: Task | None = None,
    label_delimiter: str | None = None,
    target_transform: str | None = None,
    baseline_columns: list[str] | None = None,
) -> TaskData:
    """Read and check a labelled dataset: a table (a file, a ``pandas.DataFrame`` or a
    ``datasets.Dataset``) or a folder of images with one sub-folder per class.

    ``modality`` None: image for a folder, or for a table whose ``image_column`` holds image
    file names; text otherwise. ``task`` None: regression when ``target_transform`` is set,
    else what ``detect_task`` reads in the label column (a folder is classification). Rows
    whose target is missing are dropped (and counted), as are regression targets that are
    not finite numbers (and listed, up to ``MAX_UNUSABLE_SHARE``); a multi-label row with no
    label is kept. Texts longer than ``MAX_TEXT_CHARS`` are cut (and counted); unreadable
    images are left out (and listed) up to ``MAX_UNREADABLE_SHARE``; every other problem is
    a ``UserError``: missing file, folder or column, empty or non-string inputs, fewer than
    two classes or labels, a class or label with fewer than ``min_rows_per_class`` rows, a
    constant number target. ``baseline_columns`` are read into ``TaskData.columns``.
    """
    if modality is not None and modality not in INPUT_COLUMNS:
        raise UserError(f"{modality} data is not supported yet; use text or image data")
    if _is_folder(path):
        _refuse_folder_settings(Path(path), task, label_delimiter, target_transform)
        if baseline_columns:
            raise UserError(
                f"data folder {path} has no columns for baseline_columns; give a table with "
                "an image column to use them"
            )
        return _load_image_folder(Path(path), modality, slice_columns, min_rows_per_class)
    table = open_table(path)
    if table.frame.empty:
        raise UserError(f"{table.where} has no rows; give a file with labelled examples")
    modality = modality or detect_modality(table.frame, image_column)
    labels = column(table.frame, label_column, "label", "--label-column", table.where)
    if task is None:
        task = (
            "regression" if target_transform else detect_task(labels, label_delimiter, table.where)
        )
    _require_task_settings(task, label_delimiter, target_transform)
    options = TargetOptions(
        label_column,
        table.where,
        table.offset,
        min_rows_per_class,
        label_delimiter,
        target_transform,
    )
    name = image_column if modality == "image" else text_column
    columns = Columns(name, slice_columns, baseline_columns or [])
    return _load_table(table, modality, task, columns, options)


def _refuse_folder_settings(
    folder: Path, task: Task | None, label_delimiter: str | None, target_transform: str | None
) -> None:
    """A folder of class sub-folders is classification data: no other task's settings."""
    asked = task if task not in (None, "classification") else None
    asked = asked or ("multilabel" if label_delimiter else None)
    asked = asked or ("regression" if target_transform else None)
    if asked:
        raise UserError(
            f"data {folder} is a folder of class sub-folders, which is classification data; "
            f"give {asked} data as a table with an image column and a label column"
        )


def _require_task_settings(
    task: Task, label_delimiter: str | None, target_transform: str | None
) -> None:
    """label_delimiter is for multilabel, target_transform for regression."""
    if label_delimiter and task != "multilabel":
        raise UserError(f"label_delimiter is for multilabel data; the task is {task}")
    if target_transform and task != "regression":
        raise UserError(f"target_transform is for regression data; the task is {task}")
    if target_transform not in (None, "log"):
        raise UserError(f"target_transform {target_transform!r} is unknown; use log or unset it")


def detect_modality(frame: pd.DataFrame, image_column: str) -> Modality:
    """image when ``image_column`` exists and its first filled values name image files."""
    if image_column in frame.columns:
        first = frame[image_column].dropna().head(20)
        if len(first) and all(is_image_path(value) for value in first):
            return "image"
    return "text"


def _is_folder(path: Any) -> bool:
    """A folder, or a path to nothing that has no file extension (so names no table)."""
    if not isinstance(path, (str, Path)):
        return False
    path = Path(path)
    return path.is_dir() or (not path.exists() and path.suffix.lower() not in READERS)


@dataclass(frozen=True)
class Columns:
    """The table's columns a load reads besides the target."""

    inputs: str
    slices: list[str] | None  # None: the DEFAULT_SLICE_COLUMNS there are
    baselines: list[str]


def _load_table(
    table: Table, modality: Modality, task: Task, columns: Columns, options: TargetOptions
) -> TaskData:
    """The table's rows with a target: targets read by the task's ``TARGET_READERS``,
    inputs by the modality's ``INPUT_COLUMNS``."""
    reader, target = INPUT_COLUMNS[modality], TARGET_READERS[task]
    frame, names, missing = _labelled_rows(table, reader, target, columns, options.column)
    parsed = target.parse(frame[options.column], options)
    frame = frame.loc[parsed.kept]
    read = reader.read(frame[columns.inputs], table)
    frame = frame.loc[read.kept]
    targets, notes = target.build(parsed.values[parsed.kept][read.kept], options)
    baselines, baseline_notes = baseline_values(frame, columns.baselines)
    return TaskData(
        inputs=read.inputs,
        targets=targets,
        slices=slice_values(frame, names),
        source=table.source,
        rows_in_file=int(len(missing)),
        rows_dropped=int(missing.sum()) + int((~parsed.kept).sum()) + int((~read.kept).sum()),
        rows_cut=read.rows_cut,
        notes=parsed.notes + read.notes + notes + baseline_notes,
        unreadable=read.unreadable,
        columns=baselines,
    )


def _labelled_rows(
    table: Table, reader: InputColumn, target: TargetReader, columns: Columns, label_column: str
) -> tuple[pd.DataFrame, list[str], pd.Series]:
    """The rows that have a target (every column checked), the slice columns, and which rows
    of the table had none. A multi-label row with an empty cell has a target: no label."""
    frame, where, offset = table.frame, table.where, table.offset
    inputs = column(frame, columns.inputs, reader.role, reader.flag, where)
    labels = column(frame, label_column, "label", "--label-column", where)
    require_strings(inputs, columns.inputs, reader.role, where, offset)
    if target.single_values:
        require_single_values(labels, label_column, "label", where, offset)
    names = (
        columns.slices
        if columns.slices is not None
        else [c for c in DEFAULT_SLICE_COLUMNS if c in frame.columns]
    )
    for name in names:
        values = column(frame, name, "slice", "--slice-column", where)
        require_single_values(values, name, "slice", where, offset)
    for name in columns.baselines:
        values = column(frame, name, "baseline", "baseline_columns", where)
        require_single_values(values, name, "baseline", where, offset)

    missing = pd.Series(False, index=labels.index) if target.keeps_empty else is_empty(labels)
    if missing.all():
        raise UserError(f"{where}: every row's '{label_column}' is empty; label the data first")
    frame = frame.loc[~missing.to_numpy()]
    require_filled(frame[columns.inputs], columns.inputs, where, offset)
    return frame, names, missing


def baseline_values(
    frame: pd.DataFrame, names: list[str]
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Each baseline column as (N,) object: floats when every filled value is a number
    (a missing one is the column's median, said in a note), else strings ("" when missing)."""
    values, notes = {}, []
    for name in names:
        raw = frame[name]
        empty = is_empty(raw).to_numpy()
        numbers = as_numbers(raw).to_numpy()
        if np.isfinite(numbers[~empty]).all() and (~empty).any():
            median = float(np.median(numbers[~empty]))
            if empty.any():
                notes.append(
                    f"{int(empty.sum())} missing value(s) of baseline column '{name}' were "
                    f"set to its median, {median:g}"
                )
            values[name] = np.where(empty, median, numbers).astype(object)
        else:
            text = raw.astype(object).where(~empty, "").astype(str).str.strip()
            values[name] = text.to_numpy(dtype=object)
    return values, notes


def _load_image_folder(
    folder: Path,
    modality: Modality | None,
    slice_columns: list[str] | None,
    min_rows_per_class: int,
) -> TaskData:
    """A folder with one sub-folder of images per class."""
    if modality not in (None, "image"):
        raise UserError(
            f"data {folder} is a folder, which holds image data; give {modality} data as a "
            "table file (.csv, .tsv, .jsonl, .json or .parquet)"
        )
    if slice_columns:
        raise UserError(
            f"data folder {folder} has no columns to slice by; give a table with an image "
            "column to use slice columns"
        )
    paths, names, notes = folder_images(folder)
    read = _readable(paths, f"data folder {folder}")
    kept_names = pd.Series([n for n, keep in zip(names, read.kept, strict=True) if keep])
    classes, label_ids = classes_of(
        kept_names, "among its sub-folders", f"data folder {folder}", min_rows_per_class
    )
    return TaskData(
        inputs=read.inputs,
        targets=ClassTargets(label_ids.astype(np.int64), [str(c) for c in classes]),
        source=str(folder),
        rows_in_file=len(paths),
        rows_dropped=int((~read.kept).sum()),
        notes=notes + read.notes,
        unreadable=read.unreadable,
    )
