"""The columns baseline: a linear model on other columns of the table (``baseline:columns``).

Where a table has columns besides the input that predict the target on their own (a listing's
room type and neighbourhood predict much of its price), the question is not only whether a
pre-trained model beats TF-IDF but whether it beats those columns. The spec names them
(``baseline_columns``); this backend fits on them: categories one-hot, numbers standardized,
then the task's linear model (``HEADS``), cross-validated like every baseline with its own
probe model.

Its encoder reads one JSON object per row (``row_items``: the row's columns, keys sorted), so
that the model pass and the probe hand it rows the way they hand texts to the others.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from modelscout.backends.base import Backend, LoadOptions, register
from modelscout.data.task import TaskData
from modelscout.records import Candidate, ModelMeta, Task

VERSION = "columns-v1"
MISSING = "(missing)"  # the category of a row whose value is empty
# Ridge's penalty chosen inside each fold (efficient leave-one-out over the training rows):
# the features are few, so the choice costs little.
ALPHAS = tuple(10.0**k for k in range(-3, 4))


def _logistic(seed: int) -> LogisticRegression:
    return LogisticRegression(C=1.0, max_iter=1000, random_state=seed)


# task -> (seed -> a fresh model on the encoded columns, the probe's name in its store key)
HEADS: dict[Task, tuple[Callable[[int], Any], str]] = {
    "classification": (_logistic, "columns-onehot-logreg"),
    "regression": (lambda seed: RidgeCV(alphas=ALPHAS), "columns-onehot-ridgecv"),
    "multilabel": (lambda seed: OneVsRestClassifier(_logistic(seed)), "columns-onehot-ovr-logreg"),
}


def row_items(data: TaskData) -> list[str]:
    """Each row's baseline columns (``TaskData.columns``) as a JSON object, keys sorted: what
    the columns encoder reads. An empty value (None, NaN) is ``null``."""
    if not data.columns:
        raise ValueError(
            "the columns baseline has no columns to read; name them with baseline_columns"
        )
    names = sorted(data.columns)
    return [
        json.dumps({name: _plain(data.columns[name][row]) for name in names}, sort_keys=True)
        for row in range(len(data))
    ]


def _plain(value: Any) -> str | float | None:
    """A JSON-ready value: a number as a float, an empty one as None, anything else a string."""
    if value is None:
        return None
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return None if math.isnan(float(value)) else float(value)
    return str(value)


def read_rows(items: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """The column names (sorted) and the (N, C) object table of the JSON rows ``items``."""
    rows = [json.loads(item) for item in items]
    names = sorted(rows[0]) if rows else []
    return names, np.array([[row.get(name) for name in names] for row in rows], dtype=object)


def numeric_columns(table: np.ndarray) -> list[bool]:
    """(N, C) object table -> per column, whether every value that is there is a number."""
    return [
        all(isinstance(v, (int, float)) for v in column if v is not None)
        and any(v is not None for v in column)
        for column in table.T
    ]


def columns_model(numeric: Sequence[bool], seed: int = 0, task: Task = "classification") -> Any:
    """Categories one-hot (a category unseen in fitting encodes as all zeros), numbers with
    empty values set to the fitting rows' median and standardized, then the task's model.

    Shape: fitted on (N, C) object tables (``read_rows``), column kinds as ``numeric``."""
    categories = [i for i, is_number in enumerate(numeric) if not is_number]
    numbers = [i for i, is_number in enumerate(numeric) if is_number]
    encode = ColumnTransformer(
        [
            (
                "categories",
                make_pipeline(
                    SimpleImputer(missing_values=None, strategy="constant", fill_value=MISSING),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ),
                categories,
            ),
            ("numbers", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numbers),
        ],
        sparse_threshold=0.0,  # dense: RidgeCV's leave-one-out is cheap on a few dense columns
    )
    return make_pipeline(encode, HEADS[task][0](seed))


class ColumnsEncoder:
    """The columns baseline as an ``Encoder``: JSON rows in, trained on the sample (``fit``).

    Its outputs (decision values, or predictions for numbers) are no features for the
    estimators (``dense_features`` is False); they are what serving it computes, hence what
    is timed. It reads no modality of its own: it serves text and image data alike.
    """

    modality = None

    def __init__(self, seed: int = 0, task: Task = "classification") -> None:
        self.seed = seed
        self.task = task
        self.probe_name = HEADS[task][1]
        self.model: Any = None
        self._numeric: list[bool] = []

    def fit(self, items: Sequence[str], targets: np.ndarray) -> ColumnsEncoder:
        """Fit on the JSON rows and ``Targets.fit_targets()`` of the task: (N,) class ids,
        (N,) numbers or (N, L) 0/1 label indicators."""
        table = self.probe_inputs(items)
        self.model = columns_model(self._numeric, self.seed, self.task).fit(table, targets)
        return self

    def preprocess(self, items: Sequence[str]) -> np.ndarray:
        """(B,) JSON rows -> (B, C) object table."""
        return read_rows(items)[1]

    def forward(self, table: np.ndarray) -> np.ndarray:
        """(B, C) table -> float32 (B, K) decision values ((B, 1) for two classes), (B, L) per
        label, or (B, 1) predictions (on the fitted scale: log units under a log transform)."""
        if self.task == "regression":
            scores = self.model.predict(table)
        else:
            scores = self.model.decision_function(table)
        return np.asarray(scores, dtype=np.float32).reshape(len(table), -1)

    def probe_inputs(self, items: Sequence[str]) -> np.ndarray:
        """(N, C) object table of every row; the column kinds are read from all of them."""
        table = read_rows(items)[1]
        self._numeric = numeric_columns(table)
        return table

    def probe_model(self, seed: int) -> Any:
        """A fresh ``columns_model`` of the task over the columns of the last ``probe_inputs``."""
        return columns_model(self._numeric, seed, self.task)


def baseline_meta() -> ModelMeta:
    """No pre-trained weights, no modality: it reads the table's other columns."""
    return ModelMeta(
        modality=None,
        library="scikit-learn",
        architecture="one-hot columns + linear model",
        params=None,
        disk_size_bytes=0,
        weight_format=None,
    )


def _load(candidate: Candidate, meta: ModelMeta, options: LoadOptions) -> ColumnsEncoder:
    return ColumnsEncoder(options.seed, options.task)


COLUMNS = register(
    Backend("columns", None, _load, dense_features=False, torch=False, items=row_items)
)
