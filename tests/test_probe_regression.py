"""The regression probe: ridge on frozen features, figures in the target's own units."""

from __future__ import annotations

import json
from functools import partial

import numpy as np
import pytest
from sklearn.dummy import DummyRegressor
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.metrics import r2_score
from sklearn.pipeline import make_pipeline

from modelscout import metrics
from modelscout.data.inputs import ClassTargets, NumberTargets
from modelscout.measure.probe import (
    PROBES,
    ProbeJob,
    RegressionProbe,
    cross_validate_many,
    linear_probe,
    probe_measurements,
)
from modelscout.measure.probe.regression import ALPHAS, merged_bins

PROBE = PROBES["regression"]
RIDGE = partial(PROBE.linear_probe, 0)  # as the runner makes it


def _run(job: ProbeJob):
    result = cross_validate_many([job])[0]
    if isinstance(result, Exception):
        raise result
    return result


def _linear(rows: int = 300, seed: int = 0, noise: float = 0.1):
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((rows, 10))
    values = features @ rng.standard_normal(10) * 3 + 50 + rng.standard_normal(rows) * noise
    return features, values


def test_the_regression_probe_is_registered_for_its_task() -> None:
    assert isinstance(PROBE, RegressionProbe) and PROBE.task == "regression"


def test_a_linear_target_is_fitted_almost_exactly_and_beats_the_mean_predictor() -> None:
    features, values = _linear()
    result = _run(ProbeJob(RIDGE, features, NumberTargets(values)))
    assert result.r2 > 0.99 and result.spearman > 0.99
    assert result.floor["r2"] < 0.01  # the mean predictor explains nothing
    assert result.mae < result.floor["mae"] / 10 and result.rmse < result.floor["rmse"] / 10
    assert result.alpha is not None and ALPHAS[0] <= result.alpha <= ALPHAS[-1]


def test_noise_features_explain_nothing_and_the_floor_is_near_zero() -> None:
    rng = np.random.default_rng(1)
    features, values = rng.standard_normal((200, 20)), rng.standard_normal(200) * 5 + 10
    result = _run(ProbeJob(RIDGE, features, NumberTargets(values)))
    assert result.r2 < 0.05
    # the train rows' mean misses each test fold's mean a little: R² just below 0
    assert -0.1 < result.floor["r2"] <= 0.0
    assert result.mae == pytest.approx(result.floor["mae"], rel=0.1)


def test_a_log_transform_predicts_the_geometric_mean_in_the_original_units() -> None:
    values = np.array([10.0, 20, 40, 80, 160, 320, 640, 1280, 2560, 5120])
    targets = NumberTargets(values, "log")
    job = ProbeJob(lambda: DummyRegressor(strategy="mean"), np.zeros((10, 1)), targets, folds=2)
    result = _run(job)
    maes = []
    for train, test in PROBE.splits(job):
        geometric_mean = np.exp(np.log(values[train]).mean())
        np.testing.assert_allclose(result.predictions[test], geometric_mean)
        maes.append(np.abs(values[test] - geometric_mean).mean())
    assert result.mae == pytest.approx(np.mean(maes))
    assert result.mae_std == pytest.approx(np.std(maes, ddof=1))
    # the model is the mean predictor itself: it scores what the floor scores
    assert result.floor["mae"] == pytest.approx(result.mae)
    assert result.spearman == 0.0  # constant predictions have no ranks, not NaN


def test_a_log_linear_target_is_fitted_on_logs_and_scored_in_dollars() -> None:
    rng = np.random.default_rng(2)
    features = rng.standard_normal((120, 3))
    prices = np.exp(5 + features @ np.array([1.0, -0.5, 0.3]))  # from ~10 to ~10,000
    logged = _run(ProbeJob(LinearRegression, features, NumberTargets(prices, "log")))
    plain = _run(ProbeJob(LinearRegression, features, NumberTargets(prices)))
    np.testing.assert_allclose(logged.predictions, prices, rtol=1e-6)
    assert logged.mae < 1e-6 * prices.mean() < plain.mae
    assert logged.target_transform == "log" and logged.points["true"][0] in prices


def test_spreads_are_the_sample_standard_deviation_over_folds() -> None:
    features, values = _linear(noise=3.0)
    job = ProbeJob(RIDGE, features, NumberTargets(values), folds=4, seed=3)
    result = _run(job)
    r2s = [r2_score(values[test], result.predictions[test]) for _, test in PROBE.splits(job)]
    assert result.r2 == pytest.approx(np.mean(r2s))
    assert result.r2_std == pytest.approx(np.std(r2s, ddof=1)) and result.r2_std > 0


def test_residuals_by_slice_name_the_slice_the_features_cannot_explain() -> None:
    features, values = _linear(rows=400)
    group = np.where(np.arange(400) % 4 == 0, "b", "a")
    values = values + np.where(group == "b", np.random.default_rng(4).standard_normal(400), 0) * 5
    job = ProbeJob(RIDGE, features, NumberTargets(values), slices={"group": group})
    result = _run(job)
    per_slice = result.residuals["per_slice"]["group"]
    assert result.residuals["worst_slice"] == ["group", "b"]
    assert per_slice["a"]["rows"] == 300 and per_slice["b"]["rows"] == 100
    errors = result.predictions - values
    b = group == "b"
    assert per_slice["b"]["mae"] == pytest.approx(np.abs(errors[b]).mean())
    assert per_slice["b"]["bias"] == pytest.approx(errors[b].mean())
    assert per_slice["a"]["rmse"] == pytest.approx(np.sqrt((errors[~b] ** 2).mean()))
    assert per_slice["b"]["mae"] > 5 * per_slice["a"]["mae"]


def test_measurements_carry_units_spreads_and_the_residual_detail() -> None:
    features, values = _linear(rows=600, noise=1.0)
    slices = {"half": np.where(np.arange(600) < 300, "low", "high")}
    job = ProbeJob(RIDGE, features, NumberTargets(values), slices=slices)
    result = _run(job)
    out = {m.name: m for m in probe_measurements(result, "regression", {"folds": 5})}
    assert list(out) == list(PROBE.names)
    assert out[metrics.R2].unit == "R²" and out[metrics.SPEARMAN].unit == "rho"
    assert out[metrics.MAE].unit == out[metrics.RMSE].unit == metrics.TARGET_UNITS
    assert out[metrics.R2].value == result.r2 and out[metrics.R2].spread == result.r2_std
    assert all(m.version == "1" and m.settings == {"folds": 5} for m in out.values())
    assert out[metrics.MAE].seconds == result.fit_seconds > 0
    residual = out[metrics.RESIDUALS]
    detail = residual.detail
    assert set(detail) == {
        "overall", "per_slice", "worst_slice", "floor", "alpha", "points", "target_transform"
    }  # fmt: skip
    column, value = detail["worst_slice"]
    assert residual.value == detail["per_slice"][column][value]["mae"] >= detail["overall"]["mae"]
    assert set(detail["overall"]) == {"mae", "rmse", "bias", "median_abs_error"}
    assert set(detail["floor"]) == {"r2", "mae", "rmse"} and detail["target_transform"] is None
    assert len(detail["points"]["true"]) == len(detail["points"]["predicted"]) == 500
    assert detail["points"] == _run(job).points  # seeded: the same subset each time
    assert json.loads(json.dumps(detail)) == detail  # the store keeps it as JSON


def test_without_slices_the_residual_figure_is_the_overall_mae() -> None:
    features, values = _linear(noise=1.0)
    result = _run(ProbeJob(RIDGE, features, NumberTargets(values)))
    residual = PROBE.measurements(result, {})[-1]
    assert residual.detail["worst_slice"] is None and residual.detail["per_slice"] == {}
    assert residual.value == residual.detail["overall"]["mae"] == pytest.approx(result.mae, 0.05)


def test_a_regression_job_and_a_classification_job_run_side_by_side() -> None:
    features, values = _linear()
    labels = (values > np.median(values)).astype(int)
    regression = ProbeJob(RIDGE, features, NumberTargets(values))
    classification = ProbeJob(linear_probe, features, ClassTargets(labels, ["low", "high"]))
    together = cross_validate_many([regression, classification, regression])
    assert together[0].r2 == together[2].r2 == _run(regression).r2 > 0.99
    assert together[1].accuracy > 0.8


def test_a_fold_that_raises_fails_only_its_job() -> None:
    features, values = _linear()
    good = ProbeJob(RIDGE, features, NumberTargets(values))
    broken = ProbeJob(lambda: Ridge(alpha=-1.0), features, NumberTargets(values))  # real error
    first, second = cross_validate_many([broken, good])
    assert isinstance(first, ValueError) and "alpha" in str(first)
    assert second.r2 > 0.99


def test_texts_with_their_own_sparse_ridge_pipeline_are_probed_too() -> None:
    rng = np.random.default_rng(5)
    counts = rng.integers(0, 6, 100)
    texts = [" ".join(["good"] * c + ["plain"] * (6 - c)) for c in counts]
    job = ProbeJob(
        lambda: make_pipeline(TfidfVectorizer(), Ridge(alpha=0.1)), texts, NumberTargets(counts)
    )
    result = _run(job)
    assert result.r2 > 0.9 and result.alpha == 0.1  # a fixed ridge reports its own alpha


def test_small_data_splits_without_crashing() -> None:
    features, values = _linear(rows=12)
    job = ProbeJob(RIDGE, features, NumberTargets(values), folds=5)
    splits = PROBE.splits(job)
    assert len(splits) == 5 and all(len(test) >= 2 for _, test in splits)
    assert sorted(np.concatenate([test for _, test in splits])) == list(range(12))
    assert np.isfinite(_run(job).r2)


def test_tied_targets_whose_bins_are_smaller_than_the_folds_still_split() -> None:
    # 20 rows tied at 5 straddle two quantile edges: the bin below keeps only 5 rows
    values = np.arange(100.0)
    values[5:25] = 5
    assert np.bincount(NumberTargets(values).stratify_key()).min() == 5
    job = ProbeJob(RIDGE, values[:, None], NumberTargets(values), folds=10)
    splits = PROBE.splits(job)
    assert len(splits) == 10 and all(len(test) == 10 for _, test in splits)
    assert _run(job).r2 > 0.99


def test_small_bins_merge_into_neighbours_until_each_fills_every_fold() -> None:
    key = np.repeat([0, 1, 2, 3], [2, 10, 3, 9])
    merged = merged_bins(key, folds=5)
    assert np.bincount(merged).min() >= 5
    assert np.all(np.diff(merged) >= 0)  # neighbours merged: bins stay ordered by target
    assert merged_bins(np.zeros(4, dtype=int), folds=5).tolist() == [0, 0, 0, 0]
