"""The head-based estimators LEEP and NCE, and N-LEEP, LEEP with a Gaussian mixture as the head."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA

from modelscout.measure.transferability.common import indicator
from modelscout.measure.validation import (
    InputError,
    check_features,
    check_labels,
    check_probabilities,
)


def _leep(probs: np.ndarray, codes: np.ndarray, n_classes: int) -> float:
    joint = indicator(codes, n_classes) @ probs / len(codes)
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


def nce_from_probs(source_probs: ArrayLike, labels: ArrayLike) -> float:
    """NCE of the source head's argmax labels: :func:`nce` for an estimator of source_probs.

    Shape:
        - source_probs: (N, Z) softmax outputs of the source head
        - labels: (N,)
    """
    return nce(check_probabilities(source_probs).argmax(axis=1), labels)


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
    coefficients = _mixture_coefficients(indicator(starts, n_components) @ design, x.shape[1])
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
