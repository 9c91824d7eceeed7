"""SFDA: self-challenging Fisher discriminant analysis."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import linalg, special

from modelscout.measure.transferability.common import class_means
from modelscout.measure.validation import check_features, check_labels


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
    means, counts = class_means(x, codes, n_classes)
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
    means, _ = class_means(f, codes, n_classes)
    other_means = (means.sum(axis=0) - means) / (n_classes - 1)
    mixed = confidence * f + (1.0 - confidence) * other_means[codes]
    probs, _ = _regularized_lda_probs(mixed, codes, n_classes, shrinkage)
    return float(probs[np.arange(n), codes].mean())
