"""The probe's learning curve: its quality at nested fractions of each fold's training rows.

For every fold of the probe (the same splits), the task's probe model is fitted on nested
stratified fractions of that fold's training rows (1/8, 1/4, 1/2: each inside the next) and
scored on the fold's held-out rows; the full fold is the probe itself, scored from its
out-of-fold predictions without another fit. ``measure/curve.py`` fits the curve through these
points and predicts the quality at the user's full row count.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from modelscout import metrics
from modelscout.data.sample import nested_subsamples
from modelscout.measure.curve import CONFIDENCE, FAR, METHOD, RESAMPLES, fit_curve
from modelscout.measure.paired import SCORERS, Resamples, scored_truth
from modelscout.measure.probe.base import PROBES, ProbeJob, pooled
from modelscout.records import Measurement, Task

CURVE_FRACTIONS = (0.125, 0.25, 0.5)  # of each fold's training rows; the full fold is the probe
CURVE_VERSION = "1"


@dataclass
class CurvePoints:
    """Training sizes and scores per fraction and fold.

    Shape:
        sizes: (P, K) training rows, P = the fractions and then the full fold, K folds.
        scores: metric -> (P, K) its score on the fold's held-out rows; NaN where the fit
            on that fraction failed (``failures`` says why).
    """

    fractions: tuple[float, ...]
    sizes: np.ndarray
    scores: dict[str, np.ndarray]
    failures: list[str]
    fit_seconds: float = 0.0

    def pack(self) -> np.ndarray:
        """(1 + M, P, K): the sizes, then each metric's scores in ``scores``' order."""
        return np.stack([self.sizes, *self.scores.values()])

    @classmethod
    def unpack(cls, array: np.ndarray, task: Task, fractions: tuple[float, ...]) -> CurvePoints:
        names = list(SCORERS[task])
        return cls(fractions, array[0], dict(zip(names, array[1:], strict=True)), [])


def _scores(task: Task, truth_rows: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    draws = Resamples.identity(len(truth_rows))
    return {
        name: float(scorer(truth_rows, np.asarray(predicted), draws)[0])
        for name, scorer in SCORERS[task].items()
    }


def _point(job: ProbeJob, train: np.ndarray, test: np.ndarray) -> dict[str, float] | str:
    """The fold's scores with the probe fitted on ``train`` only, or why the fit failed."""
    try:
        predicted = PROBES[job.task].fit_fold(job, train, test)
    except Exception as error:  # e.g. a class or label with no row in a small fraction
        return f"{len(train)} rows: {type(error).__name__}: {error}"
    return _scores(job.task, scored_truth(job.targets)[test], predicted)


def curve_points_many(
    jobs: Sequence[ProbeJob],
    full: Sequence[np.ndarray],
    fractions: tuple[float, ...] = CURVE_FRACTIONS,
    n_jobs: int = 1,
    on_result: Callable[[int, CurvePoints | Exception], None] | None = None,
) -> list[CurvePoints | Exception]:
    """Every job's curve points, the fits of all jobs sharing ``n_jobs`` threads (one BLAS
    thread each, as ``cross_validate_many``); ``on_result(index, points)`` as each job's last
    fit is in, so that a killed run keeps the finished ones.

    Shape:
        full: per job, (N,) or (N, L) the probe's out-of-fold predictions (the full-fold
            points).
    """
    results: list[Any] = [None] * len(jobs)
    tasks, layout = [], {}
    for index, job in enumerate(jobs):
        try:
            layout[index] = _layout(job, fractions)
        except Exception as error:  # e.g. too few rows of a class for the folds
            results[index] = error
            if on_result:
                on_result(index, error)
            continue
        for fold, (train_rows, test) in enumerate(layout[index]):
            tasks += [(index, p, fold, rows, test) for p, rows in enumerate(train_rows)]
    started = time.perf_counter()

    def finished(index: int, found: dict[Any, Any]) -> None:
        results[index] = _assemble(jobs[index], layout[index], found, full[index], fractions)
        results[index].fit_seconds = time.perf_counter() - started
        if on_result:
            on_result(index, results[index])

    work = [
        (index, (p, fold), partial(_point, jobs[index], rows, test))
        for index, p, fold, rows, test in tasks
    ]
    pooled(work, n_jobs, finished)
    return results


def _layout(
    job: ProbeJob, fractions: tuple[float, ...]
) -> list[tuple[list[np.ndarray], np.ndarray]]:
    """Per fold of the probe: the nested training rows of each fraction, and the test rows."""
    key = job.targets.stratify_key()
    out = []
    for train, test in PROBES[job.task].splits(job):
        nested = nested_subsamples(key[train], fractions, job.seed, min_per_class=1)
        out.append(([train[rows] for rows in nested], test))
    return out


def _assemble(
    job: ProbeJob,
    layout: list[tuple[list[np.ndarray], np.ndarray]],
    found: dict[tuple[int, int], Any],
    full: np.ndarray,
    fractions: tuple[float, ...],
) -> CurvePoints:
    folds, points = len(layout), len(fractions) + 1
    names = list(SCORERS[job.task])
    sizes = np.zeros((points, folds))
    scores = {name: np.full((points, folds), np.nan) for name in names}
    failures = []
    answer = scored_truth(job.targets)
    for fold, (train_rows, test) in enumerate(layout):
        sizes[:-1, fold] = [len(rows) for rows in train_rows]
        sizes[-1, fold] = len(answer) - len(test)
        got = {**{p: found[p, fold] for p in range(points - 1)}}
        got[points - 1] = _scores(job.task, answer[test], np.asarray(full)[test])
        for p, value in got.items():
            if isinstance(value, str):
                failures.append(value)
                continue
            for name in names:
                scores[name][p, fold] = value[name]
    return CurvePoints(tuple(fractions), sizes, scores, failures)


def curve_measurements(
    points: CurvePoints,
    task: Task,
    at_rows: int,
    predict_rows: int | None,
    settings: dict[str, Any],
    seed: int = 0,
) -> list[Measurement]:
    """``predicted.<metric>`` for every scored quality metric of ``task``: the value at
    ``at_rows`` (the data's rows), the interval and the curve in the detail; None with the
    reason when the points give no curve."""
    out = []
    targets = [at_rows] + ([predict_rows] if predict_rows and predict_rows != at_rows else [])
    for name, scores in points.scores.items():
        higher = metrics.spec(name).direction == "higher"
        curve = fit_curve(points.sizes, scores, higher, targets, seed=seed)
        detail: dict[str, Any] = {
            "method": METHOD,
            "confidence": CONFIDENCE,
            "resamples": RESAMPLES,
            "points": _points_detail(points, scores),
            "failures": points.failures[:5],
        }
        value = None
        if curve.reason:
            detail["reason"] = curve.reason
        else:
            first = curve.predictions[0]
            value = first.value
            detail.update(
                params=curve.params,
                predictions=[p.as_dict() for p in curve.predictions],
                rows=first.rows,
                low=first.low,
                high=first.high,
                extrapolation=round(first.extrapolation, 3),
                far=first.extrapolation > FAR,
            )
        predicted = metrics.predicted(name)
        unit = metrics.spec(predicted).unit
        out.append(
            Measurement(
                predicted, value, unit, None, settings, points.fit_seconds, CURVE_VERSION, detail
            )
        )
    return out


def _points_detail(points: CurvePoints, scores: np.ndarray) -> list[dict[str, Any]]:
    fractions = [*points.fractions, 1.0]
    return [
        {
            "fraction": fractions[p],
            "rows": float(np.mean(points.sizes[p])),
            "scores": [None if np.isnan(s) else float(s) for s in scores[p]],
            "mean": None if np.isnan(scores[p]).all() else float(np.nanmean(scores[p])),
        }
        for p in range(len(fractions))
    ]


def curve_failed(job: Any, error: Exception) -> dict[str, Measurement]:
    """``predicted.*`` without a value, saying why the curve could not be measured (not
    stored: the next run tries again)."""
    reason = f"the learning curve failed: {type(error).__name__}: {error}"
    return {
        name: Measurement(name, None, metrics.spec(name).unit, None, job.settings, 0.0,
                          CURVE_VERSION, {"method": METHOD, "reason": reason})
        for name in job.names
    }  # fmt: skip
