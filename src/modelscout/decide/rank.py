"""The weighted ranking, its sensitivity to the weights, and ``decide``: a run in, a Decision out.

A candidate's score is the weighted mean of its normalized criteria (criteria.py) over the
criteria it has a value for (the TF-IDF baseline has no parameter count and no LogME).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from modelscout import metrics
from modelscout.catalog.constraints import check_latency, check_measured
from modelscout.decide import rationale as words
from modelscout.decide.confusions import row_confusions
from modelscout.decide.criteria import QUALITY_METRIC, normalized_criteria, weighted_scores
from modelscout.decide.pareto import pareto_front
from modelscout.decide.records import Decision, Row
from modelscout.decide.stability import transferability_stability
from modelscout.decide.variants import variant_comparisons
from modelscout.records import Measurement
from modelscout.spec import Constraints

if TYPE_CHECKING:
    from modelscout.run import RunResult


def _pick(scores: dict[str, float], rows: list[Row]) -> str | None:
    quality = {r.id: r.raw(QUALITY_METRIC) or 0.0 for r in rows}
    return max(scores, key=lambda cid: (round(scores[cid], 12), quality[cid]), default=None)


def sensitivity(
    table: dict[str, dict[str, float]], weights: dict[str, float], rows: list[Row]
) -> list[dict[str, Any]]:
    """For each weighted criterion: over which range of its weight the pick stays the same.

    The criterion's weight share moves from 0 to 1 while the others keep their
    proportions; the answer names where the pick flips and to whom, and says it in a sentence.
    """
    pick = _pick(weighted_scores(table, weights), rows)
    total = sum(weights.values())
    results = []
    for name in table:
        others = {k: v for k, v in weights.items() if k != name}
        rest = sum(others.values())
        if rest == 0 or len(table[name]) < 2:
            continue
        winners = []
        for share in np.linspace(0, 1, 101):
            trial = {k: (1 - share) * v / rest for k, v in others.items()} | {name: share}
            winners.append((float(share), _pick(weighted_scores(table, trial), rows)))
        keeps = [s for s, w in winners if w == pick]
        flips = [(s, w) for s, w in winners if w != pick]
        entry = {
            "criterion": name,
            "current_share": weights[name] / total,
            "pick_holds_from": min(keeps) if keeps else None,
            "pick_holds_to": max(keeps) if keeps else None,
            "flips_to": sorted({w for _, w in flips}),
        }
        results.append(entry | {"sentence": words.sensitivity_sentence(entry)})
    return results


def _judge(result: RunResult) -> list[Row]:
    """A row per outcome: failed ones as they are, measured ones ranked or rejected against
    the measured constraints (latency on the p95's interval, ``check_latency``)."""
    p95_name = metrics.latency_p95(1)
    rows = []
    for outcome in result.outcomes:
        if outcome.status != "measured":
            rows.append(Row(outcome, outcome.status, outcome.reason))
            continue
        values = {name: m.value for name, m in outcome.measurements.items()}
        p95 = outcome.measurements.get(p95_name)
        detail = p95.detail if p95 is not None else None
        reason = check_measured(values, result.spec.constraints, detail)
        if reason:
            rows.append(Row(outcome, "rejected", reason))
        else:
            rows.append(Row(outcome, "ranked", flags=_flags(p95, result.spec.constraints)))
    return rows


def _order(
    ranked: list[Row], table: dict[str, dict[str, float]], weights: dict[str, float]
) -> list[Row]:
    """The ranked rows best first, with rank, score, Pareto membership and criteria set."""
    scores = weighted_scores(table, weights)
    quality = {r.id: r.raw(QUALITY_METRIC) or 0.0 for r in ranked}
    order = sorted(ranked, key=lambda r: (-round(scores[r.id], 12), -quality[r.id]))
    front = pareto_front(ranked)
    for position, row in enumerate(order, start=1):
        row.rank, row.score, row.pareto = position, scores[row.id], row.id in front
        row.normalized = {c: table[c][row.id] for c in table if row.id in table[c]}
    return order


def decide(result: RunResult) -> Decision:
    """Rank the measured candidates of a run and explain the pick."""
    spec = result.spec
    weights = spec.weights.model_dump()
    rows = _judge(result)
    ranked = [r for r in rows if r.status == "ranked"]
    table = normalized_criteria(ranked, spec.estimators)
    order = _order(ranked, table, weights)
    others = [r for r in rows if r.status != "ranked"]
    ordered = order + sorted(others, key=lambda r: r.status != "rejected")
    warnings = words.timing_warnings(rows)
    shifts = sensitivity(table, weights, ranked) if len(ranked) > 1 else []
    sample = result.sample
    counts = np.bincount(sample.labels, minlength=len(sample.classes))
    sizes = {str(c): int(n) for c, n in zip(sample.classes, counts, strict=True)}
    items = sample.inputs.items
    for row in ordered:
        row.confusions = row_confusions(row, sizes, items, sample.modality)
    return Decision(
        rows=ordered,
        recommendation=order[0].id if order else None,
        rationale=words.rationale(order, others, spec.weights, spec.constraints)
        + words.caveats(order, warnings),
        pareto=[r.id for r in order if r.pareto],
        weights=weights,
        sensitivity=shifts,
        run=result,
        variants=variant_comparisons(ordered),
        stability=transferability_stability(ranked, spec.estimators),
        warnings=warnings,
        alerts=words.alerts(warnings, {r.id: r.flags for r in ordered if r.flags}),
        what_would_change=words.what_would_change(shifts, len(ranked)),
        long_tail=words.long_tail(sizes),
        confusions=order[0].confusions if order else [],
    )


def _flags(p95: Measurement | None, constraints: Constraints) -> list[str]:
    """Why a ranked candidate is not clearly within the latency budget (``check_latency``)."""
    budget = constraints.max_latency_ms_p95
    if budget is None or p95 is None or p95.value is None:
        return []
    _, flag = check_latency(p95.value, p95.detail, budget)
    return [flag] if flag else []
