"""What changed between two runs: candidates, ranks, the pick, and metrics that moved beyond
their noise. ``compare_results`` reads two results dictionaries (results.json) and returns a
structured diff; report/compare.py renders it.
"""

from __future__ import annotations

from typing import Any

from modelscout import metrics
from modelscout.errors import UserError

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


def _task(results: dict[str, Any]) -> str:
    """A run's task; classification for a results.json from before the field (schema 1.5)."""
    return results.get("task") or "classification"


def _quality_name(results: dict[str, Any]) -> str:
    return results.get("quality_metric") or metrics.DEFAULT_QUALITY[_task(results)]


def _quality(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Each common candidate's quality in both runs, on the new run's quality metric, and
    whether it got better, worse, or stayed within its spread."""
    name = _quality_name(new)
    found = metrics.spec(name)
    before = {c["id"]: (c.get("metrics") or {}).get(name) or {} for c in old["candidates"]}
    rows = []
    for c in new["candidates"]:
        a, b = before.get(c["id"], {}), (c.get("metrics") or {}).get(name) or {}
        if a.get("value") is None or b.get("value") is None:
            continue
        moved, _, _ = metric_moved(a["value"], b["value"], a.get("spread"), b.get("spread"))
        gained = (b["value"] - a["value"]) * (1 if found.higher_is_better else -1)
        rows.append(
            {
                "id": c["id"],
                "old": a["value"],
                "new": b["value"],
                "old_spread": a.get("spread"),
                "new_spread": b.get("spread"),
                "change": b["value"] - a["value"],
                "verdict": ("better" if gained > 0 else "worse") if moved else "within spread",
            }
        )
    return {
        "metric": name,
        "label": found.label,
        "unit": found.unit,
        "direction": found.direction,
        "old_metric": _quality_name(old),
        "rows": rows,
    }


def compare_results(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A structured diff of two runs' results (``old`` first, then ``new``); ``UserError``
    (one line) when the runs are of different tasks.

    Returns a dict with:

    - ``task``: the task both runs share
    - ``quality``: ``{"metric", "label", "unit", "direction", "old_metric", "rows"}``: the new
      run's quality metric (``old_metric``: the old run's, when it differs the table says so)
      and per candidate in both runs ``{"id", "old", "new", "old_spread", "new_spread",
      "change", "verdict"}``, verdict ``"better"``, ``"worse"`` or ``"within spread"``

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
    if _task(old) != _task(new):
        raise UserError(
            f"cannot compare a {_task(old)} run with a {_task(new)} run: "
            "give two results.json of the same task"
        )
    before = {c["id"]: c for c in old["candidates"]}
    after = {c["id"]: c for c in new["candidates"]}
    return {
        "task": _task(new),
        "quality": _quality(old, new),
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
