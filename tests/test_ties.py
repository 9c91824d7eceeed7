"""Paired statistics: the bootstrap of the quality metric on the probes' shared out-of-fold
predictions, its vectorized scorers, the pick among a tied group, and the predictions kept in
the store."""

import html
import sqlite3
import time

import numpy as np
import pytest
from conftest import ENVIRONMENT
from scipy.stats import spearmanr
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    precision_score,
    r2_score,
    recall_score,
)

from modelscout import build_spec, metrics
from modelscout.data import TaskData
from modelscout.decide import decide
from modelscout.measure.paired import Resamples, paired_bootstrap, scorer_for
from modelscout.records import Candidate, Measurement, ModelMeta, Outcome
from modelscout.report import build_results
from modelscout.report.html import render_html
from modelscout.report.json import upgraded
from modelscout.report.markdown import render_markdown
from modelscout.results import Results
from modelscout.run import RunResult, run

N = 600
rng = np.random.default_rng(7)
CLASSES = rng.integers(0, 6, N)
NUMBERS = np.round(rng.normal(50, 10, N), 1)  # rounded: ties in the ranks
LABELS = (rng.random((N, 5)) < 0.2).astype(int)


def _noisy_classes(right: float, seed: int) -> np.ndarray:
    draw = np.random.default_rng(seed)
    return np.where(draw.random(N) < right, CLASSES, draw.integers(0, 6, N))


def _flipped_labels(flip: float, seed: int) -> np.ndarray:
    draw = np.random.default_rng(seed)
    return np.where(draw.random(LABELS.shape) < flip, 1 - LABELS, LABELS)


SKLEARN = [
    ("classification", metrics.MACRO_F1, lambda t, p: f1_score(t, p, average="macro")),
    ("classification", metrics.ACCURACY, accuracy_score),
    (
        "classification",
        metrics.MACRO_PRECISION,
        lambda t, p: precision_score(t, p, average="macro", zero_division=0),
    ),
    ("classification", metrics.MACRO_RECALL, lambda t, p: recall_score(t, p, average="macro")),
    ("regression", metrics.R2, r2_score),
    ("regression", metrics.MAE, mean_absolute_error),
    ("regression", metrics.RMSE, lambda t, p: mean_squared_error(t, p) ** 0.5),
    ("regression", metrics.SPEARMAN, lambda t, p: spearmanr(t, p).statistic),
    (
        "multilabel",
        metrics.MACRO_F1,
        lambda t, p: f1_score(t, p, labels=np.flatnonzero(t.any(0)), average="macro"),
    ),
    ("multilabel", metrics.MICRO_F1, lambda t, p: f1_score(t, p, average="micro")),
    (
        "multilabel",
        metrics.SAMPLES_F1,
        lambda t, p: f1_score(t, p, average="samples", zero_division=1),
    ),
    ("multilabel", metrics.SUBSET_ACCURACY, accuracy_score),
]
TRUTH = {"classification": CLASSES, "regression": NUMBERS, "multilabel": LABELS}
PREDICTED = {
    "classification": _noisy_classes(0.6, 1),
    "regression": np.round(NUMBERS + rng.normal(0, 6, N), 0),
    "multilabel": _flipped_labels(0.15, 1),
}


@pytest.mark.parametrize(("task", "metric", "reference"), SKLEARN, ids=lambda x: str(x))
def test_each_vectorized_scorer_equals_scikit_learn_on_the_rows_and_on_a_resample(
    task, metric, reference
):
    scorer = scorer_for(task, metric)
    truth, predicted = TRUTH[task], PREDICTED[task]
    whole = scorer(truth, predicted, Resamples.identity(N))
    assert whole.shape == (1,)
    assert whole[0] == pytest.approx(reference(truth, predicted), abs=1e-12)
    draws = Resamples.draw(N, 3, seed=0)
    rows = draws.rows[2]
    assert scorer(truth, predicted, draws)[2] == pytest.approx(
        reference(truth[rows], predicted[rows]), abs=1e-12
    )


def test_a_metric_without_a_scorer_has_none():
    assert scorer_for("classification", metrics.LOGME) is None
    assert scorer_for("regression", metrics.MACRO_F1) is None


def test_the_interval_covers_a_known_difference_and_excludes_zero_when_one_is_clearly_better():
    # "better" is right on every row "worse" is right on, and on 60 rows more: exactly 0.1
    # more accuracy on these rows
    worse = _noisy_classes(0.5, 2)
    wrong = np.flatnonzero(worse != CLASSES)
    better = worse.copy()
    better[wrong[:60]] = CLASSES[wrong[:60]]
    scorer = scorer_for("classification", metrics.ACCURACY)
    (pair,) = paired_bootstrap(CLASSES, {"better": better, "worse": worse}, "better", scorer)
    assert pair.candidate == "worse"
    assert pair.difference == pytest.approx(-0.1)
    assert pair.low < -0.1 < pair.high
    assert pair.high < 0 and not pair.tied


def test_identical_predictions_are_tied_with_difference_zero():
    predicted = _noisy_classes(0.7, 3)
    scorer = scorer_for("classification", metrics.MACRO_F1)
    (pair,) = paired_bootstrap(CLASSES, {"a": predicted, "b": predicted.copy()}, "a", scorer)
    assert (pair.difference, pair.low, pair.high, pair.tied) == (0.0, 0.0, 0.0, True)


def test_ten_candidates_on_two_thousand_rows_take_well_under_a_few_seconds():
    truth = np.random.default_rng(0).integers(0, 77, 2000)
    draw = np.random.default_rng(1)
    predictions = {
        f"m{i}": np.where(draw.random(2000) < 0.7, truth, draw.integers(0, 77, 2000))
        for i in range(10)
    }
    start = time.perf_counter()
    pairs = paired_bootstrap(
        truth, predictions, "m0", scorer_for("classification", metrics.MACRO_F1)
    )
    assert len(pairs) == 9
    assert time.perf_counter() - start < 5  # ~0.9 s measured on a busy two-core machine


def _outcome(cid: str, f1: float, p95: float, memory: float) -> Outcome:
    found = {
        metrics.MACRO_F1: Measurement(metrics.MACRO_F1, f1, "fraction", 0.001),
        metrics.latency_p95(1): Measurement(metrics.latency_p95(1), p95, "ms"),
        metrics.PEAK_MEMORY: Measurement(metrics.PEAK_MEMORY, memory, "MB"),
    }
    return Outcome(Candidate(cid, "folder"), ModelMeta(), "measured", None, found)


def _decided(predictions: dict[str, np.ndarray]):
    """A run whose slow candidate has the better macro-F1 on ``predictions`` and whose fast one
    is 10x faster, at weights that favour quality."""
    data = TaskData.of_texts([f"t{i}" for i in range(N)], CLASSES, list("abcdef"))
    scores = {cid: f1_score(CLASSES, p, average="macro") for cid, p in predictions.items()}
    assert scores["slow"] > scores["fast"]
    outcomes = [_outcome("slow", scores["slow"], 40, 300), _outcome("fast", scores["fast"], 4, 100)]
    spec = build_spec(data="d.csv", weights={"quality": 0.9, "latency": 0.1})
    return decide(RunResult(spec, data, data, outcomes, {}, predictions=predictions))


def test_the_faster_of_a_statistically_tied_group_is_picked_and_the_rationale_says_so():
    slow = _noisy_classes(0.7, 4)
    # fast breaks 10 of slow's right rows and mends 8 of its wrong ones: 2 rows apart, no
    # real difference
    right, wrong = np.flatnonzero(slow == CLASSES), np.flatnonzero(slow != CLASSES)
    fast = slow.copy()
    fast[right[:10]] = (CLASSES[right[:10]] + 1) % 6
    fast[wrong[:8]] = CLASSES[wrong[:8]]
    decision = _decided({"slow": slow, "fast": fast})
    assert decision.ties.best == "slow" and decision.ties.tied_with_best == ["fast"]
    assert decision.recommendation == "fast"
    assert "fast and slow are statistically tied on macro-F1 (paired bootstrap over the 600 " in (
        decision.rationale
    )
    assert "among them fast is picked for its latency" in decision.rationale
    assert "fold-to-fold spread" not in decision.rationale


def test_a_clearly_better_quality_wins_over_speed_and_the_rationale_says_the_gap_is_real():
    decision = _decided({"slow": _noisy_classes(0.9, 5), "fast": _noisy_classes(0.5, 6)})
    assert decision.ties.tied_with_best == []
    assert decision.recommendation == "slow"
    assert "fast and slow are not tied on macro-F1: the gap is beyond chance" in (
        decision.rationale
    )


def test_results_json_carries_the_ties_and_the_reports_show_them():
    decision = _decided({"slow": _noisy_classes(0.9, 5), "fast": _noisy_classes(0.5, 6)})
    results = build_results(decision)
    Results.model_validate(results | {"environment": ENVIRONMENT})
    ties = results["ties"]
    assert (ties["metric"], ties["method"], ties["resamples"], ties["confidence"]) == (
        metrics.MACRO_F1,
        "paired bootstrap",
        2000,
        0.95,
    )
    assert [p["candidate"] for p in ties["pairs"]] == ["fast"] and ties["rows"] == N
    markdown, page = render_markdown(results), html.unescape(render_html(results))
    assert "## Statistical ties" in markdown and "Statistical ties</h3>" in page
    assert "| fast |" in markdown and ties["sentence"] in page


def test_an_older_results_json_has_no_ties_and_says_why():
    results = build_results(
        _decided({"slow": _noisy_classes(0.9, 5), "fast": _noisy_classes(0.5, 6)})
    )
    older = {k: v for k, v in results.items() if k not in ("ties", "ties_note")}
    found = upgraded(older)
    assert found["ties"] is None and "predictions are not available" in found["ties_note"]


def test_without_predictions_the_fold_spread_heuristic_stays():
    data = TaskData.of_texts(["a", "b"], np.array([0, 1]), ["x", "y"])
    outcomes = [_outcome("slow", 0.90, 40, 300), _outcome("fast", 0.8995, 4, 100)]
    decision = decide(RunResult(build_spec(data="d.csv"), data, data, outcomes, {}))
    assert decision.ties is None and "predictions are not available" in decision.ties_note
    assert "within the fold-to-fold spread" in decision.rationale


def _baseline_spec(small_csv):
    return build_spec(
        data=small_csv,
        candidates=["baseline:tfidf"],
        baseline=False,
        batch_sizes=[1],
        max_samples=60,
        latency_budget_s=0.2,
        estimators=[],
    )


def test_predictions_survive_a_rerun_from_the_store_and_a_store_without_them_reprobes(
    small_csv, isolated_store
):
    spec = _baseline_spec(small_csv)
    first = run(spec)
    (predicted,) = first.predictions.values()
    assert predicted.shape == (60,)
    steps = []
    again = run(spec, step=lambda _, what: steps.append(what))
    assert not any("probe" in what for what in steps)
    assert again.outcomes[0].measurements[metrics.MACRO_F1].reused
    np.testing.assert_array_equal(next(iter(again.predictions.values())), predicted)
    with sqlite3.connect(isolated_store) as db:  # the baseline keeps no features: only these
        db.execute("DELETE FROM features")
    steps.clear()
    third = run(spec, step=lambda _, what: steps.append(what))
    assert any("probe" in what for what in steps)
    assert not third.outcomes[0].measurements[metrics.MACRO_F1].reused
    np.testing.assert_array_equal(next(iter(third.predictions.values())), predicted)
