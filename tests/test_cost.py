import json

import pytest
from typer.testing import CliRunner

from modelscout import build_spec
from modelscout.cli import app
from modelscout.errors import UserError
from modelscout.executors.forkserver import find_gpu
from modelscout.measure.cost import (
    cost_measurements,
    fine_tune_cost,
    hourly_price,
    instance_presets,
    monthly_cost,
    usd_per_1k,
)
from modelscout.records import Measurement


def test_every_preset_names_its_price_source_and_date():
    presets = instance_presets()
    assert len(presets) >= 12
    for preset in presets.values():
        assert preset["price_per_hour"] > 0 and preset["source"].startswith("https://")
        assert preset["device"] in ("cpu", "gpu") and len(preset["read"]) == 10


def test_cost_per_1k_is_price_over_predictions_per_hour():
    assert usd_per_1k(3.6, 1.0) == pytest.approx(1.0)  # 3,600 predictions/h for $3.60
    assert usd_per_1k(0.36, 100.0) == pytest.approx(0.001)


def test_monthly_cost_pays_for_always_on_instances():
    light = monthly_cost(1.0, 100.0, requests_per_day=86_400)  # 1% busy
    assert light["instances"] == 1 and light["usd_per_month"] == pytest.approx(730)
    assert light["utilization"] == pytest.approx(0.01)
    heavy = monthly_cost(1.0, 1.0, requests_per_day=3 * 86_400)  # 3 days of work a day
    assert heavy["instances"] == 3 and heavy["usd_per_month"] == pytest.approx(3 * 730)


def test_fine_tuning_estimate_scales_with_rows_and_epochs():
    one = fine_tune_cost(2.0, 100.0, rows=1200, epochs=1)
    assert one["hours"] == pytest.approx(3 * 1200 / 100 / 3600)
    assert fine_tune_cost(2.0, 100.0, rows=1200, epochs=3)["usd"] == pytest.approx(3 * one["usd"])


def test_price_per_hour_wins_over_the_instance_and_unknown_instances_are_refused():
    assert hourly_price("aws-c7i.xlarge", 2.5) == (2.5, "price_per_hour from the spec")
    assert (
        hourly_price("aws-c7i.xlarge", None)[0]
        == instance_presets()["aws-c7i.xlarge"]["price_per_hour"]
    )
    with pytest.raises(UserError, match="unknown instance 'aws-x'"):
        hourly_price("aws-x", None)
    with pytest.raises(UserError, match="cost.instance: unknown instance"):
        build_spec(data="d.csv", cost={"instance": "aws-x"})


def test_cost_measurements_carry_their_assumptions():
    spec = build_spec(
        data="d.csv", cost={"price_per_hour": 0.36, "requests_per_day": 10_000, "batch_size": 8}
    )
    assert 8 in spec.batch_sizes
    measured = {
        "throughput.items_per_s@8": Measurement("throughput.items_per_s@8", 100.0),
        "throughput.items_per_s@32": Measurement("throughput.items_per_s@32", 200.0),
    }
    costs = cost_measurements(measured, spec, rows=1000)
    assert costs["cost.usd_per_1k"].value == pytest.approx(0.001)
    assert costs["cost.usd_per_1k"].detail["serving_batch_size"] == 8
    assert costs["cost.usd_per_year"].value == pytest.approx(12 * 0.36 * 730)
    assert costs["cost.fine_tune_usd"].detail["epochs"] == 3
    assert cost_measurements(measured, build_spec(data="d.csv"), rows=1000) == {}


def test_profile_prints_one_json_object_per_batch_size(small_csv, tiny_bert):
    result = CliRunner().invoke(
        app,
        [
            "profile",
            str(tiny_bert),
            "--data",
            str(small_csv),
            "--batch-size",
            "1",
            "--batch-size",
            "4",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    profile = json.loads(result.stdout)
    assert profile["candidate"] == str(tiny_bert) and profile["device"] == "cpu"
    assert set(profile["batches"]) == {"1", "4"}
    for row in profile["batches"].values():
        assert 0 < row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"]
        assert row["items_per_s"] > 0 and row["runs"] >= 20
        low, high = row["p95_ci_ms"]  # high is null when too few runs bound it
        assert low <= row["p95_ms"] and (high is None or row["p95_ms"] <= high)
        assert row["reliable"] in (True, False)
        assert isinstance(row["unreliable_reasons"], list)
        assert row["reliable"] == (row["unreliable_reasons"] == [])
    assert profile["load_s"] > 0 and profile["threads"] >= 1


def test_rank_reports_cost_when_given_a_price(small_csv, tiny_bert, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "rank",
            "--data",
            str(small_csv),
            "-c",
            str(tiny_bert),
            "--instance",
            "aws-c7i.xlarge",
            "--requests-per-day",
            "50000",
            "--output",
            str(out),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = {c["id"]: c for c in json.loads((out / "results.json").read_text())["candidates"]}
    for row in rows.values():
        assert row["metrics"]["cost.usd_per_1k"]["value"] > 0
        assert "aws-c7i.xlarge" in row["metrics"]["cost.usd_per_month"]["detail"]["price_source"]
    markdown = (out / "results.md").read_text()
    assert "## Cost" in markdown and "Assumptions: $0.1785 per hour (aws-c7i.xlarge" in markdown


def gpu_pass(precision, items_per_s, cosine_min):
    """The measurements a GPU pass records at one precision (measure.device.gpu_measurements)."""
    prefix = f"gpu.{precision}."
    facts = {"device": "cuda", "device_name": "NVIDIA L4", "dtype": precision}
    return {
        prefix + "load.seconds": Measurement(prefix + "load.seconds", 0.4, "s", detail=facts),
        prefix + "cosine_min": Measurement(prefix + "cosine_min", cosine_min, "cosine"),
        prefix + "throughput.items_per_s@1": Measurement(
            prefix + "throughput.items_per_s@1", items_per_s, "items/s", detail=facts
        ),
    }


GPU_SPEC = {"data": "d.csv", "cost": {"instance": "aws-g6.xlarge"}}
CPU_THROUGHPUT = {"throughput.items_per_s@1": Measurement("throughput.items_per_s@1", 10.0)}


def test_gpu_instance_is_priced_at_fp16_throughput_when_its_features_agree():
    measured = {**CPU_THROUGHPUT, **gpu_pass("fp32", 400.0, 1.0), **gpu_pass("fp16", 900.0, 0.9999)}
    cost = cost_measurements(measured, build_spec(**GPU_SPEC), rows=100)["cost.usd_per_1k"]
    assert cost.value == pytest.approx(usd_per_1k(0.8048, 900.0))
    assert cost.detail["precision"] == "fp16" and cost.detail["device"] == "gpu"
    assert cost.detail["measured_on"] == "NVIDIA L4"


def test_gpu_instance_falls_back_to_fp32_when_fp16_features_drift():
    measured = {**CPU_THROUGHPUT, **gpu_pass("fp32", 400.0, 1.0), **gpu_pass("fp16", 900.0, 0.98)}
    cost = cost_measurements(measured, build_spec(**GPU_SPEC), rows=100)["cost.usd_per_1k"]
    assert cost.value == pytest.approx(usd_per_1k(0.8048, 400.0))
    assert cost.detail["precision"] == "fp32"


def test_candidate_without_gpu_figures_gets_a_cost_note_not_the_cpu_price():
    int8 = {
        **CPU_THROUGHPUT,
        "gpu.device": Measurement("gpu.device", None, detail={"skipped": "an int8 variant runs"}),
    }
    spec = build_spec(**GPU_SPEC)
    cost = cost_measurements(int8, spec, rows=100)
    assert list(cost) == ["cost.usd_per_1k"] and cost["cost.usd_per_1k"].value is None
    assert cost["cost.usd_per_1k"].detail["reason"] == (
        "not priced: aws-g6.xlarge is a GPU instance and it has no GPU figures "
        "(an int8 variant runs)"
    )
    baseline = cost_measurements(CPU_THROUGHPUT, spec, rows=100)["cost.usd_per_1k"]
    assert "no model to run on a GPU" in baseline.detail["reason"]


def test_gpu_instance_is_refused_before_measuring_on_a_machine_without_a_gpu(
    small_csv, tiny_bert, tmp_path
):
    has_gpu = "skipped" not in find_gpu()
    for gpu in ("off",) if has_gpu else ("auto", "off"):  # gpu: off measures none anywhere
        spec = tmp_path / f"{gpu}.yaml"
        spec.write_text(
            f"data: {small_csv}\ncandidates: [{tiny_bert}]\ngpu: {gpu}\n"
            "cost: {instance: aws-g4dn.xlarge}\n"
        )
        out = tmp_path / gpu
        out.mkdir()  # an older run's results: moved aside, and the refused run writes none
        older = {"schema_version": "1.2", "tool": {"name": "modelscout"}}
        (out / "results.json").write_text(json.dumps(older))
        result = CliRunner().invoke(
            app, ["rank", "--spec", str(spec), "--output", str(out), "--quiet"]
        )
        assert result.exit_code == 2, result.output
        assert "cost.instance aws-g4dn.xlarge is a GPU instance, but this run measures no GPU" in (
            result.output
        )
        assert "Traceback" not in result.output and not (out / "results.json").exists()
        assert json.loads((out / "previous" / "results.json").read_text()) == older
