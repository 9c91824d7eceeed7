"""Stress slices (issue #15): the math on synthetic predictions and features, then real runs
on tiny models perturbing the user's own rows."""

import numpy as np
import pandas as pd
import pytest
from conftest import rewrite_timings
from sklearn.linear_model import LogisticRegression

from modelscout import build_spec, metrics, spec
from modelscout.catalog.constraints import check_quality_drop
from modelscout.cli.demo import write_digits
from modelscout.data import perturb
from modelscout.data.inputs import ClassTargets, LabelSetTargets, NumberTargets
from modelscout.errors import UserError
from modelscout.inputs import prepare
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
from modelscout.run import run


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
    assert entry["classes"] == ["c"] and "long tail" in entry["rule"]
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
    # balanced classes have no long tail, so no rare classes (not all of them)
    balanced = rare_groups(ClassTargets(np.repeat(np.arange(4), 10), list("abcd")))
    assert balanced[0] is None and "no long tail" in balanced[1]["skipped"]
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


# -- real runs -------------------------------------------------------------------------------
def _stress_spec(data, candidates, folder, stress, **settings):
    return build_spec(
        data=data,
        candidates=[str(c) for c in candidates],
        batch_sizes=[1],
        max_samples=60,
        folds=3,
        latency_budget_s=0.1,
        estimators=["logme"],
        gpu="off",
        stress=stress,
        store=folder / "store.sqlite",
        output=folder / "out",
        **settings,
    )


@pytest.fixture(scope="module")
def text_runs(tmp_path_factory, small_csv, tiny_st):
    """A tiny sentence-transformers model and the TF-IDF baseline under light and total typos,
    then the same spec again on the same store, its timings marked settled: (first, again).
    One class cut to 10 rows of 100: the long tail, the rare class of the stress slices."""
    folder = tmp_path_factory.mktemp("stress")
    frame = pd.read_csv(small_csv)
    small = frame["label"].iloc[0]
    frame = frame.drop(frame.index[frame["label"] == small][10:])
    frame.to_csv(folder / "tail.csv", index=False)
    spec = _stress_spec(
        folder / "tail.csv",
        [tiny_st],
        folder,
        {"perturbations": ["typos:0.1", "typos:1"], "rows": 40},
    )
    first = run(spec)
    rewrite_timings(folder / "store.sqlite", reliable=True, p50_ci_relative=0.0)
    steps = []
    again = run(spec, step=lambda _, what: steps.append(what))
    return first, again, steps


def _stress(result):
    return {o.candidate.id: o.measurements for o in result.outcomes}


def test_a_text_run_measures_every_candidates_stress_slices(text_runs, tiny_st, small_csv):
    first, _, _ = text_runs
    small_class = pd.read_csv(small_csv)["label"].iloc[0]
    found = _stress(first)
    assert set(found) == {str(tiny_st), "baseline:tfidf"}
    for measurements in found.values():
        drop, rare = measurements[metrics.STRESS_DROP], measurements[metrics.STRESS_RARE_DROP]
        detail = drop.detail
        assert detail["quality_metric"] == metrics.MACRO_F1 and detail["rows"] == 40
        assert detail["rare"]["classes"] == [small_class] and "long tail" in detail["rare"]["rule"]
        names = [s["name"] for s in detail["slices"]]
        assert names == ["typos:0.1", "typos:1"] and detail["worst"] in names
        for s in detail["slices"]:
            assert s["low"] <= s["drop"] <= s["high"]
            assert s["drop"] == pytest.approx(s["clean"] - s["quality"])
            assert s["rare_drop"] == pytest.approx(s["rare_clean"] - s["rare_quality"])
        assert drop.value == max(s["drop"] for s in detail["slices"])
        assert rare.value == max(s["rare_drop"] for s in detail["slices"])
    # every word mistyped takes the baseline's n-grams away: never less harm than one in ten
    light, total = found["baseline:tfidf"][metrics.STRESS_DROP].detail["slices"]
    assert total["drop"] >= light["drop"] and total["drop"] > 0
    # the same rows, folds and clean fit: the clean score of the slices is one number
    assert light["clean"] == total["clean"]


def test_a_rerun_encodes_and_measures_nothing(text_runs):
    first, again, steps = text_runs
    assert again.measured == 0 and steps == []
    for cid, measurements in _stress(again).items():
        assert measurements[metrics.STRESS_DROP].detail == (
            _stress(first)[cid][metrics.STRESS_DROP].detail
        )


def test_a_perturbation_of_another_modality_is_a_user_error(small_csv, tmp_path):
    spec = _stress_spec(small_csv, [], tmp_path, ["blur:0.5"])
    with pytest.raises(UserError, match="stress: blur is an image perturbation; the data is "
                       "text; use one of typos, "):  # fmt: skip
        prepare(spec)


def test_an_image_run_perturbs_the_image_files(tmp_path):
    """Real digit images and the pixel baseline (dense features, no torch: the cheapest image
    encoder), blurred and noised, encoded from PNG files by its own process."""
    digits = write_digits(tmp_path / "digits", 6, 16)
    spec = _stress_spec(digits, [], tmp_path, ["blur:1", "downscale:0.9"], batch_size=16)
    (outcome,) = run(spec).outcomes
    assert outcome.candidate.id == "baseline:pixels" and outcome.status == "measured"
    drop = outcome.measurements[metrics.STRESS_DROP]
    slices = drop.detail["slices"]
    assert [s["kind"] for s in slices] == ["blur", "downscale"]
    assert drop.detail["rows"] == 60 and drop.value == max(s["drop"] for s in slices)
    assert all(s["low"] <= s["drop"] <= s["high"] for s in slices)
    # balanced classes: no long tail, so no rare classes, and the measurement says why
    rare = outcome.measurements[metrics.STRESS_RARE_DROP]
    assert rare.value is None and rare.detail["reason"].startswith("no long tail")


# -- what a review found -----------------------------------------------------------------------
def test_a_slice_that_leaves_one_answer_for_every_row_loses_all_its_correlation():
    """Spearman of constant predictions is undefined: such a model ranks nothing (0), so its
    drop is its clean correlation, never a NaN that no max_quality_drop can compare with."""
    rng = np.random.default_rng(0)
    truth = rng.normal(size=60)
    clean = truth + rng.normal(0, 0.3, size=60)
    predictions = np.stack([clean, np.full(60, 3.0)])
    targets = NumberTargets(truth)
    (found,) = score_slices(
        "regression", metrics.SPEARMAN, scored_truth(targets), predictions,
        [spec.Perturbation(kind="brightness", severity=1.0)], None, 0,
    )  # fmt: skip
    assert found.quality == 0 and found.drop == pytest.approx(found.clean) and found.drop > 0.8
    unknown = {"slices": [{"name": "x:1", "drop": float("nan"), "low": None, "high": None}]}
    reason, _ = check_quality_drop(unknown, 0.1, metrics.SPEARMAN)
    assert reason and "unknown" in reason


def test_folds_without_stress_rows_are_left_out():
    """20 stress rows among 200 in 10 folds: a fold may hold none; it is not fitted."""
    features, labels = _blobs(200)
    targets = ClassTargets(labels, ["a", "b", "c"])
    stress = np.array([0, 1, 2, 3, 100, 101, 102, 180, 181, 182])  # a few folds only
    splits = PROBES["classification"].splits(ProbeJob(None, features, targets, 10, 0))
    assert any(not np.isin(stress, test).any() for _, test in splits)
    predictions = _stress_pass(features, targets, [features[stress]], stress, folds=10)
    assert predictions.shape == (2, len(stress)) and (predictions[0] == predictions[1]).all()


def test_a_row_is_perturbed_alike_whichever_rows_come_with_it():
    texts = ["the card never arrived", "how do i top up", "refund my last payment"]
    every = perturb.perturb_texts(texts, "typos", 0.9, 3)
    assert perturb.perturb_texts(texts[1:], "typos", 0.9, 3, rows=[1, 2]) == every[1:]
