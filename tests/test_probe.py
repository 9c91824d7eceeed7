"""Cross-validated probes: the fold machinery around the classifiers."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_info

from modelscout.data.inputs import ClassTargets
from modelscout.measure.probe import ProbeJob, cross_validate, cross_validate_many, linear_probe


def test_probe_leaves_blas_threads_as_it_found_them() -> None:
    rng = np.random.default_rng(0)
    labels = np.arange(300) % 3
    features = rng.standard_normal((300, 16)) + labels[:, None]
    before = [pool["num_threads"] for pool in threadpool_info()]
    for _ in range(3):
        result = cross_validate(linear_probe, features, labels, classes=["a", "b", "c"])
    assert [pool["num_threads"] for pool in threadpool_info()] == before
    assert result.accuracy > 0.8  # separable clusters: the folds really fitted


def _clusters(seed: int, classes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(240) % classes
    return rng.standard_normal((240, 8)) + labels[:, None], labels


def _job_data(seed: int) -> tuple[np.ndarray, ClassTargets]:
    features, labels = _clusters(seed)
    return features, ClassTargets(labels, ["a", "b", "c"])


def test_pooled_folds_give_each_job_what_it_gets_alone() -> None:
    jobs = [ProbeJob(linear_probe, *_job_data(seed), seed=seed) for seed in (0, 1, 2)]
    pooled = cross_validate_many(jobs)
    for job, result in zip(jobs, pooled, strict=True):
        alone = cross_validate(
            job.make_model,
            job.inputs,
            job.targets.labels,
            classes=job.targets.classes,
            seed=job.seed,
        )
        np.testing.assert_array_equal(result.predictions, alone.predictions)
        assert result.macro_f1 == alone.macro_f1
        assert result.fit_seconds > 0


def test_a_job_whose_fit_raises_gets_the_error_and_the_others_their_scores() -> None:
    def broken():  # a real scikit-learn error at fit time, not a stand-in
        return LogisticRegression(C=-1.0)

    features, labels = _clusters(0)
    good = ProbeJob(linear_probe, features, ClassTargets(labels, ["a", "b", "c"]))
    bad = ProbeJob(broken, features, ClassTargets(labels, ["a", "b", "c"]))
    first, second, third = cross_validate_many([good, bad, good])
    assert isinstance(second, ValueError) and "C" in str(second)
    assert first.accuracy == third.accuracy > 0.8
    with pytest.raises(ValueError):
        cross_validate(broken, features, labels, classes=["a", "b", "c"])


def test_each_job_is_handed_over_when_its_last_fold_is_in_so_an_interrupt_keeps_it() -> None:
    features, labels = _clusters(0)
    fits = 0

    def interrupted_on_third_fit():
        nonlocal fits
        fits += 1
        if fits == 3:
            raise KeyboardInterrupt  # what Ctrl-C raises; not an Exception, so not caught
        return linear_probe()

    handed = {}
    jobs = [
        ProbeJob(linear_probe, features, ClassTargets(labels, ["a", "b", "c"])),
        ProbeJob(interrupted_on_third_fit, features, ClassTargets(labels, ["a", "b", "c"])),
    ]
    with pytest.raises(KeyboardInterrupt):
        cross_validate_many(jobs, n_jobs=1, on_result=handed.__setitem__)
    assert list(handed) == [0]  # the finished job reached the caller before the interrupt
    assert handed[0].accuracy > 0.8


def test_macro_precision_and_recall_are_the_fold_means_and_per_class_ones_are_pooled() -> None:
    # A classifier that always says "a" on three balanced classes: in every fold, "a" has
    # precision 1/3 and recall 1, "b" and "c" have 0 for both; so macro precision is 1/9 and
    # macro recall 1/3, the same in each fold (no spread).
    labels = np.arange(90) % 3
    result = cross_validate(
        lambda: DummyClassifier(strategy="constant", constant=0),
        np.zeros((90, 2)),
        labels,
        classes=["a", "b", "c"],
        folds=3,
    )
    assert result.macro_precision == pytest.approx(1 / 9)
    assert result.macro_recall == pytest.approx(1 / 3)
    assert result.macro_precision_std == pytest.approx(0) and result.macro_recall_std == 0
    assert result.per_class_precision == pytest.approx({"a": 1 / 3, "b": 0.0, "c": 0.0})
    assert result.per_class_recall == {"a": 1.0, "b": 0.0, "c": 0.0}
    assert result.per_class_f1 == pytest.approx({"a": 0.5, "b": 0.0, "c": 0.0})


def test_precision_and_recall_spread_across_folds_like_accuracy() -> None:
    features, labels = _clusters(0)
    noisy = features + np.random.default_rng(1).standard_normal(features.shape) * 2
    result = cross_validate(linear_probe, noisy, labels, classes=["a", "b", "c"], folds=4)
    assert 0 < result.macro_precision < 1 and 0 < result.macro_recall < 1
    assert result.macro_precision_std > 0 and result.macro_recall_std > 0
