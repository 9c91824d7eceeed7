"""Successive halving (halving.py): the schedule, the budget, the ties, and real runs of tiny
models built from configs, end to end through the API and the CLI."""

import shutil

import pytest
from conftest import rewrite_timings
from typer.testing import CliRunner

from modelscout import build_spec
from modelscout.api import rank_and_report
from modelscout.cli import app
from modelscout.halving import _Halver, best_plan, ladder, plan
from modelscout.inputs import prepare
from modelscout.report.markdown import render_markdown
from modelscout.results import Results
from modelscout.spec import Budget


def test_each_round_keeps_about_one_in_eta_and_the_sample_grows_eta_fold():
    assert ladder(16, 3, 3) == [16, 6, 3]
    assert ladder(17, 3, 4) == [17, 5, 3]
    assert ladder(2, 3, 3) == [2]  # no more candidates than finalists: one round
    found = plan(16, 3, 3, 2000, 200)
    assert found.counts == [16, 6, 3] and found.rows == [222, 667, 2000]
    assert found.passes == pytest.approx((16 * 222 + 6 * 667 + 3 * 2000) / 2000)
    # the first round's floor (enough rows per class for the folds), then eta-fold growth
    assert plan(17, 3, 4, 4000, 385).rows == [385, 1540, 4000]


def test_the_sample_never_shrinks_and_a_round_on_the_whole_sample_is_the_last():
    found = plan(6, 1, 2, 120, 20, start_rows=60)
    assert found.rows == [60, 120] and found.counts == [6, 3]


def test_the_plan_has_the_most_finalists_the_budget_affords():
    shape = (3, 2000, 200, 0)
    cheapest = plan(16, 1, *shape).passes
    for budget in (cheapest, 6.8, 7.8, 9.0, 16.0):
        chosen = best_plan(16, lambda p, budget=budget: p.passes <= budget, shape)
        plans = [plan(16, k, *shape) for k in range(1, 17)]
        assert chosen.counts[-1] == max(p.counts[-1] for p in plans if p.passes <= budget)
        assert chosen.passes <= budget
    everything = best_plan(16, lambda p: p.passes <= 16.0, shape)
    assert everything.counts == [16]  # enough for everything: no halving


@pytest.mark.parametrize(
    ("text", "passes", "seconds"),
    [
        (6, 6.0, None),
        ("6 passes", 6.0, None),
        ("2.5", 2.5, None),
        ("900s", None, 900.0),
        ("15m", None, 900.0),
        ("1h", None, 3600.0),
    ],
)
def test_a_budget_is_passes_or_a_duration(text, passes, seconds):
    budget = Budget.model_validate(text)
    assert (budget.passes, budget.seconds) == (passes, seconds)


def test_a_bad_or_too_small_budget_is_one_line_and_exit_code_2(small_csv, tiny_bert, tmp_path):
    runner = CliRunner()
    base = ["rank", "--data", str(small_csv), "-c", str(tiny_bert), "--output", str(tmp_path)]
    bad = runner.invoke(app, [*base, "--budget", "lots"])
    assert bad.exit_code == 2 and "not a number of passes" in bad.output
    assert "Traceback" not in bad.output
    variants = ["--variant", "layers:1", "--variant", "max_length:8"]
    small = runner.invoke(app, [*base, *variants, "--budget", "0.5", "--quiet"])
    assert small.exit_code == 2, small.output
    assert "below the cheapest halving schedule for 3 candidates" in small.output
    assert "raise budget to at least" in small.output


@pytest.fixture(scope="module")
def tiny_copy(tmp_path_factory, tiny_bert):
    """An identical copy of the tiny BERT: the same figures, so exactly tied with it."""
    return shutil.copytree(tiny_bert, tmp_path_factory.mktemp("copy") / "tiny-bert-copy")


def halving_spec(small_csv, candidates, output, budget="3.6 passes", **more):
    return build_spec(
        data=small_csv,
        candidates=[str(c) for c in candidates],
        output=output,
        budget=budget,
        halving={"eta": 2, "finalists": 1, "min_rows": 20},
        threads=1,
        batch_sizes=[1],
        latency_budget_s=0.2,
        **more,
    )


def test_halving_stops_the_weak_measures_finalists_on_the_whole_sample_and_reruns_free(
    small_csv, tiny_bert, tiny_st, tmp_path, isolated_store
):
    candidates = [tiny_bert, tiny_st, f"{tiny_st}+layers:1", f"{tiny_bert}+layers:1"]
    spec = halving_spec(small_csv, candidates, tmp_path / "out")
    decision, results, _ = rank_and_report(spec)
    Results.model_validate(results)
    record = results["halving"]
    assert results["schema_version"] == "1.9"
    assert len(record["rounds"]) >= 2 and record["rounds"][-1]["last"]
    assert record["rounds"][-1]["rows"] == 120  # the whole sample
    assert record["rounds"][0]["rows"] < 120
    assert record["passes"] <= 3.6 + 1e-9 and record["exhaustive_passes"] == 4
    statuses = {c["id"]: c["status"] for c in results["candidates"]}
    stopped = [cid for cid, status in statuses.items() if status == "stopped"]
    finalists = [cid for cid, s in record["candidates"].items() if s["status"] == "finalist"]
    assert stopped and finalists and "baseline:tfidf" in statuses
    assert statuses["baseline:tfidf"] == "ranked"  # the floor is not halved
    for c in results["candidates"]:
        if c["status"] == "stopped":
            assert c["reason"].startswith("stopped after round")
            assert not c["metrics"]  # figures on fewer rows are not ranked beside full ones
    assert "stopped by successive halving" in results["rationale"]
    markdown = render_markdown(results)
    assert "## Successive halving" in markdown and record["sentence"] in markdown
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "<h3>Successive halving</h3>" in html and 'class="halving"' in html
    # A rerun measures nothing; the same spec without a budget reuses the finalists' full
    # measurements (the last round is the run a budget-less run would make of them).
    rewrite_timings(isolated_store, reliable=True, p50_ci_relative=0.0)  # settled: replayable
    again = rank_and_report(spec)[1]
    assert again["run"]["measured"] == 0
    full = rank_and_report(spec.model_copy(update={"budget": None}))[1]
    by_id = {c["id"]: c for c in full["candidates"]}
    quality = results["quality_metric"]
    for c in results["candidates"]:
        if c["status"] == "ranked":
            assert c["metrics"][quality]["value"] == by_id[c["id"]]["metrics"][quality]["value"]


def round_result(spec):
    """A halver over ``spec``'s candidates and a real first round of 60 rows."""
    halver = _Halver(spec, prepare(spec), lambda *_: None, None, None)
    candidates = [c for c in halver.prepared.candidates if c.source != "baseline"]
    return halver, candidates, halver._round(1, candidates, 60, last=False)


def test_a_candidate_tied_with_the_last_survivor_goes_on_while_the_budget_affords_it(
    small_csv, tiny_bert, tiny_copy, tiny_st, tmp_path
):
    spec = halving_spec(small_csv, [tiny_bert, tiny_copy, tiny_st], tmp_path, budget=50)
    halver, candidates, result = round_result(spec)
    quality = halver.quality
    values = {o.candidate.id: o.value(quality) for o in result.outcomes}
    assert values[str(tiny_bert)] == values[str(tiny_copy)]  # the same model, the same rows
    order = sorted(values, key=values.get, reverse=True)
    keep = order.index(str(tiny_bert)) + 1  # the cut falls on the original, its copy next
    shape = halver._shape(120)
    going = [c.id for c in halver._survivors(1, result, keep, shape)]
    assert str(tiny_copy) in going
    assert str(tiny_copy) in halver.record.rounds[-1]["kept_on_ties"]
    # the same round under a budget spent already: the tie is stopped, and says why
    tight = halving_spec(small_csv, [tiny_bert, tiny_copy, tiny_st], tmp_path, budget=1.6)
    halver, _, result = round_result(tight)
    going = [c.id for c in halver._survivors(1, result, keep, halver._shape(120))]
    assert str(tiny_copy) not in going
    assert str(tiny_copy) in halver.record.rounds[-1]["tied_over_budget"]
    reason = halver.outcomes[str(tiny_copy)].reason
    assert "statistically tied with it, but the budget affords no more survivors" in reason


def test_a_budget_in_seconds_plans_the_first_round_blind_then_at_the_rate_it_took(
    small_csv, tiny_bert, tiny_st, tmp_path
):
    candidates = [tiny_bert, tiny_st, f"{tiny_st}+layers:1", f"{tiny_bert}+layers:1"]
    spec = halving_spec(small_csv, candidates, tmp_path / "out", budget="1h")
    record = rank_and_report(spec)[1]["halving"]
    assert record["budget"] == "3600 s"
    first, last = record["rounds"]  # an hour affords the whole sample next
    assert first["rows"] == 30 and len(first["candidates"]) == 4
    assert last["last"] and last["rows"] == 120
    assert first["tied_over_budget"] == []  # the hour affords every tie
    assert set(last["candidates"]) == {*first["survivors"], "baseline:tfidf"}


def test_a_candidate_over_the_memory_limit_in_a_first_round_is_rejected_there(
    small_csv, tiny_bert, tiny_st, tmp_path
):
    candidates = [tiny_bert, tiny_st, f"{tiny_st}+layers:1", f"{tiny_bert}+layers:1"]
    spec = halving_spec(
        small_csv, candidates, tmp_path / "out", constraints={"max_memory_mb": 1}
    )
    results = rank_and_report(spec)[1]
    record = results["halving"]
    assert len(record["rounds"]) == 2  # no model goes on: the last round has the baseline
    assert record["rounds"][1]["candidates"] == ["baseline:tfidf"]
    for cid in map(str, candidates):
        standing = record["candidates"][cid]
        assert standing["status"] == "rejected" and standing["rounds"] == 1
        assert "MB, above the 1 MB limit (round 1, 30 rows)" in standing["reason"]
