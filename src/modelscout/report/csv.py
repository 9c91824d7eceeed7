"""matrix.csv: the evaluation matrix, one row per candidate, raw numbers."""

from __future__ import annotations

import csv
import io
from typing import Any

# One column per baseline (or the mean predictor) a candidate was judged against.
BEATS_PREFIX = "beats:"


def render_csv(results: dict[str, Any]) -> str:
    """Raw values (not display strings), one column per metric (the task's, as measured) and
    one per spread; then ``beats:<baseline>`` (True/False) where candidates were judged."""
    names = sorted({name for c in results["candidates"] for name in c.get("metrics", {})})
    judged = list(dict.fromkeys(k for c in results["candidates"] for k in c.get("beats") or {}))
    header = ["rank", "id", "status", "score", "pareto", "params", "reason", "log"]
    for name in names:
        header += [name, f"{name}.spread"]
    header += [BEATS_PREFIX + name for name in judged]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for c in results["candidates"]:
        row = [
            c.get("rank"),
            c["id"],
            c["status"],
            c.get("score"),
            c.get("pareto"),
            c.get("meta", {}).get("params"),
            c.get("reason"),
            c.get("log"),
        ]
        for name in names:
            metric = c.get("metrics", {}).get(name, {})
            row += [metric.get("value"), metric.get("spread")]
        row += [(c.get("beats") or {}).get(name) for name in judged]
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue()
