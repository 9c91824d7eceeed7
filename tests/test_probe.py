"""Cross-validated probes: the fold machinery around the classifiers."""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_info

from modelscout.measure.probe import cross_validate, linear_probe


def test_probe_leaves_blas_threads_as_it_found_them() -> None:
    rng = np.random.default_rng(0)
    labels = np.arange(300) % 3
    features = rng.standard_normal((300, 16)) + labels[:, None]
    before = [pool["num_threads"] for pool in threadpool_info()]
    for _ in range(3):
        result = cross_validate(linear_probe, features, labels, classes=["a", "b", "c"])
    assert [pool["num_threads"] for pool in threadpool_info()] == before
    assert result.accuracy > 0.8  # separable clusters: the folds really fitted
