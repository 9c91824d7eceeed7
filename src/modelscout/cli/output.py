"""What the command line prints: safe text, short candidate ids, tables that fit the terminal.

Every string from outside (candidate names, labels, reasons, paths, error messages) goes
through ``clean`` before it reaches the terminal, and every table is rich ``Text``, so no
name is ever read as markup or as a terminal control sequence.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from modelscout import metrics
from modelscout.controls import strip_controls
from modelscout.errors import UserError

if TYPE_CHECKING:
    from modelscout.decide import Decision, Row

SHORT_ID_WIDTH = 30
UNBOUNDED = 10_000
# Dropped in this order when the table does not fit the console.
OPTIONAL_COLUMNS = ("Pareto", "params", "peak MB")
P95, PEAK = metrics.latency_p95(1), metrics.PEAK_MEMORY  # the table's latency and memory
QUALITY = metrics.DEFAULT_QUALITY["classification"]  # a run's own: Decision.quality_metric

# Progress, tables beside --json, "Wrote ..." and errors: stdout is kept for machine output.
console = Console(stderr=True)


def clean(text: Any, *, one_line: bool = False) -> str:
    """``text`` without terminal control sequences; with ``one_line``, newlines become spaces."""
    cleaned = strip_controls(text)
    return " ".join(cleaned.split()) if one_line else cleaned


def print_error(message: str) -> None:
    """``message`` as one ``error:`` line on stderr."""
    console.print(Text("error: ", style="bold red") + Text(clean(message)), soft_wrap=True)


def print_json(value: Any) -> None:
    """``value`` as indented JSON alone on stdout (arrays of plain values on one line, as in
    results.json)."""
    from modelscout.report.json import dumps_results

    # ASCII: no outside string's control character (C1 ones too) reaches the terminal raw
    print(dumps_results(value, ascii_only=True))


def write_text(path: Path, text: str, flag: str) -> None:
    """Write ``text`` to ``path``, creating its folders; one line when that cannot be done."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise UserError(
            f"cannot write {path} ({error.strerror or error}); give {flag} a writable path"
        ) from None


def ellipsize_middle(text: str, width: int) -> str:
    """``text`` cut in the middle to ``width`` characters, both ends kept."""
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head) :]


def short_id(
    candidate_id: str, source: str, variants: list[str], width: int = SHORT_ID_WIDTH
) -> str:
    """A candidate's id for the table: a folder's last path component with its ``+variant``
    parts, ellipsized in the middle; package, Hub and baseline ids as they are (shortened
    only past ``width``). results.json keeps the full id."""
    suffix = "".join(f"+{v}" for v in variants)
    base = candidate_id[: len(candidate_id) - len(suffix)] if suffix else candidate_id
    if source == "folder":
        base = base.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1] or base
    return ellipsize_middle(clean(base + suffix, one_line=True), width)


def row_id(row: Row) -> str:
    candidate = row.outcome.candidate
    return short_id(candidate.id, candidate.source, [str(v) for v in candidate.variants])


def _cells(row: Row, quality: str) -> dict[str, str]:
    from modelscout.report.matrix import format_metric, format_params

    measured = {
        "metrics": {
            name: {"value": m.value, "spread": m.spread}
            for name, m in row.outcome.measurements.items()
        }
    }
    return {
        "rank": str(row.rank or "–"),
        "candidate": row_id(row),
        "status": row.status,
        metrics.label(quality): format_metric(measured, quality, metrics.fmt(quality)),
        "p95 ms": format_metric(measured, P95, metrics.fmt(P95), spread=False),
        "peak MB": format_metric(measured, PEAK, metrics.fmt(PEAK), spread=False),
        "params": format_params(row.outcome.meta.params),
        "score": f"{row.score:.3f}" if row.score is not None else "–",
        "Pareto": "yes" if row.pareto else "",
    }


def _table(cells: list[dict[str, str]], headers: list[str]) -> Table:
    # No vertical rules: more room for the ids in 80 columns, and plainer in CI logs.
    table = Table(
        title="modelscout ranking",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),  # one space, and the rule's, between columns
    )
    for header in headers:
        # An id is never broken over two lines: a cell that cannot fit is ellipsized.
        table.add_column(header, no_wrap=True, overflow="ellipsis")
    for row in cells:
        table.add_row(*(Text(clean(row[h], one_line=True)) for h in headers))
    return table


def ranking_table(rows: list[Row], console: Console, quality: str = QUALITY) -> Table:
    """The ranking as a table as wide as ``console`` allows, dropping the Pareto, params and
    peak MB columns (in that order) while it does not fit; ``quality``: the run's quality
    metric (``Decision.quality_metric``), the column after the status."""
    cells = [_cells(row, quality) for row in rows]
    headers = list(cells[0]) if cells else ["rank", "candidate", "status"]
    unbounded = console.options.update_width(UNBOUNDED)  # the width it needs, not what it gets
    for column in (None, *OPTIONAL_COLUMNS):
        if column:
            headers.remove(column)
        table = _table(cells, headers)
        if Measurement.get(console, unbounded, table).maximum <= console.width:
            break
    return table


def show_decision(decision: Decision, out: Console, output: Any = None) -> None:
    """The ranking table, why each rejected or failed candidate is out, and the pick."""
    out.print(ranking_table(decision.rows, out, decision.quality_metric))
    for row in decision.rows:
        if row.reason:
            line = f"  {row_id(row)} {row.status}: {clean(row.reason, one_line=True)}"
            if row.outcome.log and output is not None:
                line += f" (traceback: {clean(output / row.outcome.log)})"
            out.print(Text(line), soft_wrap=True)  # a path broken over lines cannot be copied
    recommendation = clean(decision.recommendation or "none", one_line=True)
    out.print(Text("Recommendation: ", style="bold") + Text(recommendation))
    out.print(Text(clean(decision.rationale)))
    threads = [
        m.detail["threads"]
        for row in decision.rows
        if (m := row.outcome.measurements.get(P95)) and m.detail
    ]
    if threads:
        source = clean(decision.run.threads.get("source", ""), one_line=True)
        out.print(Text(f"Timed with {threads[0]} thread(s) ({source})."))
    for row in decision.rows:
        for flag in row.flags:
            flagged = f"{row_id(row)}: {clean(flag, one_line=True)}"
            out.print(Text("Flagged: ", style="bold yellow") + Text(flagged))
    for warning in decision.warnings:
        out.print(Text("Warning: ", style="bold yellow") + Text(clean(warning, one_line=True)))
    by_reason: dict[str, list[str]] = {}  # one line per reason, not per estimator
    for name, why in decision.run.estimators_skipped.items():
        by_reason.setdefault(clean(why, one_line=True), []).append(clean(name))
    for why, names in by_reason.items():
        word = "estimator" if len(names) == 1 else "estimators"
        out.print(Text(f"Skipped {word} {', '.join(names)}: {why}"))
