import numpy as np
import pytest

from modelscout.data import TaskData
from modelscout.decide import decide, pareto_front
from modelscout.records import Candidate, Measurement, ModelMeta, Outcome
from modelscout.report import build_results
from modelscout.report.html import render_html
from modelscout.report.markdown import render_markdown
from modelscout.report.md_escape import md_text
from modelscout.run import RunResult
from modelscout.spec import build_spec


def outcome(cid, f1, p95, memory, params=None, spread=0.01, source="folder", status="measured"):
    measurements = {
        "probe.macro_f1": Measurement("probe.macro_f1", f1, "fraction", spread),
        "latency.p95_ms@1": Measurement("latency.p95_ms@1", p95, "ms"),
        "memory.peak_mb": Measurement("memory.peak_mb", memory, "MB"),
    }
    return Outcome(Candidate(cid, source), ModelMeta(params=params), status, None, measurements)


def run_of(outcomes, **spec):
    data = TaskData.of_texts(["a", "b"], np.array([0, 1]), ["x", "y"])
    return RunResult(build_spec(data="d.csv", **spec), data, data, outcomes, {})


def test_pareto_front_keeps_only_undominated_candidates():
    decision = decide(
        run_of(
            [
                outcome("accurate", 0.90, 40, 300),
                outcome("fast", 0.80, 5, 100),
                outcome("dominated", 0.79, 50, 400),
            ]
        )
    )
    assert set(decision.pareto) == {"accurate", "fast"}
    assert set(pareto_front([r for r in decision.rows])) == {"accurate", "fast"}


def test_quality_weight_decides_between_accurate_and_fast():
    models = [outcome("accurate", 0.90, 40, 300, 100e6), outcome("fast", 0.85, 5, 100, 20e6)]
    assert (
        decide(
            run_of(models, weights={"quality": 1.0, "latency": 0.0, "memory": 0.0, "size": 0.0})
        ).recommendation
        == "accurate"
    )
    assert (
        decide(
            run_of(models, weights={"quality": 0.2, "latency": 0.8, "memory": 0.0, "size": 0.0})
        ).recommendation
        == "fast"
    )


def test_latency_budget_rejects_with_the_measured_value():
    decision = decide(
        run_of(
            [outcome("slow", 0.9, 120, 100), outcome("ok", 0.8, 10, 100)],
            constraints={"max_latency_ms_p95": 50},
        )
    )
    slow = next(r for r in decision.rows if r.id == "slow")
    assert (
        slow.status == "rejected" and "120.0 ms at batch 1, above the 50 ms budget" in slow.reason
    )
    assert decision.recommendation == "ok"
    assert "within the 50 ms budget" in decision.rationale


def test_rationale_names_the_trade_off_with_numbers():
    decision = decide(
        run_of(
            [outcome("accurate", 0.90, 40, 300), outcome("fast", 0.88, 4, 100)],
            weights={"quality": 0.5, "latency": 0.5},
        )
    )
    assert decision.recommendation == "fast"
    assert "0.020 macro-F1 below accurate (0.880 vs 0.900)" in decision.rationale
    assert "10.0x faster at p95 (4.0 ms vs 40.0 ms)" in decision.rationale


def test_failed_and_rejected_rows_come_after_the_ranked_ones_with_reasons():
    broken = Outcome(Candidate("broken", "folder"), ModelMeta(), "failed", "weights are corrupt")
    decision = decide(run_of([broken, outcome("ok", 0.8, 10, 100)]))
    assert [r.status for r in decision.rows] == ["ranked", "failed"]
    assert decision.rows[1].reason == "weights are corrupt" and decision.rows[1].rank is None
    assert "1 failed" in decision.rationale


def test_sensitivity_says_where_the_pick_flips():
    models = [outcome("accurate", 0.90, 40, 300), outcome("fast", 0.85, 5, 100)]
    decision = decide(
        run_of(models, weights={"quality": 0.9, "latency": 0.1, "memory": 0.0, "size": 0.0})
    )
    quality = next(s for s in decision.sensitivity if s["criterion"] == "quality")
    assert decision.recommendation == "accurate"
    assert quality["flips_to"] == ["fast"]
    assert 0 < quality["pick_holds_from"] < 0.9 and quality["pick_holds_to"] == pytest.approx(1.0)


def test_missing_criteria_do_not_count_against_a_candidate():
    baseline = outcome("baseline:tfidf", 0.80, 1, 10, params=None, source="baseline")
    model = outcome("model", 0.80, 1, 10, params=10e6)
    decision = decide(run_of([baseline, model]))
    assert decision.rows[0].score == pytest.approx(decision.rows[1].score)


def test_a_variant_is_compared_with_its_parent():
    parent = outcome("m", 0.90, 40, 300, params=100e6)
    variant = outcome("m+layers:3", 0.882, 18, 150, params=60e6)
    variant.candidate.parent = "m"
    (note,) = decide(run_of([parent, variant])).variants
    assert note["parent"] == "m" and note["ratios"]["macro_f1"] == pytest.approx(0.98)
    assert note["sentence"] == (
        "m+layers:3 keeps 98% of m's macro-F1 at 45% of its p95 latency and 50% of its memory."
    )


def test_rationale_says_when_a_quality_gap_is_within_the_spread():
    close = decide(
        run_of(
            [
                outcome("accurate", 0.90, 40, 300, spread=0.02),
                outcome("fast", 0.89, 4, 100, spread=0.02),
            ],
            weights={"quality": 0.5, "latency": 0.5},
        )
    )
    assert close.recommendation == "fast"
    assert "within the fold-to-fold spread (± 0.020)" in close.rationale
    apart = decide(
        run_of(
            [
                outcome("accurate", 0.90, 40, 300, spread=0.001),
                outcome("fast", 0.89, 4, 100, spread=0.001),
            ],
            weights={"quality": 0.5, "latency": 0.5},
        )
    )
    assert "within the fold-to-fold spread" not in apart.rationale


def timed(cid, f1, p95, interval, reliable=True, reasons=()):
    """An outcome whose p95 at batch 1 carries its 95% CI and reliability, as measured."""
    found = outcome(cid, f1, p95, 100)
    detail = {"ci95_ms": list(interval), "reliable": reliable, "threads": 2}
    detail["unreliable_reasons"] = list(reasons)
    found.measurements["latency.p95_ms@1"].detail = detail
    found.measurements["latency.p50_ms@1"] = Measurement(
        "latency.p50_ms@1", p95 / 2, "ms", detail=dict(detail)
    )
    return found


BUDGET = {"max_latency_ms_p95": 100}


def row(decision, cid):
    return next(r for r in decision.rows if r.id == cid)


def test_p95_interval_entirely_above_the_budget_rejects_with_the_interval():
    decision = decide(run_of([timed("slow", 0.9, 130, (115, 150))], constraints=BUDGET))
    assert row(decision, "slow").status == "rejected"
    assert row(decision, "slow").reason == (
        "p95 latency 130.0 ms at batch 1 (95% CI 115.0 ms to 150.0 ms), above the 100 ms budget"
    )


def test_p95_interval_entirely_below_the_budget_passes_without_a_flag():
    decision = decide(run_of([timed("fast", 0.9, 80, (70, 95))], constraints=BUDGET))
    assert row(decision, "fast").status == "ranked" and row(decision, "fast").flags == []
    assert "within the 100 ms budget" in decision.rationale


def test_p95_interval_straddling_the_budget_keeps_the_candidate_ranked_but_flagged():
    decision = decide(
        run_of(
            [timed("edge", 0.9, 104, (96, 112)), timed("fast", 0.8, 20, (18, 25))],
            constraints=BUDGET,
        )
    )
    edge = row(decision, "edge")
    assert edge.status == "ranked" and edge.rank is not None
    assert edge.flags == [
        "p95 latency 104.0 ms at batch 1 (95% CI 96.0 ms to 112.0 ms) straddles the 100 ms "
        "budget: not clearly within it"
    ]
    assert "flagged rather than rejected: edge (why in the flags)" in decision.rationale


def test_p95_without_an_upper_bound_is_not_clearly_within_the_budget():
    decision = decide(run_of([timed("few", 0.9, 60, (50, None))], constraints=BUDGET))
    assert "too few runs to bound it above" in row(decision, "few").flags[0]
    assert "within the 100 ms budget" not in decision.rationale


def test_busy_machine_timing_over_the_budget_is_flagged_not_rejected():
    busy = ["the process ran 0.42 CPU s per wall s (under 0.75: it waited for a core)"]
    decision = decide(
        run_of(
            [timed("minilm", 0.9, 296, (250, 340), reliable=False, reasons=busy)],
            constraints=BUDGET,
        )
    )
    minilm = row(decision, "minilm")
    assert minilm.status == "ranked" and decision.recommendation == "minilm"
    assert "timed on a busy machine (the process ran 0.42 CPU s" in minilm.flags[0]
    assert decision.warnings == [
        f"timings of minilm were taken on a busy machine (at batch 1): {busy[0]}"
    ]
    assert "taken on a busy machine" in decision.rationale


def test_a_busy_machine_onnx_timing_is_warned_about_like_the_pytorch_ones():
    busy = ["other processes kept 1.9 of 2 cores busy (1 measuring thread)"]
    found = timed("minilm", 0.9, 40, (35, 45))
    found.measurements["deploy.onnx_latency.p50_ms@1"] = Measurement(
        "deploy.onnx_latency.p50_ms@1",
        12.0,
        "ms",
        detail={"reliable": False, "unreliable_reasons": busy, "threads": 1},
    )
    decision = decide(run_of([found]))
    assert decision.warnings == [
        f"timings of minilm were taken on a busy machine (at onnx batch 1): {busy[0]}"
    ]


def test_a_timing_stored_without_an_interval_is_decided_on_its_point():
    decision = decide(run_of([outcome("old", 0.9, 120, 100)], constraints=BUDGET))
    assert row(decision, "old").reason == "p95 latency 120.0 ms at batch 1, above the 100 ms budget"


def test_flags_warnings_interval_and_threads_reach_results_markdown_and_html():
    busy = ["other processes kept 1.8 of 2 cores busy (2 measuring threads)"]
    decision = decide(
        run_of(
            [timed("<b>edge</b>", 0.9, 104, (96, 112), reliable=False, reasons=busy)],
            constraints=BUDGET,
        )
    )
    results = build_results(decision)
    assert results["schema_version"] == "1.9"
    (candidate,) = results["candidates"]
    assert candidate["flags"] == decision.rows[0].flags and results["warnings"]
    assert candidate["metrics"]["latency.p95_ms@1"]["detail"]["ci95_ms"] == [96, 112]
    markdown = render_markdown(results)
    # outside strings are escaped in Markdown as in HTML
    warning = "> **Warning: timings of &lt;b&gt;edge&lt;/b&gt; were taken on a busy machine"
    assert warning in markdown
    assert "> **Flagged: &lt;b&gt;edge&lt;/b&gt;: p95 latency 104.0 ms" in markdown
    assert "<b>edge</b>" not in markdown
    assert "p95 104.0 ms @1 (95% CI 96.0–112.0 ms), 2 threads" in markdown
    page = render_html(results)
    assert "<b>edge</b>" not in page  # escaped
    assert '<p class="warning"><strong>Flagged: &lt;b&gt;edge&lt;/b&gt;: p95 latency' in page
    assert "busy: other processes kept 1.8 of 2 cores busy" in page


def _visible(page: str) -> str:
    """The page's text with tags dropped and entities decoded, whitespace collapsed."""
    import html
    import re

    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def test_every_decide_sentence_is_in_results_and_the_same_in_markdown_and_html():
    busy = ["other processes kept 1.8 of 2 cores busy (2 measuring threads)"]
    models = [
        outcome("accurate", 0.90, 40, 300),
        timed("fast", 0.85, 5, (4, 6), reliable=False, reasons=busy),
    ]
    decision = decide(
        run_of(models, weights={"quality": 0.9, "latency": 0.1, "memory": 0.0, "size": 0.0})
    )
    results = build_results(decision)
    sentences = [
        results["rationale"],
        *results["what_would_change"],
        *results["alerts"],
        results["long_tail"]["sentence"],
        *(entry["sentence"] for entry in results["sensitivity"]),
    ]
    assert results["what_would_change"] == [s["sentence"] for s in results["sensitivity"]]
    assert any("the pick would change to fast" in s for s in results["what_would_change"])
    assert results["alerts"] == [f"Warning: {results['warnings'][0]}."]
    assert results["long_tail"]["classes"] == []  # two classes of one row each: balanced
    markdown, page = render_markdown(results), _visible(render_html(results))
    for sentence in sentences:
        assert md_text(sentence) in markdown, sentence
        assert sentence in page, sentence


def test_sentences_come_from_decide_not_from_the_renderers():
    decision = decide(run_of([outcome("a", 0.9, 40, 300), outcome("b", 0.8, 5, 100)]))
    results = build_results(decision)
    results["what_would_change"] = ["A sentence decide wrote."]
    results["long_tail"]["sentence"] = "Another sentence decide wrote."
    markdown, page = render_markdown(results), _visible(render_html(results))
    for sentence in ("A sentence decide wrote.", "Another sentence decide wrote."):
        assert md_text(sentence) in markdown and sentence in page


def test_long_tail_is_written_from_the_sample_class_sizes():
    labels = np.array([0] * 8 + [1] * 8 + [2] * 2 + [3] * 2)
    data = TaskData.of_texts(["t"] * 20, labels, ["big", "large", "rare", "scarce"])
    result = RunResult(build_spec(data="d.csv"), data, data, [outcome("m", 0.9, 4, 10)], {})
    tail = decide(result).long_tail
    assert tail.classes == ["rare", "scarce"] and (tail.rows, tail.total_rows) == (4, 20)
    assert tail.sentence.startswith("Long tail (2 classes, 4 of 20 rows)")
    assert tail.sentence.endswith(": rare, scarce.")
