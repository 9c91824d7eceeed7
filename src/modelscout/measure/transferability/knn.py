"""kNN: leave-fold-out accuracy of a k-nearest-neighbour classifier on the features."""

from __future__ import annotations

from itertools import combinations

import numpy as np
from numpy.typing import ArrayLike

from modelscout.measure.validation import check_features, check_labels

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
    if not 2 <= folds <= n:
        raise ValueError(f"folds must be between 2 and the number of rows ({n}), got {folds}.")
    fold_of = _stratified_folds(codes, folds, seed)
    smallest_train = n - np.bincount(fold_of).max()
    if not 1 <= k <= smallest_train:
        raise ValueError(
            f"k must be between 1 and the smallest training split ({smallest_train}), got {k}."
        )
    centred = (f - f.mean(axis=0)).astype(np.float32)
    neighbours = codes[_nearest_in_other_folds(centred, fold_of, k)]
    # Vote weight 1 + 2^-(rank+1): counts decide; among classes with equal counts the
    # bonuses (which sum to < 1) pick the one holding the nearest of the tied neighbours.
    votes = np.zeros((n, n_classes))
    weights = np.broadcast_to(1.0 + 0.5 ** np.arange(1, k + 1), neighbours.shape)
    np.add.at(votes, (np.repeat(np.arange(n), k), neighbours.ravel()), weights.ravel())
    return float(np.mean(votes.argmax(axis=1) == codes))
