"""The classification probe: how well a simple classifier does on frozen features.

The linear probe is scikit-learn's LogisticRegression on standardized features,
fitted once per stratified fold; the out-of-fold predictions then give every
breakdown (per class, per slice) without another fit.
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
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelscout import metrics
from modelscout.data.inputs import ClassTargets
from modelscout.measure.probe.base import (
    Fold,
    ProbeJob,
    Split,
    cross_validate_many,
    register_probe,
    take,
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
    fit_seconds: float = 0.0  # the folds' fit-and-predict time, summed over folds


def linear_probe(seed: int = 0) -> Any:
    """Standardize, then multinomial logistic regression (L2, C=1)."""
    return make_pipeline(
        StandardScaler(), LogisticRegression(C=1.0, max_iter=300, random_state=seed)
    )


class ClassificationProbe:
    """One class per row: stratified k-fold, the linear probe's predicted class ids."""

    task: Task = "classification"
    # 2: macro precision and recall, per-class precision and recall; 3: the confused pairs
    version = "3"
    names = (
        metrics.ACCURACY,
        metrics.MACRO_F1,
        metrics.MACRO_PRECISION,
        metrics.MACRO_RECALL,
        metrics.BREAKDOWN,
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
        return model.predict(take(job.inputs, test))

    def summarize(self, job: ProbeJob, folds: list[Fold]) -> ProbeResult:
        return _summarize(job, folds)

    def measurements(self, result: ProbeResult, settings: dict[str, Any]) -> list[Measurement]:
        return probe_measurements(result, settings)


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
    out = [
        Measurement(
            metric,
            getattr(result, name),
            "fraction",
            getattr(result, f"{name}_std"),
            settings,
            seconds,
            PROBE_VERSION,
        )
        for metric, name in _FIGURES.items()
    ]
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
    return [*out, breakdown]
