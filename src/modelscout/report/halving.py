"""The successive-halving tables both reports show: the rounds (rows, candidates, who went on,
what each cost), and per candidate how far it went and why it stopped."""

from __future__ import annotations

from typing import Any

from modelscout import metrics

ROUND_HEADERS = ("round", "rows", "candidates", "went on", "kept on a tie", "passes", "seconds")


def halving_headers(results: dict[str, Any]) -> tuple[str, ...]:
    """The per-candidate table's headers, the quality metric named."""
    record = results.get("halving") or {}
    label = metrics.label(record["metric"]) if record.get("metric") else "quality"
    return ("candidate", "rounds", "rows (last round)", f"{label} (last round)", "outcome")


def halving_rows(results: dict[str, Any]) -> list[tuple[str, ...]]:
    """One row per candidate, the furthest first, as display strings."""
    record = results.get("halving")
    if not record:
        return []
    show = metrics.spec(record["metric"]).show
    standings = sorted(
        record["candidates"].items(), key=lambda item: (-item[1]["rounds"], item[1]["status"])
    )
    return [
        (
            cid,
            str(standing["rounds"]),
            f"{standing['rows']:,}",
            show(standing["value"]),
            standing["reason"] or standing["status"]
            if standing["status"] != "finalist"
            else "finalist",
        )
        for cid, standing in standings
    ]


def round_rows(results: dict[str, Any]) -> list[tuple[str, ...]]:
    """One row per round, as display strings."""
    record = results.get("halving")
    if not record:
        return []
    return [
        (
            f"{r['round']}{' (last)' if r['last'] else ''}",
            f"{r['rows']:,}",
            str(len(r["candidates"])),
            "–" if r["last"] else str(len(r["survivors"])),
            ", ".join(r["kept_on_ties"]) or "–",
            f"{r['passes']:.2f}",
            f"{r['seconds']:.1f}",
        )
        for r in record["rounds"]
    ]
