r"""Transferability estimators: score how well frozen features suit a labelled target task.

Every estimator is one function of ``(features, labels)`` (or, for those that read a
source classifier's head, ``(source_probs, labels)``) returning a Python ``float``.
All of them are higher-is-better: a larger score predicts a better fine-tuned model.
Scores of one estimator are comparable across candidate models on the same data; scores
of different estimators are not comparable with each other.

Inputs are validated once by :mod:`modelscout.measure.validation`: labels may be any
sortable values (strings, non-contiguous integers) and are recoded to ``0..C-1``;
computation is pure NumPy/SciPy/scikit-learn, in float64 except kNN's distances
(see :func:`knn_accuracy`).

Each function reproduces the published reference implementation named in its docstring
on the vectors in ``shared/reference/transferability`` (relative error <= 1e-6), except
where the docstring says why the reference itself is not reproducible.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from itertools import combinations

import numpy as np
from numpy.typing import ArrayLike
from scipy import linalg, sparse, special, stats
from scipy.linalg import blas
from scipy.spatial.distance import cdist
from sklearn.cluster import KMeans
from sklearn.covariance import LedoitWolf
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from modelscout.measure.validation import (
    InputError,
    check_features,
    check_labels,
    check_probabilities,
    check_targets,
    check_vector,
)

__all__ = [
    "ESTIMATORS",
    "HEAD_ESTIMATORS",
    "evaluate_ranking",
    "gbc",
    "h_score",
    "knn_accuracy",
    "leep",
    "logme",
    "nce",
    "nleep",
    "parc",
    "regularized_h_score",
    "sfda",
    "transrate",
]

# Elements of the largest temporary a pairwise (class x class x dimension) step may hold.
_PAIRWISE_BLOCK_ELEMENTS = 1 << 22
# Distances held at once by the kNN search (float32: 64 MB).
_KNN_BLOCK_ELEMENTS = 1 << 24


# --------------------------------------------------------------------------- helpers


def _indicator(codes: np.ndarray, n_classes: int) -> sparse.csr_matrix:
    """Sparse one-hot matrix ``Y^T`` of shape (C, N): ``_indicator(y, C) @ X`` sums X by class."""
    n = len(codes)
    return sparse.csr_matrix(
        (np.ones(n), (codes, np.arange(n))), shape=(n_classes, n), dtype=np.float64
    )


def _class_means(
    features: np.ndarray, codes: np.ndarray, n_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Class means (C, D) and class sizes (C,)."""
    counts = np.bincount(codes, minlength=n_classes).astype(np.float64)
    return (_indicator(codes, n_classes) @ features) / counts[:, None], counts


def _between_class_covariance(
    features: np.ndarray, codes: np.ndarray, n_classes: int
) -> np.ndarray:
    """``np.cov(g, rowvar=False)`` for ``g`` = each row replaced by its class mean."""
    means, counts = _class_means(features, codes, n_classes)
    centred = means - features.mean(axis=0)
    return (centred.T * counts) @ centred / (len(codes) - 1)


def _gram_upper(m: np.ndarray) -> np.ndarray:
    """Upper triangle of ``m.T @ m`` by BLAS ``syrk``: half the work of a general product."""
    if m.T.flags.f_contiguous:
        return blas.dsyrk(1.0, m.T)
    return blas.dsyrk(1.0, m, trans=1)


def _eigh_upper(gram: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (clipped at 0: the matrix is a Gram matrix) and eigenvectors."""
    s, v = linalg.eigh(gram, lower=False, overwrite_a=True, check_finite=False, driver="evd")
    return np.clip(s, 0.0, None), v


def _log_det_spd(upper: np.ndarray) -> float:
    """Log-determinant of a symmetric positive definite matrix given by its upper triangle."""
    factor = linalg.cholesky(upper, lower=False, overwrite_a=True, check_finite=False)
    return 2.0 * float(np.log(np.diag(factor)).sum())


# --------------------------------------------------------------------------- LogME

# Relative change of alpha / beta at which each solver stops, and its comparison.
_LOGME_STOPPING = {"fixed_point": (1e-3, np.less_equal), "icml": (1e-2, np.less)}


def _logme_spectrum(features: np.ndarray, targets_t) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues ``s`` of ``F^T F`` and squared projections ``(v_i^T F^T y_c)^2``.

    Works on the smaller Gram matrix: ``F^T F`` (D x D) when N > D, else ``F F^T``
    (N x N), whose nonzero spectrum is the same; then ``v_i^T F^T y = sqrt(s_i) u_i^T y``.
    The D - N null-space eigenvalues of the second branch are left out here and
    accounted for by the caller.
    """
    n, d = features.shape
    if n > d:
        s, v = _eigh_upper(_gram_upper(features))
        return s, (v.T @ np.asarray(targets_t @ features).T) ** 2
    s, u = _eigh_upper(_gram_upper(features.T))
    return s, s[:, None] * np.asarray(targets_t @ u).T ** 2


def _logme_evidence(
    s: np.ndarray, p: np.ndarray, y_sq: np.ndarray, n: int, d: int, solver: str
) -> np.ndarray:
    """Maximized evidence per target column, all columns iterated together.

    Each column keeps its own alpha, beta and convergence flag; a converged column stops
    updating exactly where the per-column reference loop breaks.
    """
    tolerance, converged_if = _LOGME_STOPPING[solver]
    n_cols = p.shape[1]
    alpha, beta = np.ones(n_cols), np.ones(n_cols)
    m2, res2 = np.zeros(n_cols), np.zeros(n_cols)
    active = np.ones(n_cols, dtype=bool)
    s_col = s[:, None]
    for _ in range(11):
        t = alpha / beta
        shrink = 1.0 / (s_col + t)
        gamma = (s_col * shrink).sum(axis=0)
        new_m2 = (p * shrink**2).sum(axis=0)
        new_res2 = y_sq - (p * (s_col + 2.0 * t) * shrink**2).sum(axis=0)
        new_alpha = gamma / (new_m2 + 1e-5)
        new_beta = (n - gamma) / (new_res2 + 1e-5)
        alpha = np.where(active, new_alpha, alpha)
        beta = np.where(active, new_beta, beta)
        m2 = np.where(active, new_m2, m2)
        res2 = np.where(active, new_res2, res2)
        active &= ~converged_if(np.abs(alpha / beta - t) / t, tolerance)
        if not active.any():
            break
    if solver == "icml":
        m2, res2 = m2 + 1e-5, res2 + 1e-5
    n_null = d - len(s)
    log_det = np.log(alpha + beta * s_col).sum(axis=0) + n_null * np.log(alpha)
    evidence = (
        d / 2.0 * np.log(alpha)
        + n / 2.0 * np.log(beta)
        - 0.5 * log_det
        - beta / 2.0 * res2
        - alpha / 2.0 * m2
        - n / 2.0 * np.log(2 * np.pi)
    )
    return evidence / n


def logme(
    features: ArrayLike,
    labels: ArrayLike,
    *,
    regression: bool = False,
    solver: str = "fixed_point",
) -> float:
    r"""LogME: log of the maximum marginal evidence of a Bayesian linear model on the features.

    You et al., "LogME: Practical Assessment of Pre-trained Models for Transfer Learning",
    ICML 2021 (``solver="icml"``), and "Ranking and Tuning Pre-trained Models: A New
    Paradigm for Exploiting Model Hubs", JMLR 2022 (``solver="fixed_point"``, default).

    For each target column :math:`y` (a class's one-hot column, or a regression target),
    with prior :math:`w \sim \mathcal{N}(0, \alpha^{-1} I)` and noise precision
    :math:`\beta`,

    .. math::

        \mathcal{L}(\alpha, \beta) = \frac{D}{2}\log\alpha + \frac{N}{2}\log\beta
            - \frac{1}{2}\sum_{i=1}^{D}\log(\alpha + \beta\sigma_i)
            - \frac{\beta}{2}\lVert y - F m\rVert^2 - \frac{\alpha}{2}\lVert m\rVert^2
            - \frac{N}{2}\log 2\pi,
        \qquad m = \beta (\alpha I + \beta F^\top F)^{-1} F^\top y,

    maximized by the updates :math:`\alpha \leftarrow \gamma / \lVert m\rVert^2`,
    :math:`\beta \leftarrow (N - \gamma) / \lVert y - F m\rVert^2`,
    :math:`\gamma = \sum_i \sigma_i / (\sigma_i + \alpha/\beta)` (at most 11 steps; the
    solvers differ in their stopping rule and in the 1e-5 kept in the final evidence).
    The score is :math:`\frac{1}{K}\sum_{k} \mathcal{L}_k / N` over the K columns.
    :math:`\sigma_i` are all D eigenvalues of :math:`F^\top F`, zeros included: when
    N < D the authors' code drops the D - N zero ones and returns a wrong value (5.38
    instead of -0.1665 on the N < D reference case); this function keeps them.

    All columns share one eigendecomposition (of the smaller of :math:`F^\top F` and
    :math:`F F^\top`) and iterate together as arrays, each with its own
    :math:`\alpha, \beta` and stopping flag; in the eigenbasis, with
    :math:`p_i = (v_i^\top F^\top y)^2` and :math:`t = \alpha/\beta`,
    :math:`\lVert m\rVert^2 = \sum_i p_i/(\sigma_i + t)^2` and
    :math:`\lVert y - Fm\rVert^2 = \lVert y\rVert^2 - \sum_i p_i (\sigma_i + 2t)/(\sigma_i + t)^2`.

    Shape:
        - features: (N, D)
        - labels: (N,) class labels, or with ``regression=True`` (N,) or (N, K) targets
    """
    if solver not in _LOGME_STOPPING:
        raise ValueError(f"solver must be one of {sorted(_LOGME_STOPPING)}, got {solver!r}.")
    f = check_features(features)
    n, d = f.shape
    if regression:
        targets = check_targets(labels, n)
        targets_t, y_sq = targets.T, (targets**2).sum(axis=0)
    else:
        codes, n_classes = check_labels(labels, n)
        targets_t = _indicator(codes, n_classes)
        y_sq = np.bincount(codes, minlength=n_classes).astype(np.float64)
    s, p = _logme_spectrum(f, targets_t)
    return float(_logme_evidence(s, p, y_sq, n, d, solver).mean())


# --------------------------------------------------------------------------- LEEP, NCE


def _leep(probs: np.ndarray, codes: np.ndarray, n_classes: int) -> float:
    joint = _indicator(codes, n_classes) @ probs / len(codes)
    marginal = joint.sum(axis=0)
    # A source class no sample puts mass on has no conditional; its column is all zero.
    conditional = joint / np.where(marginal > 0, marginal, 1.0)
    expected = np.einsum("nz,nz->n", probs, conditional[codes])
    return float(np.log(expected).mean())


def leep(source_probs: ArrayLike, labels: ArrayLike) -> float:
    r"""LEEP: log expected empirical prediction of the source classifier's head.

    Nguyen et al., "LEEP: A New Measure to Evaluate Transferability of Learned
    Representations", ICML 2020 (as ``tllib.ranking.leep``).

    .. math::

        \mathrm{LEEP} = \frac{1}{N}\sum_{n=1}^{N}
            \log\Big(\sum_{z} \hat P(y_n \mid z)\, \theta(x_n)_z\Big),
        \qquad \hat P(y \mid z) = \frac{\hat P(y, z)}{\hat P(z)},\quad
        \hat P(y, z) = \frac{1}{N}\sum_{n : y_n = y} \theta(x_n)_z.

    Shape:
        - source_probs: (N, Z) softmax outputs :math:`\theta(x)` of the source head
        - labels: (N,)
    """
    probs = check_probabilities(source_probs)
    codes, n_classes = check_labels(labels, probs.shape[0])
    return _leep(probs, codes, n_classes)


def nce(source_labels: ArrayLike, labels: ArrayLike) -> float:
    r"""NCE: negative conditional entropy of the target labels given the source labels.

    Tran et al., "Transferability and Hardness of Supervised Classification Tasks",
    ICCV 2019 (as ``tllib.ranking.negative_conditional_entropy``).

    .. math::

        \mathrm{NCE} = -H(Y \mid Z) = \sum_{z} \hat P(z) \sum_{y}
            \hat P(y \mid z) \log \hat P(y \mid z),

    with the empirical joint of the source model's predicted label :math:`z` and the target
    label :math:`y`, and 1e-20 added to :math:`\hat P(y \mid z)` inside the sum.

    Shape:
        - source_labels: (N,) the source head's argmax label per sample
        - labels: (N,)
    """
    source = np.asarray(source_labels)
    source_codes, n_source = check_labels(source, len(source), min_classes=1, name="source_labels")
    codes, n_classes = check_labels(labels, len(source_codes))
    n = len(codes)
    joint = np.zeros((n_classes, n_source))
    np.add.at(joint, (codes, source_codes), 1.0 / n)
    p_z = joint.sum(axis=0)
    conditional = joint / p_z + 1e-20
    entropy_given_z = -(conditional * np.log(conditional)).sum(axis=0)
    return float(-(entropy_given_z * p_z).sum())


def _nce_from_probs(source_probs: ArrayLike, labels: ArrayLike) -> float:
    return nce(check_probabilities(source_probs).argmax(axis=1), labels)


# --------------------------------------------------------------------------- NLEEP

# scikit-learn's GaussianMixture defaults, which define the N-LEEP fit.
_MIXTURE_TOLERANCE = 1e-3
_MIXTURE_REG_COVAR = 1e-6
_MIXTURE_MAX_ITER = 100


def _quadratic_design(x: np.ndarray) -> np.ndarray:
    """Rows ``[x^2, x, 1]``: a diagonal Gaussian's log-density is linear in them."""
    return np.hstack([x * x, x, np.ones((len(x), 1))])


def _mixture_coefficients(sums: np.ndarray, dim: int) -> np.ndarray:
    """M-step: the mixture as coefficients ``W`` (2D+1, K) of ``[x^2, x, 1]``.

    ``sums`` (K, 2D+1) holds each component's responsibility-weighted sums of x^2, x and 1;
    weights, means and variances follow as in scikit-learn's ``GaussianMixture``, and
    ``[x^2, x, 1] @ W`` is then log(weight_k * N(x | mean_k, diag(variance_k))).
    """
    counts = sums[:, -1] + 10 * np.finfo(np.float64).eps
    means = sums[:, dim : 2 * dim] / counts[:, None]
    variances = sums[:, :dim] / counts[:, None] - means**2 + _MIXTURE_REG_COVAR
    if not np.all(variances > 0):
        raise InputError(
            "nleep could not fit its mixture: a component's variance rounded to zero or "
            "below, as happens with tight clusters far apart; standardize the features."
        )
    precisions = 1.0 / variances
    log_constant = np.log(counts / counts.sum()) + 0.5 * (
        np.log(precisions).sum(axis=1)
        - dim * np.log(2 * np.pi)
        - np.einsum("kd,kd->k", means**2, precisions)
    )
    return np.vstack([-0.5 * precisions.T, (means * precisions).T, log_constant])


def _mixture_posteriors(design: np.ndarray, coefficients: np.ndarray) -> tuple[np.ndarray, float]:
    """E-step: posteriors over components (N, K) and the mean log-likelihood per row."""
    posteriors = design @ coefficients
    top = posteriors.max(axis=1)
    posteriors -= top[:, None]
    np.exp(posteriors, out=posteriors)
    total = posteriors.sum(axis=1)
    posteriors /= total[:, None]
    return posteriors, float(np.mean(np.log(total) + top))


def _fit_diagonal_mixture(x: np.ndarray, n_components: int, seed: int) -> np.ndarray:
    """EM for a diagonal-covariance Gaussian mixture, as scikit-learn's ``GaussianMixture``.

    Same k-means start (``KMeans(n_init=1, random_state=seed)``), variance regularization,
    update order and stopping rule (the mean log-likelihood changes by less than 1e-3), so it
    returns the same mixture up to rounding. Hand-written because each EM step is then
    two matrix products, ``[x^2, x, 1] @ W`` for every weighted log-density and
    ``posteriors^T @ [x^2, x, 1]`` for every sum the M-step needs, plus one
    exponentiation; the library's step takes five products (recomputing ``x^2`` and
    ``posteriors^T @ x`` each time) and several more full passes for its log-sum-exp,
    which made its fit and posteriors twice as slow on the benchmark cases.
    """
    design = _quadratic_design(x)
    starts = KMeans(n_clusters=n_components, n_init=1, random_state=seed).fit(x).labels_
    coefficients = _mixture_coefficients(_indicator(starts, n_components) @ design, x.shape[1])
    log_likelihood = -np.inf
    for _ in range(_MIXTURE_MAX_ITER):
        posteriors, new_log_likelihood = _mixture_posteriors(design, coefficients)
        coefficients = _mixture_coefficients(posteriors.T @ design, x.shape[1])
        converged = abs(new_log_likelihood - log_likelihood) < _MIXTURE_TOLERANCE
        log_likelihood = new_log_likelihood
        if converged:
            break
    return coefficients


def nleep(
    features: ArrayLike,
    labels: ArrayLike,
    *,
    components_per_class: int = 5,
    variance: float = 0.8,
    seed: int = 0,
    max_rows: int = 5000,
) -> float:
    r"""N-LEEP: LEEP with a Gaussian mixture over the features as the "source head".

    Li et al., "Ranking Neural Checkpoints", CVPR 2021. The features are reduced by PCA to
    the fewest components that keep ``variance`` of the total variance, a Gaussian mixture
    with :math:`K` = ``components_per_class`` :math:`\times C` components is fitted to
    them, and its posterior over components :math:`\pi(x)` takes the place of the source
    softmax in LEEP:

    .. math::

        \mathrm{NLEEP} = \frac{1}{N}\sum_{n=1}^{N}
            \log\Big(\sum_{k=1}^{K} \hat P(y_n \mid k)\, \pi(x_n)_k\Big).

    Each EM step costs :math:`O(N K d)` and K grows with the number of classes, so the
    fit is bounded: the mixture has diagonal covariances, since each component sees
    about :math:`N/K` samples, too few for a full covariance in tens to hundreds of PCA
    dimensions; it is fitted on at most ``max_rows`` rows drawn with ``seed`` and then
    gives posteriors for every row. The fit is scikit-learn's ``GaussianMixture`` with its
    defaults (k-means start, 1e-6 added to every variance, EM until the mean log-likelihood changes
    by less than 1e-3, at most 100 steps) in float64, written as matrix products (see
    ``_fit_diagonal_mixture``); it agrees with the library to rounding. The score is
    deterministic for a given ``seed``.

    Shape:
        - features: (N, D), N >= ``components_per_class * C``
        - labels: (N,)
    """
    if not 0.0 < variance <= 1.0:
        raise ValueError(f"variance must be in (0, 1], got {variance}.")
    f = check_features(features)
    codes, n_classes = check_labels(labels, f.shape[0])
    n = f.shape[0]
    n_components = components_per_class * n_classes
    if n_components > min(n, max_rows):
        raise InputError(
            f"nleep fits {n_components} mixture components ({components_per_class} per class) "
            f"but has only {min(n, max_rows)} rows to fit them on; lower components_per_class "
            "or add rows."
        )
    reduced = PCA(n_components=variance if variance < 1.0 else None).fit_transform(f)
    fit_rows = reduced
    if n > max_rows:
        fit_rows = reduced[np.random.default_rng(seed).choice(n, max_rows, replace=False)]
    coefficients = _fit_diagonal_mixture(fit_rows, n_components, seed)
    posteriors, _ = _mixture_posteriors(_quadratic_design(reduced), coefficients)
    return _leep(posteriors, codes, n_classes)


# --------------------------------------------------------------------------- H-score


def h_score(features: ArrayLike, labels: ArrayLike) -> float:
    r"""H-score: how much of the feature covariance the class means explain.

    Bao et al., "An Information-Theoretic Approach to Transferability in Task Transfer
    Learning", ICIP 2019 (as ``tllib.ranking.h_score``).

    .. math::

        \mathcal{H}(f) = \operatorname{tr}\big(\operatorname{cov}(f)^{+}\,
            \operatorname{cov}(\mathbb{E}[f \mid y])\big),

    with unbiased covariances and the pseudo-inverse cut at ``rcond=1e-15`` (taken by
    eigendecomposition, the covariance being symmetric).

    Shape:
        - features: (N, D)
        - labels: (N,)
    """
    f = check_features(features)
    codes, n_classes = check_labels(labels, f.shape[0])
    cov_f = np.cov(f, rowvar=False)
    cov_g = _between_class_covariance(f, codes, n_classes)
    return float(np.sum(np.linalg.pinv(cov_f, rcond=1e-15, hermitian=True) * cov_g.T))


def regularized_h_score(features: ArrayLike, labels: ArrayLike) -> float:
    r"""Shrinkage-regularized H-score, robust when D is large relative to N.

    Ibrahim et al., "Newer is not always better: Rethinking transferability metrics,
    their peculiarities, stability and performance", ECML-PKDD 2022 (as
    ``tllib.ranking.regularized_h_score``).

    .. math::

        \mathcal{H}_\alpha(f) = \operatorname{tr}\big(\operatorname{cov}_\alpha(f)^{+}\,
            (1 - \alpha)\operatorname{cov}(\mathbb{E}[f \mid y])\big),

    where :math:`\operatorname{cov}_\alpha` is the Ledoit-Wolf covariance of the centred
    features and :math:`\alpha` its shrinkage.

    Shape:
        - features: (N, D)
        - labels: (N,)
    """
    f = check_features(features)
    codes, n_classes = check_labels(labels, f.shape[0])
    centred = f - f.mean(axis=0)
    ledoit_wolf = LedoitWolf(store_precision=False, assume_centered=False).fit(centred)
    shrinkage = ledoit_wolf.shrinkage_
    cov_g = _between_class_covariance(centred, codes, n_classes)
    inverse = np.linalg.pinv(ledoit_wolf.covariance_, rcond=1e-15, hermitian=True)
    return float(np.sum(inverse * ((1.0 - shrinkage) * cov_g).T))


# --------------------------------------------------------------------------- TransRate


def _coding_rate(z: np.ndarray, eps: float) -> float:
    """``0.5 * logdet(I + Z^T Z / (n eps))``, on the smaller Gram side (Sylvester)."""
    n, d = z.shape
    gram = _gram_upper(z.T if n < d else z)
    gram /= n * eps
    gram[np.diag_indices_from(gram)] += 1.0
    return 0.5 * _log_det_spd(gram)


def transrate(features: ArrayLike, labels: ArrayLike, *, eps: float = 1e-4) -> float:
    r"""TransRate: coding rate of the features minus their average within-class coding rate.

    Huang et al., "Frustratingly Easy Transferability Estimation", ICML 2022 (as
    ``tllib.ranking.transrate``).

    .. math::

        \mathrm{TrR} = R(Z) - \frac{1}{C}\sum_{c=1}^{C} R(Z_c), \qquad
        R(Z) = \frac{1}{2}\log\det\Big(I + \frac{Z^\top Z}{n\,\epsilon}\Big),

    with :math:`Z` the centred features, :math:`Z_c` its rows of class :math:`c` and
    :math:`n` the number of rows of the matrix in question. Each determinant is taken on
    the smaller of :math:`Z^\top Z` and :math:`Z Z^\top` (equal by Sylvester's identity).
    One determinant per class is intrinsic, so classes are visited in turn, each as one
    contiguous block of the class-sorted matrix.

    Shape:
        - features: (N, D)
        - labels: (N,)
    """
    f = check_features(features)
    codes, n_classes = check_labels(labels, f.shape[0])
    z = f - f.mean(axis=0)
    order = np.argsort(codes, kind="stable")
    ends = np.cumsum(np.bincount(codes, minlength=n_classes))[:-1]
    within = [_coding_rate(block, eps) for block in np.split(z[order], ends)]
    return float(_coding_rate(z, eps) - np.mean(within))


# --------------------------------------------------------------------------- GBC


def _bhattacharyya_coefficient_sum(means: np.ndarray, variances: np.ndarray) -> float:
    """Sum of ``exp(-BD)`` over ordered pairs of distinct classes.

    ``variances`` is (C, D) for diagonal Gaussians or (C, 1) for spherical ones, whose
    single variance broadcasts over the D mean differences and is counted once in the
    log terms. Pairs are evaluated in blocks of rows to bound the (C, C, D) temporary.
    """
    n_classes, dim = means.shape
    half_log_var = 0.5 * np.log(variances).sum(axis=1)
    block = max(1, _PAIRWISE_BLOCK_ELEMENTS // (n_classes * dim))
    total = 0.0
    for start in range(0, n_classes, block):
        rows = slice(start, start + block)
        avg_var = 0.5 * (variances[rows, None, :] + variances[None, :, :])
        if variances.shape[1] == 1:
            mahalanobis = cdist(means[rows], means, "sqeuclidean") / avg_var[..., 0]
        else:
            mahalanobis = ((means[rows, None, :] - means[None, :, :]) ** 2 / avg_var).sum(-1)
        distance = 0.125 * mahalanobis + 0.5 * (
            np.log(avg_var).sum(-1) - half_log_var[rows, None] - half_log_var[None, :]
        )
        coefficient = np.exp(-distance)
        diagonal = np.arange(coefficient.shape[0])
        coefficient[diagonal, diagonal + start] = 0.0
        total += coefficient.sum()
    return total


def gbc(features: ArrayLike, labels: ArrayLike, *, gaussian: str = "spherical") -> float:
    r"""GBC: Gaussian Bhattacharyya coefficient, the negated total overlap of class Gaussians.

    Pandy et al., "Transferability Estimation using Bhattacharyya Class Separability",
    CVPR 2022 (as google-research ``stable_transfer/transferability/gbc.py``).
    Each class is a Gaussian with its mean :math:`\mu_c` and its per-dimension population
    variance floored at 1e-4 (``gaussian="diagonal"``), or the mean of that vector as one
    variance (``gaussian="spherical"``, whose log terms then count once, not D times):

    .. math::

        \mathrm{GBC} = -\sum_{c_1 \ne c_2} e^{-\mathrm{BD}(c_1, c_2)}, \quad
        \mathrm{BD} = \frac{1}{8}\sum_d \frac{(\mu_{1d} - \mu_{2d})^2}{s_d}
            + \frac{1}{2}\Big(\sum_d \log s_d - \frac{1}{2}\sum_d \log s_{1d}
            - \frac{1}{2}\sum_d \log s_{2d}\Big),\quad s = \frac{s_1 + s_2}{2}.

    The values are tiny on high-dimensional features; compare them relatively.

    Shape:
        - features: (N, D)
        - labels: (N,)
    """
    if gaussian not in ("spherical", "diagonal"):
        raise ValueError(f"gaussian must be 'spherical' or 'diagonal', got {gaussian!r}.")
    f = check_features(features)
    codes, n_classes = check_labels(labels, f.shape[0])
    means, counts = _class_means(f, codes, n_classes)
    residuals = f - means[codes]
    variances = (_indicator(codes, n_classes) @ residuals**2) / counts[:, None]
    variances = np.maximum(variances, 1e-4)
    if gaussian == "spherical":
        variances = variances.mean(axis=1, keepdims=True)
    return float(-_bhattacharyya_coefficient_sum(means, variances))


# --------------------------------------------------------------------------- SFDA


def _largest_eigenvalue(matrix: np.ndarray) -> float:
    """Three power iterations from the row sums, as the SFDA authors' ``iterative_A``."""
    x = matrix.sum(axis=1)
    for _ in range(3):
        y = matrix @ x
        y /= np.linalg.norm(y)
        x = matrix @ y
        x /= np.linalg.norm(x)
    return float(x @ matrix @ y)


def _regularized_lda_probs(
    x: np.ndarray, codes: np.ndarray, n_classes: int, shrinkage: float | None
) -> tuple[np.ndarray, float]:
    """Class posteriors of the authors' shrunk Fisher LDA, and the shrinkage it used.

    The authors take all D generalized eigenvectors W of (Sb, shrunk Sw), normalized so
    that W^T Sw W = I, and form ``means @ W @ W.T``; since W is square and invertible that
    is ``means @ inv(Sw)``, computed here with one Cholesky solve (Sb drops out).
    """
    n = len(codes)
    means, counts = _class_means(x, codes, n_classes)
    residuals = x - means[codes]
    within = residuals.T @ residuals / n
    if shrinkage is None:
        shrinkage = max(np.exp(-5.0 * _largest_eigenvalue(within)), 1e-10)
    dim = within.shape[0]
    shrunk = (1.0 - shrinkage) * within
    shrunk.flat[:: dim + 1] += shrinkage * np.trace(within) / dim
    coef = linalg.cho_solve(linalg.cho_factor(shrunk), means.T).T
    intercept = -0.5 * np.einsum("cd,cd->c", means, coef) + np.log(counts / n)
    return special.softmax(x @ coef.T + intercept, axis=1), shrinkage


def sfda(features: ArrayLike, labels: ArrayLike) -> float:
    r"""SFDA: self-challenging Fisher discriminant analysis.

    Shao et al., "Not All Models Are Equal: Predicting Model Transferability in a
    Self-challenging Fisher Space", ECCV 2022 (as the authors' ``SFDA_Score``).
    A regularized LDA with shrinkage :math:`\lambda = \max(e^{-5\lambda_{\max}(S_w)},
    10^{-10})` gives class posteriors :math:`p(c \mid x)`, softened by a second softmax;
    ConfMix then moves each sample towards the other classes' means in proportion to its
    confidence,

    .. math::

        \tilde x = q\,x + (1 - q)\,\bar\mu_{\neg y}, \qquad
        q = \operatorname{softmax}(p(\cdot \mid x))_y, \qquad
        \bar\mu_{\neg y} = \frac{1}{C - 1}\sum_{c \ne y}\mu_c,

    and the score is the mean posterior of the true class of a second LDA (same
    :math:`\lambda`) fitted on :math:`\tilde x`: :math:`\frac{1}{N}\sum_n p(y_n \mid \tilde x_n)`.
    The LDA uses :math:`S_w = \sum_c \pi_c \Sigma_c` (biased class covariances) shrunk to
    :math:`(1 - \lambda) S_w + \lambda \frac{\operatorname{tr} S_w}{D} I`, class scores
    :math:`x^\top S_w^{-1}\mu_c - \frac12 \mu_c^\top S_w^{-1}\mu_c + \log\pi_c`, and a softmax.

    Shape:
        - features: (N, D)
        - labels: (N,)
    """
    f = check_features(features)
    codes, n_classes = check_labels(labels, f.shape[0])
    n = len(codes)
    probs, shrinkage = _regularized_lda_probs(f, codes, n_classes, None)
    confidence = special.softmax(probs, axis=1)[np.arange(n), codes][:, None]
    means, _ = _class_means(f, codes, n_classes)
    other_means = (means.sum(axis=0) - means) / (n_classes - 1)
    mixed = confidence * f + (1.0 - confidence) * other_means[codes]
    probs, _ = _regularized_lda_probs(mixed, codes, n_classes, shrinkage)
    return float(probs[np.arange(n), codes].mean())


# --------------------------------------------------------------------------- PARC


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


# --------------------------------------------------------------------------- kNN


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


# --------------------------------------------------------------------------- ranking


def evaluate_ranking(scores: ArrayLike, truth: ArrayLike) -> dict[str, float | bool]:
    r"""How well estimator scores rank candidate models against their true fine-tuned results.

    - ``weighted_tau``: weighted Kendall :math:`\tau_w` (Vigna, "A Weighted Correlation
      Index for Rankings with Ties", WWW 2015) with hyperbolic weights
      :math:`1/(r+1)`, so disagreements among the top candidates cost most
      (``scipy.stats.weightedtau``, the usual metric since LogME).
    - ``pearson``: Pearson correlation of scores and truth.
    - ``top1_regret``: :math:`\max_j t_j - t_{\arg\max_j s_j}`, what choosing the
      best-scored candidate loses against the best one, in the truth's unit; >= 0, 0 when
      the best-scored candidate is a truly best one.
    - ``top3_hit``: whether some truly best candidate is among the three best-scored.

    Correlations are NaN when scores or truth are constant.

    Shape:
        - scores: (M,) one estimator score per candidate, higher is better
        - truth: (M,) the measured result per candidate (e.g. fine-tuned accuracy)
    """
    s = check_vector(scores, "scores")
    t = check_vector(truth, "truth", len(s))
    constant = np.ptp(s) == 0 or np.ptp(t) == 0
    top3 = np.argsort(-s, kind="stable")[:3]
    return {
        "weighted_tau": float("nan") if constant else float(stats.weightedtau(s, t).statistic),
        "pearson": float("nan") if constant else float(stats.pearsonr(s, t).statistic),
        "top1_regret": float(t.max() - t[np.argmax(s)]),
        "top3_hit": bool(np.any(t[top3] == t.max())),
    }


# --------------------------------------------------------------------------- registry

ESTIMATORS: dict[str, Callable[[ArrayLike, ArrayLike], float]] = {
    "logme": logme,
    "logme_icml": partial(logme, solver="icml"),
    "h_score": h_score,
    "regularized_h_score": regularized_h_score,
    "transrate": transrate,
    "gbc": gbc,
    "sfda": sfda,
    "parc": parc,
    "nleep": nleep,
    "knn": knn_accuracy,
}
"""Estimators of ``(features, labels)`` by the name a spec uses."""

HEAD_ESTIMATORS: dict[str, Callable[[ArrayLike, ArrayLike], float]] = {
    "leep": leep,
    "nce": _nce_from_probs,
}
"""Estimators of ``(source_probs, labels)``, for candidates with a source classifier head."""
