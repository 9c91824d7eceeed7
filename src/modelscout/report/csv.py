"""matrix.csv: the evaluation matrix, one row per candidate, raw numbers."""

from __future__ import annotations

import csv
import io
from typing import Any


def render_csv(results: dict[str, Any]) -> str:
    """Raw values (not display strings), one column per metric and one per spread."""
    names = sorted({name for c in results["candidates"] for name in c.get("metrics", {})})
    header = ["rank", "id", "status", "score", "pareto", "params", "reason", "log"]
    for name in names:
        header += [name, f"{name}.spread"]
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
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue()
