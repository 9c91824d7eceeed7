"""What changed between two runs, as Markdown: ``render_comparison_markdown`` writes the diff
that ``decide.compare.compare_results`` computes, for a terminal, a pull request or a ticket.
"""

from __future__ import annotations

from typing import Any

from modelscout.decide.compare import RELATIVE_CHANGE, compare_results, metric_moved
from modelscout.report.md_escape import md_code, md_text

__all__ = ["compare_results", "metric_moved", "render_comparison_markdown"]


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


def _signed(value: float, unit: str | None) -> str:
    return f"{'+' if value > 0 else ''}{_number(value, unit)}"


def _interval(test: dict[str, Any], unit: str | None) -> str:
    """'95% interval -0.012 to +0.031'."""
    return f"95% interval {_signed(test['low'], unit)} to {_signed(test['high'], unit)}"


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
        elif m.get("low") is not None:
            beyond = f"{_interval(m, unit)} ({m['rule']})"
        else:
            # a move away from 0 has no relative size: it is said as such, never divided by 0
            beyond = (
                f"{m['change'] / m['old']:+.0%} (over {RELATIVE_CHANGE:.0%})"
                if m["old"]
                else "from 0"
            )
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
    lines = _heading_lines(diff)
    lines += _candidate_lines(diff)
    lines += _rank_lines(diff)
    lines += _quality_lines(diff)
    lines += _metric_lines(diff)
    lines += _difference_tables(diff)
    return "\n".join(lines)


def _heading_lines(diff: dict[str, Any]) -> list[str]:
    """The title, both runs' dates and versions, the pick, and a warning if the data changed."""
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
    return lines


def _candidate_lines(diff: dict[str, Any]) -> list[str]:
    """The Candidates section: added, dropped, and status changes with their reasons."""
    lines = ["## Candidates", ""]
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
    return lines


def _rank_lines(diff: dict[str, Any]) -> list[str]:
    """The Ranks section: a table of the ranks that changed, or a line saying none did."""
    lines = ["## Ranks", ""]
    if diff["rank_changes"]:
        lines += ["| candidate | old rank | new rank |", "|---|---:|---:|"]
        lines += [
            f"| {_text(r['id'])} | {_rank(r['old'])} | {_rank(r['new'])} |"
            for r in diff["rank_changes"]
        ]
    else:
        lines.append("No rank changed.")
    lines.append("")
    return lines


def _quality_lines(diff: dict[str, Any]) -> list[str]:
    """The quality section: each candidate's quality metric in both runs and the verdict."""
    quality = diff["quality"]
    unit = quality["unit"]
    direction = "higher" if quality["direction"] == "higher" else "lower"
    lines = [
        f"## Quality: {_text(quality['label'])} ({_text(unit)}, {direction} is better)",
        "",
        f"Task: {_text(diff['task'])}; compared on {md_code(quality['metric'])}.",
    ]
    if quality["old_metric"] != quality["metric"]:
        lines[-1] += (
            f" The old run ranked on {md_code(quality['old_metric'])}: its pick was chosen "
            "on another metric."
        )
    test = quality.get("test")
    lines += ["", _text(test["sentence"]), ""] if test else [""]
    if quality.get("picks"):
        lines += [_text(quality["picks"]["sentence"]), ""]
    if not quality["rows"]:
        return [*lines, "No candidate has this metric in both runs.", ""]
    tested = any(row.get("test") for row in quality["rows"])
    if tested:
        lines += [
            "| candidate | old | new | change | tested new − old | verdict |",
            "|---|---:|---:|---:|---|---|",
        ]
    else:
        lines += ["| candidate | old | new | change | verdict |", "|---|---:|---:|---:|---|"]
    for row in quality["rows"]:
        cells = [
            _text(row["id"]),
            _with_spread(row["old"], row["old_spread"], unit),
            _with_spread(row["new"], row["new_spread"], unit),
            _signed(row["change"], unit),
        ]
        if tested:
            cells.append(_tested(row.get("test"), unit))
        lines.append(f"| {' | '.join(cells)} | {row['verdict']} |")
    return [*lines, ""]


def _tested(test: dict[str, Any] | None, unit: str | None) -> str:
    """A quality row's test: '+0.012, 95% interval -0.004 to +0.030 (paired, 540 rows)'."""
    if test is None:
        return "not tested (no predictions kept)"
    how = f"paired, {test['rows']:,} rows" if test["rows"] else "not paired"
    return f"{_signed(test['difference'], unit)}, {_interval(test, unit)} ({how})"


def _metric_lines(diff: dict[str, Any]) -> list[str]:
    """The moved-metrics section: the table and its rule, then metrics measured in one run
    only, per candidate."""
    lines = ["## Metrics that moved beyond their spread", ""]
    if diff["moved_metrics"]:
        lines += _moved_table(diff["moved_metrics"])
        lines += [
            "",
            "A metric with a spread (fold-to-fold std) moved when the change exceeds the larger "
            "of the two spreads; one without a spread moved when it changed by more than "
            f"{RELATIVE_CHANGE:.0%}.",
        ]
        if any(m.get("low") is not None for m in diff["moved_metrics"]):
            lines[-1] += (
                " The quality metric, where both runs kept predictions, moved when the 95% "
                "interval of its bootstrap test excludes 0."
            )
    else:
        lines.append(
            "None: every metric measured in both runs stayed within its spread "
            f"(or {RELATIVE_CHANGE:.0%})."
        )
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
    return lines


def _difference_tables(diff: dict[str, Any]) -> list[str]:
    """A table each for the settings and the environment fields that differ (none if equal)."""
    lines: list[str] = []
    for key, title in (("settings_changes", "Settings"), ("environment_changes", "Environment")):
        if diff[key]:
            lines += [f"## {title} that differ", "", "| key | old | new |", "|---|---|---|"]
            lines += [
                f"| {_cell(c['key'])} | {_text(c['old'])} | {_text(c['new'])} |" for c in diff[key]
            ]
            lines.append("")
    return lines
