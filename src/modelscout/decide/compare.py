"""What changed between two runs: candidates, ranks, the pick, and metrics that moved beyond
their noise. ``compare_results`` reads two results dictionaries (results.json) and returns a
structured diff; report/compare.py renders it.
"""

from __future__ import annotations

from typing import Any

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
    return {
        "old": _summary(old),
        "new": _summary(new),
        "recommendation": {
            "old": old.get("recommendation"),
            "new": new.get("recommendation"),
            "changed": old.get("recommendation") != new.get("recommendation"),
        },
        **_candidate_changes(before, after),
        **_metric_changes(before, after),
        "data_changed": old["data"].get("fingerprint") != new["data"].get("fingerprint"),
        "settings_changes": _changes(old.get("settings", {}), new.get("settings", {})),
        "environment_changes": _changes(old.get("environment", {}), new.get("environment", {})),
    }


def _common(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Candidate ids in both runs, in the new run's order."""
    return [cid for cid in after if cid in before]


def _candidate_changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """``added``, ``dropped``, ``status_changes`` and ``rank_changes`` of
    :func:`compare_results`, from each run's candidates by id."""
    common = _common(before, after)
    return {
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
    }


def _metric_changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """``moved_metrics``, ``metrics_added`` and ``metrics_dropped`` of :func:`compare_results`,
    for the candidates in both runs (each run's candidates by id)."""
    common = _common(before, after)
    return {
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
    }


def _summary(results: dict[str, Any]) -> dict[str, Any]:
    return {
        "created": results.get("created"),
        "tool_version": results.get("tool", {}).get("version"),
        "recommendation": results.get("recommendation"),
        "data_fingerprint": results["data"].get("fingerprint"),
    }
