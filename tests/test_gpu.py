"""Measuring a loaded model on another device at another precision, run here on the CPU."""

import numpy as np
import pytest
import torch

from modelscout.backends.text import load_text_encoder
from modelscout.catalog.candidate import describe, resolve_candidate
from modelscout.measure import hardware
from modelscout.measure.hardware import (
    cuda_device,
    feature_agreement,
    find_gpu,
    measure_on_device,
    measure_precisions,
)

NO_CUDA = not torch.cuda.is_available()


def loaded(folder):
    candidate = resolve_candidate(str(folder))
    return load_text_encoder(candidate, describe(candidate))


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
    monkeypatch.setattr(hardware, "GPU_DRIVER_FILES", ("/nonexistent/nvidiactl",))
    if hardware.sys.platform.startswith("linux"):
        assert find_gpu() == {"skipped": hardware.NO_GPU_DRIVER}
