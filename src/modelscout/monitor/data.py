"""The monitor's two sets of rows, read with the readers ``rank`` uses and checked against each
other: the reference (what the model was chosen on, labels optional) and the current rows
(new data, usually without labels).

A reference with its label column is read by ``load_task_data`` (its targets feed the probe,
the PSI and the estimated accuracy); a current table, and a reference without labels, is read
for its inputs and slices alone.
Everything a user can get wrong is a one-line ``UserError``: different modalities, an input
or slice column missing in one set, too few rows for the tests to mean anything.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modelscout.data import Inputs, Targets, TaskData, load_task_data
from modelscout.data.tables import (
    DEFAULT_SLICE_COLUMNS,
    column,
    open_table,
    require_filled,
    require_single_values,
    require_strings,
    slice_values,
)
from modelscout.data.task import INPUT_COLUMNS, detect_modality
from modelscout.errors import UserError
from modelscout.records import Modality
from modelscout.spec import Spec

# Rows per set below which the drift tests do not mean anything: the classifier test's
# 5 folds need 10 rows of each set, the per-dimension KS tests ~50 rows to see a shift of
# half a standard deviation, the MMD permutation test a few dozen. A slice needs as many in
# both sets to be tested on its own.
MIN_ROWS = 50


@dataclass
class MonitorData:
    """One set of rows: its inputs, its targets when labelled, its slices."""

    inputs: Inputs
    targets: Targets | None
    slices: dict[str, np.ndarray] = field(default_factory=dict)
    source: str = ""
    explicit_slices: bool = False  # the slice columns were named, not the defaults found

    @property
    def modality(self) -> Modality:
        return self.inputs.modality

    @property
    def fingerprint(self) -> str:
        """sha256 over the inputs (and the targets when labelled), in order: the key its
        features are stored under."""
        digest = hashlib.sha256(b"monitor\x1e" if self.targets is None else b"")
        parts = self.inputs.fingerprint_parts()
        targets = (
            self.targets.fingerprint_parts() if self.targets is not None else [b""] * len(parts)
        )
        for item, target in zip(parts, targets, strict=True):
            digest.update(item + b"\x1f" + target + b"\x1e")
        return digest.hexdigest()

    def __len__(self) -> int:
        return len(self.inputs)


def read_set(
    source: str | Path | Any, columns: Spec, role: str, min_per_class: int = 1
) -> MonitorData:
    """The ``role`` set (reference or current) from a table or a class-folder of images, its
    columns the spec's (``columns``); ``min_per_class``: rows each class needs (the
    reference's: the probe's folds)."""
    if isinstance(source, (str, Path)) and Path(source).is_dir():
        return _labelled(source, columns, min_per_class)
    if isinstance(source, (str, Path)) and not Path(source).is_file():
        raise UserError(f"{role} data {source} does not exist; check the path given to --{role}")
    table = open_table(source)
    if table.frame.empty:
        raise UserError(f"{role} data {table.where} has no rows; give a file with examples")
    # The current rows' labels, where a table has them, are not read: no drift test uses them
    # (--rerank reads them itself), and one class, empty labels or a few numbers in them must
    # not refuse a monitor that needs none.
    if role == "reference" and columns.label_column in table.frame.columns:
        return _labelled(source, columns, min_per_class)
    modality = columns.modality or detect_modality(table.frame, columns.image_column)
    if modality not in INPUT_COLUMNS:
        raise UserError(f"{modality} data is not supported yet; use text or image data")
    reader = INPUT_COLUMNS[modality]
    name = columns.image_column if modality == "image" else columns.text_column
    values = column(table.frame, name, reader.role, reader.flag, table.where)
    require_strings(values, name, reader.role, table.where, table.offset)
    require_filled(values, name, table.where, table.offset)
    read = reader.read(values, table)
    frame = table.frame.loc[read.kept]
    names = _slice_names(frame.columns, columns)
    for slice_name in names:
        found = column(frame, slice_name, "slice", "--slice-column", table.where)
        require_single_values(found, slice_name, "slice", table.where, table.offset)
    return MonitorData(
        read.inputs,
        None,
        slice_values(frame, names),
        table.source,
        columns.slice_columns is not None,
    )


def _slice_names(present: Any, columns: Spec) -> list[str]:
    if columns.slice_columns is not None:
        return list(columns.slice_columns)
    return [c for c in DEFAULT_SLICE_COLUMNS if c in present]


def _labelled(source: Any, columns: Spec, min_per_class: int) -> MonitorData:
    data: TaskData = load_task_data(
        source,
        columns.text_column,
        columns.label_column,
        columns.slice_columns,
        min_rows_per_class=min_per_class,
        modality=columns.modality,
        image_column=columns.image_column,
        task=columns.task,
        label_delimiter=columns.label_delimiter,
        target_transform=columns.target_transform,
    )
    return MonitorData(
        data.inputs, data.targets, data.slices, data.source, columns.slice_columns is not None
    )


def check_pair(reference: MonitorData, current: MonitorData, min_rows: int = MIN_ROWS) -> None:
    """``UserError`` when the two sets cannot be compared: other modalities, other tasks,
    too few rows in either."""
    if reference.modality != current.modality:
        raise UserError(
            f"the reference data is {reference.modality} and the current data is "
            f"{current.modality}; monitor compares data of one modality, read by the same model"
        )
    tasks = {d.targets.task for d in (reference, current) if d.targets is not None}
    if len(tasks) > 1:
        raise UserError(
            f"the reference labels are {reference.targets.task} and the current ones "
            f"{current.targets.task}; give both sets the same kind of label column"
        )
    for role, data in (("reference", reference), ("current", current)):
        if len(data) < min_rows:
            raise UserError(
                f"{role} data has {len(data)} rows; drift tests need at least {min_rows} per set"
            )


def shared_slices(reference: MonitorData, current: MonitorData) -> list[str]:
    """The slice columns both sets have; a named one missing in either is a ``UserError``."""
    names = [n for n in reference.slices if n in current.slices]
    for data, other, role in ((reference, current, "current"), (current, reference, "reference")):
        missing = [n for n in data.slices if n not in other.slices]
        if missing and data.explicit_slices:
            raise UserError(
                f"slice column '{missing[0]}' is not in the {role} data; give both sets the "
                "column, or leave --slice-column out"
            )
    return names
