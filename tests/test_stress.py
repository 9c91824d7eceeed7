"""Stress slices (issue #15): the math on synthetic predictions and features, then real runs
on tiny models perturbing the user's own rows."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from modelscout import metrics, spec
from modelscout.data import perturb
from modelscout.data.inputs import ClassTargets, LabelSetTargets, NumberTargets
from modelscout.measure.paired import Resamples, class_accuracy, mae, scored_truth
from modelscout.measure.probe import PROBES, ProbeJob
from modelscout.measure.probe.base import pooled
from modelscout.measure.stress import (
    NO_CLASSES,
    augmented,
    quality_drop,
    rare_groups,
    rare_recall,
    score_slices,
    stress_measurements,
    stress_predictions,
    stress_rows,
    stress_work,
)


def test_perturbations_in_the_spec_are_data_perturbs():
    assert {"text": tuple(perturb.TEXT), "image": tuple(perturb.IMAGE)} == spec.PERTURBATIONS


def test_stress_rows_are_a_stratified_seeded_subset():
    key = np.array([0] * 80 + [1] * 16 + [2] * 4)
    rows = stress_rows(key, 25, seed=3)
    assert len(rows) == 25 and len(set(rows)) == 25 and (np.diff(rows) > 0).all()
    assert np.bincount(key[rows]).tolist() == [20, 4, 1]
    assert stress_rows(key, 25, seed=3).tolist() == rows.tolist()
    assert stress_rows(key, 25, seed=4).tolist() != rows.tolist()
    assert stress_rows(key, 500, seed=3).tolist() == list(range(100))


def _blobs(n=300, seed=0):
    """Three well separated classes in 8 dimensions, the last one rare."""
    rng = np.random.default_rng(seed)
    labels = np.array([0] * (n // 2) + [1] * (n // 3) + [2] * (n - n // 2 - n // 3))
    centres = rng.normal(0, 4, size=(3, 8))
    return centres[labels] + rng.normal(0, 1, size=(n, 8)), labels


def _stress_pass(features, targets, perturbed, stress, folds=5):
    job = ProbeJob(lambda: LogisticRegression(max_iter=500), features, targets, folds, 0)
    splits = PROBES[targets.task].splits(job)
    aug = ProbeJob(job.make_model, augmented(features, perturbed), targets, folds, 0)
    found = {}
    work = [(0, number, call) for number, call in stress_work(aug, splits, stress, len(perturbed))]
    pooled(work, 2, lambda _, folds_found: found.update(folds_found))
    return stress_predictions(found, splits, stress, len(perturbed))


def test_destroyed_features_drop_quality_and_identity_drops_nothing():
    features, labels = _blobs()
    targets = ClassTargets(labels, ["a", "b", "c"])
    stress = stress_rows(targets.stratify_key(), 120, seed=0)
    rng = np.random.default_rng(1)
    destroyed = rng.normal(0, 4, size=(len(stress), features.shape[1]))
    predictions = _stress_pass(features, targets, [features[stress], destroyed], stress)
    assert predictions.shape == (3, len(stress))
    assert (predictions[0] == predictions[1]).all()  # one fit per fold: identical inputs
    truth = scored_truth(targets)[stress]
    perturbations = [
        spec.Perturbation(kind="casing"),
        spec.Perturbation.model_validate("typos:0.9"),
    ]
    rare, entry = rare_groups(targets)
    assert entry["classes"] == ["c"] and "quartile" in entry["rule"]
    same, broken = score_slices(
        "classification", metrics.MACRO_F1, truth, predictions, perturbations, rare, 0
    )
    assert same.clean > 0.9 and same.drop == 0 and same.low <= 0 <= same.high
    assert broken.drop > 0.3 and 0 < broken.low <= broken.drop <= broken.high
    assert broken.quality == pytest.approx(same.clean - broken.drop)
    assert broken.rare_clean > 0.9 and broken.rare_drop > 0.3 and same.rare_drop == 0
    found = stress_measurements([same, broken], metrics.MACRO_F1, len(stress), entry, {})
    drop, rare_drop = found
    assert (drop.name, rare_drop.name) == (metrics.STRESS_DROP, metrics.STRESS_RARE_DROP)
    assert drop.value == broken.drop and drop.detail["worst"] == "typos:0.9"
    assert [s["name"] for s in drop.detail["slices"]] == ["casing:0.3", "typos:0.9"]


def test_drop_of_a_lower_is_better_metric_is_perturbed_minus_clean():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=200)
    clean, worse = truth + rng.normal(0, 0.1, 200), truth + rng.normal(0, 1.0, 200)
    before, after, drop, low, high = quality_drop(truth, clean, worse, mae, False, 0)
    assert after > before and drop == pytest.approx(after - before) and 0 < low < drop < high
    # higher is better: the same rows, the same sign of harm
    labels = (truth > 0).astype(int)
    wrong = np.where(rng.random(200) < 0.3, 1 - labels, labels)
    before, after, drop, low, high = quality_drop(labels, labels, wrong, class_accuracy, True, 0)
    assert before == 1 and drop == pytest.approx(1 - after) and 0 < low < drop < high


def test_rare_groups_by_task():
    counts = [40, 30, 20, 5, 4]
    labels = np.repeat(np.arange(5), counts)
    rare, entry = rare_groups(ClassTargets(labels, list("abcde")))
    assert entry["classes"] == ["d", "e"] and rare.tolist() == [3, 4]
    indicators = np.zeros((50, 3), dtype=np.uint8)
    indicators[:40, 0], indicators[:30, 1], indicators[:3, 2] = 1, 1, 1
    rare, entry = rare_groups(LabelSetTargets(indicators, ["x", "y", "z"]))
    assert entry["classes"] == ["z"]
    assert rare_groups(NumberTargets(np.arange(10.0))) == (None, {"skipped": NO_CLASSES})


def test_rare_recall_averages_the_rare_classes_present():
    truth = np.array([3, 3, 4, 4, 4, 4])
    predicted = np.array([3, 0, 4, 4, 0, 0])
    whole = Resamples.identity(6)
    assert rare_recall(truth, predicted, whole, np.array([3, 4]))[0] == pytest.approx(0.5)
    multi = np.array([[1, 0], [1, 1], [0, 1]])
    found = np.array([[1, 0], [0, 1], [0, 0]])
    assert rare_recall(multi, found, whole.__class__.identity(3), np.array([0, 1]))[0] == 0.5
