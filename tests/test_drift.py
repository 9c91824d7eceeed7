"""Drift statistics (measure/drift.py) on data whose answer is known: two draws of one
distribution, and a shift of a known size."""

import numpy as np
import pytest

from modelscout.measure.drift import (
    classifier_test,
    estimated_accuracy,
    mmd,
    per_dimension,
    psi,
)


def gaussians(shift: float, seed: int = 0, rows: int = 300, dims: int = 16):
    rng = np.random.default_rng(seed)
    reference = rng.normal(size=(rows, dims))
    current = rng.normal(size=(rows, dims))
    current[:, :3] += shift
    return reference, current


def test_two_draws_of_one_distribution_are_not_told_apart():
    reference, current = gaussians(0.0)
    assert mmd(reference, current).p_value > 0.05
    found = classifier_test(reference, current)
    assert found.p_value > 0.05 and found.detail["low"] <= 0.5 <= found.detail["high"]
    assert per_dimension(reference, current).p_value > 0.05


def test_a_shift_of_half_a_standard_deviation_in_three_of_sixteen_dimensions_is_found():
    reference, current = gaussians(0.5)
    found = mmd(reference, current)
    assert found.p_value < 0.01 and found.p_value == pytest.approx(1 / 501)  # the floor
    c2st = classifier_test(reference, current)
    assert c2st.statistic > 0.65 and c2st.detail["low"] > 0.5 and c2st.p_value < 0.01
    # weaker: the reference's principal components of isotropic noise are random directions,
    # each carrying part of the shift
    assert per_dimension(reference, current).p_value < 0.05
    assert per_dimension(*gaussians(1.0)).p_value < 1e-6


def test_the_mmd_grows_with_the_shift_and_the_permutations_are_seeded():
    values = [mmd(*gaussians(shift)).statistic for shift in (0.0, 0.25, 0.5, 1.0)]
    assert values == sorted(values)
    assert mmd(*gaussians(0.2)).p_value == mmd(*gaussians(0.2)).p_value


def test_psi_by_hand():
    # classes: reference half 0 half 1, current a quarter 0: (.25-.5)ln(.5)+(.75-.5)ln(1.5)
    found = psi(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]))
    assert found.statistic == pytest.approx(-0.25 * np.log(0.5) + 0.25 * np.log(1.5))
    rng = np.random.default_rng(0)
    same = psi(rng.normal(size=5000), rng.normal(size=5000))
    moved = psi(rng.normal(size=5000), rng.normal(loc=1.0, size=5000))
    assert same.statistic < 0.02 and moved.statistic > 0.25
    assert same.p_value > 0.05 and moved.p_value < 0.01


def test_the_psi_of_many_classes_is_judged_against_its_own_noise():
    """77 classes, 200 rows a set: two draws of one distribution pass the usual 0.25 mark by
    far, and the permutation p-value says it is noise; a real shift of the same size is not."""
    rng = np.random.default_rng(0)
    draws = [psi(rng.integers(0, 77, 200), rng.integers(0, 77, 200), seed=i) for i in range(40)]
    assert min(d.statistic for d in draws) > 0.25
    assert np.mean([d.p_value < 0.05 for d in draws]) <= 0.15
    # at least (K-1)(1/n+1/m) = 0.76; more, since many classes have no row in one set
    assert all(0.76 < d.detail["null_median"] < 2.0 for d in draws)
    shifted = np.concatenate([rng.integers(0, 77, 140), np.full(60, 3)])
    assert psi(rng.integers(0, 77, 200), shifted).p_value < 0.01


def test_accuracy_is_estimated_from_confidence_without_labels():
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.3, 1.0, size=2000)
    correct = rng.uniform(size=2000) < confidence  # calibrated: right as often as confident
    same = estimated_accuracy(confidence, correct, confidence)
    assert same.statistic == pytest.approx(correct.mean(), abs=0.01)
    less_sure = estimated_accuracy(confidence, correct, confidence * 0.8)
    assert less_sure.detail["high"] < correct.mean()
    assert less_sure.detail["low"] <= less_sure.statistic <= less_sure.detail["high"]
