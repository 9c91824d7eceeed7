"""modelscout monitor (issue #15): a tiny real sentence-transformers model watching reference
rows against rows of the same distribution (no drift, exit 0) and against other texts (drift
or retrain, exit 5/6), per slice, with monitor.json validated, the HTML escaped, --rerank,
and two calls logged to a real SQLite MLflow store read back as a series of two steps.

The features are encoded twice in all (the reference with the same-distribution rows in one
pass, then the shifted rows): every call shares the module's store."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import EXAMPLE, ROOT, build_tiny_bert
from typer.testing import CliRunner

from modelscout.cli import app
from modelscout.measure.drift import Test
from modelscout.monitor.contract import MonitorReport
from modelscout.monitor.verdict import slice_alpha, verdict, worst

INTENTS = ROOT / "src" / "modelscout" / "examples" / "intents.csv"


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    """A tiny model, a reference of 200 labelled rows, 200 labelled rows of the same
    distribution (a two-valued <b>channel</b> slice column), 200 other texts."""
    folder = tmp_path_factory.mktemp("monitor")
    frame, intents = pd.read_csv(EXAMPLE), pd.read_csv(INTENTS)
    model = build_tiny_bert(
        folder / "tiny-st",
        frame["text"].tolist() + intents["text"].tolist(),
        layers=2,
        sentence_transformers=True,
        seed=1,
    )
    third = frame.groupby("label").cumcount() % 3  # every class split alike into thirds
    frame["channel"] = np.where(np.arange(len(frame)) % 2, "<b>web</b>", "mail")
    paths = {name: folder / f"{name}.csv" for name in ("reference", "same", "shifted", "few")}
    frame[third == 0].to_csv(paths["reference"], index=False)
    frame[third == 1].to_csv(paths["same"], index=False)
    intents.sample(200, random_state=0).drop(columns=["label"]).to_csv(
        paths["shifted"], index=False
    )
    frame[third == 2].head(23).drop(columns=["label"]).to_csv(paths["few"], index=False)
    return {"model": model, "store": folder / "store.sqlite", "folder": folder, **paths}


def _monitor(sets, current, *more):
    args = ["monitor", "--model", str(sets["model"]), "--reference", str(sets["reference"])]
    args += ["--current", str(sets[current]), "--store", str(sets["store"]), *more]
    return CliRunner().invoke(app, args)


@pytest.fixture(scope="module")
def calls(sets, tmp_path_factory):
    """Two monitor calls logged to one SQLite MLflow store: same rows (by channel), shifted."""
    folder = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    spec = folder / "spec.yaml"  # --rerank: the selection again, on the current rows
    spec.write_text("data: x.csv\ncandidates: [baseline:tfidf]\nlatency_budget_s: 0.1\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)  # MLflow keeps a SQLite store's artifacts under ./mlruns
        same = _monitor(
            sets, "same", "--slice-column", "channel", "--output", str(folder / "same"),
            "--mlflow-uri", uri, "--rerank", str(spec),
        )  # fmt: skip
        shifted = _monitor(
            sets, "shifted", "--output", str(folder / "shifted"), "--json", "--mlflow-uri", uri
        )
    return {"same": same, "shifted": shifted, "folder": folder, "uri": uri}


def test_same_distribution_is_no_drift_with_exit_0_per_slice(calls):
    result = calls["same"]
    assert result.exit_code == 0, result.output
    report = MonitorReport.model_validate_json(
        (calls["folder"] / "same" / "monitor.json").read_text()
    )
    assert report.verdict.level == "no drift" and report.task == "classification"
    assert set(report.overall.tests) == {
        "mmd", "classifier", "per_dimension", "psi", "estimated_accuracy"
    }  # fmt: skip
    assert report.overall.rows == [report.reference.rows, report.current.rows]
    assert report.reference.rows > 150 and not report.reference.from_store
    assert sorted(s.value for s in report.slices) == ["<b>web</b>", "mail"]
    assert all(s.verdict.alpha == pytest.approx(0.05 / 2) for s in report.slices)
    assert sum(s.rows[0] for s in report.slices) == report.reference.rows


def test_other_texts_are_drift_with_its_exit_code_and_json(calls):
    result = calls["shifted"]
    assert result.exit_code in (5, 6), result.output
    printed = json.loads(result.stdout)
    report = MonitorReport.model_validate(printed)
    assert report.verdict.exit_code == result.exit_code
    assert report.reference.from_store and not report.current.from_store
    assert report.overall.tests["classifier"].statistic > 0.8
    assert report.overall.tests["mmd"].p_value < 0.05 / 3
    assert report.slices == []  # the current rows have no language column: no slice
    assert printed == json.loads((calls["folder"] / "shifted" / "monitor.json").read_text())


def test_the_html_escapes_the_data(calls):
    page = (calls["folder"] / "same" / "monitor.html").read_text()
    assert "&lt;b&gt;web&lt;/b&gt;" in page and "<b>web</b>" not in page
    assert "no drift" in page


def test_two_calls_are_a_series_of_two_steps_in_mlflow(calls, sets):
    mlflow = pytest.importorskip("mlflow")
    client = mlflow.tracking.MlflowClient(calls["uri"])
    experiment = client.get_experiment_by_name("modelscout")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1  # one run per monitored model, found again by its tag
    run = runs[0]
    history = client.get_metric_history(run.info.run_id, "verdict")
    assert sorted(m.step for m in history) == [0, 1]
    levels = {m.step: m.value for m in history}
    assert levels[0] == 0 and levels[1] in (1, 2)
    auc = client.get_metric_history(run.info.run_id, "all.classifier.statistic")
    shifted = json.loads((calls["folder"] / "shifted" / "monitor.json").read_text())
    by_step = {m.step: m.value for m in auc}
    assert by_step[1] == pytest.approx(shifted["overall"]["tests"]["classifier"]["statistic"])
    assert run.data.tags["modelscout.monitor.verdict"] == shifted["verdict"]["level"]
    slices = client.get_metric_history(run.info.run_id, "channel_mail.mmd.p_value")
    assert [m.step for m in slices] == [0]


def test_too_few_rows_is_one_line_with_the_minimum(sets, tmp_path):
    result = _monitor(sets, "few", "--output", str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: current data has 23 rows; drift tests need at least 50 per set"
    )


def test_a_missing_column_or_another_modality_is_one_line(sets, tmp_path):
    renamed = tmp_path / "renamed.csv"
    pd.read_csv(sets["shifted"]).rename(columns={"text": "body"}).to_csv(renamed, index=False)
    sets = {**sets, "renamed": renamed}
    result = _monitor(sets, "renamed", "--output", str(tmp_path))
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "no text column 'text'" in result.stderr
    images = tmp_path / "images.csv"
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    pd.DataFrame({"image": ["a.png"] * 60}).to_csv(images, index=False)
    result = _monitor({**sets, "images": images}, "images", "--output", str(tmp_path))
    assert result.exit_code == 2
    assert "reference data is text and the current data is image" in result.stderr


def test_rerank_needs_labels_in_the_current_data(sets, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"data: x.csv\ncandidates: [{sets['model']}]\n")
    result = _monitor(sets, "shifted", "--rerank", str(spec), "--output", str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --rerank ranks again on the current data")


def test_rerank_says_which_model_wins_on_the_current_data(calls):
    rerank = json.loads((calls["folder"] / "same" / "monitor.json").read_text())["rerank"]
    assert rerank["ranked"] == ["baseline:tfidf"] and not rerank["chosen_still_wins"]
    assert rerank["sentence"] == (
        "On the current data baseline:tfidf now wins over the chosen model."
    )
    # that ranking's own reports, beside the monitor's
    ranked = json.loads((calls["folder"] / "same" / "rerank" / "results.json").read_text())
    assert ranked["recommendation"] == "baseline:tfidf"


def _test(name, p=None, statistic=0.0, **detail):
    return Test(name, statistic, p, detail)


def test_verdict_rules_on_constructed_tests():
    calm = {n: _test(n, 0.5) for n in ("mmd", "classifier", "per_dimension")}
    assert verdict(calm).level == "no drift" and verdict(calm).exit_code == 0
    one = calm | {"mmd": _test("mmd", 0.01)}  # below 0.05 / 3
    assert verdict(one).level == "drift" and verdict(one).exit_code == 5
    assert verdict(calm | {"mmd": _test("mmd", 0.02)}).level == "no drift"  # above 0.0167
    fell = _test("estimated_accuracy", statistic=0.6, reference_accuracy=0.8, low=0.5, high=0.7)
    assert verdict(one | {"estimated_accuracy": fell}).level == "retrain recommended"
    unsure = _test("estimated_accuracy", statistic=0.7, reference_accuracy=0.8, low=0.6, high=0.9)
    assert verdict(one | {"estimated_accuracy": unsure}).level == "drift"
    assert verdict(one | {"psi": _test("psi", statistic=0.3)}).exit_code == 6
    assert verdict(one | {"psi": _test("psi", statistic=0.2)}).level == "drift"
    assert verdict(calm | {"psi": _test("psi", statistic=0.3)}).level == "no drift"  # no p-value
    assert verdict(one, alpha=0.05 / 10).level == "no drift"  # a slice's share of alpha
    assert slice_alpha(0.05, 4) == pytest.approx(0.0125) and slice_alpha(0.05, 0) == 0.05
    assert worst([verdict(calm), verdict(one)]) == "drift"


def test_a_current_tables_labels_are_not_read(tmp_path):
    """The current rows need no labels; one class, empty labels or numbers in a label column
    must not refuse the monitor (--rerank reads them itself)."""
    from modelscout.monitor.data import read_set
    from modelscout.spec import build_spec

    frame = pd.DataFrame({"text": [f"row {i}" for i in range(60)], "label": ["pos"] * 60})
    for labels in (["pos"] * 60, [""] * 60, list(range(60))):
        frame["label"] = labels
        frame.to_csv(tmp_path / "current.csv", index=False)
        found = read_set(tmp_path / "current.csv", build_spec(data="x.csv"), "current")
        assert len(found) == 60 and found.targets is None
