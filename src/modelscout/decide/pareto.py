"""The Pareto set: ranked candidates no other beats on quality (the run's quality metric),
latency and memory at once."""

from __future__ import annotations

from modelscout import metrics
from modelscout.decide.criteria import QUALITY_METRIC
from modelscout.decide.records import Row


def pareto_axes(quality: str = QUALITY_METRIC) -> tuple[str, str, str]:
    """The Pareto axes of a run whose quality metric is ``quality``: it, p95 latency, memory."""
    return (quality, metrics.latency_p95(1), metrics.PEAK_MEMORY)


def pareto_front(rows: list[Row], quality: str = QUALITY_METRIC) -> list[str]:
    """Ids of the rows no other row beats on every Pareto axis; each axis's direction is its
    metric's (metrics.py)."""
    axes = pareto_axes(quality)
    points = {}
    for row in rows:
        values = [row.raw(metric) for metric in axes]
        if all(v is not None for v in values):
            points[row.id] = [
                v if metrics.spec(name).higher_is_better else -v
                for v, name in zip(values, axes, strict=True)
            ]
    return [
        cid
        for cid, p in points.items()
        if not any(
            all(a >= b for a, b in zip(q, p, strict=True))
            and any(a > b for a, b in zip(q, p, strict=True))
            for other, q in points.items()
            if other != cid
        )
    ]


def pareto_axes_label(quality: str = QUALITY_METRIC) -> str:
    """'macro-F1, p95 ms @1, peak MB' (or 'R², ...'): the axes, as the reports name them."""
    return ", ".join(metrics.label(name) for name in pareto_axes(quality))
