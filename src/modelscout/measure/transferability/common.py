"""Array helpers shared by the estimators: class sums and means, Gram matrices, log-determinants."""

from __future__ import annotations

import numpy as np
from scipy import linalg, sparse
from scipy.linalg import blas


def indicator(codes: np.ndarray, n_classes: int) -> sparse.csr_matrix:
    """Sparse one-hot matrix ``Y^T`` of shape (C, N): ``indicator(y, C) @ X`` sums X by class."""
    n = len(codes)
    return sparse.csr_matrix(
        (np.ones(n), (codes, np.arange(n))), shape=(n_classes, n), dtype=np.float64
    )


def class_means(
    features: np.ndarray, codes: np.ndarray, n_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Class means (C, D) and class sizes (C,)."""
    counts = np.bincount(codes, minlength=n_classes).astype(np.float64)
    return (indicator(codes, n_classes) @ features) / counts[:, None], counts


def between_class_covariance(features: np.ndarray, codes: np.ndarray, n_classes: int) -> np.ndarray:
    """``np.cov(g, rowvar=False)`` for ``g`` = each row replaced by its class mean."""
    means, counts = class_means(features, codes, n_classes)
    centred = means - features.mean(axis=0)
    return (centred.T * counts) @ centred / (len(codes) - 1)


def gram_upper(m: np.ndarray) -> np.ndarray:
    """Upper triangle of ``m.T @ m`` by BLAS ``syrk``: half the work of a general product."""
    if m.T.flags.f_contiguous:
        return blas.dsyrk(1.0, m.T)
    return blas.dsyrk(1.0, m, trans=1)


def eigh_upper(gram: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (clipped at 0: the matrix is a Gram matrix) and eigenvectors."""
    s, v = linalg.eigh(gram, lower=False, overwrite_a=True, check_finite=False, driver="evd")
    return np.clip(s, 0.0, None), v


def log_det_spd(upper: np.ndarray) -> float:
    """Log-determinant of a symmetric positive definite matrix given by its upper triangle."""
    factor = linalg.cholesky(upper, lower=False, overwrite_a=True, check_finite=False)
    return 2.0 * float(np.log(np.diag(factor)).sum())
