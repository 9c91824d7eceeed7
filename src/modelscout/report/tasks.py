"""What a report says about the run's task, read from results.json (1.5): the task line, the
target's summary (regression) or label counts, the mean-predictor floor, the residuals by
slice, the per-label scores and the estimators skipped. Shared by Markdown and HTML; they
escape and lay out these strings and numbers, nothing here computes a figure.
"""

from __future__ import annotations

from typing import Any

from modelscout import metrics
from modelscout.report.matrix import MEAN_PREDICTOR, quality_words, results_task

TARGET_FORMAT = metrics.fmt(metrics.MAE)  # a figure in the target's units
NOUNS = {"classification": "classes", "multilabel": "labels"}  # what data.classes counts


def target_figure(value: float | None) -> str:
    """A figure in the target's units ('1,234', '12.5'), '–' when missing."""
    return "–" if value is None else TARGET_FORMAT.format(value)


def signed_figure(value: float | None) -> str:
    """A bias: '+12.5', '-3.1', '–'."""
    return "–" if value is None else ("+" if value > 0 else "") + TARGET_FORMAT.format(value)


def task_line(results: dict[str, Any]) -> str:
    """'Task: regression, quality metric R²'."""
    return f"Task: {results_task(results)}, quality metric {quality_words(results)}"


def data_counts(results: dict[str, Any]) -> str:
    """'10 classes', '28 labels', or the regression target's summary."""
    data = results["data"]
    noun = NOUNS.get(results_task(results))
    if noun is not None:
        return f"{len(data.get('classes') or [])} {noun}"
    return target_summary(data.get("target") or {})


def target_summary(target: dict[str, Any]) -> str:
    """'target min 20, median 150, max 1,000, mean 180 (fitted on log(target))'."""
    figures = ", ".join(f"{k} {target_figure(target.get(k))}" for k in ("min", "median", "max"))
    text = f"target {figures}, mean {target_figure(target.get('mean'))}"
    if target.get("transform") == "log":
        text += " (fitted on log(target), figures in original units)"
    return text


def residuals(candidate: dict[str, Any]) -> dict[str, Any]:
    """The detail of a regression candidate's residuals measurement ({} when none)."""
    return (candidate.get("metrics", {}).get(metrics.RESIDUALS) or {}).get("detail") or {}


def floor_line(results: dict[str, Any]) -> str | None:
    """The mean predictor's figures, the floor every candidate must beat; None when no
    candidate carries them (every candidate's probe shares the floor: same rows, same folds)."""
    floor = next(
        (residuals(c)["floor"] for c in results["candidates"] if residuals(c).get("floor")), None
    )
    if floor is None:
        return None
    r2 = metrics.spec(metrics.R2).show(floor.get("r2"))
    return (
        f"Floor: the {MEAN_PREDICTOR} (the training folds' mean for every row) scores "
        f"{metrics.label(metrics.R2)} {r2}, {metrics.label(metrics.MAE)} "
        f"{target_figure(floor.get('mae'))} and {metrics.label(metrics.RMSE)} "
        f"{target_figure(floor.get('rmse'))} ({metrics.TARGET_UNITS}); a candidate that does "
        "not beat it has learned nothing usable"
    )


def beats_lines(results: dict[str, Any]) -> list[str]:
    """One sentence per candidate that was judged against the floor and the baselines."""
    lines = []
    for c in results["candidates"]:
        beats = c.get("beats") or {}
        if not beats:
            continue
        won = [name for name, beaten in beats.items() if beaten]
        lost = [name for name, beaten in beats.items() if not beaten]
        parts = [f"beats {', '.join(won)}"] if won else []
        parts += [f"does not beat {', '.join(lost)}"] if lost else []
        lines.append(f"{c['id']} {' and '.join(parts)} on {quality_words(results)}")
    return lines


def layer_lines(results: dict[str, Any]) -> list[str]:
    """Which hidden layer each candidate's features came from, where the spec chose one
    (``feature_layer``: mean or best; the last layer, the default, says nothing)."""
    lines = []
    for c in results["candidates"]:
        found = (c.get("metrics") or {}).get(metrics.FEATURE_LAYER)
        detail = (found or {}).get("detail") or {}
        if detail.get("choice") == "best":
            scores = detail.get("scores") or {}
            best = scores.get(str(detail["layer"]))
            last = scores.get(str(detail["layers"]))
            figures = f" (LogME {best:.3f}; the last layer {last:.3f})" if best is not None else ""
            lines.append(
                f"{c['id']}: features from layer {detail['layer']} of {detail['layers']}, "
                f"the best by LogME{figures}"
            )
        elif detail.get("choice") == "mean":
            lines.append(f"{c['id']}: features are the mean of all {detail['layers']} layers")
        elif detail.get("why"):
            lines.append(f"{c['id']}: {detail['requested']} layer not used: {detail['why']}")
    return lines


def skipped_estimators(results: dict[str, Any]) -> list[tuple[str, str]]:
    """(estimator label, reason) for each estimator with no form for the run's task."""
    skipped = results.get("estimators_skipped") or {}
    return [(metrics.ESTIMATOR_LABELS.get(name, name), why) for name, why in skipped.items()]


def slice_residuals(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Per slice column: for each value its row count and each candidate's 'MAE …, RMSE …,
    bias …' (target units) from its residuals' ``per_slice``."""
    measured = [c for c in results["candidates"] if residuals(c).get("per_slice")]
    columns: list[str] = []
    for c in measured:
        columns += [k for k in residuals(c)["per_slice"] if k not in columns]
    tables = []
    for column in columns:
        values: list[str] = []
        for c in measured:
            values += [v for v in residuals(c)["per_slice"].get(column, {}) if v not in values]
        rows = [
            {
                "value": value,
                "rows": _slice_rows(measured, column, value),
                "cells": [_slice_cell(c, column, value) for c in measured],
            }
            for value in values
        ]
        tables.append({"column": column, "candidates": [c["id"] for c in measured], "rows": rows})
    return tables


def _slice_rows(measured: list[dict[str, Any]], column: str, value: str) -> str:
    for c in measured:
        found = residuals(c)["per_slice"].get(column, {}).get(value)
        if found and found.get("rows") is not None:
            return f"{found['rows']:,}"
    return "–"


def _slice_cell(candidate: dict[str, Any], column: str, value: str) -> str:
    found = residuals(candidate)["per_slice"].get(column, {}).get(value)
    if not found:
        return "–"
    return (
        f"MAE {target_figure(found.get('mae'))}, RMSE {target_figure(found.get('rmse'))}, "
        f"bias {signed_figure(found.get('bias'))}"
    )
