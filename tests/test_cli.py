"""The command line on bad input: one line saying what to fix, exit code 2, no traceback."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from modelscout.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def assert_one_line_error(result, fragment):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[0].startswith("error: ") and fragment in " ".join(lines), result.stderr


def write_csv(tmp_path, rows, name="d.csv"):
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


GOOD = {"text": [f"text number {i}" for i in range(20)], "label": ["a", "b"] * 10}


@pytest.mark.parametrize(
    ("rows", "flags", "fragment"),
    [
        (None, [], "does not exist"),
        (GOOD, ["--label-column", "intent"], "no label column 'intent'"),
        ({"text": ["x"] * 6, "label": ["a"] * 6}, [], "only one class"),
        (
            {"text": [f"x{i}" for i in range(8)], "label": ["a"] * 6 + ["b"] * 2},
            [],
            "class 'b' has 2",
        ),
        ({"text": ["x", "", "y", "z"] * 3, "label": ["a", "b"] * 6}, [], "empty 'text'"),
        ({"text": ["x"] * 6, "label": [None] * 6}, [], "every row's 'label' is empty"),
        (GOOD, ["--candidate", "nobody/nothing-here"], "unknown candidate 'nobody/nothing-here'"),
        (GOOD, ["--candidate", "baseline:bm25"], "unknown baseline"),
        (GOOD, ["--task", "ranking"], "'ranking' is not one of 'classification'"),
        (GOOD, ["--variant", "layers:zero"], "unknown variant"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, rows, flags, fragment):
    data = write_csv(tmp_path, rows) if rows else tmp_path / "missing.csv"
    result = invoke("rank", "--data", data, "--output", tmp_path / "out", *flags)
    assert_one_line_error(result, fragment)


def test_non_utf8_file_is_one_line_and_exit_code_2(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(("text,label\n" + "caf\xe9,a\nth\xe9,b\n" * 5).encode("latin-1"))
    assert_one_line_error(invoke("rank", "--data", path), "not valid UTF-8")


def test_malformed_spec_is_one_line_and_exit_code_2(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("data: d.csv\nweights: {quality: -1}\n")
    assert_one_line_error(invoke("rank", "--spec", spec), "weights.quality")


def test_report_of_a_missing_results_file_is_one_line(tmp_path):
    result = invoke("rank", "--spec", tmp_path / "nope.yaml")
    assert_one_line_error(result, "does not exist")


def test_help_reads_with_an_example():
    result = invoke("rank", "--help")
    assert result.exit_code == 0 and "modelscout rank --data" in result.output


def test_baseline_only_run_writes_every_output(baseline_run):
    out = baseline_run[1]  # `rank --data small.csv --output out --quiet`, exit code 0
    results = json.loads((out / "results.json").read_text())
    assert results["recommendation"] == "baseline:tfidf"
    assert (out / "results.md").read_text().startswith("# modelscout results")
    assert (out / "matrix.csv").read_text().splitlines()[1].startswith("1,baseline:tfidf,ranked")


def test_report_regenerates_the_same_html_from_results_json(tmp_path, baseline_run):
    out = baseline_run[1]
    written = (out / "report.html").read_text()
    result = invoke("report", out / "results.json", "--output", tmp_path / "again.html")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "again.html").read_text() == written


def test_report_of_a_missing_or_foreign_results_file_is_one_line(tmp_path):
    assert_one_line_error(invoke("report", tmp_path / "nope.json"), "does not exist")
    foreign = tmp_path / "results.json"
    foreign.write_text(json.dumps({"schema_version": "9.0"}))
    assert_one_line_error(invoke("report", foreign), "schema_version 9.0")
    foreign.write_text(json.dumps({"schema_version": "1.2"}))  # parses, but holds nothing
    assert_one_line_error(invoke("report", foreign), "not a complete results.json (tool")
    assert_one_line_error(invoke("compare", foreign, foreign), "not a complete results.json")


def test_compare_says_what_changed_between_two_runs(tmp_path, baseline_run):
    first, second = baseline_run[1], tmp_path / "b"
    results = json.loads((first / "results.json").read_text())
    results["candidates"][0]["metrics"]["probe.macro_f1"]["value"] -= 0.5
    second.mkdir()
    (second / "results.json").write_text(json.dumps(results))
    result = invoke(
        "compare",
        first / "results.json",
        second / "results.json",
        "--markdown",
        tmp_path / "diff.md",
    )
    assert result.exit_code == 0, result.output
    assert "probe.macro_f1" in (tmp_path / "diff.md").read_text()
