"""The Pareto set: ranked candidates no other beats on quality, latency and memory at once."""

from __future__ import annotations

from modelscout import metrics
from modelscout.decide.records import Row

PARETO_AXES = (metrics.MACRO_F1, metrics.latency_p95(1), metrics.PEAK_MEMORY)


def pareto_front(rows: list[Row]) -> list[str]:
    """Ids of the rows no other row beats on every Pareto axis; each axis's direction is its
    metric's (metrics.py)."""
    points = {}
    for row in rows:
        values = [row.raw(metric) for metric in PARETO_AXES]
        if all(v is not None for v in values):
            points[row.id] = [
                v if metrics.spec(name).higher_is_better else -v
                for v, name in zip(values, PARETO_AXES, strict=True)
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


def pareto_axes_label() -> str:
    """'macro-F1, p95 ms @1, peak MB': the axes, as the reports name them."""
    return ", ".join(metrics.label(name) for name in PARETO_AXES)
