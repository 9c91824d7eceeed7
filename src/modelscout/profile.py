"""``modelscout profile``: only the hardware side of one candidate (load, latency,
throughput, memory, the GPU), as the ``profile --json`` object (docs/results-schema.md)."""

from __future__ import annotations

from typing import Any

from modelscout import metrics
from modelscout.catalog.candidate import describe
from modelscout.executors.forkserver import start_server
from modelscout.inputs import Prepared, prepare
from modelscout.records import Measurement
from modelscout.run import Runner
from modelscout.spec import Spec
from modelscout.store import Store, default_store_path


def profile(spec: Spec, *, prepared: Prepared | None = None) -> dict[str, Any]:
    """Only the hardware side of the first candidate: load, latency, throughput, memory.

    Returns the ``modelscout profile --json`` object (docs/results-schema.md).
    """
    start_server()
    prepared = prepared or prepare(spec)
    candidate = prepared.candidates[0]
    meta = describe(candidate)
    with Store(spec.store or default_store_path()) as store:
        runner = Runner(spec, prepared, store, lambda *_: None)
        if not candidate.downloaded:  # checked on its Hub metadata first, as rank does
            candidate, meta, _ = runner.download(candidate, meta)
        measured, _, _ = runner.model_pass(candidate, meta)
    load = measured[metrics.LOAD_SECONDS]
    truncated = measured.get(metrics.TRUNCATED)
    return {
        "candidate": candidate.id,
        "device": load.detail["device"],
        "threads": load.detail["threads"],
        "load_s": load.value,
        "peak_memory_mb": measured[metrics.PEAK_MEMORY].value,
        "process_peak_memory_mb": measured[metrics.PEAK_MEMORY].detail["process_peak_mb"],
        "disk_size_mb": (meta.disk_size_bytes or 0) / 2**20,
        "truncated_fraction": truncated.value if truncated else None,
        "rows": len(prepared.sample),
        "batches": _batches(measured, spec.batch_sizes),
        "gpu": _gpu_profile(measured, spec.batch_sizes),
    }


def _batches(
    measured: dict[str, Measurement], sizes: list[int], precision: str | None = None
) -> dict:
    """Batch size (a string) -> its latency percentiles, items/s, timed runs, the p95's 95% CI
    and whether the machine left the timing alone (with the figures why not); on the GPU at
    ``precision`` when given, else on the CPU."""

    def at(name: str) -> Measurement:
        return measured[metrics.at_precision(precision, name)]

    out = {}
    for size in sizes:
        median = at(metrics.latency("p50", size))
        p95 = at(metrics.latency("p95", size))
        out[str(size)] = {
            "p50_ms": median.value,
            "p95_ms": p95.value,
            "p99_ms": at(metrics.latency("p99", size)).value,
            "items_per_s": at(metrics.throughput(size)).value,
            "runs": median.detail["runs"],
            "p95_ci_ms": p95.detail["ci95_ms"],
            "reliable": median.detail["reliable"],
            "unreliable_reasons": median.detail["unreliable_reasons"],
        }
    return out


def _gpu_profile(measured: dict[str, Measurement], sizes: list[int]) -> dict[str, Any] | None:
    """The GPU side of ``profile``: ``{"skipped": why}``, or the device and, per precision, its
    load time, peak memory, feature agreement and batches; None for the baseline."""
    note = measured.get(metrics.GPU_DEVICE)
    if note is None:
        return None
    if "skipped" in note.detail:
        return dict(note.detail)
    precisions = {}
    for precision in note.detail["precisions"]:
        load = measured[metrics.gpu_name(precision, metrics.LOAD_SECONDS)]
        cosine = measured[metrics.gpu_name(precision, metrics.GPU_COSINE_MIN)]
        precisions[precision] = {
            "dtype": load.detail["dtype"],
            "load_s": load.value,
            "peak_memory_mb": measured[metrics.gpu_name(precision, metrics.PEAK_MEMORY)].value,
            "max_abs_diff": measured[metrics.gpu_name(precision, metrics.GPU_MAX_ABS_DIFF)].value,
            "cosine_min": cosine.value,
            "nonfinite_rows": cosine.detail["nonfinite_rows"],
            "batches": _batches(measured, sizes, precision),
        }
    return {
        "device": note.detail["device"],
        "device_name": note.detail["device_name"],
        "runtime": note.detail["runtime"],
        "precisions": precisions,
        "failed": note.detail["failed"],
    }
