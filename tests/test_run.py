"""rank end to end on tiny real transformers models built from configs."""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from conftest import rewrite_timings
from typer.testing import CliRunner

from modelscout import build_spec, rank
from modelscout.api import rank_and_report
from modelscout.cli import app
from modelscout.measure.cost import measuring_threads
from modelscout.measure.timing import usable_cores
from modelscout.report import build_results
from modelscout.report.markdown import render_markdown
from modelscout.run import run


def by_id(results):
    return {c["id"]: c for c in results["candidates"]}


def test_rank_measures_every_criterion_for_each_candidate(small_csv, tiny_bert, tiny_st, tmp_path):
    spec = build_spec(
        data=small_csv,
        candidates=[str(tiny_bert), str(tiny_st)],
        variants=["layers:1"],
        max_samples=100,
        output=tmp_path,
    )
    results = build_results(rank(spec))
    rows = by_id(results)
    assert len(rows) == 5 and {c["status"] for c in rows.values()} == {"ranked"}
    model = rows[str(tiny_bert)]
    for name in (
        "probe.macro_f1",
        "probe.accuracy",
        "logme",
        "latency.p50_ms@1",
        "latency.p95_ms@1",
        "throughput.items_per_s@32",
        "memory.peak_mb",
        "load.seconds",
        "length.truncated_fraction",
    ):
        assert model["metrics"][name]["value"] is not None, name
    assert 0 <= model["metrics"]["probe.macro_f1"]["value"] <= 1
    assert model["metrics"]["probe.macro_f1"]["spread"] > 0
    assert set(model["metrics"]["probe.breakdown"]["detail"]["per_slice_f1"]) == {"language"}
    assert "logme" not in rows["baseline:tfidf"]["metrics"]
    variant = rows[f"{tiny_st}+layers:1"]
    assert variant["parent"] == str(tiny_st) and variant["meta"]["layers"] == 1
    assert variant["meta"]["params"] < rows[str(tiny_st)]["meta"]["params"]
    assert results["data"]["rows_used"] == 100
    assert sorted(c["rank"] for c in rows.values()) == [1, 2, 3, 4, 5]
    assert results["recommendation"] in rows and results["rationale"]


def test_long_inputs_are_counted_as_truncated(tmp_path, tiny_bert):
    import pandas as pd

    texts = [("word " * (10 if i % 2 else 100)).strip() + f" {i}" for i in range(20)]
    path = tmp_path / "long.csv"
    pd.DataFrame({"text": texts, "label": ["a", "b"] * 10}).to_csv(path, index=False)
    spec = build_spec(data=path, candidates=[f"{tiny_bert}+max_length:32"], baseline=False)
    row = rank(spec).rows[0]
    assert row.outcome.measurements["length.truncated_fraction"].value == pytest.approx(0.5)


def broken_copies(tiny_bert, tmp_path):
    """Four candidates that cannot be loaded as they are, and why."""
    import torch
    from safetensors.torch import load_file

    corrupt = shutil.copytree(tiny_bert, tmp_path / "corrupt")
    (corrupt / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{broken}")
    no_tokenizer = shutil.copytree(tiny_bert, tmp_path / "no-tokenizer")
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        (no_tokenizer / name).unlink(missing_ok=True)
    pickled = shutil.copytree(tiny_bert, tmp_path / "pickle-only")
    torch.save(load_file(pickled / "model.safetensors"), pickled / "pytorch_model.bin")
    (pickled / "model.safetensors").unlink()
    remote = shutil.copytree(tiny_bert, tmp_path / "remote-code")
    config = json.loads((remote / "config.json").read_text())
    (remote / "config.json").write_text(
        json.dumps({**config, "auto_map": {"AutoModel": "modeling_custom.CustomModel"}})
    )
    return {
        "corrupt": corrupt,
        "no-tokenizer": no_tokenizer,
        "pickle-only": pickled,
        "remote-code": remote,
    }


def test_broken_candidates_fail_with_a_reason_and_the_run_completes(small_csv, tiny_bert, tmp_path):
    broken = broken_copies(tiny_bert, tmp_path)
    args = [
        "rank",
        "--data",
        str(small_csv),
        "--output",
        str(tmp_path / "out"),
        "--quiet",
        "-c",
        str(tiny_bert),
        *(x for p in broken.values() for x in ("-c", str(p))),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 3, result.output
    rows = by_id(json.loads((tmp_path / "out" / "results.json").read_text()))
    reasons = {name: rows[str(path)]["reason"] for name, path in broken.items()}
    assert all(rows[str(path)]["status"] == "failed" for path in broken.values())
    assert "corrupt" in reasons["corrupt"] or "header" in reasons["corrupt"].lower()
    assert "tokenizer" in reasons["no-tokenizer"]
    assert "pickle" in reasons["pickle-only"] and "--allow-pickle" in reasons["pickle-only"]
    assert "--trust-remote-code" in reasons["remote-code"]
    assert (
        rows[str(tiny_bert)]["status"] == "ranked" and rows["baseline:tfidf"]["status"] == "ranked"
    )


def test_pickle_checkpoint_loads_when_the_user_opts_in(small_csv, tiny_bert, tmp_path):
    pickled = broken_copies(tiny_bert, tmp_path)["pickle-only"]
    spec = build_spec(data=small_csv, candidates=[str(pickled)], baseline=False, allow_pickle=True)
    assert rank(spec).rows[0].status == "ranked"


def test_rerun_with_one_new_candidate_measures_only_that_one(
    small_csv, tiny_bert, tiny_st, tmp_path, isolated_store
):
    first = build_results(rank(build_spec(data=small_csv, candidates=[str(tiny_bert)])))
    rewrite_timings(isolated_store, reliable=True, p50_ci_relative=0.0)  # settled: replayable
    second = build_results(
        rank(build_spec(data=small_csv, candidates=[str(tiny_bert), str(tiny_st)]))
    )
    assert second["run"]["reused"] == first["run"]["measured"]
    new = by_id(second)[str(tiny_st)]["metrics"]
    assert second["run"]["measured"] == len(new)
    old = by_id(first)[str(tiny_bert)]["metrics"]
    replayed = by_id(second)[str(tiny_bert)]["metrics"]
    assert {k: m["value"] for k, m in replayed.items()} == {k: m["value"] for k, m in old.items()}


def test_interrupted_run_resumes_from_the_store(
    small_csv, tiny_bert, tiny_st, tmp_path, isolated_store
):
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "modelscout",
        "rank",
        "--data",
        str(small_csv),
        "--quiet",
        "-c",
        str(tiny_bert),
        "-c",
        str(tiny_st),
        "--no-baseline",
        "--output",
        str(out),
    ]
    process = subprocess.Popen(
        command, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 120
    done_first = 0
    while time.time() < deadline and process.poll() is None:
        try:
            db = sqlite3.connect(f"file:{isolated_store}?mode=ro", uri=True)
            names = {r[0] for r in db.execute("SELECT name FROM measurements")}
            done_first = db.execute("SELECT COUNT(*) FROM measurements").fetchone()[0]
            db.close()
        except sqlite3.OperationalError:  # the store is not created yet
            names = set()
        if "logme" in names:  # the first candidate is complete, the second is not
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    assert process.wait(timeout=30) == -signal.SIGKILL, "the run ended before it was interrupted"
    assert not (out / "results.json").exists()
    rewrite_timings(isolated_store, reliable=True, p50_ci_relative=0.0)  # settled: replayable

    result = CliRunner().invoke(app, command[3:])
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert results["run"]["reused"] >= done_first > 0
    assert results["run"]["reused"] + results["run"]["measured"] == sum(
        len(c["metrics"]) for c in results["candidates"]
    )
    assert {c["status"] for c in results["candidates"]} == {"ranked"}


def test_onnx_export_matches_pytorch_and_is_timed(small_csv, tiny_bert, tmp_path):
    spec = build_spec(
        data=small_csv,
        candidates=[str(tiny_bert)],
        baseline=False,
        onnx=True,
        batch_sizes=[1],
        latency_budget_s=0.3,
    )
    measured = rank(spec).rows[0].outcome.measurements
    assert measured["deploy.onnx_ok"].value == 1.0, measured["deploy.onnx_ok"].detail
    assert measured["deploy.onnx_max_abs_diff"].value < 1e-4
    assert measured["deploy.onnx_latency.p50_ms@1"].value > 0
    assert measured["deploy.onnx_ok"].detail["size_mb"] > 0


def test_a_dataframe_with_a_huge_text_ranks_with_precision_recall_and_the_cut_reported(
    example_frame, tmp_path
):
    frame = example_frame.head(200).reset_index(drop=True)
    frame.loc[0, "text"] = "word " * 2_000_000  # 10 MB in one cell
    spec = build_spec(data=frame, max_samples=150, folds=3, output=tmp_path)
    _, results, _ = rank_and_report(spec)
    assert results["data"]["rows_cut"] == 1 and results["data"]["max_text_chars"] == 20_000
    assert results["data"]["notes"] == [
        "1 text(s) longer than 20,000 characters were cut to that length"
    ]
    assert results["settings"]["data"] == "<DataFrame of 200 rows>"
    metrics = results["candidates"][0]["metrics"]
    for name in ("probe.macro_precision", "probe.macro_recall"):
        assert 0 < metrics[name]["value"] <= 1 and metrics[name]["spread"] > 0, name
    detail = metrics["probe.breakdown"]["detail"]
    assert (
        set(detail["per_class_precision"])
        == set(detail["per_class_recall"])
        == set(detail["per_class_f1"])
    )
    markdown = (tmp_path / "results.md").read_text()
    assert "| macro-P | macro-R |" in markdown
    assert "Note on the data: 1 text(s) longer than 20,000 characters were cut" in markdown
    header = (tmp_path / "matrix.csv").read_text().splitlines()[0].split(",")
    assert {"probe.macro_precision", "probe.macro_recall.spread"} <= set(header)


def quick_spec(small_csv, tiny_bert, **settings):
    return build_spec(
        data=small_csv,
        candidates=[str(tiny_bert)],
        baseline=False,
        batch_sizes=[1],
        max_samples=60,
        latency_budget_s=0.2,
        estimators=["logme"],
        **settings,
    )


def test_an_unsettled_stored_timing_is_measured_again_reusing_the_features(
    small_csv, tiny_bert, isolated_store
):
    spec = quick_spec(small_csv, tiny_bert)
    run(spec)
    assert rewrite_timings(isolated_store, reliable=True, p50_ci_relative=0.0) == 3
    steps = []
    replayed = run(spec, step=lambda _, what: steps.append(what))
    assert replayed.measured == 0 and steps == []

    rewrite_timings(isolated_store, p50_ci_relative=0.5)  # the median never settled
    retimed = run(spec, step=lambda _, what: steps.append(what))
    assert steps == ["loading, timing"]  # no encoding: the stored features are reused
    p50 = retimed.outcomes[0].measurements["latency.p50_ms@1"]
    assert not p50.reused and p50.detail["p50_ci_relative"] != 0.5
    assert retimed.outcomes[0].status == "measured"


def test_an_unsettled_timing_goes_on_from_its_reliable_runs(small_csv, tiny_bert, isolated_store):
    spec = quick_spec(small_csv, tiny_bert)
    first = run(spec).outcomes[0].measurements["latency.p50_ms@1"].detail["samples_ms"]
    rewrite_timings(isolated_store, reliable=True, p50_ci_relative=0.5)  # cut short, not busy
    again = run(spec).outcomes[0].measurements["latency.p50_ms@1"].detail
    assert again["samples_ms"][: len(first)] == first and again["runs"] >= len(first) + 10


def test_a_busy_machine_timing_in_the_store_is_measured_again(small_csv, tiny_bert, isolated_store):
    spec = quick_spec(small_csv, tiny_bert)
    first = run(spec).outcomes[0].measurements["latency.p50_ms@1"].detail["samples_ms"]
    rewrite_timings(isolated_store, reliable=False, p50_ci_relative=0.0)
    steps = []
    again = run(spec, step=lambda _, what: steps.append(what))
    assert steps == ["loading, timing"]
    retimed = again.outcomes[0].measurements["latency.p50_ms@1"].detail["samples_ms"]
    assert retimed[: len(first)] != first  # a disturbed timing's runs are not kept


def test_an_unsettled_onnx_timing_in_the_store_is_measured_again(
    small_csv, tiny_st, isolated_store
):
    spec = quick_spec(small_csv, tiny_st, onnx=True)
    measured = run(spec).outcomes[0].measurements
    p50, p95 = (measured[f"deploy.onnx_latency.{p}_ms@1"] for p in ("p50", "p95"))
    assert p50.detail["reliable"] in (True, False) and p50.detail["target_ci"] > 0
    assert {"unreliable_reasons", "conditions", "attempts", "runs"} <= set(p50.detail)
    assert p50.detail["threads"] >= 1 and len(p95.detail["ci95_ms"]) == 2
    rewrite_timings(isolated_store, reliable=True, p50_ci_relative=0.0)  # all settled
    steps = []
    assert run(spec, step=lambda _, what: steps.append(what)).measured == 0 and steps == []

    rewrite_timings(isolated_store, like="deploy.onnx_latency.p%", p50_ci_relative=0.5)
    retimed = run(spec, step=lambda _, what: steps.append(what))
    assert steps == ["loading, timing"]  # the ONNX timing alone never settled: timed again
    onnx = retimed.outcomes[0].measurements["deploy.onnx_latency.p50_ms@1"]
    assert not onnx.reused and onnx.detail["p50_ci_relative"] != 0.5


def test_timings_are_taken_with_the_spec_threads_which_are_part_of_the_store_key(
    small_csv, tiny_bert, isolated_store, tmp_path
):
    one = rank(quick_spec(small_csv, tiny_bert, threads=1, output=tmp_path))
    results = build_results(one)
    assert results["run"]["threads"] == {"threads": 1, "source": "threads from the spec"}
    p95 = by_id(results)[str(tiny_bert)]["metrics"]["latency.p95_ms@1"]
    assert p95["detail"]["threads"] == 1 and len(p95["detail"]["ci95_ms"]) == 2
    assert ", 1 thread, " in render_markdown(results)
    rewrite_timings(isolated_store, reliable=True, p50_ci_relative=0.0)
    steps = []
    run(quick_spec(small_csv, tiny_bert, threads=2), step=lambda _, what: steps.append(what))
    assert steps == ["loading, timing"]  # other threads, other timings; the same features


def test_a_cpu_instance_sets_the_threads_to_its_vcpus_capped_at_this_machine():
    spec = build_spec(data="d.csv", cost={"instance": "aws-c7i.2xlarge"})  # 8 vCPUs
    threads, source = measuring_threads(spec)
    assert threads == min(8, usable_cores())
    assert source.startswith("the 8 vCPUs of aws-c7i.2xlarge")
    assert (
        measuring_threads(build_spec(data="d.csv", threads=3, cost=spec.cost.model_dump()))[0] == 3
    )
    assert measuring_threads(build_spec(data="d.csv"))[0] is None
