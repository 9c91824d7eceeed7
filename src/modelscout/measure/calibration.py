"""Calibration of a classifier's confidences: expected calibration error and reliability bins.

Pure numpy on (confidence, correct) pairs, so any classifier that gives the probability of
the class it predicts can be scored: the linear probe's out-of-fold predictions today, a
fine-tuned model's held-out predictions later. Guo, Pleiss, Sun and Weinberger, "On
Calibration of Modern Neural Networks", ICML 2017, section 2.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from modelscout.measure.validation import InputError

BINS = 15  # Guo et al.'s choice, which most later work reports ECE at


def _check(confidence: ArrayLike, correct: ArrayLike, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """``confidence`` as float64 in [0, 1] and ``correct`` as bool, both (N,), N >= 1."""
    conf = np.asarray(confidence, dtype=np.float64)
    right = np.asarray(correct)
    if conf.ndim != 1 or right.shape != conf.shape:
        raise InputError(
            f"confidence {conf.shape} and correct {right.shape} must be two 1-D arrays of one "
            "entry per prediction; pass the predicted class's probability and whether it was right."
        )
    if len(conf) == 0:
        raise InputError("confidence is empty; pass at least one prediction.")
    if not np.all(np.isfinite(conf)) or conf.min() < 0 or conf.max() > 1:
        raise InputError(
            "confidence has values outside [0, 1] or NaN; pass probabilities, not decision values."
        )
    if right.dtype != bool and not np.isin(right, (0, 1)).all():
        raise InputError("correct must be 0/1 or bool; pass predicted == true per row.")
    if int(bins) != bins or bins < 1:
        raise InputError(f"bins is {bins}; pass a positive whole number of bins.")
    return conf, right.astype(bool)


def _bin_sums(
    confidence: ArrayLike, correct: ArrayLike, bins: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(B,) row count, summed confidence and summed correct per equal-width bin.

    Bin b holds confidences in (b/B, (b+1)/B], as in Guo et al.; a confidence of exactly 0
    goes to the first bin.
    """
    conf, right = _check(confidence, correct, bins)
    index = np.clip(np.ceil(conf * bins).astype(np.int64) - 1, 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    return (
        counts,
        np.bincount(index, weights=conf, minlength=bins),
        np.bincount(index, weights=right.astype(np.float64), minlength=bins),
    )


def expected_calibration_error(
    confidence: ArrayLike, correct: ArrayLike, bins: int = BINS
) -> float:
    """Expected calibration error (Guo et al., ICML 2017, eq. 3) with equal-width bins.

    .. math::
        \\mathrm{ECE} = \\sum_{b=1}^{B} \\frac{|B_b|}{N}
            \\left| \\mathrm{acc}(B_b) - \\mathrm{conf}(B_b) \\right|

    where :math:`B_b` holds the predictions whose confidence lies in ((b-1)/B, b/B],
    acc is the share of them that are right and conf their mean confidence. 0 is perfectly
    calibrated; an always-sure classifier that is right 70% of the time has ECE 0.3.

    This is the top-label ECE: ``confidence`` is the probability of the predicted class
    only. A classwise ECE (every class's probability against whether the row is that class)
    also measures the probabilities of the classes not predicted; it is not computed here.

    Shape:
        confidence: (N,) probability of the predicted class, in [0, 1].
        correct: (N,) bool, whether the predicted class is the true one.
    Returns a fraction in [0, 1].
    """
    counts, confidences, rights = _bin_sums(confidence, correct, bins)
    return float(np.abs(rights - confidences).sum() / counts.sum())


def reliability(confidence: ArrayLike, correct: ArrayLike, bins: int = BINS) -> dict[str, Any]:
    """The reliability diagram's bins (Guo et al., figure 1): per equal-width bin its edges,
    row count, mean confidence and accuracy (None for an empty bin), JSON-ready.

    Shape:
        confidence: (N,) in [0, 1]; correct: (N,) bool.
    Returns ``{"edges": (B+1,), "count": (B,), "confidence": (B,), "accuracy": (B,)}`` as
    lists.
    """
    counts, confidences, rights = _bin_sums(confidence, correct, bins)
    filled = counts > 0

    def means(sums: np.ndarray) -> list[float | None]:
        pairs = zip(sums, counts, filled, strict=True)
        return [float(total / n) if full else None for total, n, full in pairs]

    return {
        "edges": np.linspace(0.0, 1.0, bins + 1).tolist(),
        "count": counts.tolist(),
        "confidence": means(confidences),
        "accuracy": means(rights),
    }
