"""The GPU path: measured where CUDA is, run on the CPU standing in for it here, skipped with a
note where there is none."""

import io

import numpy as np
import pytest
import torch
from conftest import rewrite_timings
from rich.console import Console

from modelscout import build_spec, rank
from modelscout.backends.text import load_text_encoder
from modelscout.catalog.candidate import describe, resolve_candidate
from modelscout.cli.profile import show_gpu as _show_gpu
from modelscout.executors import forkserver
from modelscout.executors.forkserver import find_gpu
from modelscout.measure.device import (
    cuda_device,
    feature_agreement,
    measure_on_device,
    measure_precisions,
)
from modelscout.profile import profile
from modelscout.report import build_results
from modelscout.report.markdown import render_markdown

NO_CUDA = not torch.cuda.is_available()
# What find_gpu would answer if this CPU were the device: the same code runs, torch's CPU kernels
# instead of CUDA's.
CPU_AS_DEVICE = {"device": "cpu", "device_name": "CPU standing in", "runtime": None, "bf16": True}


def loaded(folder):
    candidate = resolve_candidate(str(folder))
    return load_text_encoder(candidate, describe(candidate))


def by_id(results):
    return {c["id"]: c for c in results["candidates"]}


def spec_for(data, models, tmp_path, **settings):
    small = {"max_samples": 60, "folds": 2, "batch_sizes": [1, 4], "latency_budget_s": 0.2}
    return build_spec(
        data=data,
        candidates=[str(m) for m in models],
        estimators=["logme"],
        output=tmp_path,
        **(small | settings),
    )


# for the runs whose point is what the GPU path records, not its timings
QUICK = {"batch_sizes": [1], "latency_budget_s": 0.1}


@pytest.mark.parametrize("model", ["tiny_st", "tiny_classifier"])
def test_bfloat16_pass_on_the_cpu_is_timed_and_compared_with_fp32(model, request, example_frame):
    encoder = loaded(request.getfixturevalue(model))
    texts = example_frame["text"].tolist()[:80]
    reference = encoder.encode(texts[:16])
    found = measure_on_device(
        encoder,
        texts,
        reference,
        device="cpu",
        dtype=torch.bfloat16,
        batch_sizes=[1, 4],
        budget_s=0.2,
    )
    assert (found.device, found.dtype, found.rows) == ("cpu", "bfloat16", 16)
    assert set(found.latency) == set(found.throughput) == {1, 4}
    for latency in found.latency.values():
        assert latency.runs >= 20 and 0 < latency.p50_ms <= latency.p95_ms <= latency.p99_ms
    assert all(items > 0 for items in found.throughput.values())
    assert found.load_s > 0 and found.peak_mb >= 0
    assert 0 < found.max_abs_diff < 0.5 and 0.95 < found.cosine_min <= 1 + 1e-9
    assert found.nonfinite_rows == 0
    # the model measured was a copy: the encoder is still fp32 and gives the same features
    assert next(encoder.model.parameters()).dtype == torch.float32
    np.testing.assert_array_equal(encoder.encode(texts[:16]), reference)


def test_a_precision_that_cannot_run_is_recorded_and_the_others_still_measured(
    tiny_bert, example_frame
):
    encoder = loaded(tiny_bert)
    texts = example_frame["text"].tolist()[:40]
    found = measure_precisions(
        encoder,
        texts,
        encoder.encode(texts[:8]),
        device="cpu",
        precisions={"int8": torch.int8, "bf16": torch.bfloat16},
        batch_sizes=[1],
        budget_s=0.1,
    )
    assert list(found.passes) == ["bf16"] and found.passes["bf16"].latency[1].runs >= 20
    assert found.failed["int8"].startswith("TypeError: nn.Module.to only accepts floating point")


def test_feature_agreement_flags_rows_that_are_not_finite():
    reference = np.array([[1.0, 0.0], [0.0, 2.0]])
    assert feature_agreement(reference, reference) == (0.0, 1.0, 0)
    diff, cosine, broken = feature_agreement(np.array([[1.0, 0.1], [0.0, 2.0]]), reference)
    assert diff == pytest.approx(0.1) and cosine == pytest.approx(1 / np.sqrt(1.01)) and not broken
    assert feature_agreement(np.array([[np.inf, 0.0], [0.0, 2.0]]), reference) == (None, None, 1)


@pytest.mark.skipif(not NO_CUDA, reason="this machine has a CUDA device")
def test_without_cuda_torch_says_so_and_no_driver_answers_at_once(monkeypatch):
    assert cuda_device()["skipped"].startswith("no CUDA device (torch.cuda.is_available() is False")
    monkeypatch.setattr(forkserver, "GPU_DRIVER_FILES", ("/nonexistent/nvidiactl",))
    if forkserver.sys.platform.startswith("linux"):
        assert find_gpu() == {"skipped": forkserver.NO_GPU_DRIVER}


@pytest.mark.skipif(not NO_CUDA, reason="this machine has a CUDA device")
def test_cpu_only_run_carries_why_the_gpu_was_skipped(small_csv, tiny_bert, tmp_path, monkeypatch):
    # A driver file that exists sends the question to torch in a forked process, as on a GPU box.
    monkeypatch.setattr(forkserver, "GPU_DRIVER_FILES", (str(tmp_path),))
    spec = spec_for(small_csv, [tiny_bert, f"{tiny_bert}+int8"], tmp_path, **QUICK)
    results = build_results(rank(spec))
    rows = by_id(results)
    assert {c["status"] for c in rows.values()} == {"ranked"}
    assert rows[str(tiny_bert)]["gpu"]["skipped"].startswith(
        "no CUDA device (torch.cuda.is_available() is False"
    )
    assert "int8" in rows[f"{tiny_bert}+int8"]["gpu"]["skipped"]
    assert rows["baseline:tfidf"]["gpu"] is None
    assert not any(name.startswith("gpu.") for c in rows.values() for name in c["metrics"])
    markdown = render_markdown(results)
    assert "## GPU" in markdown and "skipped, no CUDA device" in markdown
    # reused from the store, the note is still there; turned off, it says so
    assert profile(spec)["gpu"] == rows[str(tiny_bert)]["gpu"]
    off = profile(spec.model_copy(update={"gpu": "off"}))
    assert off["gpu"] == {"skipped": "turned off in the spec (gpu: off)"} and off["batches"]


def test_gpu_path_run_on_the_cpu_standing_in_reaches_every_report(
    small_csv, tiny_st, tmp_path, monkeypatch, isolated_store
):
    monkeypatch.setattr("modelscout.run.find_gpu", lambda: dict(CPU_AS_DEVICE))
    spec = spec_for(small_csv, [tiny_st], tmp_path, baseline=False)
    decision = rank(spec)
    model = build_results(decision)["candidates"][0]
    assert model["gpu"] == {
        "device": "cpu",
        "device_name": "CPU standing in",
        "runtime": None,
        "precisions": ["fp32", "fp16", "bf16"],
        "failed": {},
    }
    metrics = model["metrics"]
    assert metrics["gpu.fp32.max_abs_diff"]["value"] < 1e-4
    assert metrics["gpu.bf16.cosine_min"]["value"] > 0.95
    assert metrics["gpu.fp16.latency.p50_ms@4"]["detail"]["dtype"] == "float16"
    assert metrics["gpu.bf16.throughput.items_per_s@1"]["value"] > 0
    markdown = render_markdown(build_results(decision))
    assert "Measured on CPU standing in, the model moved there" in markdown
    for precision in ("fp32", "fp16", "bf16"):
        assert f"| {tiny_st} | {precision} | " in markdown
    rewrite_timings(isolated_store, reliable=True, p50_ci_relative=0.0)  # settled: replayable
    assert rank(spec).run.measured == 0  # a rerun reuses the GPU figures from the store
    found = profile(spec)
    assert found["gpu"]["device_name"] == "CPU standing in"
    assert set(found["gpu"]["precisions"]) == {"fp32", "fp16", "bf16"}
    bf16 = found["gpu"]["precisions"]["bf16"]
    assert bf16["dtype"] == "bfloat16" and set(bf16["batches"]) == {"1", "4"}
    assert bf16["batches"]["1"]["runs"] >= 20 and bf16["load_s"] > 0
    printed = Console(file=io.StringIO(), width=200)
    _show_gpu(printed, found["gpu"])
    assert "on CPU standing in" in printed.file.getvalue()
    assert printed.file.getvalue().count("bf16") == 2  # one row per batch size


@pytest.mark.skipif(NO_CUDA, reason="needs a CUDA device")
def test_gpu_path_on_cuda_end_to_end(small_csv, tiny_st, tiny_classifier, tmp_path, isolated_store):
    spec = spec_for(small_csv, [tiny_st, tiny_classifier], tmp_path, baseline=False)
    first = rank(spec)
    results = build_results(first)
    name = torch.cuda.get_device_name()
    expected = ["fp32", "fp16", *(["bf16"] if cuda_device()["bf16"] else [])]
    for model in results["candidates"]:
        assert model["status"] == "ranked", model["reason"]
        gpu = model["gpu"]
        assert (gpu["device"], gpu["device_name"], gpu["failed"]) == ("cuda", name, {})
        assert gpu["precisions"] == expected
        metrics = model["metrics"]
        assert metrics["gpu.fp32.max_abs_diff"]["value"] < 1e-3
        for precision in expected:
            prefix = f"gpu.{precision}."
            assert metrics[prefix + "cosine_min"]["value"] > 0.99
            assert metrics[prefix + "memory.peak_mb"]["value"] > 0
            assert metrics[prefix + "load.seconds"]["value"] > 0
            p50 = metrics[prefix + "latency.p50_ms@4"]
            assert p50["value"] > 0 and p50["detail"]["runs"] >= 20
    assert f"Measured on {name}" in render_markdown(results)
    found = profile(spec.model_copy(update={"candidates": [str(tiny_st)]}))
    assert found["gpu"]["device_name"] == name and set(found["gpu"]["precisions"]) == set(expected)
    rewrite_timings(isolated_store, reliable=True, p50_ci_relative=0.0)  # settled: replayable
    assert rank(spec).run.measured == 0  # a rerun reuses the GPU figures from the store


@pytest.mark.skipif(not NO_CUDA, reason="needs a torch without a usable CUDA device")
def test_a_failed_precision_is_measured_again_on_the_next_run_not_replayed(
    small_csv, tiny_st, tmp_path, monkeypatch
):
    # A device torch cannot use here: every precision fails for real, as an out-of-memory
    # GPU would; the failure must not be served from the store next time.
    cuda = {"device": "cuda", "device_name": "unusable", "runtime": None, "bf16": False}
    monkeypatch.setattr("modelscout.run.find_gpu", lambda: dict(cuda))
    spec = spec_for(small_csv, [tiny_st], tmp_path, baseline=False, **QUICK)
    first = build_results(rank(spec))["candidates"][0]
    assert first["status"] == "ranked"  # the CPU figures stand
    assert set(first["gpu"]["failed"]) == {"fp32", "fp16"}
    again = rank(spec)
    assert again.run.measured > 0  # the pass ran again instead of replaying the failures
    assert set(build_results(again)["candidates"][0]["gpu"]["failed"]) == {"fp32", "fp16"}
