"""TransRate: coding rate of the features minus their within-class coding rate."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from modelscout.measure.transferability.common import gram_upper, log_det_spd
from modelscout.measure.validation import check_features, check_labels


def _coding_rate(z: np.ndarray, eps: float) -> float:
    """``0.5 * logdet(I + Z^T Z / (n eps))``, on the smaller Gram side (Sylvester)."""
    n, d = z.shape
    gram = gram_upper(z.T if n < d else z)
    gram /= n * eps
    gram[np.diag_indices_from(gram)] += 1.0
    return 0.5 * log_det_spd(gram)


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
