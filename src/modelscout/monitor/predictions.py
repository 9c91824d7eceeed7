"""What the chosen model's probe says about both sets, when the reference has labels: its
out-of-fold predictions (and confidences) on the reference, and the predictions of the probe
fitted on every reference row for the current rows.

The probe is the task's linear probe of ``rank`` (measure/probe), split and fitted by the
task's own ``TaskProbe``: the reference's predictions are out of fold so that they are as
honest as the current ones (a probe predicting its own training rows would look surer than it
is, and the PSI and the confidence threshold would be biased).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modelscout.data import Targets
from modelscout.measure.probe import PROBES, ProbeJob
from modelscout.measure.probe.base import found_in


@dataclass
class ProbePredictions:
    """The probe's predictions on both sets.

    Shape:
        reference, current: (N,) class ids, (N,) numbers, or (N, L) 0/1 label indicators;
        *_confidence: (N,) the probability of the predicted class (classification only).
    """

    reference: np.ndarray
    current: np.ndarray
    reference_confidence: np.ndarray | None = None
    current_confidence: np.ndarray | None = None
    reference_correct: np.ndarray | None = None  # (N,) bool, classification only


def probe_predictions(
    reference: np.ndarray, targets: Targets, current: np.ndarray, *, folds: int, seed: int
) -> ProbePredictions:
    """Out-of-fold predictions on ``reference`` and a full-reference fit's on ``current``.

    Shape:
        reference: (N, D) features with N ``targets``; current: (M, D) features.
    """
    probe = PROBES[targets.task]
    job = ProbeJob(lambda: probe.linear_probe(seed), reference, targets, folds=folds, seed=seed)
    parts = [(test, probe.fit_fold(job, train, test)) for train, test in probe.splits(job)]
    first = parts[0][1]
    out_of_fold = np.zeros((len(reference), *first.shape[1:]), dtype=np.asarray(first).dtype)
    confidence = np.zeros(len(reference)) if found_in(first, "confidence") is not None else None
    for test, predicted in parts:
        out_of_fold[test] = np.asarray(predicted)
        if confidence is not None:
            confidence[test] = found_in(predicted, "confidence")
    # the current rows predicted by a probe fitted on every reference row: one job over both,
    # trained on the reference's rows and asked about the current's
    both = ProbeJob(job.make_model, np.vstack([reference, current]), targets, folds, seed)
    rows = np.arange(len(reference))
    predicted = probe.fit_fold(both, rows, np.arange(len(reference), len(both.inputs)))
    correct = None
    if targets.task == "classification":
        correct = out_of_fold == targets.fit_targets()
    return ProbePredictions(
        out_of_fold,
        np.asarray(predicted),
        confidence,
        found_in(predicted, "confidence"),
        correct,
    )


def psi_values(predictions: np.ndarray) -> np.ndarray:
    """What the PSI compares: class ids and numbers as they are; for label sets, each row's
    labels as one code per label it has (code L for a row with none), so that the PSI is that
    of the predicted labels' shares.

    Shape:
        predictions: (N,) or (N, L); returns (K,) with K >= N for label sets.
    """
    if predictions.ndim == 1:
        return predictions
    rows, labels = np.nonzero(predictions)
    empty = np.flatnonzero(predictions.sum(axis=1) == 0)
    return np.concatenate([labels, np.full(len(empty), predictions.shape[1])]).astype(np.int64)
