"""How much of its parent each derived variant keeps, as ratios and as a sentence."""

from __future__ import annotations

from typing import Any

from modelscout import metrics
from modelscout.decide.criteria import QUALITY_METRIC
from modelscout.decide.records import Row


def ratio_metrics(quality: str = QUALITY_METRIC) -> dict[str, str]:
    """Ratio key in results.json -> the metric (or meta field) it divides; the quality
    metric's key is its name without ``probe.`` (``macro_f1``, ``r2``, ``mae``)."""
    return {
        quality.removeprefix(metrics.PROBE_PREFIX): quality,
        "p95_latency": metrics.latency_p95(1),
        "memory": metrics.PEAK_MEMORY,
        "params": metrics.PARAMS,
    }


def variant_comparisons(rows: list[Row], quality: str = QUALITY_METRIC) -> list[dict[str, Any]]:
    """How much of its parent each derived variant keeps: quality (the run's quality metric),
    latency and memory ratios.

    E.g. "x+layers:3 keeps 98% of x's macro-F1 at 45% of its p95 latency".
    """
    by_id = {r.id: r for r in rows}
    key = quality.removeprefix(metrics.PROBE_PREFIX)
    out = []
    for row in rows:
        parent = by_id.get(row.outcome.candidate.parent or "")
        if parent is None:
            continue
        ratios = {}
        for name, metric in ratio_metrics(quality).items():
            mine, theirs = row.raw(metric), parent.raw(metric)
            ratios[name] = mine / theirs if mine is not None and theirs else None
        parts = []
        if ratios[key] is not None:
            parts.append(f"keeps {ratios[key]:.0%} of {parent.id}'s {metrics.label(quality)}")
        if ratios["p95_latency"] is not None:
            parts.append(f"at {ratios['p95_latency']:.0%} of its p95 latency")
        if ratios["memory"] is not None:
            parts.append(f"and {ratios['memory']:.0%} of its memory")
        sentence = f"{row.id} " + " ".join(parts) + "." if parts else ""
        out.append({"variant": row.id, "parent": parent.id, "ratios": ratios, "sentence": sentence})
    return out
