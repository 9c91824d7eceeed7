"""Paired statistics: which candidates are statistically tied with the best on quality.

Every candidate of a run is probed on the same sample rows with the same folds, so their
out-of-fold predictions are paired row by row. The paired bootstrap draws the sample's rows
with replacement, scores every candidate on the *same* drawn rows, and takes the difference of
each candidate's score to the best candidate's: the row-to-row difficulty both share cancels,
which makes the interval much narrower than two separate intervals (or the fold-to-fold
spread) would be.

Method: B resamples of the N rows (B = 2,000), each candidate's quality metric on each
resample, d_b = score_b(candidate) − score_b(best); the 95% percentile interval of the d_b
(Efron & Tibshirani 1993, "An Introduction to the Bootstrap", ch. 13), the observed
difference on the rows as drawn. A candidate is *tied* with the best when its interval holds
0. This is the paired bootstrap test of Koehn 2004 ("Statistical Significance Tests for
Machine Translation Evaluation", EMNLP) and Berg-Kirkpatrick, Burkett & Klein 2012 ("An
Empirical Investigation of Statistical Significance in NLP", EMNLP), applied to pooled
out-of-fold predictions.

Each metric's scorer is vectorized over the resamples: sums over rows become per-resample
counts (``np.bincount`` over resample × class, or the (B, N) draw counts times a per-row
column), never a Python loop over scikit-learn calls. Pure numpy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from modelscout import metrics
from modelscout.data.inputs import Targets
from modelscout.records import Task

RESAMPLES = 2000
CONFIDENCE = 0.95
METHOD = "paired bootstrap"


@dataclass
class Resamples:
    """B draws of N rows with replacement.

    Shape:
        rows: (B, N) row indices.
    """

    rows: np.ndarray
    # values' bytes -> their ranks: the truth is ranked once, not once per candidate
    _ranks: dict[bytes, np.ndarray] = field(default_factory=dict, repr=False)

    @classmethod
    def draw(cls, n: int, resamples: int, seed: int) -> Resamples:
        rng = np.random.default_rng(seed)
        return cls(rng.integers(0, n, size=(resamples, n)))

    @classmethod
    def identity(cls, n: int) -> Resamples:
        """The rows as they are: one 'resample' that scores the sample itself."""
        return cls(np.arange(n)[None, :])

    @property
    def shape(self) -> tuple[int, int]:
        return self.rows.shape  # type: ignore[return-value]

    @cached_property
    def counts(self) -> np.ndarray:
        """(B, N) float: how many times each row is drawn in each resample."""
        b, n = self.shape
        flat = (np.arange(b)[:, None] * n + self.rows).ravel()
        return np.bincount(flat, minlength=b * n).reshape(b, n).astype(float)


# scorer(truth, predicted, resamples) -> (B,) the metric on each resample
Scorer = Callable[[np.ndarray, np.ndarray, Resamples], np.ndarray]


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (scikit-learn's zero_division=0)."""
    out = np.zeros(np.broadcast(numerator, denominator).shape)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


# -- classification: (N,) class ids ----------------------------------------------------------
def _class_counts(
    truth: np.ndarray, predicted: np.ndarray, draws: Resamples
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per resample and class: true positives, true rows, predicted rows; each (B, K).

    One ``np.bincount`` over (resample, class) pairs per count."""
    b, _ = draws.shape
    k = int(max(truth.max(), predicted.max())) + 1
    offset = np.arange(b)[:, None] * k
    true_key, predicted_key = (offset + truth[draws.rows]).ravel(), offset + predicted[draws.rows]
    hits = (truth == predicted)[draws.rows].ravel().astype(float)
    size = b * k
    tp = np.bincount(true_key, weights=hits, minlength=size).reshape(b, k)
    support = np.bincount(true_key, minlength=size).reshape(b, k)
    guessed = np.bincount(predicted_key.ravel(), minlength=size).reshape(b, k)
    return tp, support, guessed


def _macro(per_class: np.ndarray, support: np.ndarray, guessed: np.ndarray) -> np.ndarray:
    """Mean over the classes seen in a resample (true or predicted), as scikit-learn's macro
    average over the labels present in y_true or y_pred."""
    seen = (support + guessed) > 0
    return (per_class * seen).sum(axis=1) / seen.sum(axis=1)


def class_macro_f1(truth: np.ndarray, predicted: np.ndarray, draws: Resamples) -> np.ndarray:
    """Macro-F1 per resample: F1_k = 2 TP_k / (2 TP_k + FP_k + FN_k) = 2 TP_k / (true_k +
    predicted_k), averaged over the classes present.

    Shape: truth, predicted: (N,) class ids. Returns (B,)."""
    tp, support, guessed = _class_counts(truth, predicted, draws)
    return _macro(_ratio(2 * tp, support + guessed), support, guessed)


def class_macro_precision(truth: np.ndarray, predicted: np.ndarray, draws: Resamples) -> np.ndarray:
    """Macro precision per resample: TP_k / predicted_k averaged over the classes present."""
    tp, support, guessed = _class_counts(truth, predicted, draws)
    return _macro(_ratio(tp, guessed), support, guessed)


def class_macro_recall(truth: np.ndarray, predicted: np.ndarray, draws: Resamples) -> np.ndarray:
    """Macro recall per resample: TP_k / true_k averaged over the classes present."""
    tp, support, guessed = _class_counts(truth, predicted, draws)
    return _macro(_ratio(tp, support), support, guessed)


def _row_mean(per_row: np.ndarray, draws: Resamples) -> np.ndarray:
    """The mean of a per-row figure over each resample's rows. (N,) -> (B,)."""
    return per_row[draws.rows].mean(axis=1)


def class_accuracy(truth: np.ndarray, predicted: np.ndarray, draws: Resamples) -> np.ndarray:
    """Share of the resample's rows predicted right. Returns (B,)."""
    return _row_mean((truth == predicted).astype(float), draws)


# -- regression: (N,) numbers in the target's units ------------------------------------------
def r2(truth: np.ndarray, predicted: np.ndarray, draws: Resamples) -> np.ndarray:
    """R² = 1 − Σ(y − ŷ)² / Σ(y − ȳ)² on each resample (ȳ the resample's mean). Returns (B,)."""
    drawn = truth[draws.rows]
    residual = ((drawn - predicted[draws.rows]) ** 2).sum(axis=1)
    total = ((drawn - drawn.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1.0 - residual / total


def mae(truth: np.ndarray, predicted: np.ndarray, draws: Resamples) -> np.ndarray:
    """Mean |y − ŷ| on each resample. Returns (B,)."""
    return _row_mean(np.abs(truth - predicted), draws)


def rmse(truth: np.ndarray, predicted: np.ndarray, draws: Resamples) -> np.ndarray:
    """sqrt(mean (y − ŷ)²) on each resample. Returns (B,)."""
    return np.sqrt(_row_mean((truth - predicted) ** 2, draws))


def _resample_ranks(values: np.ndarray, draws: Resamples) -> np.ndarray:
    """``_rank_in_resamples``, kept on ``draws`` for values ranked again."""
    key = np.ascontiguousarray(values, dtype=float).tobytes()
    if key not in draws._ranks:
        draws._ranks[key] = _rank_in_resamples(values, draws)
    return draws._ranks[key]


def _rank_in_resamples(values: np.ndarray, draws: Resamples) -> np.ndarray:
    """Each row's average rank (1-based, ties averaged as ``scipy.stats.rankdata``) among the
    rows drawn in each resample, from the draw counts: a value's rank is the count of drawn
    values below it plus (the count equal to it + 1) / 2. No per-resample sort.

    Shape: values: (N,). Returns (B, N)."""
    unique, group = np.unique(values, return_inverse=True)
    order = np.argsort(group, kind="stable")
    starts = np.searchsorted(group[order], np.arange(len(unique)))
    per_value = np.add.reduceat(draws.counts[:, order], starts, axis=1)  # (B, G)
    below = np.cumsum(per_value, axis=1) - per_value
    return (below + (per_value + 1) / 2)[:, group]


def spearman(truth: np.ndarray, predicted: np.ndarray, draws: Resamples) -> np.ndarray:
    """Spearman's rho on each resample: the Pearson correlation of the resample's ranks, each
    row weighted by how often it is drawn. Returns (B,)."""
    weights = draws.counts
    n = weights.sum(axis=1, keepdims=True)
    a, b = _resample_ranks(truth, draws), _resample_ranks(predicted, draws)
    a = a - (weights * a).sum(axis=1, keepdims=True) / n
    b = b - (weights * b).sum(axis=1, keepdims=True) / n
    covariance = (weights * a * b).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return covariance / np.sqrt((weights * a * a).sum(axis=1) * (weights * b * b).sum(axis=1))


# -- multi-label: (N, L) 0/1 ------------------------------------------------------------------
def _label_counts(
    truth: np.ndarray, predicted: np.ndarray, draws: Resamples
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per resample and label: true positives, true rows, predicted rows; each (B, L), as the
    draw counts (B, N) times the per-row indicators (N, L)."""
    truth, predicted = truth.astype(float), predicted.astype(float)
    counts = draws.counts
    return counts @ (truth * predicted), counts @ truth, counts @ predicted


def labels_macro_f1(truth: np.ndarray, predicted: np.ndarray, draws: Resamples) -> np.ndarray:
    """Macro-F1 over the labels with a true row in the resample (the probe's
    ``present_macro_f1``): 2 TP_l / (true_l + predicted_l). Returns (B,)."""
    tp, support, guessed = _label_counts(truth, predicted, draws)
    present = support > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        return (_ratio(2 * tp, support + guessed) * present).sum(axis=1) / present.sum(axis=1)


def labels_micro_f1(truth: np.ndarray, predicted: np.ndarray, draws: Resamples) -> np.ndarray:
    """Micro-F1 over every (row, label): 2 ΣTP / (Σtrue + Σpredicted). Returns (B,)."""
    tp, support, guessed = _label_counts(truth, predicted, draws)
    return _ratio(2 * tp.sum(axis=1), support.sum(axis=1) + guessed.sum(axis=1))


def labels_samples_f1(truth: np.ndarray, predicted: np.ndarray, draws: Resamples) -> np.ndarray:
    """Mean over the resample's rows of each row's F1 = 2|t ∩ p| / (|t| + |p|), 1 for a row
    with neither (the probe's zero_division=1). Returns (B,)."""
    overlap = (truth * predicted).sum(axis=1)
    sizes = truth.sum(axis=1) + predicted.sum(axis=1)
    per_row = np.where(sizes > 0, _ratio(2 * overlap, sizes), 1.0)
    return _row_mean(per_row, draws)


def labels_subset_accuracy(
    truth: np.ndarray, predicted: np.ndarray, draws: Resamples
) -> np.ndarray:
    """Share of the resample's rows whose whole label set is predicted exactly. Returns (B,)."""
    return _row_mean((truth == predicted).all(axis=1).astype(float), draws)


SCORERS: dict[Task, dict[str, Scorer]] = {
    "classification": {
        metrics.MACRO_F1: class_macro_f1,
        metrics.ACCURACY: class_accuracy,
        metrics.MACRO_PRECISION: class_macro_precision,
        metrics.MACRO_RECALL: class_macro_recall,
    },
    "regression": {
        metrics.R2: r2,
        metrics.MAE: mae,
        metrics.RMSE: rmse,
        metrics.SPEARMAN: spearman,
    },
    "multilabel": {
        metrics.MACRO_F1: labels_macro_f1,
        metrics.MICRO_F1: labels_micro_f1,
        metrics.SAMPLES_F1: labels_samples_f1,
        metrics.SUBSET_ACCURACY: labels_subset_accuracy,
    },
}


def scored_truth(targets: Targets) -> np.ndarray:
    """What a task's predictions are scored against: class ids and (N, L) 0/1 are the fitted
    targets; regression is in the original units, whatever the model was fitted on (a probe
    predicts in them; a fine-tune's predictions are inverted to them)."""
    if targets.task == "regression":
        return np.asarray(targets.values)  # type: ignore[attr-defined]
    return np.asarray(targets.fit_targets())


def scorer_for(task: Task, metric: str) -> Scorer | None:
    """The vectorized scorer of ``metric`` for ``task``, or None when it has none."""
    return SCORERS.get(task, {}).get(metric)


@dataclass(frozen=True)
class Pair:
    """One candidate against the best: the observed difference (candidate − best, in the
    metric's units) and its percentile interval; tied when the interval holds 0."""

    candidate: str
    difference: float
    low: float
    high: float
    tied: bool


@dataclass(frozen=True)
class Ties:
    """The paired test of a run (results.json ``ties``)."""

    metric: str
    method: str
    resamples: int
    confidence: float
    rows: int  # the sample rows resampled
    best: str
    tied_with_best: list[str]  # the best itself not listed; in the order of ``pairs``
    pairs: list[Pair]
    sentence: str = ""  # what the test is, as the reports show it (decide/rationale.py)


def paired_bootstrap(
    truth: np.ndarray,
    predictions: dict[str, np.ndarray],
    best: str,
    scorer: Scorer,
    *,
    seed: int = 0,
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
) -> list[Pair]:
    """Each candidate's paired difference to ``best`` on the same resampled rows.

    Shape:
        truth: (N,) class ids or numbers, or (N, L) 0/1.
        predictions: candidate id -> the same shape as ``truth``, out-of-fold, row-aligned.
    Returns a ``Pair`` per candidate other than ``best``, in the order of ``predictions``.
    """
    n = len(truth)
    draws = Resamples.draw(n, resamples, seed)
    whole = Resamples.identity(n)
    reference = scorer(truth, predictions[best], draws)
    observed = scorer(truth, predictions[best], whole)[0]
    tail = 100 * (1 - confidence) / 2
    pairs = []
    for candidate, predicted in predictions.items():
        if candidate == best:
            continue
        differences = scorer(truth, predicted, draws) - reference
        low, high = np.nanpercentile(differences, [tail, 100 - tail])
        difference = float(scorer(truth, predicted, whole)[0] - observed)
        pairs.append(Pair(candidate, difference, float(low), float(high), bool(low <= 0 <= high)))
    return pairs
