"""The learning curve: the fit (measure/curve.py) and the run's predicted.* measurements."""

import json
from pathlib import Path

import numpy as np
import pytest
from test_tasks_run import text_multilabel_frame, text_regression_frame

from modelscout import build_spec, metrics, rank
from modelscout.api import rank_and_report
from modelscout.measure.curve import FAR, fit_curve
from modelscout.report import build_results

A, B, C, SCALE = 0.1, 0.4, 0.5, 1000.0
SIZES = np.repeat([[200.0], [400.0], [800.0], [1600.0]], 5, axis=1)  # (P=4, K=5)


def truth(n):
    """macro-F1 of a known inverse power law."""
    return 1 - (A + B * (np.asarray(n) / SCALE) ** -C)


def noisy(seed: int, noise: float = 0.01) -> np.ndarray:
    return truth(SIZES) + np.random.default_rng(seed).normal(0, noise, SIZES.shape)


def test_the_fit_recovers_a_known_curve():
    curve = fit_curve(SIZES, truth(SIZES), True, [10_000], resamples=20)
    a, b, c = (curve.params[k] for k in "abc")
    assert a == pytest.approx(A, abs=1e-3) and c == pytest.approx(C, abs=1e-3)
    assert b == pytest.approx(B * (1600 / SCALE) ** -C, rel=1e-3)  # excess at the largest size
    assert curve.predictions[0].value == pytest.approx(truth(10_000), abs=1e-4)


def test_the_interval_covers_the_truth_in_most_seeds():
    covered, errors = 0, []
    for seed in range(20):
        found = fit_curve(SIZES, noisy(seed), True, [10_000], seed=seed, resamples=60)
        prediction = found.predictions[0]
        covered += prediction.low <= truth(10_000) <= prediction.high
        errors.append(abs(prediction.value - truth(10_000)))
    assert covered >= 13  # a 5-fold bootstrap undercovers somewhat; measured 39/50 at 200 draws
    assert np.median(errors) < 0.02  # the sample score's error here is 0.09
    assert truth(10_000) - truth(1600) > 0.08


def test_a_lower_is_better_metric_is_fitted_as_the_error_itself():
    mae = 0.1 + 0.4 * (SIZES / SCALE) ** -0.5
    curve = fit_curve(SIZES, mae, False, [10_000], resamples=10)
    assert curve.predictions[0].value == pytest.approx(0.1 + 0.4 * 10**-0.5, abs=1e-3)


def test_too_few_points_and_falling_curves_give_no_prediction():
    two = fit_curve(SIZES[:2], truth(SIZES[:2]), True, [10_000])
    assert two.predictions == [] and "too few points" in two.reason
    failed = noisy(0)
    failed[:2] = np.nan  # the two smallest fractions could not be fitted
    assert "too few points" in fit_curve(SIZES, failed, True, [10_000]).reason
    falling = truth(SIZES)[::-1]
    assert "falls" in fit_curve(SIZES, falling, True, [10_000]).reason


def test_a_flat_noisy_curve_predicts_near_its_level_with_an_interval():
    flat = 0.7 + np.random.default_rng(3).normal(0, 0.01, SIZES.shape)
    flat[-1] += 0.005  # rising, barely
    curve = fit_curve(SIZES, flat, True, [10_000, 1_000_000], resamples=40)
    near, far = curve.predictions
    assert abs(near.value - 0.7) < 0.05 and near.low <= near.value <= near.high
    assert far.extrapolation > FAR and not near.extrapolation > FAR


@pytest.fixture(scope="module")
def ranked(tmp_path_factory, small_csv, tiny_bert):
    """small_csv ranked twice on one store, reports written: (first, second, output folder)."""
    work = tmp_path_factory.mktemp("curve")
    spec = build_spec(
        data=small_csv,
        candidates=[str(tiny_bert)],
        store=work / "s.db",
        output=work / "out",
        batch_sizes=[1],
        latency_budget_s=0.1,
        estimators=["logme"],
        predict_rows=500,
    )
    first = rank_and_report(spec)[0]
    second = rank(spec)
    return first, second, work / "out"


def _metric(decision, candidate: str, name: str):
    row = next(r for r in decision.rows if r.id == candidate)
    return row.outcome.measurements[name]


def test_a_run_predicts_the_quality_at_full_size_and_reuses_it(ranked, tiny_bert):
    first, second, _ = ranked
    for candidate in (str(tiny_bert), "baseline:tfidf"):
        found = _metric(first, candidate, "predicted.macro_f1")
        detail = found.detail
        assert [p["fraction"] for p in detail["points"]] == [0.125, 0.25, 0.5, 1.0]
        rows = [p["rows"] for p in detail["points"]]
        assert rows == sorted(rows) and rows[-1] == pytest.approx(120 * 4 / 5)
        if found.value is None:
            assert detail["reason"]
        else:
            assert detail["low"] <= found.value <= detail["high"] and detail["rows"] == 120
            assert [p["rows"] for p in detail["predictions"]] == [120, 500]
        again = _metric(second, candidate, "predicted.macro_f1")
        assert again.reused and again.value == found.value
    for name in ("predicted.accuracy", "predicted.macro_precision", "predicted.macro_recall"):
        assert _metric(first, str(tiny_bert), name).detail["points"]


def test_the_prediction_is_in_results_json_and_both_reports(ranked):
    _, _, out = ranked
    results = json.loads((out / "results.json").read_text())
    tfidf = next(c for c in results["candidates"] if c["id"] == "baseline:tfidf")
    assert "predicted.macro_f1" in tfidf["metrics"]
    markdown = (out / "results.md").read_text()
    html = (out / "report.html").read_text()
    assert "Learning curves" in markdown and "Learning curves" in html
    assert "expected" in markdown and 'data-plot="learning-curves"' in html


def _ranked_task(tmp_path: Path, frame, tiny_bert, **settings):
    data = tmp_path / "data.csv"
    frame.to_csv(data, index=False)
    spec = build_spec(
        data=data,
        candidates=[str(tiny_bert)],
        folds=3,
        batch_sizes=[1],
        latency_budget_s=0.1,
        estimators=["logme"],
        output=tmp_path / "out",
        **settings,
    )
    return build_results(rank(spec))


@pytest.mark.parametrize("task", ["regression", "multilabel"])
def test_regression_and_multilabel_runs_predict_their_quality(task, tmp_path, tiny_bert):
    if task == "regression":
        frame = text_regression_frame(rows=120)
        results = _ranked_task(tmp_path, frame, tiny_bert, label_column="target")
    else:
        results = _ranked_task(tmp_path, text_multilabel_frame(rows=120), tiny_bert)
    quality = metrics.quality_metric(task)
    for row in results["candidates"]:
        found = row["metrics"][metrics.predicted(quality)]
        assert found["value"] is not None or found["detail"]["reason"], row["id"]
        assert len(found["detail"]["points"]) == 4


def test_the_cli_flag_sets_predict_rows_and_refuses_zero(small_csv):
    from typer.testing import CliRunner

    from modelscout.cli import app
    from modelscout.cli.rank import _spec_overrides
    from modelscout.spec import build_spec as spec_from

    flags = {"data": small_csv, "predict_rows": 50_000, "instance": None}
    overrides = _spec_overrides(flags | {"price_per_hour": None, "requests_per_day": None,
                                         "min_quality": None})  # fmt: skip
    assert spec_from(**overrides).predict_rows == 50_000
    refused = CliRunner().invoke(app, ["rank", "--data", str(small_csv), "--predict-rows", "0"])
    assert refused.exit_code == 2 and "--predict-rows" in refused.output
