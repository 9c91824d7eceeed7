"""The same model on another device (a CUDA GPU) at each precision, compared with the CPU.

Where a CUDA device is found, the candidate's measuring process moves a copy of the loaded
model there at fp32, fp16 and (where the device computes it natively) bf16, times it as the
CPU was timed, and compares each precision's features with the CPU fp32 ones. The findings are
stored as ``gpu.{precision}.{the CPU measurement's name}`` plus the note ``gpu.device``.
"""

from __future__ import annotations

import copy
import gc
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import psutil

from modelscout import metrics
from modelscout.backends.base import encode
from modelscout.errors import one_line
from modelscout.measure.memory import DeviceMemory
from modelscout.measure.timing import Latency, time_batches, timing_measurements, timing_names
from modelscout.records import Measurement

GPU_NOTE = metrics.GPU_DEVICE  # where the GPU path ran (device, precisions) or why it was not
GPU_OFF = "turned off in the spec (gpu: off)"
GPU_INT8 = "an int8 variant runs in ONNX Runtime, on the CPU only"


PRECISIONS = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}  # name -> torch dtype


@dataclass
class DevicePass:
    """One model at one precision on one device: what it costs there, how far its features
    moved from the CPU fp32 ones."""

    device: str  # torch device, e.g. "cuda" or "cpu"
    dtype: str  # torch dtype, e.g. "float16"
    load_s: float  # moving the loaded CPU fp32 model there, casting included
    peak_mb: float  # peak memory on the device above its level before the move
    latency: dict[int, Latency]
    throughput: dict[int, float]  # items/s per batch size
    rows: int  # rows whose features were compared
    max_abs_diff: float | None  # None when a row is NaN or infinite
    cosine_min: float | None  # lowest per-row cosine similarity; None likewise
    nonfinite_rows: int  # rows with a NaN or infinite feature (fp16 overflow, say)


@dataclass
class Precisions:
    """The model on one device at each precision tried."""

    passes: dict[str, DevicePass]  # precision (fp32, fp16, bf16) -> its measurements
    failed: dict[str, str]  # precision -> why it could not be measured


def feature_agreement(
    features: np.ndarray, reference: np.ndarray
) -> tuple[float | None, float | None, int]:
    r"""Largest absolute difference and lowest row-wise cosine similarity of two feature sets.

    .. math::

        \cos_i = \frac{\langle f_i, r_i \rangle}{\lVert f_i \rVert \, \lVert r_i \rVert}

    Returns ``(max |f - r|, min_i cos_i, rows with a NaN or infinite feature)``; the first two
    are None when that count is not 0, since a broken row makes both meaningless.

    Shape:
        - features: (R, D)
        - reference: (R, D), the CPU fp32 features of the same rows
    """
    features, reference = features.astype(np.float64), reference.astype(np.float64)
    nonfinite = int((~np.isfinite(features)).any(axis=1).sum())
    if nonfinite:
        return None, None, nonfinite
    norms = np.linalg.norm(features, axis=1) * np.linalg.norm(reference, axis=1)
    cosine = np.sum(features * reference, axis=1) / np.maximum(norms, np.finfo(np.float64).tiny)
    return float(np.abs(features - reference).max()), float(cosine.min()), 0


def _synchronize(device: Any) -> None:
    """Wait until ``device`` has finished its queued work (CPU work is done on return)."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _release(device: Any) -> None:
    """Collect what is unreachable and, on a GPU, return the allocator's cached blocks."""
    import torch

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def measure_on_device(
    encoder: Any,
    texts: Sequence[str],
    reference: np.ndarray,
    *,
    device: str,
    dtype: Any,
    batch_sizes: Sequence[int],
    seed: int = 0,
    budget_s: float = 2.0,
) -> DevicePass:
    """Time a copy of ``encoder`` (an Encoder that can move: ``to``, ``torch_module``) on
    ``device`` at ``dtype``, and compare its features with ``reference``.

    ``encoder`` itself stays as it was (fp32 on the CPU) for the next precision. Load time is
    the move (and cast) of the copy; every timed call ends with ``torch.cuda.synchronize`` on
    a GPU, so a latency runs until the features are back in host memory, tokenization
    included, as on the CPU. Latency and throughput per batch size are timed like the CPU's
    (``measure_latency``); the feature comparison runs first and doubles as extra warm-up.

    Shape:
        texts: (N,) the user's texts; reference: (R, D) CPU fp32 features of ``texts[:R]``.
    """
    import torch

    device = torch.device(device)
    torch.empty(0, device=device)  # a GPU's context is set up here, not inside the timed move
    _check_host_memory_for_copy(encoder.torch_module)
    moved = copy.deepcopy(encoder)  # made before anything is timed; freed on return
    with DeviceMemory(device) as memory:
        start = time.perf_counter()
        moved.to(device, dtype)
        _synchronize(device)
        load_s = time.perf_counter() - start
        features = encode(moved, list(texts[: len(reference)]))
        latency, throughput = _time_on_device(
            moved, device, texts, batch_sizes, seed=seed, budget_s=budget_s
        )
    max_abs_diff, cosine_min, nonfinite = feature_agreement(features, reference)
    return DevicePass(
        device=str(device),
        dtype=str(dtype).removeprefix("torch."),
        load_s=load_s,
        peak_mb=memory.peak_mb,
        latency=latency,
        throughput=throughput,
        rows=len(reference),
        max_abs_diff=max_abs_diff,
        cosine_min=cosine_min,
        nonfinite_rows=nonfinite,
    )


def _time_on_device(
    moved: Any,
    device: Any,
    texts: Sequence[str],
    batch_sizes: Sequence[int],
    *,
    seed: int,
    budget_s: float,
) -> tuple[dict[int, Latency], dict[int, float]]:
    """Latency and throughput per batch size of ``moved`` (an Encoder already on ``device``),
    each call waiting for the device, so it runs until the features are in host memory."""
    import torch

    def predict(batch: list[Any]) -> object:
        out = moved.forward(moved.preprocess(batch))
        _synchronize(device)
        return out

    return time_batches(
        predict,
        texts,
        batch_sizes,
        seed=seed,
        budget_s=budget_s,
        threads=torch.get_num_threads(),
        cpu_bound=device.type == "cpu",
    )


def _check_host_memory_for_copy(model: Any) -> None:
    """Raise (this precision then fails with the reason) rather than let a host copy of a
    model that fits in memory once but not twice get the whole process killed, CPU figures
    and all."""
    tensors = [*model.parameters(), *model.buffers()]
    needed = sum(t.numel() * t.element_size() for t in tensors)
    available = psutil.virtual_memory().available
    if needed > 0.8 * available:
        raise MemoryError(
            f"copying the model for the device needs {needed / 2**20:.0f} MB of host memory, "
            f"{available / 2**20:.0f} MB is available"
        )


def measure_precisions(
    encoder: Any,
    texts: Sequence[str],
    reference: np.ndarray,
    *,
    device: str,
    precisions: dict[str, Any],
    batch_sizes: Sequence[int],
    seed: int = 0,
    budget_s: float = 2.0,
) -> Precisions:
    """``measure_on_device`` at each of ``precisions`` (name -> torch dtype), one at a time.

    A precision that cannot run (out of device memory, an operation with no kernel for that
    dtype) is recorded with its reason; the others, and the CPU figures, stand.
    """
    import torch

    passes, failed = {}, {}
    for name, dtype in precisions.items():
        try:
            passes[name] = measure_on_device(
                encoder,
                texts,
                reference,
                device=device,
                dtype=dtype,
                batch_sizes=batch_sizes,
                seed=seed,
                budget_s=budget_s,
            )
        except Exception as error:
            failed[name] = one_line(error)
        # The copy died with measure_on_device's frame (or with the traceback just dropped);
        # give its memory back so the next precision's peak starts from the same level.
        _release(torch.device(device))
    return Precisions(passes, failed)


def gpu_precisions(found: dict[str, Any]) -> dict[str, Any]:
    """Precision name -> torch dtype to measure on the device ``find_gpu`` found."""
    import torch

    names = ["fp32", "fp16", *(["bf16"] if found.get("bf16") else [])]
    return {name: getattr(torch, PRECISIONS[name]) for name in names}


def cuda_device() -> dict[str, Any]:
    """The CUDA device torch would use in this process: ``{"device": "cuda", "device_name",
    "runtime" (e.g. "CUDA 12.4", or "ROCm 6.1"), "bf16" (computes bf16 natively)}``, or
    ``{"skipped": why there is none}``."""
    import torch

    if not torch.cuda.is_available():
        built = torch.version.cuda or torch.version.hip
        hint = "" if built else f"; torch {torch.__version__} is built without CUDA"
        return {"skipped": f"no CUDA device (torch.cuda.is_available() is False{hint})"}
    try:  # native bf16 only: emulated bf16 (before Ampere) is slow, nobody would deploy it
        bf16 = torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:  # a torch from before that argument: the same test, spelled out
        bf16 = bool(torch.version.hip) or torch.cuda.get_device_capability()[0] >= 8
    runtime = f"CUDA {torch.version.cuda}" if torch.version.cuda else f"ROCm {torch.version.hip}"
    return {
        "device": "cuda",
        "device_name": torch.cuda.get_device_name(),
        "runtime": runtime,
        "bf16": bool(bf16),
    }


_PER_PRECISION = (
    metrics.LOAD_SECONDS,
    metrics.PEAK_MEMORY,
    metrics.GPU_MAX_ABS_DIFF,
    metrics.GPU_COSINE_MIN,
)


def gpu_names(precisions: list[str], batch_sizes: list[int]) -> list[str]:
    """The measurement names of a GPU pass at ``precisions``, the note aside."""
    names = []
    for precision in precisions:
        names += [metrics.gpu_name(precision, name) for name in _PER_PRECISION]
        names += timing_names(precision, batch_sizes)
    return names


def gpu_measurements(
    found: Precisions, device: dict[str, Any], settings: dict[str, Any]
) -> list[Measurement]:
    """The GPU pass, named ``gpu.{precision}.{the CPU measurement's name}``, plus the note
    ``gpu.device``: the device, the precisions measured and why any other failed."""
    note = {
        "device": device["device"],
        "device_name": device["device_name"],
        "runtime": device["runtime"],
        "precisions": list(found.passes),
        "failed": found.failed,
    }
    out = [Measurement(GPU_NOTE, None, "", None, settings, detail=note)]
    for precision, run in found.passes.items():
        facts = {"device": run.device, "device_name": device["device_name"], "dtype": run.dtype}
        agreement = {**facts, "rows": run.rows, "nonfinite_rows": run.nonfinite_rows}
        # name, value, unit, detail, seconds (the move to the device is what the load cost)
        for name, value, unit, detail, seconds in (
            (metrics.LOAD_SECONDS, run.load_s, "s", facts, run.load_s),
            (metrics.PEAK_MEMORY, run.peak_mb, "MB", facts, 0.0),
            (metrics.GPU_MAX_ABS_DIFF, run.max_abs_diff, "abs", agreement, 0.0),
            (metrics.GPU_COSINE_MIN, run.cosine_min, "cosine", agreement, 0.0),
        ):
            name = metrics.gpu_name(precision, name)
            out.append(Measurement(name, value, unit, None, settings, seconds, detail=detail))
        out += timing_measurements(precision, run.latency, run.throughput, settings, facts)
    return out


def skip_note(gpu: dict[str, Any] | None) -> dict[str, Measurement]:
    """The note of a skipped GPU path: known before the pass, so recomputed, never stored."""
    if gpu is None or "skipped" not in gpu:
        return {}
    return {GPU_NOTE: Measurement(GPU_NOTE, None, "", None, detail=dict(gpu))}
