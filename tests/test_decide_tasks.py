"""decide and results.json for regression and multi-label runs: the run's quality metric (R²
by default, MAE lower-is-better when chosen), min_quality both ways, the mean predictor's floor,
whether candidates beat the baselines, the long tail of labels, and results.json 1.5."""

import numpy as np
import pytest
from rich.console import Console

from modelscout import metrics
from modelscout.cli.output import ranking_table
from modelscout.data import TaskData
from modelscout.data.inputs import LabelSetTargets, NumberTargets, TextInputs
from modelscout.decide import decide
from modelscout.decide.baselines import MEAN_PREDICTOR
from modelscout.records import Candidate, Measurement, ModelMeta, Outcome
from modelscout.report import build_results
from modelscout.results import Results
from modelscout.run import RunResult, environment
from modelscout.spec import build_spec

FLOOR = {"r2": 0.0, "mae": 50.0, "rmse": 70.0}
QUALITY_ONLY = {"quality": 1.0, "latency": 0.0, "memory": 0.0, "size": 0.0}


def residuals(floor=FLOOR):
    """The regression probe's residuals measurement, in the detail format the probe writes."""
    detail = {
        "overall": {"mae": 30.0, "rmse": 41.0, "bias": 0.5, "median_abs_error": 22.0},
        "per_slice": {},
        "worst_slice": None,
        "floor": dict(floor),
        "alpha": 1.0,
        "points": {"true": [1.0, 2.0], "predicted": [1.5, 1.8]},
        "target_transform": None,
    }
    return Measurement(metrics.RESIDUALS, 30.0, metrics.TARGET_UNITS, detail=detail)


def regression(cid, r2, mae, p95=10.0, memory=100.0, source="folder", spread=0.02, rho=0.5):
    found = {
        metrics.R2: Measurement(metrics.R2, r2, "R²", spread),
        metrics.MAE: Measurement(metrics.MAE, mae, metrics.TARGET_UNITS, mae / 20),
        metrics.RMSE: Measurement(metrics.RMSE, mae * 1.4, metrics.TARGET_UNITS, mae / 10),
        metrics.SPEARMAN: Measurement(metrics.SPEARMAN, rho, "rho", 0.01),
        metrics.RESIDUALS: residuals(),
        metrics.latency_p95(1): Measurement(metrics.latency_p95(1), p95, "ms"),
        metrics.PEAK_MEMORY: Measurement(metrics.PEAK_MEMORY, memory, "MB"),
    }
    return Outcome(Candidate(cid, source), ModelMeta(), "measured", None, found)


def regression_run(outcomes, transform=None, **spec):
    values = np.array([120.0, 80.0, 310.0, 95.0, 150.0, 60.0])
    data = TaskData(TextInputs(["a listing"] * len(values)), NumberTargets(values, transform))
    settings = build_spec(data="d.csv", task="regression", **spec)
    return RunResult(settings, data, data, outcomes, environment())


def row(decision, cid):
    return next(r for r in decision.rows if r.id == cid)


def test_regression_ranks_by_r2_unless_the_spec_names_mae_which_is_lower_is_better():
    models = [regression("explains", 0.60, 30.0), regression("close", 0.40, 25.0)]
    by_r2 = decide(regression_run(models, weights=QUALITY_ONLY))
    assert by_r2.quality_metric == metrics.R2 and by_r2.recommendation == "explains"
    by_mae = decide(regression_run(models, weights=QUALITY_ONLY, quality_metric="mae"))
    assert by_mae.quality_metric == metrics.MAE and by_mae.recommendation == "close"
    assert row(by_mae, "close").normalized["quality"] == 1.0
    assert row(by_mae, "explains").normalized["quality"] == 0.0


def test_the_pareto_set_follows_the_quality_metrics_direction():
    models = [regression("explains", 0.60, 30.0), regression("close", 0.40, 25.0)]
    assert decide(regression_run(models)).pareto == ["explains"]
    assert decide(regression_run(models, quality_metric="mae")).pareto == ["close"]


def test_rationale_speaks_of_r2_and_of_mae_with_their_formats():
    models = [regression("explains", 0.60, 30.0), regression("close", 0.40, 25.0)]
    by_r2 = decide(regression_run(models, weights=QUALITY_ONLY)).rationale
    assert by_r2.startswith(
        "explains has the best R² (0.600 ± 0.020); the runner-up close is 0.200 lower (0.400)"
    )
    by_mae = decide(regression_run(models, weights=QUALITY_ONLY, quality_metric="mae")).rationale
    assert by_mae.startswith(
        "close has the best MAE (25 ± 1.25); the runner-up explains is 5 higher (30)"
    )
    assert "macro-F1" not in by_r2 + by_mae


def test_a_pick_traded_for_speed_says_how_much_worse_its_mae_is():
    models = [regression("close", 0.6, 25.0, p95=40.0), regression("fast", 0.5, 27.0, p95=4.0)]
    decision = decide(
        regression_run(models, quality_metric="mae", weights={"quality": 0.4, "latency": 0.6})
    )
    assert decision.recommendation == "fast"
    assert "it is 2 MAE above close (27 vs 25)" in decision.rationale


def test_min_quality_is_a_floor_for_r2():
    models = [regression("explains", 0.60, 30.0), regression("weak", 0.40, 25.0)]
    decision = decide(regression_run(models, constraints={"min_quality": 0.5}))
    assert row(decision, "weak").status == "rejected"
    assert row(decision, "weak").reason == "R² 0.400, below the min_quality of 0.500"
    assert row(decision, "explains").status == "ranked"


def test_min_quality_is_a_ceiling_for_mae():
    models = [regression("explains", 0.60, 30.0), regression("close", 0.40, 25.0)]
    decision = decide(regression_run(models, quality_metric="mae", constraints={"min_quality": 28}))
    assert row(decision, "explains").status == "rejected"
    assert row(decision, "explains").reason == (
        "MAE 30, above the min_quality of 28 (MAE is lower-is-better)"
    )
    assert decision.recommendation == "close"


def test_a_candidate_that_does_not_beat_the_mean_predictor_is_rejected():
    models = [regression("good", 0.40, 30.0), regression("useless", -0.021, 55.0)]
    decision = decide(regression_run(models))
    assert row(decision, "useless").status == "rejected"
    assert row(decision, "useless").reason == (
        "does not beat the mean predictor: R² -0.021 vs floor 0.000"
    )
    by_mae = decide(regression_run(models, quality_metric="mae"))
    assert row(by_mae, "useless").reason == "does not beat the mean predictor: MAE 55 vs floor 50"
    assert row(by_mae, "good").status == "ranked"


def test_spearman_has_no_floor_so_no_candidate_is_rejected_for_it():
    models = [regression("good", 0.40, 30.0, rho=0.6), regression("poor", -0.5, 70.0, rho=0.01)]
    decision = decide(regression_run(models, quality_metric="spearman"))
    assert [r.status for r in decision.rows] == ["ranked", "ranked"]
    assert row(decision, "good").beats == {}


def test_beats_says_which_baselines_and_the_mean_predictor_each_candidate_beats():
    models = [
        regression("good", 0.421, 30.0),
        regression("baseline:columns", 0.30, 40.0, source="baseline"),
        regression("meh", 0.25, 45.0),
    ]
    decision = decide(regression_run(models, baseline_columns=["room_type"]))
    assert row(decision, "good").beats == {"baseline:columns": True, MEAN_PREDICTOR: True}
    assert row(decision, "meh").beats == {"baseline:columns": False, MEAN_PREDICTOR: True}
    assert row(decision, "baseline:columns").beats == {MEAN_PREDICTOR: True}
    assert decision.recommendation == "good"
    assert "It is 0.121 R² above baseline:columns (room_type)." in decision.rationale
    assert "It is 0.421 R² above the mean predictor." in decision.rationale


def test_a_pick_below_the_baseline_says_it_does_not_beat_it():
    models = [
        regression("fast", 0.25, 45.0, p95=2.0),
        regression("baseline:columns", 0.30, 40.0, p95=50.0, source="baseline"),
    ]
    decision = decide(
        regression_run(
            models, baseline_columns=["room_type"], weights={"quality": 0.1, "latency": 0.9}
        )
    )
    assert decision.recommendation == "fast"
    assert "It does not beat baseline:columns (room_type): R² 0.250 vs 0.300." in decision.rationale


def test_regression_has_no_long_tail_and_no_confusions():
    decision = decide(regression_run([regression("good", 0.4, 30.0)]))
    assert decision.long_tail is None and decision.confusions == []


def test_the_cli_table_heads_the_quality_column_with_the_runs_metric():
    models = [regression("explains", 0.60, 30.0), regression("close", 0.40, 25.0)]
    decision = decide(regression_run(models, quality_metric="mae"))
    console = Console(record=True, width=120)
    console.print(ranking_table(decision.rows, console, decision.quality_metric))
    shown = console.export_text()
    assert "MAE" in shown and "macro-F1" not in shown and "25 ± 1.25" in shown


def test_regression_results_json_validates_with_target_beats_and_skipped_estimators():
    models = [
        regression("good", 0.421, 30.0),
        regression("baseline:columns", 0.30, 40.0, source="baseline"),
    ]
    run = regression_run(models, transform="log", baseline_columns=["room_type"])
    run.estimators_skipped = {"h_score": "H-score has no regression form"}
    results = build_results(decide(run))
    Results.model_validate(results)
    assert results["schema_version"] == "1.9" and results["task"] == "regression"
    assert results["quality_metric"] == metrics.R2
    assert results["estimators_skipped"] == {"h_score": "H-score has no regression form"}
    assert results["candidates"][0]["beats"] == {"baseline:columns": True, MEAN_PREDICTOR: True}
    assert results["data"]["classes"] == [] and results["long_tail"] is None
    assert results["data"]["target"] == pytest.approx(
        {"min": 60.0, "median": 107.5, "max": 310.0, "mean": 135.833333, "transform": "log"}
    )


LABELS = ["anger", "joy", "grief", "pride"]


def multilabel(cid, macro, worst=0.1, p95=10.0, source="folder"):
    per_label = {"anger": 0.7, "joy": 0.8, "grief": worst, "pride": 0.3}
    breakdown = {
        "worst_class": "grief",
        "per_class_f1": per_label,
        "per_class_precision": per_label,
        "per_class_recall": per_label,
        "support": {"anger": 8, "joy": 10, "grief": 1, "pride": 1},
        "per_slice_f1": {},
    }
    found = {
        metrics.MACRO_F1: Measurement(metrics.MACRO_F1, macro, "fraction", 0.02),
        metrics.MICRO_F1: Measurement(metrics.MICRO_F1, macro + 0.1, "fraction", 0.02),
        metrics.SAMPLES_F1: Measurement(metrics.SAMPLES_F1, macro, "fraction", 0.02),
        metrics.SUBSET_ACCURACY: Measurement(metrics.SUBSET_ACCURACY, 0.3, "fraction", 0.02),
        metrics.BREAKDOWN: Measurement(metrics.BREAKDOWN, worst, "fraction", detail=breakdown),
        metrics.latency_p95(1): Measurement(metrics.latency_p95(1), p95, "ms"),
        metrics.PEAK_MEMORY: Measurement(metrics.PEAK_MEMORY, 100.0, "MB"),
    }
    return Outcome(Candidate(cid, source), ModelMeta(), "measured", None, found)


def multilabel_run(outcomes, **spec):
    """18 rows: anger on 8, joy on 10 (two rows have both), grief and pride on one each, and
    two rows with no label."""
    indicators = np.zeros((18, len(LABELS)), dtype=np.uint8)
    indicators[:8, 0] = 1
    indicators[6:16, 1] = 1
    indicators[16, 2] = 1
    indicators[17, 3] = 1
    data = TaskData(TextInputs(["a comment"] * 18), LabelSetTargets(indicators, LABELS))
    settings = build_spec(data="d.csv", task="multilabel", **spec)
    return RunResult(settings, data, data, outcomes, environment())


def test_multilabel_long_tail_names_the_rare_labels_by_their_support():
    decision = decide(multilabel_run([multilabel("m", 0.5)]))
    tail = decision.long_tail
    assert tail.classes == ["grief", "pride"] and (tail.rows, tail.total_rows) == (2, 20)
    assert tail.sentence.startswith("Long tail (2 labels, 2 of 20 label assignments)")
    assert tail.sentence.endswith(": grief, pride.")
    assert decision.confusions == []


def test_multilabel_ranks_by_macro_f1_or_the_chosen_micro_f1_and_beats_the_tfidf_baseline():
    models = [multilabel("model", 0.50), multilabel("baseline:tfidf", 0.40, source="baseline")]
    decision = decide(multilabel_run(models, weights=QUALITY_ONLY))
    assert decision.quality_metric == metrics.MACRO_F1 and decision.recommendation == "model"
    assert row(decision, "model").beats == {"baseline:tfidf": True}
    assert "It is 0.100 macro-F1 above the TF-IDF baseline." in decision.rationale
    micro = decide(
        multilabel_run(models, quality_metric="micro_f1", constraints={"min_quality": 0.55})
    )
    assert micro.quality_metric == metrics.MICRO_F1
    assert row(micro, "baseline:tfidf").reason == "micro-F1 0.500, below the min_quality of 0.550"


def test_multilabel_results_json_lists_the_labels_support_and_validates():
    results = build_results(decide(multilabel_run([multilabel("m", 0.5)])))
    Results.model_validate(results)
    assert results["task"] == "multilabel" and results["quality_metric"] == metrics.MACRO_F1
    assert results["data"]["classes"] == [
        {"name": "anger", "rows": 8},
        {"name": "joy", "rows": 10},
        {"name": "grief", "rows": 1},
        {"name": "pride", "rows": 1},
    ]
    assert results["data"]["target"] is None
    per_label = results["candidates"][0]["metrics"][metrics.BREAKDOWN]["detail"]["per_class_f1"]
    assert per_label["grief"] == 0.1  # the rare labels' F1 beside the frequent ones'
    assert results["long_tail"]["classes"] == ["grief", "pride"]
