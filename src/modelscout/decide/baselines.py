"""Whether a candidate beats the baselines that ran and, for regression, the mean predictor.

A baseline is a candidate whose ``source`` is "baseline" (TF-IDF, raw pixels, the table's
other columns); the mean predictor is the regression probe's floor, measured on the same
folds and recorded in ``metrics.RESIDUALS``'s ``detail["floor"]`` under the quality metric's
name without ``probe.`` (``r2``, ``mae``, ``rmse``; Spearman has none). The functions on plain
values serve report/json.py too, for a results.json written before ``beats`` existed.
"""

from __future__ import annotations

from modelscout import metrics
from modelscout.decide.records import Row

MEAN_PREDICTOR = "mean predictor"  # the key of the floor in ``Row.beats``
BASELINE_SOURCE = "baseline"


def better(value: float, reference: float, quality: str) -> bool:
    """Whether ``value`` of the metric ``quality`` is strictly better than ``reference``."""
    return value > reference if metrics.spec(quality).higher_is_better else value < reference


def floor(row: Row, quality: str) -> float | None:
    """The mean predictor's ``quality`` on the row's folds; None where the row has no floor
    (classification, multi-label, a metric without one such as Spearman)."""
    residuals = row.outcome.measurements.get(metrics.RESIDUALS)
    found = ((residuals.detail or {}).get("floor") or {}) if residuals else {}
    value = found.get(quality.removeprefix(metrics.PROBE_PREFIX))
    return None if value is None else float(value)


def references(rows: list[Row], quality: str) -> dict[str, float]:
    """Baseline id -> its ``quality``, for the baselines measured (ranked or rejected: a
    baseline over a budget is still the figure a model has to beat)."""
    return {
        row.id: float(value)
        for row in rows
        if row.outcome.candidate.source == BASELINE_SOURCE
        and row.status != "failed"
        and (value := row.raw(quality)) is not None
    }


def beats_values(value: float | None, compared: dict[str, float], quality: str) -> dict[str, bool]:
    """Reference name -> whether ``value`` beats it; {} when ``value`` is missing."""
    if value is None:
        return {}
    return {name: better(value, ref, quality) for name, ref in compared.items()}


def compared_with(row: Row, baselines: dict[str, float], quality: str) -> dict[str, float]:
    """What ``row`` is compared with: every baseline but itself, and its mean predictor."""
    found = {name: ref for name, ref in baselines.items() if name != row.id}
    mean = floor(row, quality)
    return found | ({MEAN_PREDICTOR: mean} if mean is not None else {})


def row_beats(row: Row, baselines: dict[str, float], quality: str) -> dict[str, bool]:
    """Baseline id (and MEAN_PREDICTOR) -> whether ``row``'s quality beats it."""
    return beats_values(row.raw(quality), compared_with(row, baselines, quality), quality)
