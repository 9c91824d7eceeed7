"""H-score and its shrinkage-regularized form: feature covariance explained by the class means."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from sklearn.covariance import LedoitWolf

from modelscout.measure.transferability.common import between_class_covariance
from modelscout.measure.validation import check_features, check_labels


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
    cov_g = between_class_covariance(f, codes, n_classes)
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
    cov_g = between_class_covariance(centred, codes, n_classes)
    inverse = np.linalg.pinv(ledoit_wolf.covariance_, rcond=1e-15, hermitian=True)
    return float(np.sum(inverse * ((1.0 - shrinkage) * cov_g).T))
