"""Specification of the estimators' regression and multi-label forms and of which tasks each
built-in serves."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score, r2_score
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

from modelscout import metrics
from modelscout.measure.estimates import STABILITY_FRACTIONS, estimate
from modelscout.measure.transferability.knn import (
    _stratified_folds,
    knn_micro_f1,
    knn_r2,
    rank_strata,
    rarest_label_strata,
)
from modelscout.measure.transferability.logme import logme, logme_multilabel, logme_regression
from modelscout.measure.transferability.registry import BUILTINS, ESTIMATORS
from modelscout.measure.validation import InputError
from modelscout.records import TASKS

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "shared" / "reference" / "transferability"


def _regression(n=400, dim=6, seed=0):
    """Features whose first two columns determine a smooth target, plus noise columns."""
    rng = np.random.default_rng(seed)
    features = rng.uniform(-2.0, 2.0, (n, dim))
    target = np.sin(features[:, 0]) + 0.5 * features[:, 1] ** 2
    return features, target


def _label_sets(n=400, dim=6, n_labels=4, seed=0):
    """Indicators that threshold linear functions of the features: rows with 0..L labels."""
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((n, dim))
    weights = rng.standard_normal((dim, n_labels))
    offsets = np.array([0.0, 0.5, 1.0, 1.5])[:n_labels]  # ever rarer labels
    return features, (features @ weights > offsets).astype(np.uint8)


def _noise_like(features, seed=7):
    return np.random.default_rng(seed).standard_normal(features.shape)


REGRESSION_FORMS = {
    name: e.form("regression") for name, e in BUILTINS.items() if e.form("regression")
}
MULTILABEL_FORMS = {
    name: e.form("multilabel") for name, e in BUILTINS.items() if e.form("multilabel")
}


# --------------------------------------------------------------------------- registry


def test_metric_registry_tasks_agree_with_the_estimator_registry_for_every_builtin():
    for name, estimator in BUILTINS.items():
        assert metrics.ESTIMATOR_TASKS.get(name, ("classification",)) == estimator.tasks, name
        assert metrics.REGISTRY[name].tasks == estimator.tasks, name


def test_logme_both_solvers_and_knn_serve_every_task_the_others_classification_only():
    assert sorted(REGRESSION_FORMS) == sorted(MULTILABEL_FORMS) == ["knn", "logme", "logme_icml"]
    for name, estimator in BUILTINS.items():
        assert set(estimator.forms) <= set(estimator.tasks)
        if name not in REGRESSION_FORMS:
            assert estimator.tasks == ("classification",)
            assert estimator.form("regression") is None and estimator.form("multilabel") is None
    assert ESTIMATORS["knn"].form("classification") is ESTIMATORS["knn"].function


def test_every_form_of_every_task_returns_a_python_float():
    features, target = _regression()
    label_features, indicators = _label_sets()
    for name, form in REGRESSION_FORMS.items():
        assert type(form(features, target)) is float, name
    for name, form in MULTILABEL_FORMS.items():
        assert type(form(label_features, indicators)) is float, name


@pytest.mark.parametrize("name", sorted(REGRESSION_FORMS))
def test_features_that_carry_a_numeric_target_score_higher_than_noise(name):
    features, target = _regression()
    form = REGRESSION_FORMS[name]
    assert form(features, target) > form(_noise_like(features), target)


@pytest.mark.parametrize("name", sorted(MULTILABEL_FORMS))
def test_features_that_carry_the_labels_score_higher_than_noise(name):
    features, indicators = _label_sets()
    form = MULTILABEL_FORMS[name]
    assert form(features, indicators) > form(_noise_like(features), indicators)


# --------------------------------------------------------------------------- LogME


def test_logme_regression_reproduces_the_published_reference_value():
    expected_path = REFERENCE_DIR / "expected.json"
    if not expected_path.exists():
        pytest.skip(f"reference vectors not found at {REFERENCE_DIR}")
    expected = json.loads(expected_path.read_text())["regression"]
    with np.load(REFERENCE_DIR / "vectors.npz") as vectors:
        features, targets = vectors["regression/features"], vectors["regression/targets"]
    assert targets.shape == (400, 3)
    assert logme_regression(features, targets) == pytest.approx(expected["logme"], rel=1e-6)
    assert REGRESSION_FORMS["logme"](features, targets) == pytest.approx(
        expected["logme"], rel=1e-6
    )
    # The reference holds no ICML-solver value here: that form is the same evidence, stopped by
    # the ICML rule, so it agrees with the fixed-point value to the solvers' ~1e-3.
    icml = REGRESSION_FORMS["logme_icml"](features, targets)
    assert icml == logme(features, targets, regression=True, solver="icml")
    assert icml == pytest.approx(expected["logme"], rel=1e-2)


@pytest.mark.parametrize("solver", ["fixed_point", "icml"])
def test_logme_multilabel_is_the_mean_of_each_label_columns_regression_logme(solver):
    features, indicators = _label_sets()
    per_column = [
        logme_regression(features, indicators[:, j].astype(float), solver=solver)
        for j in range(indicators.shape[1])
    ]
    assert logme_multilabel(features, indicators, solver=solver) == pytest.approx(
        np.mean(per_column), rel=1e-12
    )


def test_logme_multilabel_of_one_label_per_row_is_classification_logme():
    features, _ = _label_sets()
    classes = np.random.default_rng(3).integers(0, 4, len(features))
    one_hot = np.eye(4, dtype=np.uint8)[classes]
    assert logme_multilabel(features, one_hot) == pytest.approx(logme(features, classes), rel=1e-10)


def test_logme_multilabel_counts_rows_without_labels():
    features, indicators = _label_sets()
    emptied = indicators.copy()
    emptied[:50] = 0
    assert not emptied[:50].any() and emptied.any(axis=1).sum() < len(emptied)
    assert logme_multilabel(features, emptied) != logme_multilabel(features, indicators)


# --------------------------------------------------------------------------- kNN


def test_knn_r2_is_near_one_on_a_smooth_function_of_the_features():
    rng = np.random.default_rng(0)
    features = rng.uniform(-2.0, 2.0, (1500, 2))
    target = np.sin(features[:, 0]) + 0.5 * features[:, 1] ** 2
    assert knn_r2(features, target) > 0.97
    assert knn_r2(rng.standard_normal((1500, 2)), target) < 0.1


def test_knn_r2_matches_scikit_learn_on_the_same_folds():
    features, target = _regression(n=300)
    fold_of = _stratified_folds(rank_strata(target, 5), 5, seed=2)
    predicted = np.empty_like(target)
    for fold in range(5):
        test = fold_of == fold
        model = KNeighborsRegressor(5, algorithm="brute").fit(features[~test], target[~test])
        predicted[test] = model.predict(features[test])
    assert knn_r2(features, target, seed=2) == pytest.approx(r2_score(target, predicted), rel=1e-6)


def test_knn_r2_folds_each_span_the_targets_range():
    target = np.random.default_rng(0).standard_normal(500)
    fold_of = _stratified_folds(rank_strata(target, 5), 5, seed=1)
    ranks = np.argsort(np.argsort(target))
    assert (np.bincount(fold_of) == 100).all()
    for fold in range(5):  # each fold holds exactly one of each run of 5 sorted targets
        assert (np.bincount(ranks[fold_of == fold] // 5, minlength=100) == 1).all()


def _scikit_learn_multilabel_predictions(features, indicators, seed):
    """scikit-learn's kNN (a per-label majority of k = 5) on knn_micro_f1's folds."""
    as_matrix = indicators.reshape(len(indicators), -1).astype(bool)
    fold_of = _stratified_folds(rarest_label_strata(as_matrix), 5, seed=seed)
    predicted = np.empty_like(indicators)
    for fold in range(5):
        test = fold_of == fold
        model = KNeighborsClassifier(5, algorithm="brute")
        model.fit(features[~test], indicators[~test])
        predicted[test] = model.predict(features[test])
    return predicted


def test_knn_micro_f1_matches_scikit_learn_on_the_same_folds():
    features, indicators = _label_sets(n=300)
    predicted = _scikit_learn_multilabel_predictions(features, indicators, seed=3)
    expected = f1_score(indicators, predicted, average="micro")
    assert knn_micro_f1(features, indicators, seed=3) == pytest.approx(expected, rel=1e-12)


def test_knn_micro_f1_of_a_single_label_is_that_labels_f1_not_accuracy():
    features, indicators = _label_sets()
    column = indicators[:, 3]  # the rarest label
    predicted = _scikit_learn_multilabel_predictions(features, column, seed=0)
    micro = knn_micro_f1(features, column[:, None])
    assert micro == pytest.approx(f1_score(column, predicted), rel=1e-12)
    assert micro != pytest.approx(np.mean(column == predicted))
    # a label no row has adds no hits and no errors
    assert micro == knn_micro_f1(features, np.stack([column, 0 * column], axis=1))


def test_knn_micro_f1_predicts_a_label_when_at_least_half_the_neighbours_have_it():
    positions = np.array([0.0, 1.0, 2.0, 100.0, 101.0, 102.0])[:, None]
    indicators = np.array([[1, 0], [1, 1], [0, 0], [0, 1], [0, 1], [0, 0]])
    # Leave-one-out (folds = N), k = 2: each row's neighbours are the other two rows of its
    # cluster, whose votes are [1,1] [1,0] [2,1] [0,1] [0,1] [0,2]; a vote of 1 of 2 is half,
    # so the predictions are {a,b} {a} {a,b} {b} {b} {b}: 4 hits, 3 false labels, 1 missed.
    assert knn_micro_f1(positions, indicators, k=2, folds=6) == pytest.approx(8 / 13)


def test_rarest_label_strata_deal_a_rare_label_to_every_fold():
    indicators = np.zeros((100, 3), dtype=bool)
    indicators[:, 0] = True  # a label every row has
    indicators[:5, 2] = True  # a rare one, on 5 rows
    indicators[90:, 0] = False  # ten rows with no label
    strata = rarest_label_strata(indicators)
    assert (strata[:5] == 2).all() and (strata[90:] == 3).all()
    fold_of = _stratified_folds(strata, 5, seed=0)
    assert sorted(fold_of[:5]) == [0, 1, 2, 3, 4]


# --------------------------------------------------------------------------- validation


def test_multilabel_forms_reject_values_other_than_zero_and_one():
    features, indicators = _label_sets()
    counts = indicators.astype(float) * 2
    for form in MULTILABEL_FORMS.values():
        with pytest.raises(InputError, match="other than 0 and 1"):
            form(features, counts)


def test_multilabel_forms_reject_data_where_no_row_has_a_label():
    features, indicators = _label_sets()
    for form in MULTILABEL_FORMS.values():
        with pytest.raises(InputError, match="no row has any label"):
            form(features, 0 * indicators)


def test_multilabel_forms_reject_one_dimensional_indicators():
    features, indicators = _label_sets()
    for form in MULTILABEL_FORMS.values():
        with pytest.raises(InputError, match="must be 2-D"):
            form(features, indicators[:, 0])


def test_knn_r2_rejects_a_constant_target():
    features, target = _regression()
    with pytest.raises(InputError, match="constant"):
        knn_r2(features, np.full_like(target, 3.0))


def test_regression_forms_reject_nan_targets():
    features, target = _regression()
    target[3] = np.nan
    for form in REGRESSION_FORMS.values():
        with pytest.raises(InputError, match="1 NaN"):
            form(features, target)


# --------------------------------------------------------------------------- the estimate step


def _nested(n, seed=0):
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(order[: int(round(f * n))]) for f in STABILITY_FRACTIONS]


@pytest.mark.parametrize("task", ["regression", "multilabel"])
def test_estimate_takes_the_tasks_targets_and_reports_each_subsample(task):
    features, targets = _regression() if task == "regression" else _label_sets()
    for name in ("logme", "knn"):
        form = ESTIMATORS[name].form(task)
        found = estimate(name, form, features, targets, _nested(len(features)), {})
        assert found.value == pytest.approx(form(features, targets))
        assert set(found.detail["subsamples"]) == {"0.25", "0.5", "1.0"}
        assert "errors" not in found.detail


@pytest.mark.parametrize("task", ["regression", "multilabel"])
def test_estimate_reports_a_subsample_too_small_for_the_form_as_its_error(task):
    features, targets = _regression(n=24) if task == "regression" else _label_sets(n=24)
    form = ESTIMATORS["knn"].form(task)  # 25% = 6 rows: 5 folds leave 4 to train, k = 5
    found = estimate("knn", form, features, targets, _nested(len(features)), {})
    assert "k must be between 1 and the smallest training split" in found.detail["errors"]["0.25"]
    assert found.value == pytest.approx(form(features, targets))
    assert found.unit == metrics.ESTIMATOR_UNITS["knn"]


def test_every_task_is_served_by_some_builtin():
    for task in TASKS:
        assert any(e.form(task) is not None for e in BUILTINS.values())
