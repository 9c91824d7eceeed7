"""The evaluation matrix as rows of display strings, shared by Markdown, CSV and HTML.

The probe columns are the run's task's (``metrics.quality_choices``), its quality metric
first; every other column is the same for every task.
"""

from __future__ import annotations

from typing import Any

from modelscout import metrics
from modelscout.records import Task

# The columns after the probe's, in order; header and format come from metrics.py.
SHARED_METRICS = (
    metrics.LOGME,
    metrics.latency_p50(1),
    metrics.latency_p95(1),
    metrics.throughput(32),
    metrics.PEAK_MEMORY,
    metrics.LOAD_SECONDS,
    metrics.TRUNCATED,
    metrics.COST_PER_1K,
)
CLASSIFICATION = "classification"  # the task of a results.json from before schema 1.5
MEAN_PREDICTOR = "mean predictor"  # the floor every regression candidate must beat
BEATS_HEADER = "beats"
# A classification matrix keeps the order reports have always had.
CLASSIFICATION_ORDER = (
    metrics.MACRO_F1,
    metrics.ACCURACY,
    metrics.MACRO_PRECISION,
    metrics.MACRO_RECALL,
    metrics.ECE,
)


def results_task(results: dict[str, Any]) -> Task:
    """The task of a run; classification for a results.json that predates the field."""
    return results.get("task") or CLASSIFICATION


def results_quality(results: dict[str, Any]) -> str:
    """The run's quality metric (a full name), or its task's default."""
    return results.get("quality_metric") or metrics.DEFAULT_QUALITY[results_task(results)]


def quality_words(results: dict[str, Any]) -> str:
    """'R²', 'MAE (target units, lower is better)': the quality metric as a person reads it."""
    name = results_quality(results)
    found = metrics.spec(name)
    notes = [found.unit] if found.unit == metrics.TARGET_UNITS else []
    if found.direction == "lower":
        notes.append("lower is better")
    return found.label + (f" ({', '.join(notes)})" if notes else "")


def matrix_metrics(results: dict[str, Any]) -> tuple[str, ...]:
    """The metrics the matrix shows for this run, the quality metric first."""
    task = results_task(results)
    quality = results_quality(results)
    order = CLASSIFICATION_ORDER if task == CLASSIFICATION else metrics.quality_choices(task)
    # the quality expected at full size beside the sample's, where the run predicted it
    predicted = metrics.predicted(quality)
    full = [predicted] if any(find_metric(c, predicted) for c in results["candidates"]) else []
    return (quality, *full, *(n for n in order if n != quality), *SHARED_METRICS)


def matrix_columns(results: dict[str, Any]) -> tuple[tuple[str, str, str], ...]:
    """(header, metric name, format) of each metric column of this run's matrix."""
    return tuple((metrics.label(n), n, metrics.fmt(n)) for n in matrix_metrics(results))


def _headers(columns: tuple[tuple[str, str, str], ...], beats: bool) -> tuple[str, ...]:
    return (
        "rank",
        "candidate",
        "status",
        "score",
        *(c[0] for c in columns),
        "params",
        "Pareto",
        *((BEATS_HEADER,) if beats else ()),
        "reason",
    )


def has_beats(results: dict[str, Any]) -> bool:
    """Whether some candidate says which baselines it beats (results.json 1.5)."""
    return any(c.get("beats") for c in results["candidates"])


def matrix_headers(results: dict[str, Any]) -> tuple[str, ...]:
    """The matrix's headers for this run, in the order of :func:`matrix_rows`' cells."""
    return _headers(matrix_columns(results), has_beats(results))


# A classification run's columns and headers (results.json without task fields).
COLUMNS = matrix_columns({"candidates": []})
HEADERS = _headers(COLUMNS, beats=False)


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


def beats_text(candidate: dict[str, Any]) -> str:
    """'mean predictor, baseline:tfidf; not baseline:columns', or '' when not judged."""
    beats = candidate.get("beats") or {}
    won = [name for name, beaten in beats.items() if beaten]
    lost = [name for name, beaten in beats.items() if not beaten]
    parts = [", ".join(won)] if won else []
    if lost:
        parts.append("not " + ", ".join(lost))
    return "; ".join(parts)


def matrix_rows(results: dict[str, Any], spread: bool = True) -> list[list[str]]:
    """One list of display strings per candidate, in :func:`matrix_headers` order."""
    columns = matrix_columns(results)
    beats = has_beats(results)
    rows = []
    for c in results["candidates"]:
        rows.append(
            [
                str(c["rank"]) if c.get("rank") else "–",
                c["id"],
                c["status"],
                f"{c['score']:.3f}" if c.get("score") is not None else "–",
                *(format_metric(c, name, fmt, spread) for _, name, fmt in columns),
                format_params(c.get("meta", {}).get("params")),
                "yes" if c.get("pareto") else "",
                *((beats_text(c),) if beats else ()),
                reason_with_log(c),
            ]
        )
    return rows


def units_note(results: dict[str, Any]) -> str | None:
    """The note on figures in the target's units (MAE, RMSE), and on a log transform; None
    when no column is in target units."""
    shown = [n for n in matrix_metrics(results) if metrics.unit(n) == metrics.TARGET_UNITS]
    if not shown:
        return None
    labels = " and ".join(metrics.label(n) for n in shown)
    note = f"{labels} are in the target's own units (target units)"
    transform = ((results.get("data") or {}).get("target") or {}).get("transform")
    if transform == "log":
        note += "; the probe was fitted on log(target), figures in original units"
    return note


def reason_with_log(candidate: dict[str, Any]) -> str:
    """Why a candidate is out, and for a failed one the file its traceback was written to."""
    reason = candidate.get("reason") or ""
    return f"{reason} (traceback: {candidate['log']})" if candidate.get("log") else reason
