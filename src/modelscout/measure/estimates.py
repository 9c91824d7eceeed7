"""The transferability step: one estimator on a candidate's features (or its source head's
probabilities), on nested subsamples of 25%, 50% and 100% of the sample, so that the report
can tell whether its value settled. The estimators themselves live in measure/transferability.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from modelscout import metrics
from modelscout.errors import one_line
from modelscout.measure.validation import InputError
from modelscout.records import Measurement

TRANSFERABILITY_VERSION = "1"
STABILITY_FRACTIONS = (0.25, 0.5, 1.0)


def estimate(
    name: str,
    estimator: Callable[[np.ndarray, np.ndarray], float],
    inputs: np.ndarray,
    labels: np.ndarray,
    subsamples: list[np.ndarray],
    settings: dict[str, Any],
) -> Measurement:
    """``estimator`` on each of ``subsamples`` (row indices, one per STABILITY_FRACTIONS);
    the value is the full sample's, the others are in its detail; a subsample on which it
    cannot be computed has its reason there instead.

    Shape:
        inputs: (N, D) features or (N, K) source probabilities; labels: the task's fitted
        targets, (N,) class ids, (N,) numbers (regression) or (N, L) 0/1 indicators
        (multilabel); subsamples index their rows
    """
    start = time.perf_counter()
    values, errors = {}, {}
    for fraction, rows in zip(STABILITY_FRACTIONS, subsamples, strict=True):
        try:
            values[str(fraction)] = float(estimator(inputs[rows], labels[rows]))
        except (InputError, ValueError, np.linalg.LinAlgError) as error:
            errors[str(fraction)] = one_line(error)
    detail: dict[str, Any] = {
        "subsamples": values,
        "rows": {str(f): len(r) for f, r in zip(STABILITY_FRACTIONS, subsamples, strict=True)},
    }
    if errors:
        detail["errors"] = errors
    return Measurement(
        name,
        values.get("1.0"),
        metrics.ESTIMATOR_UNITS.get(name, "score"),  # an estimator from a plugin: a score
        None,
        settings,
        time.perf_counter() - start,
        detail=detail,
    )
