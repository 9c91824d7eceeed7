"""kNN: leave-fold-out scores of k-nearest-neighbour predictors on the features.

Accuracy for classes, R² for numbers, micro-F1 for label sets: each row is predicted from
its k nearest rows in the other folds.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import r2_score

# the rows of a rare label spread over the folds as the sample keeps them (data/inputs.py)
from modelscout.data.inputs import rarest_label as rarest_label_strata
from modelscout.measure.validation import (
    InputError,
    check_features,
    check_indicators,
    check_labels,
    check_targets,
)

# Distances held at once by the kNN search (float32: 64 MB).
_KNN_BLOCK_ELEMENTS = 1 << 24


def _stratified_folds(codes: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold id per sample: shuffle, group by class, deal folds round-robin."""
    shuffled = np.random.default_rng(seed).permutation(len(codes))
    grouped = shuffled[np.argsort(codes[shuffled], kind="stable")]
    fold_of = np.empty(len(codes), dtype=np.intp)
    fold_of[grouped] = np.arange(len(codes)) % folds
    return fold_of


def _merge_nearest(
    best_d: np.ndarray, best_j: np.ndarray, rows: np.ndarray, d: np.ndarray, cols: np.ndarray
) -> None:
    """Fold the entries of ``d`` into the running k nearest (``best_d``, ``best_j``) of ``rows``.

    Once every row holds k neighbours, only entries below a row's current k-th distance can
    enter; they are few, so one comparison pass finds them and a sort grouped by row
    merges them, instead of a selection over the whole block.
    """
    k = best_d.shape[1]
    current_d, current_j = best_d[rows], best_j[rows]
    if np.isinf(current_d).any():
        kk = min(k, d.shape[1])
        candidates = np.argpartition(d, kk - 1, axis=1)[:, :kk]
        all_d = np.concatenate([current_d, np.take_along_axis(d, candidates, axis=1)], axis=1)
        all_j = np.concatenate([current_j, cols[candidates]], axis=1)
        keep = np.argpartition(all_d, k - 1, axis=1)[:, :k]
        best_d[rows] = np.take_along_axis(all_d, keep, axis=1)
        best_j[rows] = np.take_along_axis(all_j, keep, axis=1)
        return
    below = d < current_d.max(axis=1)[:, None]
    if below.flags.c_contiguous:
        hit_row, hit_col = np.nonzero(below)
    else:  # the transposed view of a block: scan it in memory order
        hit_col, hit_row = np.nonzero(below.T)
    if hit_row.size == 0:
        return
    improved = np.unique(hit_row)
    group = np.concatenate([np.repeat(improved, k), hit_row])
    all_d = np.concatenate([current_d[improved].ravel(), d[hit_row, hit_col]])
    all_j = np.concatenate([current_j[improved].ravel(), cols[hit_col]])
    order = np.lexsort((all_d, group))
    # Each group holds its k current entries plus its candidates: keep its k smallest.
    first = np.searchsorted(group[order], improved)
    keep = order[first[:, None] + np.arange(k)]
    best_d[rows[improved]] = all_d[keep]
    best_j[rows[improved]] = all_j[keep]


def _nearest_in_other_folds(x: np.ndarray, fold_of: np.ndarray, k: int) -> np.ndarray:
    """Indices of each row's k nearest rows among the other folds, nearest first.

    Each pair of folds is compared once; its distance block serves the neighbour search
    of both folds (rows, then columns), halving the dominant matrix products. Pairs are
    ordered so that each fold's first block finds it on the row side, where a full
    selection is cheapest. Blocks hold at most ``_KNN_BLOCK_ELEMENTS`` distances.
    """
    sq = np.einsum("nd,nd->n", x, x)
    best_d = np.full((len(x), k), np.inf, dtype=x.dtype)
    best_j = np.zeros((len(x), k), dtype=np.intp)
    members = [np.flatnonzero(fold_of == fold) for fold in range(fold_of.max() + 1)]
    n_folds = len(members)
    pairs = [(0, 1)] + [(a, 0) for a in range(2, n_folds)]
    pairs += list(combinations(range(1, n_folds), 2))
    for a, b in pairs:
        cols = members[b]
        x_cols = x[cols]
        step = max(1, _KNN_BLOCK_ELEMENTS // len(cols))
        for start in range(0, len(members[a]), step):
            rows = members[a][start : start + step]
            d = x[rows] @ x_cols.T
            d *= -2.0
            d += sq[rows, None]
            d += sq[None, cols]
            _merge_nearest(best_d, best_j, rows, d, cols)
            _merge_nearest(best_d, best_j, cols, d.T, rows)
    order = np.argsort(best_d, axis=1, kind="stable")
    return np.take_along_axis(best_j, order, axis=1)


def rank_strata(values: np.ndarray, folds: int) -> np.ndarray:
    """Stratum per row: its value's rank // ``folds``, so each stratum holds ``folds`` rows of
    neighbouring values and dealing a stratum one row per fold spreads the range evenly.

    Shape:
        - values: (N,) numbers
        - output: (N,) stratum ids
    """
    return np.argsort(np.argsort(values, kind="stable"), kind="stable") // folds


def _leave_fold_out_neighbours(
    features: np.ndarray, strata: np.ndarray, k: int, folds: int, seed: int
) -> np.ndarray:
    """Each row's k nearest rows in the other folds (N, k), folds stratified by ``strata``.

    Raises ``ValueError`` when ``folds`` or ``k`` do not fit the number of rows.
    """
    n = len(strata)
    if not 2 <= folds <= n:
        raise ValueError(f"folds must be between 2 and the number of rows ({n}), got {folds}.")
    fold_of = _stratified_folds(strata, folds, seed)
    smallest_train = n - np.bincount(fold_of).max()
    if not 1 <= k <= smallest_train:
        raise ValueError(
            f"k must be between 1 and the smallest training split ({smallest_train}), got {k}."
        )
    centred = (features - features.mean(axis=0)).astype(np.float32)
    return _nearest_in_other_folds(centred, fold_of, k)


def knn_accuracy(
    features: ArrayLike, labels: ArrayLike, *, k: int = 5, folds: int = 5, seed: int = 0
) -> float:
    r"""Leave-fold-out accuracy of a k-nearest-neighbour classifier on the features.

    A direct, assumption-light probe of how well the classes separate in feature space
    (e.g. Wu et al., "Unsupervised Feature Learning via Non-Parametric Instance
    Discrimination", CVPR 2018, use kNN accuracy to evaluate frozen features). Samples
    are split into ``folds`` stratified folds (seeded by ``seed``); each fold is
    classified by majority vote of its ``k`` Euclidean nearest neighbours in the other
    folds, ties going to the class of the nearest tied neighbour:

    .. math::

        \mathrm{kNN} = \frac{1}{N}\sum_{n=1}^{N}
            \mathbb{1}\big[\operatorname{mode}\{y_j : j \in \mathcal{N}_k(x_n)\} = y_n\big].

    ``k=5`` (scikit-learn's default) keeps the vote local enough that a class with only
    a handful of samples per fold can still win it. Squared distances are computed as
    :math:`\lVert a\rVert^2 + \lVert b\rVert^2 - 2 a^\top b` on centred features in
    float32, which halves the cost of the dominant matrix product (neighbour order can
    change only between distances equal to about 1e-7 relative), and each pair of folds
    is compared once for the neighbours of both; memory stays O(N k) beyond one block of
    at most 2^24 distances.

    Shape:
        - features: (N, D)
        - labels: (N,)
    """
    f = check_features(features)
    codes, n_classes = check_labels(labels, f.shape[0])
    n = len(codes)
    neighbours = codes[_leave_fold_out_neighbours(f, codes, k, folds, seed)]
    # Vote weight 1 + 2^-(rank+1): counts decide; among classes with equal counts the
    # bonuses (which sum to < 1) pick the one holding the nearest of the tied neighbours.
    votes = np.zeros((n, n_classes))
    weights = np.broadcast_to(1.0 + 0.5 ** np.arange(1, k + 1), neighbours.shape)
    np.add.at(votes, (np.repeat(np.arange(n), k), neighbours.ravel()), weights.ravel())
    return float(np.mean(votes.argmax(axis=1) == codes))


def knn_r2(
    features: ArrayLike, targets: ArrayLike, *, k: int = 5, folds: int = 5, seed: int = 0
) -> float:
    r"""Leave-fold-out R² of a k-nearest-neighbour regressor on the features.

    The regression form of :func:`knn_accuracy` (the kNN regression estimate of Stone,
    "Consistent Nonparametric Regression", Annals of Statistics 1977; scored as in
    scikit-learn's ``KNeighborsRegressor``): each row's prediction is the mean target of
    its ``k`` Euclidean nearest neighbours in the other folds, and the score is the
    coefficient of determination of those predictions,

    .. math::

        \hat y_n = \frac{1}{k}\sum_{j \in \mathcal{N}_k(x_n)} y_j, \qquad
        R^2 = 1 - \frac{\sum_n (y_n - \hat y_n)^2}{\sum_n (y_n - \bar y)^2},

    averaged over target columns when there are several. 1 is a perfect fit, 0 the mean
    predictor, below 0 worse than the mean. Folds are stratified by the (first) target's rank:
    each run of ``folds`` consecutive sorted targets is dealt one to each fold (in a
    seeded order), so every fold spans the target's range. Neighbours are found as in
    :func:`knn_accuracy`.

    Shape:
        - features: (N, D)
        - targets: (N,) or (N, K) numbers, none constant
    """
    f = check_features(features)
    y = check_targets(targets, f.shape[0])
    if np.any(y.min(axis=0) == y.max(axis=0)):
        raise InputError("targets are constant, so R² is undefined; score on varied targets.")
    neighbours = _leave_fold_out_neighbours(f, rank_strata(y[:, 0], folds), k, folds, seed)
    return float(r2_score(y, y[neighbours].mean(axis=1)))


def knn_micro_f1(
    features: ArrayLike, indicators: ArrayLike, *, k: int = 5, folds: int = 5, seed: int = 0
) -> float:
    r"""Leave-fold-out micro-F1 of a k-nearest-neighbour multi-label predictor on the features.

    The multi-label form of :func:`knn_accuracy`: each label is voted on separately by a
    row's ``k`` Euclidean nearest neighbours in the other folds and predicted when at
    least half of them have it (the binary-relevance kNN of Zhang and Zhou, "ML-KNN: A
    lazy learning approach to multi-label learning", Pattern Recognition 2007, without
    its Bayesian prior). The score is micro-F1 over all rows and labels,

    .. math::

        \hat y_{nl} = \mathbb{1}\Big[\sum_{j \in \mathcal{N}_k(x_n)} y_{jl} \ge
            \tfrac{k}{2}\Big], \qquad
        F_1^{\mathrm{micro}} = \frac{2\,TP}{2\,TP + FP + FN},

    with TP, FP, FN counted over every (row, label) pair. Folds are stratified by each
    row's rarest label (rows with no label form a stratum of their own), so the rare
    labels reach every fold where their count allows. Neighbours are found as in
    :func:`knn_accuracy`.

    Shape:
        - features: (N, D)
        - indicators: (N, L) 0/1, at least one 1; a row may hold several 1s or none
    """
    f = check_features(features)
    y = check_indicators(indicators, f.shape[0]).astype(bool)
    neighbours = _leave_fold_out_neighbours(f, rarest_label_strata(y), k, folds, seed)
    predicted = 2 * y[neighbours].sum(axis=1) >= k
    # By hand: scikit-learn reads a single label column as a binary target, whose "micro"
    # average counts the negatives too.
    true_positives = np.count_nonzero(predicted & y)
    errors = np.count_nonzero(predicted ^ y)
    return float(2 * true_positives / (2 * true_positives + errors))
