"""The multi-label probe: how well one-vs-rest classifiers do on frozen features.

Each label gets its own logistic regression on standardized features (one-vs-rest), fitted
once per fold of an iterative stratification (Sechidis, Tsoumakas and Vlahavas 2011, "On
the Stratification of Multi-Label Data", ECML PKDD), which deals the rarest labels' rows out
first so that every fold sees every label that has at least as many rows as there are
folds. A label is predicted where its score reaches a threshold chosen inside the fold, on
the fold's training rows alone; the out-of-fold predictions then give every per-label and
per-slice figure without another fit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from iterstrat.ml_stratifiers import MultilabelStratifiedKFold
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelscout import metrics
from modelscout.data.inputs import LabelSetTargets
from modelscout.measure.probe.base import (
    Fold,
    FoldPredictions,
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

INNER_FOLDS = 3  # the split of a fold's training rows whose scores choose the thresholds
THRESHOLD_QUANTILES = np.linspace(0.0, 1.0, 101)  # each label's candidate thresholds


@dataclass
class MultilabelResult:
    micro_f1: float
    micro_f1_std: float
    macro_f1: float
    macro_f1_std: float
    samples_f1: float
    samples_f1_std: float
    subset_accuracy: float
    subset_accuracy_std: float
    predictions: np.ndarray  # (N, L) out-of-fold 0/1 predictions
    per_label_f1: dict[str, float] = field(default_factory=dict)
    per_label_precision: dict[str, float] = field(default_factory=dict)
    per_label_recall: dict[str, float] = field(default_factory=dict)
    support: dict[str, int] = field(default_factory=dict)  # rows with the label
    per_slice_f1: dict[str, dict[str, float]] = field(default_factory=dict)
    thresholds: dict[str, float | None] = field(default_factory=dict)  # ``mean_thresholds``
    fit_seconds: float = 0.0  # the folds' fit-and-predict time, summed over folds


def linear_probe(seed: int = 0) -> Any:
    """Standardize, then one L2 logistic regression (C=1) per label."""
    return make_pipeline(
        StandardScaler(),
        OneVsRestClassifier(LogisticRegression(C=1.0, max_iter=300, random_state=seed)),
    )


def label_folds(indicators: np.ndarray, folds: int, seed: int) -> list[Split]:
    """Iterative stratification (Sechidis et al. 2011) of the rows into ``folds`` folds.

    Shape:
        indicators: (N, L) 0/1, column j is 1 where the row has label j.
    """
    splitter = MultilabelStratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros((len(indicators), 1)), indicators))


def scores(model: Any, inputs: Any) -> np.ndarray:
    """(T, L) per-label scores: ``decision_function`` where the model has one (the linear
    probe's logits, the TF-IDF baseline's SVM margins), else ``predict_proba``."""
    if hasattr(model, "decision_function"):
        raw = model.decision_function(inputs)
    else:
        raw = model.predict_proba(inputs)
    return np.asarray(raw, dtype=float).reshape(len(raw), -1)


def best_thresholds(scores: np.ndarray, indicators: np.ndarray) -> np.ndarray:
    """(L,) per label, the threshold on its scores (predict where score >= threshold) with
    the highest F1; candidates are the label's score quantiles (``THRESHOLD_QUANTILES``) and
    ``inf`` (never predict), which wins ties at F1 0, and where the label has no positive row.

    F1 = 2 TP / (predicted positives + true positives).

    Shape:
        scores: (N, L) out-of-fold scores; indicators: (N, L) 0/1 true labels.
    """
    truth = indicators.astype(bool)
    grid = np.quantile(scores, THRESHOLD_QUANTILES, axis=0)  # (Q, L)
    predicted = scores[None, :, :] >= grid[:, None, :]  # (Q, N, L)
    true_positives = (predicted & truth[None]).sum(axis=1)
    denominator = predicted.sum(axis=1) + truth.sum(axis=0)[None]
    f1 = np.divide(
        2.0 * true_positives, denominator, out=np.zeros(grid.shape), where=denominator > 0
    )
    never = np.where(truth.any(axis=0), 0.0, 1.0)  # predicting nothing is right without positives
    candidates = np.vstack([never[None], f1])  # never predict first: argmax keeps it on ties
    grid = np.vstack([np.full((1, grid.shape[1]), np.inf), grid])
    return grid[np.argmax(candidates, axis=0), np.arange(grid.shape[1])]


def inner_scores(job: ProbeJob, train: np.ndarray) -> np.ndarray:
    """(len(train), L) out-of-fold scores of fresh models on ``INNER_FOLDS`` folds of the
    training rows, so that thresholds are chosen on scores of rows the model did not see."""
    indicators = job.targets.fit_targets()[train]
    out = np.zeros(indicators.shape)
    for inner_train, inner_test in label_folds(indicators, INNER_FOLDS, job.seed):
        model = job.make_model().fit(take(job.inputs, train[inner_train]), indicators[inner_train])
        out[inner_test] = scores(model, take(job.inputs, train[inner_test]))
    return out


class MultilabelProbe:
    """Any number of labels per row: iterative stratification, one-vs-rest models, per-label
    thresholds chosen on the training rows of each fold, (T, L) 0/1 predictions."""

    task: Task = "multilabel"
    version = "1"
    names = (
        metrics.MICRO_F1,
        metrics.MACRO_F1,
        metrics.SAMPLES_F1,
        metrics.SUBSET_ACCURACY,
        metrics.BREAKDOWN,
    )

    def linear_probe(self, seed: int) -> Any:
        return linear_probe(seed)

    def splits(self, job: ProbeJob) -> list[Split]:
        return label_folds(job.targets.fit_targets(), job.folds, job.seed)

    def fit_fold(self, job: ProbeJob, train: np.ndarray, test: np.ndarray) -> FoldPredictions:
        indicators = job.targets.fit_targets()
        thresholds = best_thresholds(inner_scores(job, train), indicators[train])
        model = job.make_model().fit(take(job.inputs, train), indicators[train])
        predicted = (scores(model, take(job.inputs, test)) >= thresholds).astype(np.uint8)
        return with_found(predicted, thresholds=thresholds)

    def summarize(self, job: ProbeJob, folds: list[Fold]) -> MultilabelResult:
        return summarize(job.targets, folds, job.slices)

    def measurements(self, result: MultilabelResult, settings: dict[str, Any]) -> list[Measurement]:
        return probe_measurements(result, settings)


def fold_scores(truth: np.ndarray, predicted: np.ndarray) -> tuple[float, float, float, float]:
    """(micro-F1, macro-F1, samples-F1, subset accuracy) of one fold's test rows.

    Macro-F1 averages over the labels with at least one true row among these rows: a label
    absent from the fold has no F1 to give. Samples-F1 counts a row with no true and no
    predicted label as 1 (nothing to find, nothing claimed).

    Shape:
        truth, predicted: (T, L) 0/1.
    """
    return (
        float(f1_score(truth, predicted, average="micro", zero_division=0)),
        present_macro_f1(truth, predicted),
        float(f1_score(truth, predicted, average="samples", zero_division=1)),
        float(accuracy_score(truth, predicted)),
    )


def present_macro_f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Macro-F1 over the labels with at least one true row; NaN where none has one.

    Shape:
        truth, predicted: (T, L) 0/1.
    """
    present = np.flatnonzero(truth.any(axis=0))
    if not len(present):
        return float("nan")
    return float(f1_score(truth, predicted, labels=present, average="macro", zero_division=0))


def slice_f1(
    truth: np.ndarray, predicted: np.ndarray, slices: dict[str, np.ndarray] | None
) -> dict[str, dict[str, float]]:
    """Per slice column and value, the macro-F1 of its rows over the labels present in them;
    a value none of whose rows has a label is left out (no label to score)."""
    out: dict[str, dict[str, float]] = {}
    for column, values in (slices or {}).items():
        out[column] = {}
        for value in np.unique(values):
            rows = values == value
            if truth[rows].any():
                out[column][str(value)] = present_macro_f1(truth[rows], predicted[rows])
    return out


def mean_thresholds(folds: list[Fold], names: list[str]) -> dict[str, float | None]:
    """Per label, the mean over folds of its finite thresholds (in the model's score units:
    logits for the linear probe); None where no fold ever predicts it. Empty when the folds'
    predictions carry no thresholds."""
    chosen = [found_in(predicted, "thresholds") for _, predicted, _ in folds]
    if any(t is None for t in chosen):
        return {}
    stacked = np.array(chosen, dtype=float)  # (folds, L)
    finite = np.isfinite(stacked)
    out: dict[str, float | None] = {}
    for j, name in enumerate(names):
        out[name] = float(stacked[finite[:, j], j].mean()) if finite[:, j].any() else None
    return out


def summarize(
    targets: LabelSetTargets, folds: list[Fold], slices: dict[str, np.ndarray] | None = None
) -> MultilabelResult:
    """Fold means and standard deviations of the four figures; pooled out-of-fold per-label
    F1, precision, recall and support; per-slice macro-F1; the folds' mean thresholds."""
    truth, names = targets.indicators, targets.names
    predictions = np.zeros_like(truth)
    per_fold = []
    for test, predicted, _ in folds:
        predictions[test] = np.asarray(predicted)
        per_fold.append(fold_scores(truth[test], np.asarray(predicted)))
    micro, macro, samples, subset = (fold_spread(column) for column in zip(*per_fold, strict=True))
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predictions, average=None, zero_division=0
    )
    return MultilabelResult(
        *micro,
        *macro,
        *samples,
        *subset,
        predictions=predictions,
        per_label_f1=_by_label(names, f1),
        per_label_precision=_by_label(names, precision),
        per_label_recall=_by_label(names, recall),
        support={name: int(n) for name, n in zip(names, support, strict=True)},
        per_slice_f1=slice_f1(truth, predictions, slices),
        thresholds=mean_thresholds(folds, names),
        fit_seconds=float(sum(seconds for _, _, seconds in folds)),
    )


def _by_label(names: list[str], values: np.ndarray) -> dict[str, float]:
    return {name: float(v) for name, v in zip(names, values, strict=True)}


PROBE = register_probe(MultilabelProbe())
# MultilabelResult's attribute (and its ``_std``) behind each figure reported with a spread
_FIGURES = {
    metrics.MICRO_F1: "micro_f1",
    metrics.MACRO_F1: "macro_f1",
    metrics.SAMPLES_F1: "samples_f1",
    metrics.SUBSET_ACCURACY: "subset_accuracy",
}


def probe_measurements(result: MultilabelResult, settings: dict[str, Any]) -> list[Measurement]:
    """The ``MultilabelProbe.names`` measurements: fold means with their standard deviations,
    and the worst label's F1 (among labels with rows) with every per-label and per-slice
    figure, in the classification breakdown's keys (a label in place of a class)."""
    out = fold_measurements(result, _FIGURES, settings, PROBE.version)
    # a label without rows in the sample has F1 0 by convention, not by a failure of the model
    scored = [name for name, n in result.support.items() if n > 0] or list(result.per_label_f1)
    worst = min(scored, key=result.per_label_f1.__getitem__)
    detail: dict[str, Any] = {
        "worst_class": worst,
        "per_class_f1": result.per_label_f1,
        "per_class_precision": result.per_label_precision,
        "per_class_recall": result.per_label_recall,
        "support": result.support,
        "per_slice_f1": result.per_slice_f1,
    }
    if result.thresholds:
        detail["thresholds"] = result.thresholds
    breakdown = Measurement(
        metrics.BREAKDOWN,
        result.per_label_f1[worst],
        "fraction",
        None,
        settings,
        result.fit_seconds,
        PROBE.version,
        detail=detail,
    )
    return [*out, breakdown]
