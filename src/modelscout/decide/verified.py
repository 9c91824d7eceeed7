"""The ranking after verification: the finalists that were fine-tuned are ranked among
themselves on what they reach fine-tuned; every other candidate keeps its place.

The frozen ranking (rank.py) names the finalists; verification (modelscout/verification.py)
fine-tunes them on the same held-out rows. Their fine-tuned quality replaces the frozen one in
the quality criterion, normalized among the verified finalists, and the paired bootstrap on
those rows groups the ones statistically tied with the best (the other criteria then decide
among them, as for the frozen ranking). The verified finalists take the places in the order
that they held between them, so a finalist that could not be fine-tuned (a baseline) keeps its
rank, and the candidates below the finalists keep theirs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from modelscout import metrics
from modelscout.decide import rationale as words
from modelscout.decide.criteria import normalize, weighted_scores
from modelscout.decide.records import Row
from modelscout.measure.paired import paired_bootstrap, scorer_for

if TYPE_CHECKING:
    from modelscout.run import RunResult


def verified_order(
    order: list[Row],
    table: dict[str, dict[str, float]],
    weights: dict[str, float],
    result: RunResult,
    quality: str,
) -> tuple[list[Row], dict[str, Any] | None]:
    """``order`` with the verified finalists re-ranked on their fine-tuned quality, and what
    verification decided (results.json ``verification``); None when it did not run."""
    done = result.verification
    if done is None:
        return order, None
    name = metrics.verified(quality)
    verified = [r for r in order if r.raw(name) is not None]
    frozen_pick = order[0].id if order else None
    tied: list[str] = []
    if verified:
        tied = _tied_with_best(verified, result, quality)
        ranked = _rank_verified(verified, table, weights, name, tied)
        places = [i for i, r in enumerate(order) if r.raw(name) is not None]
        order = list(order)
        for place, row in zip(places, ranked, strict=True):
            order[place] = row
        for position, row in enumerate(order, start=1):
            row.rank = position
    pick = order[0].id if order else None
    verdict = {
        "mode": done.mode,
        "asked": done.asked,
        "finalists": done.finalists,
        "verified": [r.id for r in order if r.raw(name) is not None],
        "skipped": done.skipped,
        "notes": done.notes,
        "rows": done.rows,
        "folds": done.folds,
        "device": done.device,
        "metric": name,
        "frozen_pick": frozen_pick,
        "pick": pick,
        "changed": pick != frozen_pick,
        "tied_with_best": tied,
    }
    verdict["sentence"] = words.verification_sentence(verdict, {r.id: r for r in order}, quality)
    return order, verdict


def _tied_with_best(verified: list[Row], result: RunResult, quality: str) -> list[str]:
    """The verified finalists whose fine-tuned quality is statistically tied with the best's
    on the shared held-out rows (the paired bootstrap, measure/paired.py)."""
    done = result.verification
    scorer = scorer_for(result.sample.task, quality)
    predictions = {r.id: done.predictions[r.id] for r in verified if r.id in done.predictions}
    if scorer is None or len(predictions) < 2:
        return []
    name = metrics.verified(quality)
    sign = 1.0 if metrics.spec(quality).higher_is_better else -1.0
    value = {r.id: sign * r.raw(name) for r in verified}
    best = max(predictions, key=value.__getitem__)
    truth = np.asarray(done.truth)
    pairs = paired_bootstrap(truth, predictions, best, scorer, seed=result.spec.seed)
    return [p.candidate for p in pairs if p.tied]


def _rank_verified(
    verified: list[Row],
    table: dict[str, dict[str, float]],
    weights: dict[str, float],
    name: str,
    tied: list[str],
) -> list[Row]:
    """The verified finalists best first: the weighted score with their fine-tuned quality
    (normalized among them; the tied group sharing the best) in the quality criterion."""
    ids = {r.id for r in verified}
    column = normalize(
        {r.id: float(r.raw(name)) for r in verified}, metrics.spec(name).higher_is_better
    )
    if tied:
        top = max(column.values())
        best = max(column, key=column.get)
        column.update(dict.fromkeys([best, *tied], top))
    restricted = {c: {k: v for k, v in col.items() if k in ids} for c, col in table.items()}
    restricted["quality"] = column
    scores = weighted_scores(restricted, weights)
    sign = 1.0 if metrics.spec(name).higher_is_better else -1.0
    return sorted(verified, key=lambda r: (-round(scores[r.id], 12), -sign * r.raw(name)))
