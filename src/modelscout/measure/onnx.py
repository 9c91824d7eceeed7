"""The ONNX check of a model pass: export, compare with PyTorch, time it like the model, and
record the findings (a failed or skipped export with its reason). The exporter itself lives
in backends/onnx.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from modelscout import metrics
from modelscout.backends.onnx import check_onnx
from modelscout.measure.timing import Latency, latency_details, measure_latency_reliably
from modelscout.records import Measurement

ONNX_NAMES = [
    metrics.ONNX_OK,
    metrics.ONNX_MAX_ABS_DIFF,
    metrics.onnx_latency("p50"),
    metrics.onnx_latency("p95"),
]


def onnx_measurements(found: dict[str, Any], settings: dict[str, Any]) -> list[Measurement]:
    """ONNX export findings; a failed or skipped export is recorded, with its reason. The
    latency carries the same detail as the PyTorch timings (``latency_details``), so that an
    unsettled one is measured again and a disturbed one is warned about."""
    ok = None if found["ok"] is None else float(found["ok"])
    latency: Latency | None = found.get("latency")  # None: not run, or the export failed
    facts = {k: found.get(k) for k in ("reason", "export_s", "size_mb")}
    facts["runs"] = None if latency is None else latency.runs
    out = [
        Measurement(metrics.ONNX_OK, ok, "pass", None, settings, detail=facts),
        Measurement(metrics.ONNX_MAX_ABS_DIFF, found.get("max_abs_diff"), "abs", None, settings),
    ]
    if latency is None:
        return out + [
            Measurement(metrics.onnx_latency(name), None, "ms", None, settings)
            for name in ("p50", "p95")
        ]
    details = latency_details(latency, {"threads": found["threads"], "device": "cpu"})
    return out + [
        Measurement(metrics.onnx_latency(name), value, "ms", None, settings, detail=details[name])
        for name, value in (("p50", latency.p50_ms), ("p95", latency.p95_ms))
    ]


def onnx_check(
    encoder: Any,
    items: list[Any],
    features: np.ndarray,
    threads: int,
    keep: Path | None,
    timing: dict[str, Any],
) -> dict[str, Any]:
    """Export ``encoder`` to ONNX, compare with its ``features`` of ``items[:len(features)]``
    and time the export as the model is timed (``timing``: ``measure_latency_reliably``'s
    retries, seed and budget_s); an encoder with no ``torch_module`` is not exported."""
    if not hasattr(encoder, "torch_module"):
        return {"ok": None, "reason": "not run: this encoder has no torch module to export"}

    return check_onnx(
        encoder,
        items[: len(features)],
        features,
        threads,
        lambda predict: measure_latency_reliably(predict, items, threads=threads, **timing),
        keep,
    )
