"""What changed between two runs: candidates, ranks, the pick, and metrics that moved.

``compare_results`` reads two results dictionaries (results.json) and returns a structured
diff; ``render_comparison_markdown`` writes it for a terminal, a pull request or a ticket.
"""

from __future__ import annotations

from typing import Any

from modelscout.report.md_escape import md_code, md_text

EPSILON = 1e-9
RELATIVE_CHANGE = 0.10


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, inner in value.items():
            flat.update(_flatten(inner, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): value}


def _changes(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """Every nested key whose value differs, with both values (None where absent)."""
    before, after = _flatten(old), _flatten(new)
    keys = list(before) + [k for k in after if k not in before]
    return [
        {"key": k, "old": before.get(k), "new": after.get(k)}
        for k in keys
        if before.get(k) != after.get(k)
    ]


def metric_moved(
    old: float, new: float, old_spread: float | None, new_spread: float | None
) -> tuple[bool, float, str]:
    """Whether a metric moved beyond its noise: (moved, threshold, rule).

    With a spread on either side (the fold-to-fold std): moved when
    ``|new - old| > max(old_spread, new_spread, 1e-9)``; the threshold is that maximum.
    Without one (single measurements such as latency or memory): moved when the relative
    change ``|new - old| / |old|`` exceeds 10%; the threshold is ``0.1 * |old|`` (from 0, any
    change above 1e-9 counts).
    """
    change = abs(new - old)
    if old_spread is not None or new_spread is not None:
        threshold = max(old_spread or 0.0, new_spread or 0.0, EPSILON)
        return change > threshold, threshold, "spread"
    threshold = max(RELATIVE_CHANGE * abs(old), EPSILON)
    return change > threshold, threshold, "relative"


def _moved_metrics(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    moved = []
    for name in sorted(set(old["metrics"]) & set(new["metrics"])):
        before, after = old["metrics"][name], new["metrics"][name]
        a, b = before.get("value"), after.get("value")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b)):
            continue
        beyond, threshold, rule = metric_moved(a, b, before.get("spread"), after.get("spread"))
        if beyond:
            moved.append(
                {
                    "id": new["id"],
                    "metric": name,
                    "unit": after.get("unit") or before.get("unit"),
                    "old": a,
                    "new": b,
                    "old_spread": before.get("spread"),
                    "new_spread": after.get("spread"),
                    "change": b - a,
                    "threshold": threshold,
                    "rule": rule,
                }
            )
    return moved


def compare_results(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A structured diff of two runs' results (``old`` first, then ``new``).

    Returns a dict with:

    - ``old`` / ``new``: ``created``, ``tool_version``, ``recommendation``, ``data_fingerprint``
    - ``recommendation``: ``{"old", "new", "changed"}``
    - ``added`` / ``dropped``: candidate ids only in the new / only in the old run
    - ``status_changes``: ``{"id", "old", "new", "old_reason", "new_reason"}``
      (e.g. ranked -> rejected)
    - ``rank_changes``: ``{"id", "old", "new"}`` for candidates in both runs whose rank differs
      (``None`` when not ranked)
    - ``moved_metrics``: metrics measured in both runs that moved beyond their noise (see
      :func:`metric_moved`): ``{"id", "metric", "unit", "old", "new", "old_spread",
      "new_spread", "change", "threshold", "rule"}``; ``rule`` is ``"spread"`` or ``"relative"``
    - ``metrics_added`` / ``metrics_dropped``: ``{"id", "metric"}`` measured in one run only
    - ``data_changed``: the data fingerprints differ
    - ``settings_changes`` / ``environment_changes``: ``{"key", "old", "new"}`` for every nested
      setting, package version or machine field that differs
    """
    before = {c["id"]: c for c in old["candidates"]}
    after = {c["id"]: c for c in new["candidates"]}
    common = [cid for cid in after if cid in before]
    return {
        "old": _summary(old),
        "new": _summary(new),
        "recommendation": {
            "old": old.get("recommendation"),
            "new": new.get("recommendation"),
            "changed": old.get("recommendation") != new.get("recommendation"),
        },
        "added": [cid for cid in after if cid not in before],
        "dropped": [cid for cid in before if cid not in after],
        "status_changes": [
            {
                "id": cid,
                "old": before[cid]["status"],
                "new": after[cid]["status"],
                "old_reason": before[cid].get("reason"),
                "new_reason": after[cid].get("reason"),
            }
            for cid in common
            if before[cid]["status"] != after[cid]["status"]
        ],
        "rank_changes": [
            {"id": cid, "old": before[cid].get("rank"), "new": after[cid].get("rank")}
            for cid in common
            if before[cid].get("rank") != after[cid].get("rank")
        ],
        "moved_metrics": [m for cid in common for m in _moved_metrics(before[cid], after[cid])],
        "metrics_added": [
            {"id": cid, "metric": name}
            for cid in common
            for name in sorted(set(after[cid]["metrics"]) - set(before[cid]["metrics"]))
        ],
        "metrics_dropped": [
            {"id": cid, "metric": name}
            for cid in common
            for name in sorted(set(before[cid]["metrics"]) - set(after[cid]["metrics"]))
        ],
        "data_changed": old["data"].get("fingerprint") != new["data"].get("fingerprint"),
        "settings_changes": _changes(old.get("settings", {}), new.get("settings", {})),
        "environment_changes": _changes(old.get("environment", {}), new.get("environment", {})),
    }


def _summary(results: dict[str, Any]) -> dict[str, Any]:
    return {
        "created": results.get("created"),
        "tool_version": results.get("tool", {}).get("version"),
        "recommendation": results.get("recommendation"),
        "data_fingerprint": results["data"].get("fingerprint"),
    }


def _text(value: Any) -> str:
    """Outside text (ids, reasons, setting values) as Markdown that renders literally."""
    return "–" if value is None else md_text(value)


def _cell(value: Any) -> str:
    """One of our names (a metric, a setting) as a code span for a table cell: pipes escaped
    (GFM splits cells on them even in code)."""
    return md_code(value).replace("|", "\\|")


def _number(value: float, unit: str | None) -> str:
    if unit == "fraction":
        return f"{value:.3f}"
    return f"{value:,.0f}" if abs(value) >= 1e4 else f"{value:.4g}"


def _with_spread(value: float, spread: float | None, unit: str | None) -> str:
    text = _number(value, unit)
    return text if spread is None else f"{text} ± {_number(spread, unit)}"


def _rank(rank: int | None) -> str:
    return "–" if rank is None else str(rank)


def _moved_table(moved: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| candidate | metric | old | new | change | beyond |",
        "|---|---|---:|---:|---:|---|",
    ]
    for m in moved:
        unit = m["unit"]
        change = f"{'+' if m['change'] > 0 else ''}{_number(m['change'], unit)}"
        if m["rule"] == "spread":
            beyond = f"spread {_number(m['threshold'], unit)}"
        else:
            beyond = f"{m['change'] / m['old']:+.0%} (over 10%)" if m["old"] else "from 0"
        metric = f"{m['metric']} ({unit})" if unit else m["metric"]
        old = _with_spread(m["old"], m["old_spread"], unit)
        new = _with_spread(m["new"], m["new_spread"], unit)
        lines.append(
            f"| {_text(m['id'])} | {_cell(metric)} | {old} | {new} | {change} | {beyond} |"
        )
    return lines


def render_comparison_markdown(diff: dict[str, Any]) -> str:
    """The diff from :func:`compare_results` as Markdown: the pick first, then candidates,
    ranks, moved metrics, and what differed in data, settings and environment."""
    old, new = diff["old"], diff["new"]
    pick = diff["recommendation"]
    lines = [
        "# modelscout: what changed between two runs",
        "",
        f"Old run: {_text(old['created'])} (modelscout {_text(old['tool_version'])}); "
        f"new run: {_text(new['created'])} (modelscout {_text(new['tool_version'])}).",
        "",
    ]
    if pick["changed"]:
        lines.append(f"**Recommendation changed:** {_text(pick['old'])} → {_text(pick['new'])}.")
    else:
        lines.append(f"**Recommendation unchanged:** {_text(pick['new'])}.")
    lines.append("")
    if diff["data_changed"]:
        lines += [
            f"**The data changed** (fingerprint {md_code(str(old['data_fingerprint'])[:12])} → "
            f"{md_code(str(new['data_fingerprint'])[:12])}): scores are not directly comparable.",
            "",
        ]

    lines += ["## Candidates", ""]
    if not (diff["added"] or diff["dropped"] or diff["status_changes"]):
        lines.append("Same candidates, same statuses.")
    for cid in diff["added"]:
        lines.append(f"- added: {_text(cid)}")
    for cid in diff["dropped"]:
        lines.append(f"- dropped: {_text(cid)}")
    for change in diff["status_changes"]:
        if change["new_reason"]:
            why = f" ({_text(change['new_reason'])})"
        else:
            why = f" (was: {_text(change['old_reason'])})" if change["old_reason"] else ""
        lines.append(
            f"- {_text(change['id'])}: {_text(change['old'])} → {_text(change['new'])}{why}"
        )
    lines.append("")

    lines += ["## Ranks", ""]
    if diff["rank_changes"]:
        lines += ["| candidate | old rank | new rank |", "|---|---:|---:|"]
        lines += [
            f"| {_text(r['id'])} | {_rank(r['old'])} | {_rank(r['new'])} |"
            for r in diff["rank_changes"]
        ]
    else:
        lines.append("No rank changed.")
    lines.append("")

    lines += ["## Metrics that moved beyond their spread", ""]
    if diff["moved_metrics"]:
        lines += _moved_table(diff["moved_metrics"])
        lines += [
            "",
            "A metric with a spread (fold-to-fold std) moved when the change exceeds the larger "
            "of the two spreads; one without a spread moved when it changed by more than 10%.",
        ]
    else:
        lines.append("None: every metric measured in both runs stayed within its spread (or 10%).")
    for key, label in (
        ("metrics_added", "newly measured"),
        ("metrics_dropped", "no longer measured"),
    ):
        by_candidate: dict[str, list[str]] = {}
        for m in diff[key]:
            by_candidate.setdefault(m["id"], []).append(md_code(m["metric"]))
        if by_candidate:
            lines.append("")
        lines += [
            f"- {label} for {_text(cid)}: {', '.join(names)}" for cid, names in by_candidate.items()
        ]
    lines.append("")

    for key, title in (("settings_changes", "Settings"), ("environment_changes", "Environment")):
        if diff[key]:
            lines += [f"## {title} that differ", "", "| key | old | new |", "|---|---|---|"]
            lines += [
                f"| {_cell(c['key'])} | {_text(c['old'])} | {_text(c['new'])} |" for c in diff[key]
            ]
            lines.append("")
    return "\n".join(lines)
