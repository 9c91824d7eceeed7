"""The ranking criteria and their normalisation to [0, 1], 1 being the best.

Normalization (documented in docs/decisions.md): each criterion is scaled to [0, 1] over the
candidates being ranked. Scores that live on their own scale (the quality metric: macro-F1, R²,
MAE; LogME; the worst stress slice's drop) are
scaled linearly between the worst and the best; resources that span orders of magnitude (latency,
memory, parameters) are scaled on a log axis, so "3x faster" counts the same at 1 ms as at
100 ms. Directions come from metrics.py. Raw values of different criteria are never added.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from modelscout import metrics
from modelscout.decide.records import Row

TRANSFERABILITY = "transferability"  # a criterion, not a metric: the estimators' mean


@dataclass(frozen=True)
class Criterion:
    name: str  # the weight's name in the spec
    metric: str  # measurement name, metrics.PARAMS, or TRANSFERABILITY
    log_scale: bool

    @property
    def higher_is_better(self) -> bool:
        if self.metric == TRANSFERABILITY:
            return True
        return metrics.spec(self.metric).higher_is_better

    @property
    def label(self) -> str:
        if self.metric == TRANSFERABILITY:
            return TRANSFERABILITY
        return metrics.label(self.metric)


QUALITY_METRIC = metrics.DEFAULT_QUALITY["classification"]  # a run's own: its quality_metric
LATENCY_METRIC = metrics.latency_p95(1)


def criteria_for(quality: str = QUALITY_METRIC) -> tuple[Criterion, ...]:
    """The criteria of a run whose quality metric is ``quality`` (``metrics.quality_metric``);
    its direction comes from metrics.py, so a lower-is-better MAE ranks the right way round."""
    return (
        Criterion("quality", quality, False),
        Criterion("latency", LATENCY_METRIC, True),
        Criterion("memory", metrics.PEAK_MEMORY, True),
        Criterion("size", metrics.PARAMS, True),
        Criterion("transferability", TRANSFERABILITY, False),
        Criterion("cost", metrics.COST_PER_1K, True),
        Criterion("robustness", metrics.STRESS_DROP, False),
    )


def normalize(
    values: dict[str, float], higher_is_better: bool, log_scale: bool = False
) -> dict[str, float]:
    """candidate id -> value scaled to [0, 1] over ``values`` (1 best; all 1 when equal)."""
    if log_scale:
        values = {k: math.log(max(v, 1e-3)) for k, v in values.items()}
    low, high = min(values.values(), default=0.0), max(values.values(), default=0.0)
    if high - low < 1e-12:
        return dict.fromkeys(values, 1.0)
    scaled = {k: (v - low) / (high - low) for k, v in values.items()}
    return scaled if higher_is_better else {k: 1 - v for k, v in scaled.items()}


def _transferability(rows: list[Row], estimators: list[str]) -> dict[str, float]:
    """Mean over estimators of each one's min-max scaled score: estimators live on scales of
    their own, so they are only ever combined after scaling, never as raw values."""
    per_estimator = [
        normalize(
            {r.id: float(r.raw(name)) for r in rows if r.raw(name) is not None},
            metrics.spec(name).higher_is_better,
        )
        for name in estimators
    ]
    ids = {cid for scaled in per_estimator for cid in scaled}
    return {cid: float(np.mean([s[cid] for s in per_estimator if cid in s])) for cid in ids}


def signal_metric(signal: str, quality: str) -> str:
    """The measurement a quality signal reads: ``sample`` the quality metric itself,
    ``full_size`` its learning-curve prediction, any other name an estimator's."""
    return {"sample": quality, "full_size": metrics.predicted(quality)}.get(signal, signal)


def used_signals(rows: list[Row], evidence: list[str], quality: str) -> list[str]:
    """The signals of ``evidence`` that at least one of ``rows`` has."""
    return [s for s in evidence if any(r.raw(signal_metric(s, quality)) is not None for r in rows)]


def _quality(rows: list[Row], evidence: list[str], quality: str) -> dict[str, float]:
    """The quality criterion: the mean over the ``evidence`` signals of each one min-max
    scaled over the candidates (each in its own direction), over the signals a candidate has;
    a candidate with none of them has no quality."""
    per_signal = []
    for signal in evidence:
        name = signal_metric(signal, quality)
        values = {r.id: r.raw(name) for r in rows}
        found = {k: float(v) for k, v in values.items() if v is not None and np.isfinite(v)}
        if found:
            per_signal.append(normalize(found, metrics.spec(name).higher_is_better))
    ids = {cid for scaled in per_signal for cid in scaled}
    return {cid: float(np.mean([s[cid] for s in per_signal if cid in s])) for cid in ids}


def normalized_criteria(
    rows: list[Row],
    estimators: list[str] = (metrics.LOGME,),
    quality: str = QUALITY_METRIC,
    evidence: list[str] = ("sample",),
) -> dict[str, dict[str, float]]:
    """criterion -> candidate id -> value in [0, 1] (1 best), for the candidates that have it;
    ``quality``: the run's quality metric; ``evidence``: what the quality criterion is made
    of (``_quality``; the spec's ``quality_evidence``)."""
    table = {}
    for criterion in criteria_for(quality):
        if criterion.metric == TRANSFERABILITY:
            table[criterion.name] = _transferability(rows, list(estimators))
            continue
        if criterion.name == "quality" and list(evidence) != ["sample"]:
            table[criterion.name] = _quality(rows, list(evidence), quality)
            continue
        values = {r.id: r.raw(criterion.metric) for r in rows}
        table[criterion.name] = normalize(
            {k: float(v) for k, v in values.items() if v is not None and np.isfinite(v)},
            criterion.higher_is_better,
            criterion.log_scale,
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
