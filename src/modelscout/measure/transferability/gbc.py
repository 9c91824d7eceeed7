"""GBC: the Gaussian Bhattacharyya coefficient between the class distributions."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.spatial.distance import cdist

from modelscout.measure.transferability.common import class_means, indicator
from modelscout.measure.validation import check_features, check_labels

# Elements of the largest temporary a pairwise (class x class x dimension) step may hold.
_PAIRWISE_BLOCK_ELEMENTS = 1 << 22


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
    means, counts = class_means(f, codes, n_classes)
    residuals = f - means[codes]
    variances = (indicator(codes, n_classes) @ residuals**2) / counts[:, None]
    variances = np.maximum(variances, 1e-4)
    if gaussian == "spherical":
        variances = variances.mean(axis=1, keepdims=True)
    return float(-_bhattacharyya_coefficient_sum(means, variances))
