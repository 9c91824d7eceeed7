"""The evaluation matrix as rows of display strings, shared by Markdown, CSV and HTML."""

from __future__ import annotations

from typing import Any

from modelscout import metrics

# The metrics the matrix shows, in order; header and format come from metrics.py.
MATRIX_METRICS = (
    metrics.MACRO_F1,
    metrics.ACCURACY,
    metrics.MACRO_PRECISION,
    metrics.MACRO_RECALL,
    metrics.LOGME,
    metrics.latency_p50(1),
    metrics.latency_p95(1),
    metrics.throughput(32),
    metrics.PEAK_MEMORY,
    metrics.LOAD_SECONDS,
    metrics.TRUNCATED,
    metrics.COST_PER_1K,
)
# (header, metric name, format); spread shown where measured.
COLUMNS = tuple((metrics.label(name), name, metrics.fmt(name)) for name in MATRIX_METRICS)
HEADERS = (
    "rank",
    "candidate",
    "status",
    "score",
    *(c[0] for c in COLUMNS),
    "params",
    "Pareto",
    "reason",
)


def find_metric(candidate: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The metric ``name`` of a candidate in results.json, or None when not measured."""
    return candidate.get("metrics", {}).get(name)


def format_metric(candidate: dict[str, Any], name: str, fmt: str, spread: bool = True) -> str:
    """'0.871 ± 0.012', '4.2', or '–' when not measured."""
    found = find_metric(candidate, name)
    if found is None or found.get("value") is None:
        return "–"
    text = fmt.format(found["value"])
    if spread and found.get("spread") is not None:
        text += " ± " + fmt.format(found["spread"])
    return text


def format_params(count: int | None) -> str:
    if count is None:
        return "–"
    return f"{count / 1e6:.1f}M" if count >= 1e5 else f"{count / 1e3:.1f}k"


def matrix_rows(results: dict[str, Any], spread: bool = True) -> list[list[str]]:
    """One list of display strings per candidate, in HEADERS order."""
    rows = []
    for c in results["candidates"]:
        rows.append(
            [
                str(c["rank"]) if c.get("rank") else "–",
                c["id"],
                c["status"],
                f"{c['score']:.3f}" if c.get("score") is not None else "–",
                *(format_metric(c, name, fmt, spread) for _, name, fmt in COLUMNS),
                format_params(c.get("meta", {}).get("params")),
                "yes" if c.get("pareto") else "",
                reason_with_log(c),
            ]
        )
    return rows


def reason_with_log(candidate: dict[str, Any]) -> str:
    """Why a candidate is out, and for a failed one the file its traceback was written to."""
    reason = candidate.get("reason") or ""
    return f"{reason} (traceback: {candidate['log']})" if candidate.get("log") else reason
