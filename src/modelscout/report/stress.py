"""The stress-slice tables both reports show (results.json's ``stress``): candidates ×
perturbations, each cell the quality lost with its 95% interval and the quality under the
perturbation; then the same on the rare classes' rows."""

from __future__ import annotations

from typing import Any

from modelscout import metrics

SHOWN = ("ranked", "rejected")  # the statuses that have measured slices to show


def _names(record: dict[str, Any]) -> list[str]:
    """The slices' columns: the spec's perturbations in its order, then any other slice a
    candidate's measurement holds (none in a run's own results)."""
    names = [p["name"] for p in record["perturbations"]]
    measured = (s["name"] for c in record["candidates"].values() for s in c["slices"])
    return list(dict.fromkeys([*names, *measured]))


def _show(record: dict[str, Any]) -> Any:
    return metrics.spec(record["quality_metric"]).show


def _interval(show: Any, low: float | None, high: float | None) -> str:
    return f" [{show(low)}, {show(high)}]" if low is not None and high is not None else ""


def stress_line(results: dict[str, Any]) -> str | None:
    """What the tables hold: the rows, the seed, the perturbations, what a drop is, and the
    rare classes; None without stress slices."""
    record = results.get("stress")
    if not record:
        return None
    label = metrics.label(record["quality_metric"])
    rare = next((c["rare"] for c in record["candidates"].values() if c.get("rare")), {})
    rows = {c["rows"] for c in record["candidates"].values() if c.get("rows")}
    shown = ", ".join(f"{n:,}" for n in sorted(rows)) or f"up to {record['rows']:,}"
    line = (
        f"{label} of each candidate's probe on {shown} held-out rows of the sample (stratified, "
        f"seed {record['seed']}), clean and perturbed by each of {', '.join(_names(record))}; "
        "the drop is the quality lost under the perturbation, with its 95% paired bootstrap "
        "interval over the rows, and the perturbed quality in parentheses."
    )
    if rare.get("classes"):
        line += f" Rare classes: {', '.join(rare['classes'])}"
        line += f" ({rare['rule']})" if rare.get("rule") else ""
        line += f", scored by {rare['score']}." if rare.get("score") else "."
    elif rare.get("skipped"):
        line += f" No rare-class slices: {rare['skipped']}."
    return line


def stress_headers(results: dict[str, Any]) -> tuple[str, ...]:
    """The drops table's headers: candidate, the clean quality, one per slice, the worst."""
    record = results["stress"]
    label = metrics.label(record["quality_metric"])
    slices = (f"{name}: drop [95%] ({label})" for name in _names(record))
    return ("candidate", f"clean {label}", *slices, "worst slice")


def stress_rows(results: dict[str, Any]) -> list[tuple[str, ...]]:
    """One row per ranked or rejected candidate (decision order), as display strings; '–'
    where a candidate has no such slice."""
    record = results.get("stress")
    if not record:
        return []
    show, out = _show(record), []
    for candidate in results["candidates"]:
        if candidate["status"] not in SHOWN:
            continue
        found = record["candidates"].get(candidate["id"]) or {"slices": [], "worst": None}
        by_name = {s["name"]: s for s in found["slices"]}
        cells = []
        for name in _names(record):
            s = by_name.get(name)
            cells.append(
                "–"
                if s is None
                else f"{show(s['drop'])}{_interval(show, s['low'], s['high'])} "
                f"({show(s['quality'])})"
            )
        clean = show(found["slices"][0]["clean"]) if found["slices"] else "–"
        worst = found["worst"] or (
            f"not measured: {found['reason']}" if found.get("reason") else "–"
        )
        out.append((candidate["id"], clean, *cells, worst))
    return out


def has_rare(results: dict[str, Any]) -> bool:
    """Whether some candidate has rare-class slices."""
    record = results.get("stress") or {}
    return any(
        s.get("rare_drop") is not None
        for c in (record.get("candidates") or {}).values()
        for s in c["slices"]
    )


def rare_headers(results: dict[str, Any]) -> tuple[str, ...]:
    """The rare-class table's headers."""
    record = results["stress"]
    rare = next((c["rare"] for c in record["candidates"].values() if c.get("rare")), {})
    score = rare.get("score") or metrics.label(record["quality_metric"])
    slices = (f"{name}: rare drop [95%]" for name in _names(record))
    return ("candidate", f"rare classes clean ({score})", *slices)


def rare_rows(results: dict[str, Any]) -> list[tuple[str, ...]]:
    """The rare classes' drops per candidate that has any and per slice, as display strings."""
    if not has_rare(results):
        return []
    record = results["stress"]
    show, out = _show(record), []
    for candidate in results["candidates"]:
        found = record["candidates"].get(candidate["id"])
        if candidate["status"] not in SHOWN or not found:
            continue
        if all(s.get("rare_drop") is None for s in found["slices"]):
            continue
        by_name = {s["name"]: s for s in found["slices"]}
        cells = [
            "–"
            if (s := by_name.get(name)) is None or s.get("rare_drop") is None
            else f"{show(s['rare_drop'])}{_interval(show, s.get('rare_low'), s.get('rare_high'))}"
            for name in _names(record)
        ]
        clean = found["slices"][0].get("rare_clean") if found["slices"] else None
        out.append((candidate["id"], show(clean), *cells))
    return out
