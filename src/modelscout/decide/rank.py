"""The weighted ranking, its sensitivity to the weights, and ``decide``: a run in, a Decision out.

A candidate's score is the weighted mean of its normalized criteria (criteria.py) over the
criteria it has a value for (the TF-IDF baseline has no parameter count and no LogME). Quality
is the run's quality metric (``metrics.quality_metric``: macro-F1 for classification and
multi-label, R² for regression unless the spec names another, such as MAE, lower-is-better).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from modelscout import metrics
from modelscout.catalog.constraints import check_latency, check_measured, check_quality_drop
from modelscout.decide import rationale as words
from modelscout.decide.baselines import better, floor, references, row_beats
from modelscout.decide.confusions import row_confusions
from modelscout.decide.criteria import (
    QUALITY_METRIC,
    normalized_criteria,
    used_signals,
    weighted_scores,
)
from modelscout.decide.pareto import pareto_front
from modelscout.decide.records import Decision, LongTail, Row
from modelscout.decide.stability import transferability_stability
from modelscout.decide.stress import fragile, stress_record
from modelscout.decide.variants import variant_comparisons
from modelscout.decide.verified import verified_order
from modelscout.measure.paired import (
    CONFIDENCE,
    METHOD,
    RESAMPLES,
    Ties,
    paired_bootstrap,
    scored_truth,
    scorer_for,
)
from modelscout.records import Measurement, Outcome
from modelscout.spec import DEFAULT_QUALITY_EVIDENCE, Constraints

if TYPE_CHECKING:
    from modelscout.run import RunResult


def run_quality(result: RunResult) -> str:
    """The quality metric of a run: the spec's ``quality_metric`` for the sample's task, or
    the task's default."""
    return metrics.quality_metric(result.sample.task, result.spec.quality_metric)


def _tie_break(rows: list[Row], quality: str) -> dict[str, float]:
    """Candidate id -> its quality signed so that larger is better (ties of score go to the
    better quality; a missing one counts as 0, as it always has)."""
    sign = 1.0 if metrics.spec(quality).higher_is_better else -1.0
    return {r.id: sign * (r.raw(quality) or 0.0) for r in rows}


def _pick(scores: dict[str, float], rows: list[Row], quality: str = QUALITY_METRIC) -> str | None:
    tie = _tie_break(rows, quality)
    return max(scores, key=lambda cid: (round(scores[cid], 12), tie[cid]), default=None)


def sensitivity(
    table: dict[str, dict[str, float]],
    weights: dict[str, float],
    rows: list[Row],
    quality: str = QUALITY_METRIC,
) -> list[dict[str, Any]]:
    """For each weighted criterion: over which range of its weight the pick stays the same.

    The criterion's weight share moves from 0 to 1 while the others keep their
    proportions; the answer names where the pick flips and to whom, and says it in a sentence.
    """
    pick = _pick(weighted_scores(table, weights), rows, quality)
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
            winners.append((float(share), _pick(weighted_scores(table, trial), rows, quality)))
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


def _judge(result: RunResult, quality: str) -> list[Row]:
    """A row per outcome: failed ones as they are, measured ones ranked or rejected against
    the measured constraints (``_judged``)."""
    return [
        _judged(outcome, result.spec.constraints, quality)
        if outcome.status == "measured"
        else Row(outcome, outcome.status, outcome.reason)
        for outcome in result.outcomes
    ]


def _judged(outcome: Outcome, constraints: Constraints, quality: str) -> Row:
    """A measured outcome's row, ranked or rejected against the measured constraints (latency
    on the p95's interval, ``check_latency``; min_quality on ``quality``; max_quality_drop on
    each stress slice's interval, ``check_quality_drop``) and, for regression, the mean
    predictor's floor; ranked but flagged when not clearly within a budget."""
    values = {name: m.value for name, m in outcome.measurements.items()}
    p95 = outcome.measurements.get(metrics.latency_p95(1))
    detail = p95.detail if p95 is not None else None
    row = Row(outcome, "ranked")
    reason = check_measured(values, constraints, detail, quality) or _below_floor(row, quality)
    drop_flag = None
    if not reason and constraints.max_quality_drop is not None:
        stress = outcome.measurements.get(metrics.STRESS_DROP)
        stress_detail = stress.detail if stress is not None else None
        reason, drop_flag = check_quality_drop(stress_detail, constraints.max_quality_drop, quality)
    if reason:
        row.status, row.reason = "rejected", reason
    else:
        row.flags = _flags(p95, constraints) + ([drop_flag] if drop_flag else [])
    return row


def statistical_ties(
    result: RunResult, ranked: list[Row], quality: str
) -> tuple[Ties | None, str | None]:
    """The paired bootstrap of every ranked candidate against the best on ``quality``
    (measure/paired.py), or None and why it could not run."""
    task = result.sample.task
    scorer = scorer_for(task, quality)
    paired = [r for r in ranked if r.id in result.predictions and r.raw(quality) is not None]
    if scorer is None:
        return None, words.ties_note("no_scorer", quality)
    if len(paired) < 2:
        return None, words.ties_note("no_predictions" if len(ranked) > 1 else "alone", quality)
    signed = _tie_break(paired, quality)
    best = max(paired, key=lambda r: signed[r.id]).id
    predictions = {r.id: np.asarray(result.predictions[r.id]) for r in paired}
    truth = scored_truth(result.sample.targets)
    pairs = paired_bootstrap(truth, predictions, best, scorer, seed=result.spec.seed)
    tied = [p.candidate for p in pairs if p.tied]
    ties = Ties(quality, METHOD, RESAMPLES, CONFIDENCE, len(truth), best, tied, pairs)
    ties = replace(ties, sentence=words.ties_sentence(ties))
    missing = len(ranked) - len(paired)
    return ties, words.ties_note("some_missing", quality, missing) if missing else None


def tie_quality(table: dict[str, dict[str, float]], ties: Ties | None) -> None:
    """Within the group tied with the best, quality no longer separates candidates: each gets
    the group's best normalized quality, so the other criteria decide among them."""
    column = table.get("quality", {})
    if ties is None or not column:
        return
    group = [cid for cid in (ties.best, *ties.tied_with_best) if cid in column]
    if group:
        top = max(column[cid] for cid in group)
        column.update(dict.fromkeys(group, top))


def _below_floor(row: Row, quality: str) -> str | None:
    """Why a regression candidate is rejected for not beating the mean predictor on the same
    folds, or None (no floor for this task or metric, or the candidate beats it)."""
    mean, value = floor(row, quality), row.raw(quality)
    if mean is None or value is None or better(value, mean, quality):
        return None
    return words.floor_reason(quality, value, mean)


def _order(
    ranked: list[Row],
    table: dict[str, dict[str, float]],
    weights: dict[str, float],
    quality: str = QUALITY_METRIC,
) -> list[Row]:
    """The ranked rows best first, with rank, score, Pareto membership and criteria set."""
    scores = weighted_scores(table, weights)
    tie = _tie_break(ranked, quality)
    order = sorted(ranked, key=lambda r: (-round(scores[r.id], 12), -tie[r.id]))
    front = pareto_front(ranked, quality)
    for position, row in enumerate(order, start=1):
        row.rank, row.score, row.pareto = position, scores[row.id], row.id in front
        row.normalized = {c: table[c][row.id] for c in table if row.id in table[c]}
    return order


NOT_RANKED_ORDER = {"rejected": 0, "stopped": 1, "failed": 2}


def decide(result: RunResult) -> Decision:
    """Rank the measured candidates of a run and explain the pick."""
    spec, quality = result.spec, run_quality(result)
    weights = spec.weights.model_dump()
    rows = _judge(result, quality)
    ranked = [r for r in rows if r.status == "ranked"]
    table = normalized_criteria(ranked, spec.estimators, quality, spec.quality_evidence)
    ties, ties_note = statistical_ties(result, ranked, quality)
    tie_quality(table, ties)
    order, verdict = verified_order(
        _order(ranked, table, weights, quality), table, weights, result, quality
    )
    others = [r for r in rows if r.status != "ranked"]
    # rejected, then stopped by halving (measured, on fewer rows), then failed
    ordered = order + sorted(others, key=lambda r: NOT_RANKED_ORDER.get(r.status, 3))
    warnings = words.timing_warnings(rows)
    shifts = sensitivity(table, weights, ranked, quality) if len(ranked) > 1 else []
    sizes = _describe_rows(result, ordered, quality)
    names = {r.id: words.baseline_name(r.id, spec.baseline_columns) for r in rows}
    stressed = words.stress_sentences(order, quality)
    return Decision(
        rows=ordered,
        recommendation=order[0].id if order else None,
        rationale=words.rationale(
            order, others, spec.weights, spec.constraints, quality, names, ties, verdict
        )
        + "".join(f" {sentence}" for sentence in stressed)
        + words.caveats(order, warnings),
        pareto=[r.id for r in order if r.pareto],
        weights=weights,
        sensitivity=shifts,
        run=result,
        variants=variant_comparisons(ordered, quality),
        stability=transferability_stability(ranked, spec.estimators),
        warnings=warnings,
        alerts=words.alerts(warnings, {r.id: r.flags for r in ordered if r.flags}),
        what_would_change=words.what_would_change(shifts, len(ranked)),
        long_tail=_long_tail(sizes, result.sample.task),
        confusions=order[0].confusions if order else [],
        quality_metric=quality,
        ties=ties,
        ties_note=ties_note,
        verification=verdict,
        quality_evidence=_evidence(spec.quality_evidence, ranked, quality),
        stress=stress_record(spec, ordered, quality, fragile(order), stressed),
    )


def _evidence(asked: list[str], ranked: list[Row], quality: str) -> dict[str, Any]:
    """What the quality criterion was made of in this run, and the sentence saying it."""
    used = used_signals(ranked, asked, quality)
    default = tuple(asked) == DEFAULT_QUALITY_EVIDENCE
    sentence = words.quality_evidence_sentence(used, quality, default)
    return {"asked": list(asked), "used": used, "sentence": sentence}


def _describe_rows(result: RunResult, rows: list[Row], quality: str) -> dict[str, int]:
    """Set each row's confusions and ``beats``; return the sample's class (or label) sizes,
    {} for regression."""
    sample = result.sample
    sizes = sample.targets.counts()
    baselines = references(rows, quality)
    for row in rows:
        row.confusions = row_confusions(row, sizes, sample.inputs.items, sample.modality)
        if row.status == "ranked":
            row.beats = row_beats(row, baselines, quality)
    return sizes


def _long_tail(sizes: dict[str, int], task: str) -> LongTail | None:
    """The long tail of the classes (multi-label: labels); None for regression, which has
    neither."""
    return words.long_tail(sizes, labels=task == "multilabel") if sizes else None


def _flags(p95: Measurement | None, constraints: Constraints) -> list[str]:
    """Why a ranked candidate is not clearly within the latency budget (``check_latency``)."""
    budget = constraints.max_latency_ms_p95
    if budget is None or p95 is None or p95.value is None:
        return []
    _, flag = check_latency(p95.value, p95.detail, budget)
    return [flag] if flag else []
