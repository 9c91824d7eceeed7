"""PARC: correlation of the feature and label dissimilarity matrices."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from modelscout.measure.validation import InputError, check_features, check_labels


def _spearman_with_binary(values: np.ndarray, is_high: np.ndarray) -> float:
    """Spearman correlation of ``values`` with a two-level variable, in one sort.

    The two-level variable's ranks are an affine function of it, so Spearman is the
    Pearson correlation of the (tie-averaged) ranks of ``values`` with ``is_high``; only
    the rank sum of the smaller level and the tie counts are needed.
    """
    m = len(values)
    n_high = int(np.count_nonzero(is_high))
    level = is_high if n_high <= m - n_high else ~is_high
    ordered = np.sort(values)
    queries = values[level]
    rank_sum = 0.5 * (
        np.searchsorted(ordered, queries, "left").sum()
        + np.searchsorted(ordered, queries, "right").sum()
        + len(queries)
    )
    if level is not is_high:
        rank_sum = m * (m + 1) / 2.0 - rank_sum
    run_starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1], [True]]))
    ties = np.diff(run_starts).astype(np.float64)
    rank_variance = (m * m - 1.0) / 12.0 - (ties**3 - ties).sum() / (12.0 * m)
    share = n_high / m
    covariance = rank_sum / m - (m + 1) / 2.0 * share
    return covariance / np.sqrt(rank_variance * share * (1.0 - share))


def parc(
    features: ArrayLike,
    labels: ArrayLike,
    *,
    dims: int = 32,
    seed: int = 1919,
    max_rows: int = 5000,
) -> float:
    r"""PARC: Spearman correlation between the feature and label dissimilarity matrices.

    Bolya et al., "Scalable Diverse Model Selection for Accessible Transfer Learning",
    NeurIPS 2021 (as in TencentARC/SFDA ``metrics.PARC`` with ``n_dims=32``).
    The features are reduced to ``dims`` dimensions by scikit-learn's randomized PCA
    (``iterated_power=1``, ``random_state=seed``: the authors' settings) and standardized;

    .. math::

        \mathrm{PARC} = 100\,\rho_S\big(\operatorname{triu}(1 - \operatorname{corr}(\hat f)),\;
            \operatorname{triu}(1 - \operatorname{corr}(\operatorname{onehot}(y)))\big),

    where corr is the Pearson correlation between samples (rows) and triu the entries
    above the diagonal. The label matrix has two values only, 0 for a same-class pair
    and :math:`C/(C-1)` otherwise; it is built exactly, so same-class pairs tie. (The
    authors compute it with ``np.corrcoef``, whose rounding makes some equal entries
    differ by one ulp in a pattern that depends on the BLAS kernel and on the order of
    samples and class ids; Spearman then ranks that noise, which moved one reference
    value by 6 %, so reference values computed that way are reproduced only where the
    rounding happened not to split ties. Computed the authors' way on this project's
    machine, three of the four reference values come out exactly and one 7e-4 off, and
    relabelling the classes or reordering the rows moves a score by up to 1.3 %: the
    noise is not a property of the data, so it is not reproduced here.)

    The dissimilarity matrices are N x N, so inputs with more than ``max_rows`` rows are
    scored on ``max_rows`` rows drawn without replacement with ``seed`` (5000 rows hold
    12.5 million pairs, about 0.2 GB).

    Shape:
        - features: (N, D)
        - labels: (N,)
    """
    f = check_features(features)
    codes, _ = check_labels(labels, f.shape[0])
    if f.shape[0] > max_rows:
        keep = np.sort(np.random.default_rng(seed).choice(f.shape[0], max_rows, replace=False))
        f, codes = f[keep], codes[keep]
    n = f.shape[0]
    n_components = min(dims, n, f.shape[1])
    reduced = PCA(
        n_components=n_components, svd_solver="randomized", iterated_power=1, random_state=seed
    ).fit_transform(f)
    upper = np.triu(np.ones((n, n), dtype=bool), k=1)
    dissimilarity = np.corrcoef(StandardScaler().fit_transform(reduced))
    np.subtract(1.0, dissimilarity, out=dissimilarity)
    different_class = (codes[:, None] != codes[None, :])[upper]
    if different_class.all():
        raise InputError(
            "parc needs two samples of some class but every class has one sample; "
            "add samples so that some class repeats."
        )
    return float(100.0 * _spearman_with_binary(dissimilarity[upper], different_class))
