"""From measurements to a decision: evaluation matrix, Pareto set, ranking, rationale.

Normalization (documented in docs/decisions.md): each criterion is scaled to
[0, 1] over the candidates being ranked, 1 being the best. Scores that live on
their own scale (macro-F1, LogME) are scaled linearly between the worst and the
best; resources that span orders of magnitude (latency, memory, parameters)
are scaled on a log axis, so "3x faster" counts the same at 1 ms as at 100 ms.
A candidate's score is the weighted mean of its normalized criteria over the
criteria it has a value for (the TF-IDF baseline has no parameter count and
no LogME). Raw values of different criteria are never added together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelscout.catalog.constraints import check_latency, check_measured
from modelscout.records import Measurement, Outcome
from modelscout.run import RunResult
from modelscout.spec import Constraints, Weights


@dataclass(frozen=True)
class Criterion:
    name: str
    metric: str  # measurement name, or "params" for the metadata field
    higher_is_better: bool
    log_scale: bool
    label: str


CRITERIA = (
    Criterion("quality", "probe.macro_f1", True, False, "macro-F1"),
    Criterion("latency", "latency.p95_ms@1", False, True, "p95 latency"),
    Criterion("memory", "memory.peak_mb", False, True, "peak memory"),
    Criterion("size", "params", False, True, "parameters"),
    Criterion("transferability", "transferability", True, False, "transferability"),
    Criterion("cost", "cost.usd_per_1k", False, True, "$ per 1k predictions"),
)
PARETO_AXES = (("probe.macro_f1", True), ("latency.p95_ms@1", False), ("memory.peak_mb", False))


@dataclass
class Row:
    """One candidate in the evaluation matrix."""

    outcome: Outcome
    status: str  # ranked | rejected | failed
    reason: str | None = None
    rank: int | None = None
    score: float | None = None
    pareto: bool = False
    normalized: dict[str, float] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)  # ranked, but not clearly within a budget

    @property
    def id(self) -> str:
        return self.outcome.candidate.id

    def raw(self, metric: str) -> float | None:
        if metric == "params":
            return self.outcome.meta.params
        return self.outcome.value(metric)


@dataclass
class Decision:
    rows: list[Row]
    recommendation: str | None
    rationale: str
    pareto: list[str]
    weights: dict[str, float]
    sensitivity: list[dict[str, Any]]
    run: RunResult
    variants: list[dict[str, Any]] = field(default_factory=list)
    stability: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # e.g. timings taken on a busy machine


def _normalize(values: dict[str, float], criterion: Criterion) -> dict[str, float]:
    if criterion.log_scale:
        values = {k: math.log(max(v, 1e-3)) for k, v in values.items()}
    low, high = min(values.values(), default=0.0), max(values.values(), default=0.0)
    if high - low < 1e-12:
        return dict.fromkeys(values, 1.0)
    scaled = {k: (v - low) / (high - low) for k, v in values.items()}
    return scaled if criterion.higher_is_better else {k: 1 - v for k, v in scaled.items()}


def _transferability(rows: list[Row], estimators: list[str]) -> dict[str, float]:
    """Mean over estimators of each one's min-max scaled score: estimators live on scales of
    their own, so they are only ever combined after scaling, never as raw values."""
    per_estimator = [
        _normalize(
            {r.id: float(r.raw(name)) for r in rows if r.raw(name) is not None},
            Criterion(name, name, True, False, name),
        )
        for name in estimators
    ]
    ids = {cid for scaled in per_estimator for cid in scaled}
    return {cid: float(np.mean([s[cid] for s in per_estimator if cid in s])) for cid in ids}


def normalized_criteria(
    rows: list[Row], estimators: list[str] = ("logme",)
) -> dict[str, dict[str, float]]:
    """criterion -> candidate id -> value in [0, 1] (1 best), for the candidates that have it."""
    table = {}
    for criterion in CRITERIA:
        if criterion.name == "transferability":
            table[criterion.name] = _transferability(rows, list(estimators))
            continue
        values = {r.id: r.raw(criterion.metric) for r in rows}
        table[criterion.name] = _normalize(
            {k: float(v) for k, v in values.items() if v is not None and np.isfinite(v)}, criterion
        )
    return table


def weighted_scores(
    table: dict[str, dict[str, float]], weights: dict[str, float]
) -> dict[str, float]:
    """Weighted mean of each candidate's normalized criteria over those it has."""
    ids = {cid for column in table.values() for cid in column}
    scores = {}
    for cid in ids:
        present = [(weights[c], table[c][cid]) for c in table if cid in table[c] and weights[c] > 0]
        total = sum(w for w, _ in present)
        scores[cid] = sum(w * v for w, v in present) / total if total else 0.0
    return scores


def pareto_front(rows: list[Row]) -> list[str]:
    """Ids of the rows no other row beats on every Pareto axis (quality, latency, memory)."""
    points = {}
    for row in rows:
        values = [row.raw(metric) for metric, _ in PARETO_AXES]
        if all(v is not None for v in values):
            points[row.id] = [
                v if higher else -v for v, (_, higher) in zip(values, PARETO_AXES, strict=True)
            ]
    return [
        cid
        for cid, p in points.items()
        if not any(
            all(a >= b for a, b in zip(q, p, strict=True))
            and any(a > b for a, b in zip(q, p, strict=True))
            for other, q in points.items()
            if other != cid
        )
    ]


def _pick(scores: dict[str, float], rows: list[Row]) -> str | None:
    quality = {r.id: r.raw("probe.macro_f1") or 0.0 for r in rows}
    return max(scores, key=lambda cid: (round(scores[cid], 12), quality[cid]), default=None)


def sensitivity(table, weights: dict[str, float], rows: list[Row]) -> list[dict[str, Any]]:
    """For each weighted criterion: over which range of its weight the pick stays the same.

    The criterion's weight share moves from 0 to 1 while the others keep their
    proportions; the answer names where the pick flips and to whom.
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
        results.append(
            {
                "criterion": name,
                "current_share": weights[name] / total,
                "pick_holds_from": min(keeps) if keeps else None,
                "pick_holds_to": max(keeps) if keeps else None,
                "flips_to": sorted({w for _, w in flips}),
            }
        )
    return results


def decide(result: RunResult) -> Decision:
    """Rank the measured candidates of a run and explain the pick."""
    weights = result.spec.weights.model_dump()
    rows = []
    for outcome in result.outcomes:
        if outcome.status != "measured":
            rows.append(Row(outcome, outcome.status, outcome.reason))
            continue
        metrics = {name: m.value for name, m in outcome.measurements.items()}
        p95 = outcome.measurements.get("latency.p95_ms@1")
        detail = p95.detail if p95 is not None else None
        reason = check_measured(metrics, result.spec.constraints, detail)
        if reason:
            rows.append(Row(outcome, "rejected", reason))
        else:
            rows.append(Row(outcome, "ranked", flags=_flags(p95, result.spec.constraints)))
    ranked = [r for r in rows if r.status == "ranked"]
    table = normalized_criteria(ranked, result.spec.estimators)
    scores = weighted_scores(table, weights)
    quality = {r.id: r.raw("probe.macro_f1") or 0.0 for r in ranked}
    order = sorted(ranked, key=lambda r: (-round(scores[r.id], 12), -quality[r.id]))
    front = pareto_front(ranked)
    for position, row in enumerate(order, start=1):
        row.rank, row.score, row.pareto = position, scores[row.id], row.id in front
        row.normalized = {c: table[c][row.id] for c in table if row.id in table[c]}
    others = [r for r in rows if r.status != "ranked"]
    ordered = order + sorted(others, key=lambda r: r.status != "rejected")
    pick = order[0] if order else None
    warnings = timing_warnings(rows)
    return Decision(
        rows=ordered,
        recommendation=pick.id if pick else None,
        rationale=rationale(order, others, result.spec.weights, result.spec.constraints)
        + _caveats(order, warnings),
        pareto=[r.id for r in order if r.pareto],
        weights=weights,
        sensitivity=sensitivity(table, weights, ranked) if len(ranked) > 1 else [],
        run=result,
        variants=variant_comparisons(ordered),
        stability=transferability_stability(ranked, result.spec.estimators),
        warnings=warnings,
    )


def _flags(p95: Measurement | None, constraints: Constraints) -> list[str]:
    """Why a ranked candidate is not clearly within the latency budget (``check_latency``)."""
    budget = constraints.max_latency_ms_p95
    if budget is None or p95 is None or p95.value is None:
        return []
    _, flag = check_latency(p95.value, p95.detail, budget)
    return [flag] if flag else []


def timing_warnings(rows: list[Row]) -> list[str]:
    """One sentence per candidate whose timings the machine disturbed, with the figures."""
    out = []
    for row in rows:
        disturbed = {}  # "batch 8" (or "gpu fp16 batch 8", "onnx batch 1") -> its median's detail
        for name, m in row.outcome.measurements.items():
            timing, _, size = name.partition("@")
            detail = m.detail or {}
            if timing.endswith("latency.p50_ms") and detail.get("reliable") is False:
                # "gpu.fp16." -> "gpu fp16 ", "deploy.onnx_" -> "onnx ", "" -> ""
                where = timing.removesuffix("latency.p50_ms").removeprefix("deploy.")
                disturbed[f"{where.replace('.', ' ').replace('_', ' ')}batch {size}"] = detail
        if disturbed:
            first = next(iter(disturbed.values()))
            out.append(
                f"timings of {row.id} were taken on a busy machine "
                f"(at {', '.join(disturbed)}): {'; '.join(first['unreliable_reasons'])}"
            )
    return out


def _f1(row: Row) -> tuple[float, float]:
    found = row.outcome.measurements["probe.macro_f1"]
    return found.value, found.spread or 0.0


def _compare(
    a: float | None, b: float | None, unit: str, words: tuple[str, str, str]
) -> str | None:
    """'3.1x faster (4.2 ms vs 13.0 ms)': a against b, lower being better.

    ``words`` are what to say when a is better, worse, or within 10% of b.
    """
    if a is None or b is None or a <= 0 or b <= 0:
        return None
    better, worse, same = words
    numbers = f"({a:.1f} {unit} vs {b:.1f} {unit})"
    if abs(a / b - 1) < 0.1:
        return f"{same} {numbers}"
    return f"{b / a:.1f}x {better} {numbers}" if a < b else f"{a / b:.1f}x {worse} {numbers}"


SPEED = ("faster at p95", "slower at p95", "about as fast at p95")
MEMORY = ("lighter in memory", "heavier in memory", "about as heavy in memory")


def rationale(order: list[Row], others: list[Row], weights: Weights, constraints: Any) -> str:
    """One paragraph naming the trade-off behind the pick, with numbers."""
    excluded = ""
    rejected = sum(r.status == "rejected" for r in others)
    failed = sum(r.status == "failed" for r in others)
    if rejected or failed:
        parts = [f"{rejected} rejected" if rejected else "", f"{failed} failed" if failed else ""]
        excluded = f" Not ranked: {' and '.join(p for p in parts if p)} (reasons in the matrix)."
    if not order:
        return "No candidate could be ranked." + excluded
    pick = order[0]
    f1, spread = _f1(pick)
    best = max(order, key=lambda r: _f1(r)[0])
    sentences = []
    if len(order) == 1:
        sentences.append(
            f"{pick.id} is the only candidate ranked (macro-F1 {f1:.3f} ± {spread:.3f})."
        )
    elif best is pick:
        sentences += _best_pick(pick, order[1])
    else:
        sentences += _traded_pick(pick, best, weights)
    budget = getattr(constraints, "max_latency_ms_p95", None)
    p95 = pick.raw("latency.p95_ms@1")
    if budget and p95 is not None and not pick.flags:
        sentences.append(f"Its p95 latency of {p95:.1f} ms is within the {budget:g} ms budget.")
    baseline = next((r for r in order if r.outcome.candidate.source == "baseline"), None)
    if baseline is not None and baseline is not pick:
        gain = f1 - _f1(baseline)[0]
        word = "above" if gain >= 0 else "below"
        sentences.append(f"It is {abs(gain):.3f} macro-F1 {word} the TF-IDF baseline.")
    return " ".join(sentences) + excluded


def _best_pick(pick: Row, rival: Row) -> list[str]:
    """Sentences for a pick with the best macro-F1: the gap to the runner-up, and the speed."""
    f1, spread = _f1(pick)
    rival_f1, rival_spread = _f1(rival)
    speed = _compare(pick.raw("latency.p95_ms@1"), rival.raw("latency.p95_ms@1"), "ms", SPEED)
    gap = f1 - rival_f1
    sentences = [
        f"{pick.id} has the best macro-F1 ({f1:.3f} ± {spread:.3f}); the runner-up {rival.id} "
        f"is {gap:.3f} lower ({rival_f1:.3f})"
        + (f", and {pick.id} is {speed}" if speed else "")
        + "."
    ]
    if gap <= max(spread, rival_spread):
        sentences.append(
            "The quality gap is within the fold-to-fold spread, so the two are "
            "not clearly apart on quality."
        )
    return sentences


def _traded_pick(pick: Row, best: Row, weights: Weights) -> list[str]:
    """Sentences for a pick below the best macro-F1: what it gains in exchange, at which
    weights, and whether the quality gap is beyond the folds' spread."""
    f1, spread = _f1(pick)
    best_f1, best_spread = _f1(best)
    trade = [
        p
        for p in (
            _compare(pick.raw("latency.p95_ms@1"), best.raw("latency.p95_ms@1"), "ms", SPEED),
            _compare(pick.raw("memory.peak_mb"), best.raw("memory.peak_mb"), "MB", MEMORY),
        )
        if p
    ]
    sentences = [
        f"{pick.id} is recommended: it is {best_f1 - f1:.3f} macro-F1 below {best.id} "
        f"({f1:.3f} vs {best_f1:.3f}) but "
        + (" and ".join(trade) or "scores higher overall")
        + f", which outweighs the gap at the weights used (quality {weights.quality:g}, "
        f"latency {weights.latency:g}, memory {weights.memory:g}, size {weights.size:g})."
    ]
    widest = max(spread, best_spread)
    if best_f1 - f1 <= widest:
        sentences.append(
            f"The macro-F1 gap is within the fold-to-fold spread (± {widest:.3f}), "
            "so the two are not clearly apart on quality."
        )
    return sentences


def _caveats(order: list[Row], warnings: list[str]) -> str:
    """Sentences the rationale ends with: flagged candidates, and busy-machine timings."""
    flagged = [row.id for row in order if row.flags]
    sentences = []
    if flagged:
        sentences.append(
            f" Not clearly within the latency budget, so flagged rather than rejected: "
            f"{', '.join(flagged)} (why in the flags)."
        )
    if warnings:
        sentences.append(
            f" Timings of {len(warnings)} candidate{'s' if len(warnings) > 1 else ''} were "
            "taken on a busy machine (see the warnings): their latency figures may be inflated."
        )
    return "".join(sentences)


def variant_comparisons(rows: list[Row]) -> list[dict[str, Any]]:
    """How much of its parent each derived variant keeps: quality, latency and memory ratios.

    E.g. "x+layers:3 keeps 98% of x's macro-F1 at 45% of its p95 latency".
    """
    by_id = {r.id: r for r in rows}
    out = []
    for row in rows:
        parent = by_id.get(row.outcome.candidate.parent or "")
        if parent is None:
            continue
        ratios = {}
        for key, metric in (
            ("macro_f1", "probe.macro_f1"),
            ("p95_latency", "latency.p95_ms@1"),
            ("memory", "memory.peak_mb"),
            ("params", "params"),
        ):
            mine, theirs = row.raw(metric), parent.raw(metric)
            ratios[key] = mine / theirs if mine is not None and theirs else None
        parts = []
        if ratios["macro_f1"] is not None:
            parts.append(f"keeps {ratios['macro_f1']:.0%} of {parent.id}'s macro-F1")
        if ratios["p95_latency"] is not None:
            parts.append(f"at {ratios['p95_latency']:.0%} of its p95 latency")
        if ratios["memory"] is not None:
            parts.append(f"and {ratios['memory']:.0%} of its memory")
        sentence = f"{row.id} " + " ".join(parts) + "." if parts else ""
        out.append({"variant": row.id, "parent": parent.id, "ratios": ratios, "sentence": sentence})
    return out


def transferability_stability(rows: list[Row], estimators: list[str]) -> list[dict[str, Any]]:
    """Did each estimator's ranking of the candidates settle before the whole sample?

    From the values on nested subsamples (``detail.subsamples``): the top candidate and
    Kendall's tau against the full-sample ranking at each fraction. "Settled" means the half
    sample already picks the same top candidate and orders the rest nearly alike (tau >= 0.8).
    """
    from scipy.stats import kendalltau

    out = []
    for name in estimators:
        scored = [
            r
            for r in rows
            if name in r.outcome.measurements
            and (r.outcome.measurements[name].detail or {}).get("subsamples")
        ]
        if len(scored) < 2:
            continue
        values = {r.id: r.outcome.measurements[name].detail["subsamples"] for r in scored}
        fractions = sorted({f for v in values.values() for f in v}, key=float)
        if "1.0" not in fractions:
            continue
        full = [values[cid].get("1.0") for cid in values]
        top, tau = {}, {}
        for fraction in fractions:
            column = [values[cid].get(fraction) for cid in values]
            if any(v is None for v in column + full):
                continue
            top[fraction] = list(values)[int(np.argmax(column))]
            tau[fraction] = float(kendalltau(column, full).statistic)
        half = next((f for f in fractions if float(f) == 0.5), None)
        settled = half in top and top[half] == top["1.0"] and tau[half] >= 0.8
        out.append({"estimator": name, "top": top, "kendall_tau_vs_full": tau, "settled": settled})
    return out
