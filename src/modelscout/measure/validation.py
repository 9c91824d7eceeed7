"""Input validation shared by every measurement.

Each check converts its input to the array type the measurements compute with and
raises :class:`InputError` with one sentence that says what was wrong and how to
fix it, so an estimator never fails deep inside linear algebra on bad input.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "InputError",
    "check_features",
    "check_indicators",
    "check_labels",
    "check_probabilities",
    "check_targets",
    "check_vector",
]

_SUM_TOLERANCE = 1e-6


class InputError(ValueError):
    """An input array that no measurement can use as given."""


def _as_float_array(values: ArrayLike, name: str) -> np.ndarray:
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InputError(
            f"{name} could not be read as numbers ({error}); pass a numeric array."
        ) from None


def _check_finite(values: np.ndarray, name: str, fix: str) -> None:
    # A NaN or infinity makes the sum non-finite, so one cheap pass clears most inputs;
    # a sum that merely overflows falls through to the exact count, which finds nothing.
    if np.isfinite(values.sum()):
        return
    n_bad = int(values.size - np.count_nonzero(np.isfinite(values)))
    if n_bad:
        raise InputError(f"{name} has {n_bad} NaN or infinite values; {fix}.")


def check_features(features: ArrayLike, name: str = "features") -> np.ndarray:
    """Return ``features`` as a finite float64 matrix with at least two rows.

    Shape:
        - features: (N, D), N >= 2, D >= 1
    """
    array = _as_float_array(features, name)
    if array.ndim != 2:
        raise InputError(
            f"{name} must be 2-D (samples x dimensions) but has shape {array.shape}; "
            "reshape it, e.g. with .reshape(len(x), -1)."
        )
    if array.shape[0] < 2 or array.shape[1] < 1:
        raise InputError(
            f"{name} has shape {array.shape} but needs at least 2 rows and 1 column; "
            "score on more samples."
        )
    _check_finite(array, name, "drop or impute those rows before scoring")
    return array


def check_labels(
    labels: ArrayLike,
    n_rows: int,
    *,
    min_classes: int = 2,
    min_per_class: int = 1,
    name: str = "labels",
) -> tuple[np.ndarray, int]:
    """Return ``labels`` recoded as class ids ``0..C-1`` and the number of classes ``C``.

    Any sortable label values (strings, non-contiguous integers) are accepted; class ids
    follow the sorted order of the distinct values.

    Shape:
        - labels: (N,) with N == ``n_rows``
        - output: (N,) integer class ids, and C
    """
    array = np.asarray(labels)
    if array.ndim != 1:
        raise InputError(
            f"{name} must be 1-D but has shape {array.shape}; pass one label per row "
            "(use .ravel() on a column vector)."
        )
    if len(array) != n_rows:
        raise InputError(
            f"{name} has {len(array)} entries for {n_rows} rows of data; "
            "pass exactly one label per row."
        )
    if array.dtype.kind in "fc":
        _check_finite(array, name, "drop those rows or give them a class")
    try:
        classes, codes, counts = np.unique(array, return_inverse=True, return_counts=True)
    except TypeError:
        raise InputError(
            f"{name} mixes values that cannot be sorted together; "
            "pass labels of one type (all strings or all integers)."
        ) from None
    if len(classes) < min_classes:
        raise InputError(
            f"{name} has {len(classes)} distinct class(es) but this estimator needs at "
            f"least {min_classes}; score on data with more classes."
        )
    smallest = int(np.argmin(counts))
    if counts[smallest] < min_per_class:
        raise InputError(
            f"class {classes.tolist()[smallest]!r} has {counts[smallest]} sample(s) but this "
            f"estimator needs at least {min_per_class} per class; add samples or drop "
            "that class."
        )
    return codes.reshape(-1).astype(np.intp), len(classes)


def check_probabilities(
    probs: ArrayLike, n_rows: int | None = None, name: str = "source_probs"
) -> np.ndarray:
    """Return ``probs`` as a float64 matrix whose rows are probability distributions.

    Shape:
        - probs: (N, Z), every row non-negative and summing to 1 within 1e-6
    """
    array = _as_float_array(probs, name)
    if array.ndim != 2:
        raise InputError(
            f"{name} must be 2-D (samples x source classes) but has shape {array.shape}; "
            "pass the source model's softmax outputs."
        )
    if n_rows is not None and array.shape[0] != n_rows:
        raise InputError(
            f"{name} has {array.shape[0]} rows for {n_rows} labels; "
            "pass exactly one row of probabilities per label."
        )
    _check_finite(array, name, "check the source model's outputs for overflow")
    n_negative = int(np.count_nonzero(array < 0))
    if n_negative:
        raise InputError(
            f"{name} has {n_negative} negative entries; pass probabilities "
            "(softmax outputs), not logits."
        )
    deviation = np.abs(array.sum(axis=1) - 1.0)
    n_off = int(np.count_nonzero(deviation > _SUM_TOLERANCE))
    if n_off:
        raise InputError(
            f"{n_off} rows of {name} do not sum to 1 (largest deviation "
            f"{deviation.max():.3g}); apply a softmax to the logits first."
        )
    return array


def check_targets(targets: ArrayLike, n_rows: int) -> np.ndarray:
    """Return regression ``targets`` as a finite float64 matrix with one column per target.

    Shape:
        - targets: (N,) or (N, K)
        - output: (N, K)
    """
    array = _as_float_array(targets, "targets")
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise InputError(
            f"targets must be 1-D or 2-D but has shape {array.shape}; "
            "pass one row of targets per feature row."
        )
    if array.shape[0] != n_rows:
        raise InputError(
            f"targets has {array.shape[0]} rows but the features have {n_rows}; "
            "pass exactly one row of targets per feature row."
        )
    _check_finite(array, "targets", "drop or impute those rows before scoring")
    return array


def check_indicators(indicators: ArrayLike, n_rows: int) -> np.ndarray:
    """Return multi-label ``indicators`` as a float64 0/1 matrix, one column per label.

    A row may hold several labels or none; at least one label must occur somewhere.

    Shape:
        - indicators: (N, L) with N == ``n_rows``, entries 0 or 1
    """
    array = _as_float_array(indicators, "indicators")
    if array.ndim != 2:
        raise InputError(
            f"indicators must be 2-D (rows x labels) but has shape {array.shape}; "
            "pass one 0/1 column per label."
        )
    if array.shape[0] != n_rows:
        raise InputError(
            f"indicators has {array.shape[0]} rows but the features have {n_rows}; "
            "pass exactly one row of label indicators per feature row."
        )
    n_other = int(np.count_nonzero((array != 0) & (array != 1)))
    if n_other:
        raise InputError(
            f"indicators has {n_other} entries other than 0 and 1; pass 1 where a row "
            "has the label and 0 where it has not."
        )
    if not array.any():
        raise InputError("no row has any label; score on data where some rows are labelled.")
    return array


def check_vector(values: ArrayLike, name: str, n_rows: int | None = None) -> np.ndarray:
    """Return ``values`` as a finite float64 vector with at least two entries.

    Shape:
        - values: (N,), N >= 2 (and N == ``n_rows`` when given)
    """
    array = _as_float_array(values, name)
    if array.ndim != 1:
        raise InputError(
            f"{name} must be 1-D but has shape {array.shape}; pass one number per candidate."
        )
    if len(array) < 2:
        raise InputError(f"{name} has {len(array)} entries but needs at least 2; add candidates.")
    if n_rows is not None and len(array) != n_rows:
        raise InputError(
            f"{name} has {len(array)} entries for {n_rows} candidates; "
            "pass one number per candidate, in the same order."
        )
    _check_finite(array, name, "drop those candidates or score them again")
    return array
