"""--mlflow (report/tracking.py): a rank logged to a real local MLflow store (a SQLite file
the test creates), read back through MLflow's own client."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from modelscout.cli import app
from modelscout.report.tracking import metric_name

mlflow = pytest.importorskip("mlflow")
pytest.importorskip("sqlalchemy")


def test_metric_names_are_what_mlflow_takes():
    assert metric_name("latency.p95_ms@8") == "latency.p95_ms_at_8"
    assert metric_name("probe.macro_f1") == "probe.macro_f1"
    assert metric_name("cost.usd/1k") == "cost.usd/1k"


def test_a_rank_is_a_run_with_a_nested_run_per_candidate_and_the_reports(
    small_csv, tiny_bert, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # MLflow keeps a SQLite store's artifacts under ./mlruns
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = tmp_path / "out"
    args = ["rank", "--data", str(small_csv), "-c", str(tiny_bert), "--output", str(out)]
    args += ["--quiet", "--mlflow-uri", uri, "--mlflow-experiment", "intents"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    client = mlflow.tracking.MlflowClient(uri)
    experiment = client.get_experiment_by_name("intents")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1
    parent = parents[0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(r.info.run_name for r in children) == sorted(
        c["id"] for c in results["candidates"]
    )
    tags, params = parent.data.tags, parent.data.params
    assert tags["modelscout.recommendation"] == results["recommendation"]
    assert tags["mlflow.note.content"] == results["rationale"]
    assert params["quality_metric"] == results["quality_metric"]
    assert params["folds"] == "5" and params["weights.quality"] == "0.6"
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"results.json", "report.html", "matrix.csv", "results.md"} <= artifacts
    by_id = {c["id"]: c for c in results["candidates"]}
    for child in children:
        candidate = by_id[child.info.run_name]
        assert child.data.params["status"] == candidate["status"]
        quality = candidate["metrics"][results["quality_metric"]]["value"]
        assert child.data.metrics[results["quality_metric"]] == pytest.approx(quality)
        p95 = candidate["metrics"]["latency.p95_ms@1"]["value"]
        assert child.data.metrics["latency.p95_ms_at_1"] == pytest.approx(p95)
        assert child.data.metrics["score"] == pytest.approx(candidate["score"])


def test_an_unreachable_tracking_uri_keeps_the_reports_and_says_so(small_csv, tmp_path):
    out = tmp_path / "out"
    args = ["rank", "--data", str(small_csv), "--output", str(out), "--quiet"]
    args += ["--mlflow-uri", "nosuchscheme://nowhere"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.startswith("error: the reports are written to ")
    assert "logging them to MLflow" in result.stderr
    assert (out / "results.json").is_file()


def test_without_mlflow_the_flag_says_what_to_install_before_measuring(small_csv, tmp_path):
    code = (
        "import sys; sys.modules['mlflow'] = None; from modelscout.cli import app; "
        f"app(['rank', '--data', {str(small_csv)!r}, '--output', {str(tmp_path / 'o')!r}, "
        "'--mlflow'])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert "pip install 'modelscout[mlflow]'" in done.stderr
    assert not (tmp_path / "o" / "results.json").exists()
