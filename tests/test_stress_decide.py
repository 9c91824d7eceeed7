"""Stress slices downstream of their measurements (issue #15): the robustness criterion, the
max_quality_drop constraint, the fragile and long-tail sentences, results.json's ``stress``,
the Markdown and HTML tables and the CLI flags. Outcomes are built from
``stress_measurements`` as the run writes them; no model runs."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from modelscout import metrics
from modelscout.cli import app
from modelscout.cli import rank as rank_command
from modelscout.data import TaskData
from modelscout.decide import decide
from modelscout.measure.stress import SliceResult, stress_measurements
from modelscout.records import Candidate, Measurement, ModelMeta, Outcome
from modelscout.report import build_results, read_results
from modelscout.report.csv import render_csv
from modelscout.report.html import render_html
from modelscout.report.json import dumps_results
from modelscout.report.markdown import render_markdown
from modelscout.report.md_escape import md_text
from modelscout.results import Results
from modelscout.run import RunResult, environment
from modelscout.spec import build_spec

F1 = metrics.MACRO_F1
RARE = {
    "classes": ["refund"],
    "rule": "classes whose row count in the sample is at most the lower quartile of the counts",
    "score": "macro recall over the rare classes",
}
FAILED = "the stress slices failed: RuntimeError: boom"
ONLY_ROBUSTNESS = {"quality": 0, "latency": 0, "memory": 0, "size": 0, "robustness": 1}


def cut(name, drop, low, high, clean=0.9, rare=None):
    """One slice: ``rare`` is (rare_drop, rare_low, rare_high) or None."""
    kind, severity = name.split(":")
    rare_figures = {}
    if rare is not None:
        rare_drop, rare_low, rare_high = rare
        rare_figures = dict(
            rare_clean=0.8,
            rare_quality=0.8 - rare_drop,
            rare_drop=rare_drop,
            rare_low=rare_low,
            rare_high=rare_high,
        )
    return SliceResult(
        name, kind, float(severity), clean, clean - drop, drop, low, high, **rare_figures
    )


def outcome(cid, f1=0.9, slices=(), p95=10.0, memory=100.0, failed=False):
    measurements = {
        F1: Measurement(F1, f1, "fraction", 0.01),
        metrics.latency_p95(1): Measurement(metrics.latency_p95(1), p95, "ms"),
        metrics.PEAK_MEMORY: Measurement(metrics.PEAK_MEMORY, memory, "MB"),
    }
    if slices:
        found = stress_measurements(list(slices), F1, 60, RARE, {"seed": 0})
        measurements |= {m.name: m for m in found}
    if failed:  # a stress pass that failed: no value, the reason in its detail
        detail = {"reason": FAILED}
        found = Measurement(metrics.STRESS_DROP, None, "fraction", None, {}, 0.0, "1", detail)
        measurements[metrics.STRESS_DROP] = found
    return Outcome(Candidate(cid, "folder"), ModelMeta(params=10e6), "measured", None, measurements)


def run_of(outcomes, stress=("typos:0.3", "casing:0.5"), **spec):
    data = TaskData.of_texts(["a", "b"], np.array([0, 1]), ["x", "y"])
    settings = build_spec(data="d.csv", stress=list(stress), **spec)
    return RunResult(settings, data, data, outcomes, environment())


def row(decision, cid):
    return next(r for r in decision.rows if r.id == cid)


def test_robustness_ranks_the_smallest_worst_drop_first_on_a_linear_scale():
    decision = decide(
        run_of(
            [
                outcome("fragile", slices=[cut("typos:0.3", 0.10, 0.08, 0.12)]),
                outcome("sturdy", slices=[cut("typos:0.3", 0.02, 0.01, 0.03)]),
                outcome("middling", slices=[cut("typos:0.3", 0.06, 0.05, 0.07)]),
                outcome("unstressed"),
            ],
            weights=ONLY_ROBUSTNESS,
        )
    )
    assert decision.recommendation == "sturdy"
    robustness = {r.id: r.normalized.get("robustness") for r in decision.rows}
    assert robustness["sturdy"] == 1.0 and robustness["fragile"] == 0.0
    assert robustness["middling"] == pytest.approx(0.5)
    assert robustness["unstressed"] is None  # no slices, no value: not a zero


def test_max_quality_drop_rejects_a_slice_clearly_over_it_and_names_slice_drop_and_interval():
    decision = decide(
        run_of(
            [
                outcome(
                    "brittle",
                    slices=[cut("typos:0.3", 0.142, 0.12, 0.18), cut("casing:0.5", 0.02, 0, 0.04)],
                ),
                outcome("steady", 0.8, [cut("typos:0.3", 0.03, 0.01, 0.05)]),
                outcome("unstressed", 0.95),
                outcome("broken", 0.96, failed=True),
            ],
            constraints={"max_quality_drop": 0.1},
        )
    )
    assert row(decision, "brittle").status == "rejected"
    assert row(decision, "brittle").reason == (
        "quality drops 0.142 [0.120, 0.180] under typos:0.3, over max_quality_drop 0.100"
    )
    assert row(decision, "unstressed").reason == (
        "no stress drop measured, so max_quality_drop 0.100 cannot be checked"
    )
    assert row(decision, "broken").reason == (
        f"no stress drop measured ({FAILED}), so max_quality_drop 0.100 cannot be checked"
    )
    assert decision.recommendation == "steady" and row(decision, "steady").flags == []


def test_a_drop_interval_straddling_the_limit_is_flagged_not_rejected():
    decision = decide(
        run_of(
            [outcome("edge", slices=[cut("typos:0.3", 0.09, 0.06, 0.13)])],
            constraints={"max_quality_drop": 0.1, "max_latency_ms_p95": 50},
        )
    )
    edge = row(decision, "edge")
    assert edge.status == "ranked"
    assert edge.flags == [
        "quality drops 0.090 [0.060, 0.130] under typos:0.3 straddles max_quality_drop 0.100: "
        "not clearly within it"
    ]
    assert "Not clearly within max_quality_drop, so flagged rather than rejected: edge" in (
        decision.rationale
    )
    # the latency budget was met: a drop flag does not take that sentence away
    assert "within the 50 ms budget" in decision.rationale


FRAGILE_RUN = [
    outcome("pick", 0.95, [cut("typos:0.3", 0.04, 0.02, 0.06), cut("casing:0.5", 0.01, 0, 0.02)]),
    outcome("steady", 0.90, [cut("typos:0.3", 0.05, 0.03, 0.07)]),
    outcome("brittle", 0.90, [cut("typos:0.3", 0.21, 0.17, 0.25)]),
]


def test_the_rationale_names_the_picks_worst_slice_and_the_fragile_candidate():
    decision = decide(run_of(FRAGILE_RUN))
    assert decision.recommendation == "pick"
    assert (
        "Under stress, pick loses most under typos:0.3: macro-F1 falls 0.040 [0.020, 0.060] "
        "(0.900 clean, 0.860 perturbed)." in decision.rationale
    )
    assert (
        "brittle is fragile: macro-F1 falls 0.210 [0.170, 0.250] under typos:0.3 "
        "(the pick loses 0.040)." in decision.rationale
    )
    assert decision.stress["fragile"] == "brittle"


def test_no_candidate_is_called_fragile_when_the_largest_drop_overlaps_the_picks():
    overlapping = [
        outcome("pick", 0.95, [cut("typos:0.3", 0.04, 0.01, 0.09)]),
        outcome("steady", 0.90, [cut("typos:0.3", 0.05, 0.03, 0.07)]),
        outcome("wobbly", 0.90, [cut("typos:0.3", 0.08, 0.06, 0.12)]),
    ]
    decision = decide(run_of(overlapping))
    assert "fragile" not in decision.rationale and decision.stress["fragile"] is None
    assert "Under stress, pick loses most under typos:0.3" in decision.rationale


def test_the_long_tail_sentence_comes_only_when_the_rare_classes_drop_much_more():
    breaks = outcome("pick", slices=[cut("typos:0.3", 0.03, 0.01, 0.05, rare=(0.18, 0.09, 0.27))])
    holds = outcome("pick", slices=[cut("typos:0.3", 0.03, 0.01, 0.05, rare=(0.04, -0.02, 0.1))])
    assert (
        "The long tail breaks first: under typos:0.3, pick's rare classes lose 0.180 "
        "[0.090, 0.270] (macro recall over the rare classes), against a macro-F1 drop of 0.030 "
        "over all the stressed rows."
    ) in decide(run_of([breaks])).rationale
    assert "long tail breaks" not in decide(run_of([holds])).rationale


def test_without_stress_slices_nothing_is_said_and_results_have_no_stress():
    decision = decide(run_of([outcome("a"), outcome("b", 0.8)], stress=()))
    assert "stress" not in decision.rationale.lower() and decision.stress is None
    results = build_results(decision)
    assert results["stress"] is None
    assert "Stress slices" not in render_markdown(results) + render_html(results)


HOSTILE = "<b>evil</b>|x"
HOSTILE_SLICE = "<i>typos</i>:0.7"


@pytest.fixture(scope="module")
def hostile_results():
    slices = [
        cut("typos:0.3", 0.05, 0.03, 0.07, rare=(0.12, 0.05, 0.2)),
        cut("casing:0.5", 0.02, 0.0, 0.04, rare=(0.03, -0.01, 0.07)),
        cut(HOSTILE_SLICE, 0.09, 0.07, 0.11),  # worst: a name from outside
    ]
    broken = outcome("broken", 0.5, failed=True)
    return build_results(decide(run_of([*FRAGILE_RUN, outcome(HOSTILE, 0.91, slices), broken])))


def test_results_json_stress_validates_round_trips_and_carries_every_slice(
    hostile_results, tmp_path
):
    Results.model_validate(hostile_results)
    record = hostile_results["stress"]
    assert hostile_results["schema_version"] == "1.9"
    assert [p["name"] for p in record["perturbations"]] == ["typos:0.3", "casing:0.5"]
    assert record["rows"] == 500 and record["seed"] == 0 and record["quality_metric"] == F1
    assert set(record["candidates"]) == {"pick", "steady", "brittle", HOSTILE, "broken"}
    assert record["candidates"]["broken"] == {
        "rows": None,
        "worst": None,
        "rare": {},
        "slices": [],
        "reason": FAILED,
    }
    assert record["candidates"][HOSTILE]["worst"] == HOSTILE_SLICE
    assert record["sentences"] and all(
        s in hostile_results["rationale"] for s in record["sentences"]
    )
    header = render_csv(hostile_results).splitlines()[0].split(",")
    assert metrics.STRESS_DROP in header and metrics.STRESS_RARE_DROP in header  # matrix.csv
    path = tmp_path / "results.json"
    path.write_text(dumps_results(hostile_results), encoding="utf-8")
    assert read_results(path)["stress"] == json.loads(json.dumps(record))


def test_markdown_table_has_every_candidate_by_slice_and_escapes_outside_strings(
    hostile_results,
):
    markdown = render_markdown(hostile_results)
    section = markdown.split("## Stress slices", 1)[1].split("\n## ", 1)[0]
    assert "on 60 held-out rows of the sample (stratified, seed 0)" in section
    assert "typos:0.3: drop \\[95%\\] (macro-F1)" in section
    drops = section.split("\n\n")[-2]  # the drops table; the rare classes' comes last
    lines = {line.split(" | ")[0].lstrip("| "): line for line in drops.splitlines()}
    assert "0.040 \\[0.020, 0.060\\] (0.860)" in lines["pick"]
    assert "0.010 \\[0.000, 0.020\\] (0.890)" in lines["pick"]
    assert "0.210 \\[0.170, 0.250\\] (0.690)" in lines["brittle"] and "–" in lines["brittle"]
    assert f"{md_text(HOSTILE_SLICE)}: drop" in section  # a measured slice is a column too
    assert f"not measured: {FAILED}" in lines["broken"]
    hostile = md_text(HOSTILE)
    assert hostile in lines and md_text(HOSTILE_SLICE) in lines[hostile]
    rare = section.split("\n\n")[-1]
    assert "pick" not in rare  # no rare-class slices: no row
    assert "0.120 \\[0.050, 0.200\\] | 0.030 \\[-0.010, 0.070\\] | – |" in rare
    assert "<b>" not in markdown and "<i>" not in markdown


def test_html_tables_have_every_candidate_by_slice_and_escape_outside_strings(hostile_results):
    page = render_html(hostile_results)
    assert "<h3>Stress slices</h3>" in page and 'class="stress-rare"' in page
    table = page.split('<table class="stress">', 1)[1].split("</table>", 1)[0]
    for cid in ("pick", "steady", "brittle", "&lt;b&gt;evil&lt;/b&gt;|x", "broken"):
        assert f"<td>{cid}</td>" in table
    assert table.count("<tr>") == 6  # the header and five candidates
    assert "0.210 [0.170, 0.250] (0.690)" in table and "&lt;i&gt;typos&lt;/i&gt;:0.7" in table
    assert "<b>evil" not in page and "<i>typos" not in page


runner = CliRunner()


def test_stress_and_max_quality_drop_flags_reach_the_spec(monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr(rank_command, "run_and_show", lambda spec, *_: seen.append(spec) or (0, []))
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text("data: d.csv\nstress: {perturbations: [typos], rows: 40}\n")
    flags = ["--stress", "typos, casing:0.5", "--max-quality-drop", "0.05"]
    result = runner.invoke(app, ["rank", "--spec", str(spec_file), *flags])
    assert result.exit_code == 0, result.output
    (spec,) = seen
    assert [p.name for p in spec.stress.perturbations] == ["typos:0.3", "casing:0.5"]
    assert spec.stress.rows == 40 and spec.constraints.max_quality_drop == 0.05


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--stress", "typoz"], "unknown perturbation 'typoz'"),
        (["--stress", " , "], "--stress names no perturbation"),
        (["--max-quality-drop", "0.1"], "max_quality_drop needs stress slices"),
    ],
)
def test_bad_stress_flags_are_one_line(flags, fragment):
    result = runner.invoke(app, ["rank", "--data", "d.csv", *flags])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0]
