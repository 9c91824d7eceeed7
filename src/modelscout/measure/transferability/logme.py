"""LogME and LogME-ICML: the maximum evidence of a Bayesian linear model on the features."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from modelscout.measure.transferability.common import eigh_upper, gram_upper, indicator
from modelscout.measure.validation import (
    check_features,
    check_indicators,
    check_labels,
    check_targets,
)

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
        s, v = eigh_upper(gram_upper(features))
        return s, (v.T @ np.asarray(targets_t @ features).T) ** 2
    s, u = eigh_upper(gram_upper(features.T))
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
        targets_t = indicator(codes, n_classes)
        y_sq = np.bincount(codes, minlength=n_classes).astype(np.float64)
    s, p = _logme_spectrum(f, targets_t)
    return float(_logme_evidence(s, p, y_sq, n, d, solver).mean())


def logme_icml(features: ArrayLike, labels: ArrayLike) -> float:
    """LogME with the ICML 2021 solver: ``logme(features, labels, solver="icml")``.

    Shape:
        - features: (N, D)
        - labels: (N,)
    """
    return logme(features, labels, solver="icml")


def logme_regression(
    features: ArrayLike, targets: ArrayLike, *, solver: str = "fixed_point"
) -> float:
    r"""LogME's regression form: the evidence of each target column as the regression target.

    You et al., ICML 2021 (``solver="icml"``) and JMLR 2022 (default) define LogME for
    regression directly: :math:`y` in :func:`logme` is the target itself rather than a
    one-hot column, and the score is :math:`\frac{1}{K}\sum_k \mathcal{L}_k / N` over
    the K target columns. Targets are taken as given (on the scale the model is fitted
    to, e.g. log prices); the evidence is not invariant to their scale, so scores compare
    candidates on one set of targets, never across target scales.

    Shape:
        - features: (N, D)
        - targets: (N,) or (N, K) numbers
    """
    return logme(features, targets, regression=True, solver=solver)


def logme_multilabel(
    features: ArrayLike, indicators: ArrayLike, *, solver: str = "fixed_point"
) -> float:
    r"""LogME over multi-label indicators: the mean over labels of each 0/1 column's evidence.

    The classification form of You et al. (ICML 2021; JMLR 2022) regresses each class's
    one-hot column on the features and averages the evidence over columns; a label set
    is the same with indicator columns in which a row may hold several 1s or none:

    .. math::

        \mathrm{LogME} = \frac{1}{L}\sum_{l=1}^{L} \mathcal{L}(y_{\cdot l}) / N,
        \qquad y_{nl} = \mathbb{1}[\text{row } n \text{ has label } l],

    with :math:`\mathcal{L}` the maximized evidence of :func:`logme`; it equals
    :func:`logme_regression` on the indicator matrix.

    Shape:
        - features: (N, D)
        - indicators: (N, L) 0/1, at least one 1
    """
    f = check_features(features)
    return logme(f, check_indicators(indicators, len(f)), regression=True, solver=solver)
