"""The regression probe: how well a ridge regression does on frozen features.

The linear probe is scikit-learn's RidgeCV on standardized features: its efficient
leave-one-out (Rifkin & Lippert, "Notes on regularized least squares", 2007) picks the
regularization on each fold's training rows only, so the test rows never choose it. Folds
are stratified by quantile bins of the target (``NumberTargets.stratify_key``), so each fold
sees the whole range. Every figure is in the target's original units: under a log transform
the model is fitted on log(values) and its predictions exponentiated back. The mean
predictor, fitted on the same folds, is the floor a candidate must beat.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import spearmanr
from sklearn.linear_model import RidgeCV
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from modelscout import metrics
from modelscout.data.inputs import NumberTargets
from modelscout.measure.probe.base import (
    Fold,
    ProbeJob,
    Split,
    fold_measurements,
    fold_spread,
    found_in,
    register_probe,
    take,
    with_found,
)
from modelscout.records import Measurement, Task

# Half-decade steps over nine decades: standardized embeddings of a few hundred dimensions
# on hundreds to thousands of rows have chosen alphas from ~1 to ~1e4; the ends leave room.
ALPHAS = np.logspace(-3, 6, 19)
POINTS = 500  # out-of-fold (true, predicted) pairs kept for the predicted-vs-true plot


@dataclass
class RegressionResult:
    """Fold means and sample standard deviations, in the target's original units."""

    r2: float
    r2_std: float
    mae: float
    mae_std: float
    rmse: float
    rmse_std: float
    spearman: float
    spearman_std: float
    predictions: np.ndarray  # (N,) out-of-fold, original units
    floor: dict[str, float]  # the mean predictor on the same folds: r2, mae, rmse fold means
    residuals: dict[str, Any]  # overall, per_slice, worst_slice (``residuals``)
    points: dict[str, list[float]]  # true, predicted: a seeded subset of at most POINTS rows
    alpha: float | None = None  # the median alpha chosen over folds
    target_transform: str | None = None
    fit_seconds: float = 0.0  # the folds' fit-and-predict time, summed over folds


def linear_probe(seed: int = 0) -> Any:
    """Standardize, then ridge regression with alpha chosen from ``ALPHAS`` by efficient
    leave-one-out on the rows it is fitted on (``seed`` unused: the fit is deterministic)."""
    return make_pipeline(StandardScaler(), RidgeCV(alphas=ALPHAS))


class RegressionProbe:
    """One number per row: quantile-stratified k-fold, predictions in the original units."""

    task: Task = "regression"
    version = "1"
    names = (metrics.R2, metrics.MAE, metrics.RMSE, metrics.SPEARMAN, metrics.RESIDUALS)

    def linear_probe(self, seed: int) -> Any:
        return linear_probe(seed)

    def splits(self, job: ProbeJob) -> list[Split]:
        key = merged_bins(job.targets.stratify_key(), job.folds)
        folds = StratifiedKFold(n_splits=job.folds, shuffle=True, random_state=job.seed)
        return list(folds.split(np.zeros(len(key)), key))

    def fit_fold(self, job: ProbeJob, train: np.ndarray, test: np.ndarray) -> np.ndarray:
        targets: NumberTargets = job.targets  # type: ignore[assignment]
        model = job.make_model().fit(take(job.inputs, train), targets.fit_targets()[train])
        fitted = np.asarray(model.predict(take(job.inputs, test)), dtype=float).ravel()
        return with_found(targets.invert(fitted), alpha=chosen_alpha(model))

    def summarize(self, job: ProbeJob, folds: list[Fold]) -> RegressionResult:
        return summarize(job, folds)

    def measurements(self, result: RegressionResult, settings: dict[str, Any]) -> list[Measurement]:
        return probe_measurements(result, settings)


def merged_bins(key: np.ndarray, folds: int) -> np.ndarray:
    """Quantile bins with fewer than ``folds`` rows merged into their smaller neighbour until
    every bin can put a row in each fold (one bin left: plain shuffled k-fold).

    Shape:
        key: (N,) int bin of each row, bins ordered by the target.
    Returns (N,) int bins 0..B-1, each with at least ``folds`` rows when N >= folds.
    """
    _, key = np.unique(key, return_inverse=True)
    counts = list(np.bincount(key))
    while len(counts) > 1 and min(counts) < folds:
        small = int(np.argmin(counts))
        # the neighbour with fewer rows, so that merged bins stay about even
        if small == 0 or (small + 1 < len(counts) and counts[small + 1] < counts[small - 1]):
            into = small + 1
        else:
            into = small - 1
        low, high = sorted((small, into))
        key = np.where(key == high, low, key)
        key = np.where(key > high, key - 1, key)
        counts[low] += counts.pop(high)
    return key


def chosen_alpha(model: Any) -> float | None:
    """The regularization the fitted model used: RidgeCV's chosen ``alpha_``, a fixed ridge's
    ``alpha``, or None for a model without one (the last step of a pipeline)."""
    final = model[-1] if isinstance(model, Pipeline) else model
    alpha = getattr(final, "alpha_", getattr(final, "alpha", None))
    return float(alpha) if alpha is not None and np.ndim(alpha) == 0 else None


def errors(true: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """R², MAE and RMSE of one fold, in the units given.

    Shape:
        true, predicted: (T,) floats.
    """
    return {
        "r2": float(r2_score(true, predicted)),
        "mae": float(mean_absolute_error(true, predicted)),
        "rmse": float(root_mean_squared_error(true, predicted)),
    }


def fold_scores(true: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """``errors`` and Spearman's rho of one fold. A constant prediction (or target) has no
    ranks to correlate: its rho counts as 0 rather than NaN.

    Shape:
        true, predicted: (T,) floats.
    """
    constant = np.ptp(true) == 0 or np.ptp(predicted) == 0
    rho = 0.0 if constant else float(spearmanr(true, predicted).statistic)
    return {**errors(true, predicted), "spearman": rho}


def floor_scores(targets: NumberTargets, folds: list[Fold]) -> dict[str, float]:
    """The mean predictor on the same folds: each fold predicts its training rows' mean of
    ``fit_targets`` mapped back to the original units (under a log transform that is the
    training rows' geometric mean). Returns fold means of r2, mae, rmse."""
    fitted = targets.fit_targets()
    train_mask = np.ones(len(fitted), dtype=bool)
    scores = []
    for test, _, _ in folds:
        train_mask[:] = True
        train_mask[test] = False
        constant = targets.invert(np.array([fitted[train_mask].mean()]))[0]
        scores.append(errors(targets.values[test], np.full(len(test), constant)))
    return {name: float(np.mean([s[name] for s in scores])) for name in scores[0]}


def residuals(
    true: np.ndarray, predicted: np.ndarray, slices: dict[str, np.ndarray] | None
) -> dict[str, Any]:
    """Residuals of the pooled out-of-fold predictions, overall and per slice value, and the
    slice value with the largest MAE (None without slices). bias = mean(predicted - true).

    Shape:
        true, predicted: (N,) floats; slices: column -> (N,) values.
    """
    error = predicted - true
    overall = {
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "bias": float(np.mean(error)),
        "median_abs_error": float(np.median(np.abs(error))),
    }
    per_slice: dict[str, dict[str, dict[str, Any]]] = {}
    worst, worst_mae = None, -np.inf
    for column, values in (slices or {}).items():
        per_slice[column] = {}
        for value in np.unique(values):
            part = error[values == value]
            mae = float(np.mean(np.abs(part)))
            per_slice[column][str(value)] = {
                "rows": len(part),
                "mae": mae,
                "rmse": float(np.sqrt(np.mean(part**2))),
                "bias": float(np.mean(part)),
            }
            if mae > worst_mae:
                worst, worst_mae = [column, str(value)], mae
    return {"overall": overall, "per_slice": per_slice, "worst_slice": worst}


def sample_points(
    true: np.ndarray, predicted: np.ndarray, seed: int, size: int = POINTS
) -> dict[str, list[float]]:
    """At most ``size`` (true, predicted) pairs, a seeded subset in row order."""
    rows = np.arange(len(true))
    if len(rows) > size:
        rows = np.sort(np.random.default_rng(seed).choice(rows, size, replace=False))
    return {"true": true[rows].tolist(), "predicted": predicted[rows].tolist()}


def summarize(job: ProbeJob, folds: list[Fold]) -> RegressionResult:
    """The regression result of every fold's predictions (original units)."""
    targets: NumberTargets = job.targets  # type: ignore[assignment]
    true = np.asarray(targets.values, dtype=float)
    predictions = np.empty_like(true)
    scores, alphas = [], []
    for test, predicted, _ in folds:
        predictions[test] = predicted
        scores.append(fold_scores(true[test], np.asarray(predicted, dtype=float)))
        alpha = found_in(predicted, "alpha")
        if alpha is not None:
            alphas.append(alpha)
    spread = {
        name: fold_spread([s[name] for s in scores]) for name in ("r2", "mae", "rmse", "spearman")
    }
    return RegressionResult(
        *spread["r2"],
        *spread["mae"],
        *spread["rmse"],
        *spread["spearman"],
        predictions=predictions,
        floor=floor_scores(targets, folds),
        residuals=residuals(true, predictions, job.slices),
        points=sample_points(true, predictions, job.seed),
        alpha=float(np.median(alphas)) if alphas else None,
        target_transform=targets.transform,
        fit_seconds=float(sum(seconds for _, _, seconds in folds)),
    )


PROBE = register_probe(RegressionProbe())
# RegressionResult's attribute (and its ``_std``) behind each figure reported with a spread
_FIGURES = {
    metrics.R2: "r2",
    metrics.MAE: "mae",
    metrics.RMSE: "rmse",
    metrics.SPEARMAN: "spearman",
}


def probe_measurements(result: RegressionResult, settings: dict[str, Any]) -> list[Measurement]:
    """The ``RegressionProbe.names`` measurements: fold means with their standard deviations,
    and the worst slice's MAE (the overall MAE without slices) whose detail holds the
    residuals, the mean predictor's floor, the chosen alpha and the predicted-vs-true points."""
    seconds, version = result.fit_seconds, PROBE.version
    out = fold_measurements(result, _FIGURES, settings, version)
    worst = result.residuals["worst_slice"]
    value = (
        result.residuals["per_slice"][worst[0]][worst[1]]["mae"]
        if worst
        else result.residuals["overall"]["mae"]
    )
    detail = {
        **result.residuals,
        "floor": result.floor,
        "alpha": result.alpha,
        "points": result.points,
        "target_transform": result.target_transform,
    }
    unit = metrics.spec(metrics.RESIDUALS).unit
    residual = Measurement(
        metrics.RESIDUALS, value, unit, None, settings, seconds, version, detail=detail
    )
    return [*out, residual]
