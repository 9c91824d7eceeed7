"""The classification probe: how well a simple classifier does on frozen features.

The linear probe is scikit-learn's LogisticRegression on standardized features,
fitted once per stratified fold; the out-of-fold predictions then give every
breakdown (per class, per slice) without another fit. Where the fold's model gives class
probabilities (``predict_proba``: the linear probe does, the TF-IDF baseline's linear SVM
does not), the predicted class's probability is kept per row and gives the expected
calibration error (``measure/calibration.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from modelscout import metrics
from modelscout.data.inputs import ClassTargets
from modelscout.measure.calibration import BINS, expected_calibration_error, reliability
from modelscout.measure.probe.base import (
    Fold,
    FoldPredictions,
    ProbeJob,
    Split,
    cross_validate_many,
    fold_measurements,
    found_in,
    register_probe,
    take,
    with_found,
)
from modelscout.records import Measurement, Task

CONFUSED_PAIRS = 5  # the most confused (true, predicted) class pairs a breakdown keeps
CONFUSED_EXAMPLES = 3  # example rows kept per confused pair


@dataclass
class ProbeResult:
    accuracy: float
    accuracy_std: float
    macro_f1: float
    macro_f1_std: float
    predictions: np.ndarray  # (N,) out-of-fold class ids
    per_class_f1: dict[str, float] = field(default_factory=dict)
    macro_precision: float = 0.0
    macro_precision_std: float = 0.0
    macro_recall: float = 0.0
    macro_recall_std: float = 0.0
    per_class_precision: dict[str, float] = field(default_factory=dict)
    per_class_recall: dict[str, float] = field(default_factory=dict)
    per_slice_f1: dict[str, dict[str, float]] = field(default_factory=dict)
    confusions: list[dict[str, Any]] = field(default_factory=list)  # ``confused_pairs``
    ece: float | None = None  # of the pooled out-of-fold confidences; None: ``calibration``
    ece_std: float | None = None  # over folds
    calibration: dict[str, Any] = field(default_factory=dict)  # ``reliability`` or skipped
    fit_seconds: float = 0.0  # the folds' fit-and-predict time, summed over folds


def linear_probe(seed: int = 0) -> Any:
    """Standardize, then multinomial logistic regression (L2, C=1)."""
    return make_pipeline(
        StandardScaler(), LogisticRegression(C=1.0, max_iter=300, random_state=seed)
    )


class ClassificationProbe:
    """One class per row: stratified k-fold, the linear probe's predicted class ids."""

    task: Task = "classification"
    # 2: macro precision and recall, per-class precision and recall; 3: the confused pairs;
    # 4: the expected calibration error (a new measurement every stored probe lacks)
    version = "4"
    names = (
        metrics.ACCURACY,
        metrics.MACRO_F1,
        metrics.MACRO_PRECISION,
        metrics.MACRO_RECALL,
        metrics.BREAKDOWN,
        metrics.ECE,
    )

    def linear_probe(self, seed: int) -> Any:
        return linear_probe(seed)

    def splits(self, job: ProbeJob) -> list[Split]:
        labels = job.targets.fit_targets()
        folds = StratifiedKFold(n_splits=job.folds, shuffle=True, random_state=job.seed)
        return list(folds.split(np.zeros(len(labels)), labels))

    def fit_fold(self, job: ProbeJob, train: np.ndarray, test: np.ndarray) -> np.ndarray:
        labels = job.targets.fit_targets()
        model = job.make_model().fit(take(job.inputs, train), labels[train])
        return predict_with_confidence(model, take(job.inputs, test))

    def summarize(self, job: ProbeJob, folds: list[Fold]) -> ProbeResult:
        return _summarize(job, folds)

    def measurements(self, result: ProbeResult, settings: dict[str, Any]) -> list[Measurement]:
        return probe_measurements(result, settings)


def predict_with_confidence(model: Any, inputs: Any) -> FoldPredictions:
    """A fitted model's (T,) predicted class ids with the probability it gave each of them.

    A model without ``predict_proba`` (a pipeline ending in a linear SVM) gets no
    confidence and the reason: its decision values are margins, not probabilities, and
    squashing them into [0, 1] would make up a calibration the model does not have.
    """
    predicted = np.asarray(model.predict(inputs))
    if not hasattr(model, "predict_proba"):  # a Pipeline answers for its last step
        final = model[-1] if isinstance(model, Pipeline) else model
        why = (
            f"{type(final).__name__} gives no class probabilities, so the probe has no "
            "calibration to measure"
        )
        return with_found(predicted, no_confidence=why)
    probabilities = model.predict_proba(inputs)
    column = np.searchsorted(model.classes_, predicted)
    confidence = probabilities[np.arange(len(predicted)), column]
    return with_found(predicted, confidence=confidence)


def calibration(
    labels: np.ndarray, folds: list[Fold]
) -> tuple[float | None, float | None, dict[str, Any]]:
    """(ECE of the pooled out-of-fold confidences, its sample std over the folds' ECEs, the
    pooled ``reliability`` bins), or (None, None, {"skipped": why}) when a fold has no
    confidences.

    Shape:
        labels: (N,) true class ids; each fold's predictions carry (T,) ``confidence``.
    """
    for _, predicted, _ in folds:
        if found_in(predicted, "confidence") is None:
            why = found_in(predicted, "no_confidence") or "the probe gave no probabilities"
            return None, None, {"skipped": why}
    confidence = np.empty(len(labels), dtype=float)
    correct = np.zeros(len(labels), dtype=bool)
    per_fold = []
    for test, predicted, _ in folds:
        confidence[test] = found_in(predicted, "confidence")
        correct[test] = np.asarray(predicted) == labels[test]
        per_fold.append(expected_calibration_error(confidence[test], correct[test], BINS))
    spread = float(np.std(per_fold, ddof=1)) if len(per_fold) > 1 else 0.0
    return (
        expected_calibration_error(confidence, correct, BINS),
        spread,
        reliability(confidence, correct, BINS),
    )


def _summarize(job: ProbeJob, folds: list[Fold]) -> ProbeResult:
    targets = job.targets
    labels, classes = targets.labels, targets.classes
    predictions = np.empty_like(labels)
    accuracies, macro = [], []  # macro: per fold, (precision, recall, F1)
    for test, predicted, _ in folds:
        predictions[test] = predicted
        accuracies.append(accuracy_score(labels[test], predicted))
        scores = precision_recall_fscore_support(
            labels[test], predicted, average="macro", zero_division=0
        )
        macro.append(scores[:3])
    precisions, recalls, f1s = np.array(macro, dtype=float).T
    class_ids = np.arange(len(classes))
    per_precision, per_recall, per_class, _ = precision_recall_fscore_support(
        labels, predictions, labels=class_ids, average=None, zero_division=0
    )
    per_slice = {
        column: {
            value: float(
                f1_score(
                    labels[values == value],
                    predictions[values == value],
                    average="macro",
                    zero_division=0,
                )
            )
            for value in np.unique(values)
        }
        for column, values in (job.slices or {}).items()
    }
    ece, ece_std, calibrated = calibration(labels, folds)
    return ProbeResult(
        accuracy=float(np.mean(accuracies)),
        accuracy_std=float(np.std(accuracies, ddof=1)),
        macro_f1=float(np.mean(f1s)),
        macro_f1_std=float(np.std(f1s, ddof=1)),
        predictions=predictions,
        per_class_f1=_by_class(classes, per_class),
        per_slice_f1=per_slice,
        confusions=confused_pairs(labels, predictions, classes),
        fit_seconds=float(sum(seconds for _, _, seconds in folds)),
        macro_precision=float(np.mean(precisions)),
        macro_precision_std=float(np.std(precisions, ddof=1)),
        macro_recall=float(np.mean(recalls)),
        macro_recall_std=float(np.std(recalls, ddof=1)),
        per_class_precision=_by_class(classes, per_precision),
        per_class_recall=_by_class(classes, per_recall),
        ece=ece,
        ece_std=ece_std,
        calibration=calibrated,
    )


def confused_pairs(
    labels: np.ndarray,
    predictions: np.ndarray,
    classes: Sequence[str],
    top: int = CONFUSED_PAIRS,
    examples: int = CONFUSED_EXAMPLES,
) -> list[dict[str, Any]]:
    """The ``top`` most frequent mistakes: (true class, predicted class) pairs with
    true != predicted, most rows first (ties by class order), each with its count and the
    first ``examples`` row indices (in row order) of the true class predicted as the other.

    Shape:
        labels: (N,) true class ids in 0..C-1.
        predictions: (N,) predicted class ids in 0..C-1.
    Returns ``[{"true": name, "predicted": name, "count": n, "rows": [i, ...]}, ...]``.
    """
    wrong = np.flatnonzero(labels != predictions)
    pairs, counts = np.unique(
        np.stack([labels[wrong], predictions[wrong]], axis=1), axis=0, return_counts=True
    )
    order = np.argsort(-counts, kind="stable")[:top]  # np.unique sorted the pairs: ties in order
    out = []
    for (true, predicted), count in zip(pairs[order], counts[order], strict=True):
        rows = wrong[(labels[wrong] == true) & (predictions[wrong] == predicted)][:examples]
        out.append(
            {
                "true": str(classes[true]),
                "predicted": str(classes[predicted]),
                "count": int(count),
                "rows": [int(i) for i in rows],
            }
        )
    return out


def _by_class(classes: Sequence[str], values: np.ndarray) -> dict[str, float]:
    return {str(c): float(v) for c, v in zip(classes, values, strict=True)}


def cross_validate(
    make_model: Callable[[], Any],
    inputs: np.ndarray | sparse.spmatrix | Sequence[str],
    labels: np.ndarray,
    *,
    classes: Sequence[str],
    folds: int = 5,
    seed: int = 0,
    slices: dict[str, np.ndarray] | None = None,
    n_jobs: int | None = None,
) -> ProbeResult:
    """Stratified k-fold scores of ``make_model()`` fitted on ``inputs`` (one ``ProbeJob``;
    see ``cross_validate_many``). A fold's exception is raised."""
    job = ProbeJob(make_model, inputs, ClassTargets(labels, list(classes)), folds, seed, slices)
    result = cross_validate_many([job], n_jobs)[0]
    if isinstance(result, Exception):
        raise result
    return result


PROBE = register_probe(ClassificationProbe())
PROBE_VERSION = PROBE.version
PROBE_NAMES = list(PROBE.names)
# ProbeResult's attribute (and its ``_std``) behind each figure the probe reports with a spread
_FIGURES = {
    metrics.ACCURACY: "accuracy",
    metrics.MACRO_F1: "macro_f1",
    metrics.MACRO_PRECISION: "macro_precision",
    metrics.MACRO_RECALL: "macro_recall",
}


def probe_measurements(result: ProbeResult, settings: dict[str, Any]) -> list[Measurement]:
    """The ``ClassificationProbe.names`` measurements of one cross-validated probe: fold means
    with their standard deviations, and the worst class's F1 with every per-class and
    per-slice figure and the most confused class pairs."""
    seconds = result.fit_seconds
    out = fold_measurements(result, _FIGURES, settings, PROBE_VERSION)
    worst = min(result.per_class_f1, key=result.per_class_f1.get)
    detail = {
        "worst_class": worst,
        "per_class_f1": result.per_class_f1,
        "per_class_precision": result.per_class_precision,
        "per_class_recall": result.per_class_recall,
        "per_slice_f1": result.per_slice_f1,
        "confusions": result.confusions,
    }
    breakdown = Measurement(
        metrics.BREAKDOWN,
        result.per_class_f1[worst],
        "fraction",
        None,
        settings,
        seconds,
        PROBE_VERSION,
        detail=detail,
    )
    ece = Measurement(
        metrics.ECE,
        result.ece,
        metrics.spec(metrics.ECE).unit,
        result.ece_std,
        settings,
        seconds,
        PROBE_VERSION,
        detail=result.calibration,
    )
    return [*out, breakdown, ece]
