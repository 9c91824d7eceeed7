"""The multi-label probe: iterative-stratified folds, one-vs-rest models, thresholds chosen
inside the folds, and the figures and breakdown it reports."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score
from sklearn.multiclass import OneVsRestClassifier
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from modelscout import metrics
from modelscout.data.inputs import ClassTargets, LabelSetTargets
from modelscout.measure.probe import (
    PROBES,
    ProbeJob,
    ProbeResult,
    cross_validate_many,
    linear_probe,
    probe_measurements,
)
from modelscout.measure.probe.base import found_in
from modelscout.measure.probe.multilabel import MultilabelResult, best_thresholds

PROBE = PROBES["multilabel"]


def _targets(indicators: np.ndarray) -> LabelSetTargets:
    return LabelSetTargets(
        indicators.astype(np.uint8), [f"l{j}" for j in range(indicators.shape[1])]
    )


def _linear_labels(seed: int, rows: int = 300, labels: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels that are exact linear functions of them (noiseless)."""
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((rows, 10))
    weights = rng.standard_normal((10, labels))
    offsets = np.linspace(0.0, 1.5, labels)  # from half the rows down to about one in ten
    return features, (features @ weights / np.sqrt(10) > offsets).astype(np.uint8)


def _run(job: ProbeJob) -> MultilabelResult:
    result = cross_validate_many([job])[0]
    assert not isinstance(result, Exception), result
    return result


def _job(features, indicators, **kwargs) -> ProbeJob:
    return ProbeJob(partial(PROBE.linear_probe, 0), features, _targets(indicators), **kwargs)


def test_labels_that_are_linear_in_the_features_are_found() -> None:
    result = _run(_job(*_linear_labels(0)))
    assert result.micro_f1 > 0.9
    assert result.macro_f1 > 0.85
    assert result.samples_f1 > 0.85
    assert result.predictions.shape == (300, 4)
    assert set(np.unique(result.predictions)) <= {0, 1}


def test_labels_unrelated_to_the_features_score_no_better_than_guessing() -> None:
    rng = np.random.default_rng(1)
    features = rng.standard_normal((300, 10))
    indicators = (rng.random((300, 4)) < 0.3).astype(np.uint8)
    result = _run(_job(features, indicators))
    # predicting every label on every row: the best F1 a guess without features gets
    guess = f1_score(indicators, np.ones_like(indicators), average="micro")
    assert result.micro_f1 < guess + 0.05
    assert result.subset_accuracy < 0.1
    signal = _run(_job(*_linear_labels(0)))
    assert signal.micro_f1 > result.micro_f1 + 0.3


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_fold_sees_every_label_that_has_as_many_rows_as_folds(seed: int) -> None:
    rng = np.random.default_rng(seed)
    indicators = (rng.random((200, 6)) < 0.25).astype(np.uint8)
    for column, support in zip((0, 1, 2), (5, 6, 7), strict=True):  # the rare labels
        indicators[:, column] = 0
        indicators[rng.choice(200, support, replace=False), column] = 1
    job = _job(np.zeros((200, 3)), indicators, folds=5, seed=seed)
    splits = PROBE.splits(job)
    assert len(splits) == 5
    tested = np.concatenate([test for _, test in splits])
    np.testing.assert_array_equal(np.sort(tested), np.arange(200))  # each row tested once
    for train, test in splits:
        assert indicators[test].sum(axis=0).min() >= 1  # every label in every test fold
        assert indicators[train].sum(axis=0).min() >= 4


def test_best_threshold_is_the_f1_maximizing_score_and_never_without_positives() -> None:
    scores = np.array([[0.1, 0.5], [0.2, 0.6], [0.3, 0.7], [0.9, 0.8]])
    truth = np.array([[0, 0], [0, 0], [1, 0], [1, 0]])
    thresholds = best_thresholds(scores, truth)
    np.testing.assert_array_equal(scores[:, 0] >= thresholds[0], truth[:, 0].astype(bool))
    assert 0.2 < thresholds[0] <= 0.3
    assert thresholds[1] == np.inf  # no positive row: never predict it


def _rare_weak_label(rows: int = 800) -> tuple[np.ndarray, np.ndarray]:
    """A frequent label, and a rare one (about 6 %) whose probability given the features
    stays below 0.5 on almost every row, so that a fixed 0.5 threshold never predicts it."""
    rng = np.random.default_rng(3)
    features = rng.standard_normal((rows, 5))
    frequent = features[:, 1] > 0
    rare = features[:, 0] + 2.0 * rng.standard_normal(rows) > 3.5
    return features, np.stack([frequent, rare], axis=1).astype(np.uint8)


def test_thresholds_chosen_in_the_folds_find_a_rare_label_that_half_never_predicts() -> None:
    features, indicators = _rare_weak_label()
    job = _job(features, indicators)
    fixed = np.zeros_like(indicators)  # the same model, predicting where probability >= 0.5
    for train, test in PROBE.splits(job):
        model = job.make_model().fit(features[train], indicators[train])
        fixed[test] = model.predict(features[test])
    fixed_f1 = f1_score(indicators[:, 1], fixed[:, 1], zero_division=0)
    result = _run(job)
    assert fixed_f1 < 0.1
    assert result.per_label_f1["l1"] > fixed_f1 + 0.15
    assert result.thresholds["l1"] < 0  # a logit below 0: a probability below 0.5


def test_a_fold_predicts_the_same_whatever_its_test_rows_labels_are() -> None:
    features, indicators = _rare_weak_label(400)
    job = _job(features, indicators)
    train, test = PROBE.splits(job)[0]
    before = PROBE.fit_fold(job, train, test)
    changed = indicators.copy()
    changed[test] = 1 - changed[test]  # only rows the fold must not look at
    after = PROBE.fit_fold(_job(features, changed), train, test)
    np.testing.assert_array_equal(before, after)
    np.testing.assert_array_equal(found_in(before, "thresholds"), found_in(after, "thresholds"))


def test_fold_figures_are_means_with_sample_standard_deviations() -> None:
    features, indicators = _linear_labels(4, rows=240)
    features = features + np.random.default_rng(5).standard_normal(features.shape)  # noisier
    job = _job(features, indicators)
    result = _run(job)
    expected = []
    for _, test in PROBE.splits(job):
        truth, predicted = indicators[test], result.predictions[test]
        present = np.flatnonzero(truth.any(axis=0))
        expected.append(
            [
                f1_score(truth, predicted, average="micro"),
                f1_score(truth, predicted, labels=present, average="macro", zero_division=0),
                f1_score(truth, predicted, average="samples", zero_division=1),
                accuracy_score(truth, predicted),
            ]
        )
    expected = np.array(expected)
    names = ("micro_f1", "macro_f1", "samples_f1", "subset_accuracy")
    for column, name in enumerate(names):
        assert getattr(result, name) == pytest.approx(expected[:, column].mean())
        assert getattr(result, f"{name}_std") == pytest.approx(expected[:, column].std(ddof=1))
        assert getattr(result, f"{name}_std") > 0


def test_labels_absent_from_a_training_fold_or_on_every_row_do_not_crash() -> None:
    features, indicators = _linear_labels(6, rows=200, labels=2)
    single = np.zeros((200, 1), dtype=np.uint8)
    single[17] = 1  # one row: the fold that tests it has none to train on
    everywhere = np.ones((200, 1), dtype=np.uint8)
    indicators = np.hstack([indicators, single, everywhere])
    job = _job(features, indicators)
    with pytest.warns(UserWarning, match="Label"):  # scikit-learn's constant predictor
        result = _run(job)
    assert result.support == {
        "l0": int(indicators[:, 0].sum()),
        "l1": int(indicators[:, 1].sum()),
        "l2": 1,
        "l3": 200,
    }
    assert result.per_label_f1["l3"] == 1.0
    assert result.predictions[:, 2].sum() <= 1
    assert np.isfinite([result.micro_f1, result.macro_f1, result.samples_f1]).all()


def test_scores_come_from_decision_function_or_predict_proba() -> None:
    features, indicators = _linear_labels(7)

    def svm():  # the TF-IDF baseline's shape: margins only, no probabilities
        return make_pipeline(StandardScaler(), OneVsRestClassifier(LinearSVC(random_state=0)))

    def bayes():  # probabilities only
        return OneVsRestClassifier(GaussianNB())

    assert not hasattr(bayes(), "decision_function")
    for make_model in (svm, bayes):
        result = _run(ProbeJob(make_model, features, _targets(indicators)))
        assert result.micro_f1 > 0.75


def test_a_failing_job_fails_alone_beside_a_multilabel_and_a_classification_job() -> None:
    features, indicators = _linear_labels(8)
    broken = features.copy()
    broken[5, 0] = np.nan  # a real scikit-learn error when the row is in a training set
    labels = indicators[:, 0].astype(int)
    jobs = [
        _job(broken, indicators),
        _job(features, indicators),
        ProbeJob(linear_probe, features, ClassTargets(labels, ["no", "yes"])),
    ]
    bad, good, classified = cross_validate_many(jobs)
    assert isinstance(bad, ValueError)
    assert isinstance(good, MultilabelResult) and good.micro_f1 > 0.9
    assert isinstance(classified, ProbeResult) and classified.accuracy > 0.9


def test_measurements_report_four_figures_and_the_worst_label_breakdown() -> None:
    features, indicators = _rare_weak_label(400)
    slices = {"half": np.where(np.arange(400) < 200, "first", "second")}
    result = _run(_job(features, indicators, slices=slices))
    out = probe_measurements(result, "multilabel", {"probe": "x"})
    assert [m.name for m in out] == list(PROBE.names)
    for m in out[:4]:
        assert m.unit == "fraction" and m.version == "1" and m.spread is not None
        assert m.settings == {"probe": "x"}
    assert out[0].value == result.micro_f1 and out[0].spread == result.micro_f1_std
    breakdown = out[4]
    assert breakdown.name == metrics.BREAKDOWN
    assert set(breakdown.detail) == {
        "worst_class",
        "per_class_f1",
        "per_class_precision",
        "per_class_recall",
        "support",
        "per_slice_f1",
        "thresholds",
    }
    assert breakdown.detail["worst_class"] == "l1"  # the rare, weak label
    assert breakdown.value == result.per_label_f1["l1"]
    assert breakdown.detail["support"] == {
        "l0": int(indicators[:, 0].sum()),
        "l1": int(indicators[:, 1].sum()),
    }
    assert set(breakdown.detail["per_slice_f1"]["half"]) == {"first", "second"}
    assert set(breakdown.detail["thresholds"]) == {"l0", "l1"}


def test_macro_f1_of_a_fold_averages_only_the_labels_it_has_rows_of() -> None:
    features, indicators = _linear_labels(9, rows=200, labels=3)
    single = np.zeros((200, 1), dtype=np.uint8)
    single[17] = 1  # in one test fold only: the other four have no F1 for it
    indicators = np.hstack([indicators, single])
    job = _job(features, indicators)
    with pytest.warns(UserWarning, match="Label"):
        result = _run(job)
    per_fold = []
    for _, test in PROBE.splits(job):
        truth, predicted = indicators[test], result.predictions[test]
        present = [j for j in range(4) if truth[:, j].any()]
        assert len(present) == (4 if 17 in test else 3)
        per_fold.append(np.mean([f1_score(truth[:, j], predicted[:, j]) for j in present]))
    assert result.macro_f1 == pytest.approx(np.mean(per_fold))
