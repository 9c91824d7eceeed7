"""What every task's probe shares: the job, the task registry, and the pooled cross-validation.

A probe is a simple model fitted on frozen features (or a baseline's own inputs) in k folds;
its out-of-fold predictions give every figure and breakdown without another fit. What
differs by task (how the rows are split into folds, how one fold is fitted and predicted,
which figures the predictions give) is a ``TaskProbe``, one module per task, registered in
``PROBES`` by its task: ``classification.py``, ``regression.py``, ``multilabel.py``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import numpy as np
from scipy import sparse
from threadpoolctl import threadpool_limits

from modelscout import metrics
from modelscout.data.inputs import Targets
from modelscout.measure.timing import usable_cores
from modelscout.records import Measurement, Task

Split = tuple[np.ndarray, np.ndarray]  # (train rows, test rows)
# A fold's (test rows, predictions on them or the exception its fit raised, seconds)
Fold = tuple[np.ndarray, "np.ndarray | Exception", float]


class FoldPredictions(np.ndarray):
    """A fold's predictions (what ``fit_fold`` returns), carrying in ``found`` what else the
    fold's fit learned (the probabilities of the predicted classes, the chosen penalty, the
    labels' thresholds), since ``summarize`` receives only the predictions."""

    found: dict[str, Any]


def with_found(predictions: np.ndarray, **found: Any) -> FoldPredictions:
    """``predictions`` as a ``FoldPredictions`` carrying ``found``."""
    out = np.asarray(predictions).view(FoldPredictions)
    out.found = found
    return out


def found_in(predictions: Any, name: str) -> Any:
    """What a fold's fit found under ``name`` (``with_found``), or None."""
    return (getattr(predictions, "found", None) or {}).get(name)


@dataclass
class ProbeJob:
    """One cross-validation: ``make_model()`` fitted on ``inputs`` in ``folds`` folds.

    Shape:
        inputs: (N, D) features (dense or sparse), or N texts for models that featurize
            themselves.
        targets: N targets (``Targets``): classes, numbers or label sets; ``targets.task``
            picks the ``TaskProbe``.
        slices: column -> (N,) str values, for the per-slice breakdown.
    """

    make_model: Callable[[], Any]
    inputs: np.ndarray | sparse.spmatrix | Sequence[str]
    targets: Targets
    folds: int = 5
    seed: int = 0
    slices: dict[str, np.ndarray] | None = None

    @property
    def task(self) -> Task:
        return self.targets.task


class TaskProbe(Protocol):
    """How one task is cross-validated and what its predictions give."""

    task: Task
    version: str  # in the store key: a change to what the probe measures bumps it
    names: tuple[str, ...]  # the measurements ``measurements`` returns

    def linear_probe(self, seed: int) -> Any:
        """A fresh, unfitted scikit-learn model for frozen dense features."""
        ...

    def splits(self, job: ProbeJob) -> list[Split]:
        """The folds' (train, test) row indices, seeded by ``job.seed``."""
        ...

    def fit_fold(self, job: ProbeJob, train: np.ndarray, test: np.ndarray) -> np.ndarray:
        """Fit ``job.make_model()`` on the train rows, return its predictions for the test rows
        (class ids; numbers in the original units; (T, L) 0/1 indicators)."""
        ...

    def summarize(self, job: ProbeJob, folds: list[Fold]) -> Any:
        """The task's result from every fold's predictions (none of them an exception); it
        has a ``fit_seconds`` attribute."""
        ...

    def measurements(self, result: Any, settings: dict[str, Any]) -> list[Measurement]:
        """The ``names`` measurements of a result, with ``version`` and ``settings``."""
        ...


PROBES: dict[Task, TaskProbe] = {}


def register_probe(probe: TaskProbe) -> TaskProbe:
    """Add a task's probe to ``PROBES`` (a second one for a task is a bug)."""
    if probe.task in PROBES:
        raise ValueError(f"a probe for {probe.task!r} is registered twice")
    PROBES[probe.task] = probe
    return probe


def take(inputs: Any, rows: np.ndarray) -> Any:
    """The rows of a feature matrix (dense or sparse) or of a list of texts."""
    if isinstance(inputs, np.ndarray) or sparse.issparse(inputs):
        return inputs[rows]
    return [inputs[i] for i in rows]


def _fit_fold(probe: TaskProbe, job: ProbeJob, train: np.ndarray, test: np.ndarray) -> Fold:
    start = time.perf_counter()
    try:
        predicted: np.ndarray | Exception = probe.fit_fold(job, train, test)
    except Exception as error:  # fails this job only; the others' folds go on
        predicted = error
    return test, predicted, time.perf_counter() - start


def pooled(
    work: Sequence[tuple[int, Hashable, Callable[[], Any]]],
    workers: int,
    finished: Callable[[int, dict[Hashable, Any]], None],
) -> None:
    """Run every ``(index, key, call)`` of ``work`` on ``workers`` threads; as soon as every
    call of one ``index`` is in, ``finished(index, {key: result})``, in this thread (so that a
    caller can store it before the rest finish). An interrupt drops the calls not started.

    Threads, not processes: probes spend their time in BLAS and liblinear, which release the
    GIL; worker processes cost more to start (2 s) than they saved. One BLAS thread per call:
    calls run side by side, and on small matrices multithreaded BLAS costs more in
    synchronisation than it gains (measured 2.4 s with 2 threads vs 0.9 s with 1 on 4,000 x
    384 features, 77 classes). The limit is process-wide, so it is set once here: set and
    restored by each call's thread, restores could interleave and leave BLAS on one thread
    for everything after the probe.
    """
    expected = Counter(index for index, _, _ in work)
    found: dict[int, dict[Hashable, Any]] = {index: {} for index in expected}
    with threadpool_limits(1), ThreadPoolExecutor(max_workers=workers) as pool:
        pending = {pool.submit(call): (index, key) for index, key, call in work}
        try:
            for future in as_completed(pending):
                index, key = pending[future]
                found[index][key] = future.result()
                if len(found[index]) == expected[index]:
                    finished(index, found[index])
        except BaseException:  # an interrupt: drop the calls not started, keep what is stored
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def cross_validate_many(
    jobs: Sequence[ProbeJob],
    n_jobs: int | None = None,
    on_result: Callable[[int, Any], None] | None = None,
) -> list[Any]:
    """Every job's k-fold result (its task's ``summarize``), the folds of all jobs sharing
    ``n_jobs`` threads (None: one per usable core, ``timing.usable_cores``).

    Pooling the folds keeps every core busy to the end: five folds on two threads alone
    leave one idle for the last fold. Folds are dispatched in job order, so put the
    slowest jobs first. A job whose fold raises (or whose split fails) gets that exception
    as its result. ``on_result(index, result)`` is called, in this thread, as soon as a job's
    last fold is in, so that a caller can store it before the other jobs finish.
    """
    results: list[Any] = [None] * len(jobs)
    tasks = []
    for index, job in enumerate(jobs):
        try:
            splits = PROBES[job.task].splits(job)
        except Exception as error:  # e.g. too few rows of a class for the folds
            results[index] = error
            if on_result:
                on_result(index, error)
            continue
        tasks += [(index, number, train, test) for number, (train, test) in enumerate(splits)]

    def finished(index: int, folds: dict[Hashable, Fold]) -> None:
        results[index] = _summarize(jobs[index], [folds[n] for n in sorted(folds)])
        if on_result:
            on_result(index, results[index])

    work = [
        (index, number, partial(_fit_fold, PROBES[jobs[index].task], jobs[index], train, test))
        for index, number, train, test in tasks
    ]
    pooled(work, n_jobs or usable_cores(), finished)
    return results


def _summarize(job: ProbeJob, folds: list[Fold]) -> Any:
    for _, predicted, _ in folds:
        if isinstance(predicted, Exception):
            return predicted
    try:
        return PROBES[job.task].summarize(job, folds)
    except Exception as error:  # a figure that cannot be computed fails this job only
        return error


def probe_measurements(result: Any, task: Task, settings: dict[str, Any]) -> list[Measurement]:
    """The measurements of one cross-validated probe of ``task``."""
    return PROBES[task].measurements(result, settings)


def fold_measurements(
    result: Any, figures: dict[str, str], settings: dict[str, Any], version: str
) -> list[Measurement]:
    """One measurement per ``figures`` entry (metric name -> the result's attribute, whose
    ``_std`` partner is its spread over folds), in the metric's unit, timed by the result's
    ``fit_seconds``."""
    return [
        Measurement(
            metric,
            getattr(result, name),
            metrics.spec(metric).unit,
            getattr(result, f"{name}_std"),
            settings,
            result.fit_seconds,
            version,
        )
        for metric, name in figures.items()
    ]


def fold_spread(values: Sequence[float]) -> tuple[float, float]:
    """(mean, sample standard deviation) of per-fold figures."""
    array = np.asarray(values, dtype=float)
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else 0.0
