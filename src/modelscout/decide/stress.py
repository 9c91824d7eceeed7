"""The stress slices in the decision (issue #15): which ranked candidate is fragile, where the
long tail breaks first, and the ``stress`` record results.json carries (docs/decisions.md).

The slices themselves are measured in measure/stress.py; each candidate's are in the detail
of its ``metrics.STRESS_DROP`` measurement. The sentences are written in rationale.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelscout import metrics
from modelscout.decide.records import Row
from modelscout.spec import Spec

# How much larger than the overall drop the rare classes' drop must be to say the long tail
# breaks first (and its interval's low end must lie above the overall drop).
RARE_FACTOR = 2.0


def stress_detail(row: Row) -> dict[str, Any] | None:
    """The detail of a row's ``STRESS_DROP`` measurement (every slice), None without one."""
    found = row.outcome.measurements.get(metrics.STRESS_DROP)
    return found.detail if found is not None and found.detail else None


def worst_slice(row: Row) -> dict[str, Any] | None:
    """The slice a row loses most under (its detail's ``worst``), None without slices."""
    detail = stress_detail(row)
    if not detail or not detail.get("slices"):
        return None
    named = [s for s in detail["slices"] if s["name"] == detail.get("worst")]
    return named[0] if named else max(detail["slices"], key=lambda s: s["drop"])


def _low(found: dict[str, Any]) -> float:
    return found["drop"] if found.get("low") is None else found["low"]


def _high(found: dict[str, Any]) -> float:
    return found["drop"] if found.get("high") is None else found["high"]


def fragile(order: list[Row]) -> Row | None:
    """The fragile candidate among the ranked ``order`` (best first), or None.

    The ranked candidate X with the largest worst-slice drop is fragile when, of at least two
    ranked candidates with stress slices, the low end of X's drop interval lies above the
    median worst drop of the others and, when X is not the pick, above the high end of the
    pick's worst drop interval: its drop is clearly larger, not within the resampling noise.
    A slice without an interval counts with its point."""
    measured = [(r, worst_slice(r)) for r in order]
    measured = [(r, s) for r, s in measured if s is not None]
    if len(measured) < 2:
        return None
    candidate, found = max(measured, key=lambda item: item[1]["drop"])
    others = [s["drop"] for r, s in measured if r is not candidate]
    if _low(found) <= float(np.median(others)):
        return None
    pick = worst_slice(order[0])
    if candidate is not order[0] and pick is not None and _low(found) <= _high(pick):
        return None
    return candidate


def others_median(order: list[Row], candidate: Row) -> float:
    """The median worst drop of the ranked candidates with slices other than ``candidate``."""
    drops = [s["drop"] for r in order if r is not candidate and (s := worst_slice(r))]
    return float(np.median(drops))


def rare_break(row: Row) -> dict[str, Any] | None:
    """The slice under which ``row``'s rare classes break first, or None: the one with the
    largest rare-class drop among those where that drop is at least ``RARE_FACTOR`` times the
    overall drop (floored at 0) and its interval's low end lies above the overall drop."""
    detail = stress_detail(row) or {}
    broken = [
        s
        for s in detail.get("slices") or []
        if s.get("rare_drop") is not None
        and s["rare_drop"] > 0
        and s["rare_drop"] >= RARE_FACTOR * max(s["drop"], 0.0)
        and (s["rare_drop"] if s.get("rare_low") is None else s["rare_low"]) > max(s["drop"], 0)
    ]
    return max(broken, key=lambda s: s["rare_drop"], default=None)


def stress_record(
    spec: Spec, rows: list[Row], quality: str, found: Row | None, sentences: list[str]
) -> dict[str, Any] | None:
    """results.json's ``stress``: the slices' settings, each candidate's slices (in the
    decision's order), the fragile candidate and the sentences; None without ``spec.stress``."""
    if spec.stress is None:
        return None
    candidates = {}
    for row in rows:
        detail = stress_detail(row)
        if detail:
            candidates[row.id] = {
                "rows": detail.get("rows"),
                "worst": detail.get("worst"),
                "rare": detail.get("rare") or {},
                "slices": detail.get("slices") or [],
                "reason": detail.get("reason"),  # why there are no slices (a failed pass)
            }
    return {
        "quality_metric": quality,
        "perturbations": [
            {"name": p.name, "kind": p.kind, "severity": p.severity}
            for p in spec.stress.perturbations
        ],
        "rows": spec.stress.rows,
        "seed": spec.seed,
        "candidates": candidates,
        "fragile": found.id if found is not None else None,
        "sentences": sentences,
    }
