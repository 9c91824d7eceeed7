"""The learning curve: a probe's quality at the training sizes it was measured at, extended to
the size the user will train on.

The probe's error is fitted as an inverse power law of the training rows,
err(n) = a + b · (n / n_max)^(−c), the form of Figueroa et al. 2012 ("Predicting sample size
required for classification performance", BMC Medical Informatics and Decision Making 12:8)
and of Hestness et al. 2017 ("Deep learning scaling is predictable, empirically",
arXiv:1712.00409): a is the error no amount of rows removes, b the excess error at the
largest measured size n_max (scaling by n_max keeps the fit well conditioned), c how fast
the excess falls. The error is 1 − score for a higher-is-better metric (macro-F1, accuracy,
R²) and the metric itself for a lower-is-better one (MAE, RMSE). Fitted with
``scipy.optimize.curve_fit`` under bounds a ≥ 0, b ≥ 0, 0 < c ≤ 2.

The interval has two parts. A bootstrap over folds: the folds' point sets are drawn with
replacement, the curve refitted on each draw, and the predictions' percentiles taken; that is
the spread of the points. And the error of the curve's form, backtested: the curve fitted
without the largest size predicts it, and that miss, scaled by how far the prediction
extrapolates (log of the extrapolation over log of the backtest's), is added to both ends in
quadrature. Without the second part the interval covered the full-train score in 6 of 12
benchmark runs (benchmarks/full_size.py). Hand-written around curve_fit because no library
fits this curve with a fold-level bootstrap.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

METHOD = (
    "inverse power law err = a + b·(n/n_max)^-c (Figueroa 2012); interval: bootstrap over "
    "folds, widened by the backtested error of the curve's form"
)
RESAMPLES = 200
CONFIDENCE = 0.95
FAR = 20.0  # an extrapolation past this many times the largest measured size is flagged
MIN_SIZES = 3  # distinct training sizes a fit needs (three parameters)
C_MIN, C_MAX = 1e-3, 2.0


@dataclass
class Prediction:
    """The expected score at ``rows`` training rows, with its interval."""

    rows: int
    value: float
    low: float
    high: float
    extrapolation: float  # rows / the largest measured training size

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "value": self.value,
            "low": self.low,
            "high": self.high,
            "extrapolation": round(self.extrapolation, 3),
            "far": self.extrapolation > FAR,
        }


@dataclass
class CurveFit:
    """A fitted learning curve, or why there is none (``reason``; ``params`` then empty)."""

    params: dict[str, float] = field(default_factory=dict)  # a, b, c, n_max
    predictions: list[Prediction] = field(default_factory=list)
    reason: str | None = None


def _law(n: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    return a + b * np.power(n, -c)


def to_error(scores: np.ndarray, higher: bool) -> np.ndarray:
    """Scores -> the error the curve models (1 − score when higher is better)."""
    return 1.0 - scores if higher else scores


def from_error(errors: np.ndarray | float, higher: bool) -> Any:
    return 1.0 - errors if higher else errors


def _fit(
    sizes: np.ndarray, errors: np.ndarray, start: tuple[float, ...] | None = None
) -> tuple[float, float, float]:
    """(a, b, c) of the law on sizes scaled to the largest (1.0), from ``start`` (or a guess
    from the points); raises when it fails."""
    start = start or (
        max(0.0, float(errors.min()) * 0.5),
        max(1e-6, float(errors.max() - errors.min())),
        0.5,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        found, _ = curve_fit(
            _law,
            sizes,
            errors,
            p0=start,
            bounds=([0.0, 0.0, C_MIN], [np.inf, np.inf, C_MAX]),
            maxfev=5000,
        )
    if not np.all(np.isfinite(found)):
        raise RuntimeError("the fit did not converge")
    return float(found[0]), float(found[1]), float(found[2])


def check_points(sizes: np.ndarray, scores: np.ndarray, higher: bool) -> str | None:
    """Why these points give no curve (too few, or quality that does not improve with rows),
    or None.

    Shape:
        sizes, scores: (P, K) training rows and score per size (P, ascending) and fold (K);
            NaN where a fit failed.
    """
    usable = [p for p in range(len(sizes)) if np.isfinite(scores[p]).any()]
    if len(usable) < MIN_SIZES:
        return f"too few points: {len(usable)} training sizes with a score, {MIN_SIZES} needed"
    errors = to_error(np.nanmean(scores[usable], axis=1), higher)
    if errors[-1] > errors[0]:
        return "not a learning curve: the quality falls as the training rows grow"
    return None


def fit_curve(
    sizes: np.ndarray,
    scores: np.ndarray,
    higher: bool,
    at_rows: list[int],
    *,
    seed: int = 0,
    resamples: int = RESAMPLES,
) -> CurveFit:
    """The learning curve through per-fold points and its prediction at each of ``at_rows``,
    with a bootstrap-over-folds percentile interval; a reason instead when the points give no
    curve or the fit fails (never raises on bad points).

    Shape:
        sizes, scores: (P, K) training rows and score per size (P) and fold (K); NaN scores
            are left out.
    """
    sizes, scores = np.asarray(sizes, dtype=float), np.asarray(scores, dtype=float)
    why = check_points(sizes, scores, higher)
    if why:
        return CurveFit(reason=why)
    n_max = float(np.nanmax(sizes))
    scaled, errors = sizes / n_max, to_error(scores, higher)
    keep = np.isfinite(errors)
    try:
        a, b, c = _fit(scaled[keep], errors[keep])
    except (RuntimeError, ValueError) as error:
        return CurveFit(reason=f"the curve fit failed: {error}")
    targets = np.array([r / n_max for r in at_rows], dtype=float)
    draws = _bootstrap(scaled, errors, targets, (a, b, c), seed, resamples)
    miss, reach = backtest(scaled, errors)
    tail = (1 - CONFIDENCE) / 2 * 100
    predictions = []
    for i, rows in enumerate(at_rows):
        point = float(from_error(_law(np.array(targets[i]), a, b, c), higher))
        ends = from_error(np.nanpercentile(draws[:, i], [tail, 100 - tail]), higher)
        low, high = sorted(float(e) for e in ends) if len(draws) else (point, point)
        form = miss * max(1.0, math.log(max(targets[i], 1.0)) / math.log(reach)) if reach else 0.0
        low = point - math.hypot(point - min(low, point), form)
        high = point + math.hypot(max(high, point) - point, form)
        predictions.append(Prediction(rows, point, low, high, rows / n_max))
    params = {"a": a, "b": b, "c": c, "n_max": n_max, "backtest_miss": miss}
    return CurveFit(params, predictions)


def backtest(scaled: np.ndarray, errors: np.ndarray) -> tuple[float, float | None]:
    """How far the curve fitted without the largest size misses that size's mean error, and
    the extrapolation that took (largest size / the next one); (0, None) when there are too
    few sizes left to fit."""
    sizes = np.unique(scaled[np.isfinite(errors)])
    if len(sizes) <= MIN_SIZES:
        return 0.0, None
    keep = np.isfinite(errors) & (scaled < sizes[-1])
    try:
        a, b, c = _fit(scaled[keep], errors[keep])
    except (RuntimeError, ValueError):
        return 0.0, None
    last = scaled == sizes[-1]
    observed = float(np.nanmean(errors[last]))
    predicted = float(_law(np.array(sizes[-1]), a, b, c))
    return abs(predicted - observed), float(sizes[-1] / sizes[-2])


def _bootstrap(
    scaled: np.ndarray,
    errors: np.ndarray,
    targets: np.ndarray,
    fitted: tuple[float, float, float],
    seed: int,
    resamples: int,
) -> np.ndarray:
    """(B, T) predicted errors at ``targets``, each from the curve refitted (from the ``fitted``
    parameters) on the folds drawn with replacement (draws whose fit fails are left out)."""
    start = (fitted[0], max(fitted[1], 1e-6), min(max(fitted[2], 2 * C_MIN), C_MAX))
    rng = np.random.default_rng(seed)
    folds = scaled.shape[1]
    out = []
    for _ in range(resamples):
        drawn = rng.integers(0, folds, size=folds)
        x, y = scaled[:, drawn], errors[:, drawn]
        keep = np.isfinite(y)
        if len(np.unique(x[keep])) < MIN_SIZES:
            continue
        try:
            a, b, c = _fit(x[keep], y[keep], start)
        except (RuntimeError, ValueError):
            continue
        out.append(_law(targets, a, b, c))
    return np.array(out).reshape(-1, len(targets))


def rounded(value: float) -> float | None:
    """A float for results.json (None for NaN)."""
    return None if value is None or math.isnan(value) else float(value)
