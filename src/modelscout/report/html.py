"""report.html: the self-contained report, rendered from results.json alone.

One file with the styles inlined and the plots as inline SVG: it opens from disk with no
network and needs no JavaScript. Jinja2 escapes every string (autoescape is on), so a
candidate name, a label or a model card cannot inject markup. The page computes nothing: it
places the numbers results.json holds (docs/report.md says where each one comes from).
"""

from __future__ import annotations

import math
from functools import cache
from importlib.resources import files
from pathlib import PurePath
from typing import Any

import yaml
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from modelscout import metrics
from modelscout.report import plots, tasks
from modelscout.report.halving import ROUND_HEADERS, halving_headers, halving_rows, round_rows
from modelscout.report.markdown import TIES_HEADERS, tie_rows, ties_line
from modelscout.report.matrix import (
    BEATS_HEADER,
    format_params,
    matrix_columns,
    matrix_headers,
    matrix_rows,
    results_quality,
    results_task,
    units_note,
)
from modelscout.report.stress import (
    rare_headers,
    rare_rows,
    stress_headers,
    stress_line,
    stress_rows,
)
from modelscout.report.thumbnails import thumbnail_uri
from modelscout.report.verified import verification_headers, verification_rows

SECTIONS = (
    ("recommendation", "Recommendation"),
    ("matrix", "Evaluation matrix"),
    ("plots", "Plots"),
    ("breakdowns", "Breakdowns"),
    ("candidates", "Candidates"),
    ("reproducibility", "Reproducibility"),
)


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("modelscout.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_html(results: dict[str, Any]) -> str:
    """The report page for a results dictionary (the contents of results.json)."""
    css = (files("modelscout.report") / "templates" / "report.css").read_text(encoding="utf-8")
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            css=Markup(css),
            sections=SECTIONS,
            results=results,
            summary=_summary(results),
            decision=_decision(results),
            matrix=_matrix(results),
            plots=_plots(results),
            latency=_latency_table(results),
            warnings=results.get("alerts") or [],
            cost_name=metrics.COST_PER_1K,
            threads_source=((results.get("run") or {}).get("threads") or {}).get("source")
            or "not recorded",
            costs=_costs(results),
            variants=[v["sentence"] for v in results.get("variants", []) if v.get("sentence")],
            classes=_classes(results),
            slices=_slices(results),
            confusions=_confusions(results),
            cards=[_card(c) for c in results["candidates"]],
            task=_task(results),
            reproduce=_reproduce(results),
        )
    )


def _number(value: Any, unit: str | None = None) -> str:
    """Display form of a raw number: 3 decimals for fractions, 4 significant digits else."""
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if unit == "fraction":
        return f"{value:.3f}"
    return f"{value:,.0f}" if abs(value) >= 1e4 else f"{value:.4g}"


def _summary(results: dict[str, Any]) -> dict[str, Any]:
    statuses = [c["status"] for c in results["candidates"]]
    return {
        "counts": {s: statuses.count(s) for s in ("ranked", "rejected", "failed")},
        "data_counts": tasks.data_counts(results),
    }


def _task(results: dict[str, Any]) -> dict[str, Any]:
    """The task's lines and tables: what a class is called, the quality metric, the notes
    under the matrix, the skipped estimators and the regression residuals by slice."""
    task = results_task(results)
    return {
        "name": task,
        "line": tasks.task_line(results),
        "noun": "label" if task == "multilabel" else "class",
        "classes": task != "regression",
        "confusions": task == "classification",
        "quality": metrics.label(results_quality(results)),
        "notes": [n for n in (units_note(results), tasks.floor_line(results)) if n],
        "beats": tasks.beats_lines(results) + tasks.layer_lines(results),
        "skipped": tasks.skipped_estimators(results),
        "residuals": tasks.slice_residuals(results),
    }


def _sensitivity_row(entry: dict[str, Any], weights: dict[str, float]) -> dict[str, Any]:
    low, high = entry["pick_holds_from"], entry["pick_holds_to"]
    name = entry["criterion"]
    return {
        "criterion": name,
        "weight": _number(float(weights.get(name, 0.0))),
        "share": f"{entry['current_share']:.2f}",
        "holds": "at no share" if low is None else f"{low:.2f} to {high:.2f}",
        "flips_to": entry["flips_to"],
    }


def _decision(results: dict[str, Any]) -> dict[str, Any]:
    weights = results["weights"]
    ranked = [c for c in results["candidates"] if c["status"] == "ranked"]
    constraints = results.get("settings", {}).get("constraints", {})
    return {
        "sensitivity": [_sensitivity_row(e, weights) for e in results["sensitivity"]],
        "what_would_change": results.get("what_would_change") or [],
        "constraints": {k: v for k, v in constraints.items() if v is not None},
        "criteria": list(weights),
        "criteria_rows": [
            {
                "id": c["id"],
                "rank": c["rank"],
                "score": _number(c["score"], "fraction"),
                "values": [_number(c["criteria"].get(k), "fraction") for k in weights],
            }
            for c in ranked
        ],
        "weights": [_number(float(v)) for v in weights.values()],
        "ties": {"line": ties_line(results), "headers": TIES_HEADERS, "rows": tie_rows(results)},
        "quality_evidence": (results.get("quality_evidence") or {}).get("sentence"),
        "verification": {
            "line": (results.get("verification") or {}).get("sentence"),
            "notes": (results.get("verification") or {}).get("notes") or [],
            "headers": verification_headers(results),
            "rows": verification_rows(results),
        },
        "halving": {
            "line": (results.get("halving") or {}).get("sentence"),
            "notes": (results.get("halving") or {}).get("notes") or [],
            "round_headers": ROUND_HEADERS,
            "rounds": round_rows(results),
            "headers": halving_headers(results),
            "rows": halving_rows(results),
        },
        "stress": _stress(results),
    }


def _stress(results: dict[str, Any]) -> dict[str, Any]:
    """The stress slices' line, decide's sentences and the two tables (report/stress.py)."""
    line = stress_line(results)
    if line is None:
        return {"line": None}
    rare = rare_rows(results)
    return {
        "line": line,
        "sentences": results["stress"]["sentences"],
        "headers": stress_headers(results),
        "rows": stress_rows(results),
        "rare_headers": rare_headers(results) if rare else (),
        "rare_rows": rare,
    }


def _matrix(results: dict[str, Any]) -> dict[str, Any]:
    units = {header: metrics.unit(name) for header, name, _ in matrix_columns(results)}
    text = ("candidate", "status", "reason", BEATS_HEADER)
    headers = []
    for header in matrix_headers(results):
        unit = {"score": "0–1, 1 best", "params": "count"}.get(header, units.get(header))
        headers.append(
            {
                "label": header,
                "unit": None if unit and unit in header else unit,
                "kind": "text" if header in text else "num",
            }
        )
    rows = [
        {"cells": cells, "status": c["status"], "recommended": c["id"] == results["recommendation"]}
        for c, cells in zip(results["candidates"], matrix_rows(results), strict=True)
    ]
    return {"headers": headers, "rows": rows}


def _plots(results: dict[str, Any]) -> dict[str, Markup | None]:
    drawn = {
        "quality_latency": plots.quality_latency_svg(results),
        "quality_cost": plots.quality_cost_svg(results),
        "criteria": plots.criterion_bars_svg(results),
        "latency": plots.latency_distribution_svg(results),
        "predicted_true": plots.predicted_true_svg(results),
        "label_f1": plots.label_f1_svg(results),
        "reliability": plots.reliability_svg(results),
        "learning_curves": plots.learning_curves_svg(results),
    }
    # The SVGs are matplotlib's own markup with every text drawn as outlines: safe as is.
    return {name: None if svg is None else Markup(svg) for name, svg in drawn.items()}


def _latency_table(results: dict[str, Any]) -> list[dict[str, str]]:
    """One row per candidate and timed batch size: runs, percentiles, median CI, items/s."""
    rows = []
    for c in results["candidates"]:
        measured = c.get("metrics", {})
        for size in metrics.batch_sizes(measured, metrics.LATENCY_P50):
            p50 = measured[metrics.latency_p50(size)]
            detail = p50.get("detail") or {}
            ci = detail.get("p50_ci_relative")
            p95 = (measured.get(metrics.latency_p95(size)) or {}).get("detail") or {}
            rows.append(
                {
                    "id": c["id"],
                    "batch": str(size),
                    "runs": _number(detail.get("runs")),
                    **{
                        q: _number((measured.get(metrics.latency(q, size)) or {}).get("value"))
                        for q in metrics.QUANTILES
                    },
                    "ci": "–" if ci is None else f"± {ci:.1%}",
                    "p95_ci": _interval(p95.get("ci95_ms")),
                    "threads": _number(detail.get("threads")),
                    "reliability": _reliability(detail),
                    "throughput": _number(
                        (measured.get(metrics.throughput(size)) or {}).get("value")
                    ),
                    "preprocess": _number(_value(measured, metrics.preprocess_ms(size))),
                    "forward": _number(_value(measured, metrics.forward_ms(size))),
                }
            )
    return rows


def _value(measured: dict[str, Any], name: str) -> Any:
    """The value of a measurement among ``measured``, None when absent or not measured."""
    return (measured.get(name) or {}).get("value")


def _interval(interval: list[float | None] | None) -> str:
    """'11.0–14.2', '11.0–∞' (too few runs to bound it above), or '–'."""
    if not interval:
        return "–"
    low, high = interval
    return f"{low:.4g}–{'∞' if high is None else f'{high:.4g}'}"


def _reliability(detail: dict[str, Any]) -> str:
    """'ok', 'busy: <why>', or '–' for a timing from before reliability was judged."""
    if "reliable" not in detail:
        return "–"
    return "ok" if detail["reliable"] else "busy: " + "; ".join(detail["unreliable_reasons"])


def _dollars(metric: dict[str, Any] | None) -> str:
    """'$781.83', '$0.0147', '$0.0000770': three significant digits below a dollar."""
    value = None if metric is None else metric.get("value")
    if value is None:
        return "–"
    if value >= 100:
        return f"${value:,.0f}"
    if value >= 1 or value == 0:
        return f"${value:,.2f}"
    return f"${value:.{2 - math.floor(math.log10(value))}f}"


def _costs(results: dict[str, Any]) -> dict[str, Any] | None:
    """Cost rows and the assumptions behind them (from the measurements' details)."""
    cost = metrics.COST_PER_1K
    priced = [c for c in results["candidates"] if cost in c.get("metrics", {})]
    if not priced:
        return None
    rows = []
    for c in priced:
        measured = c["metrics"]
        month = measured.get(metrics.COST_PER_MONTH) or {}
        detail = month.get("detail") or {}
        utilization = detail.get("utilization")
        rows.append(
            {
                "id": c["id"],
                "per_1k": _dollars(measured[cost]),
                "per_month": _dollars(month or None),
                "per_year": _dollars(measured.get(metrics.COST_PER_YEAR)),
                "fine_tune": _dollars(measured.get(metrics.COST_FINE_TUNE)),
                "instances": _number(detail.get("instances")),
                "utilization": "–" if utilization is None else f"{utilization:.1%}",
            }
        )
    assumptions = priced[0]["metrics"][cost].get("detail") or {}
    details = [(c["id"], c["metrics"][cost].get("detail") or {}) for c in priced]
    on_gpu = sorted(
        {f"{d['precision']} on {d.get('measured_on')}" for _, d in details if "precision" in d}
    )
    settings = results.get("settings", {}).get("cost") or {}
    return {
        "rows": rows,
        "price_per_hour": _number(assumptions.get("price_per_hour")),
        "price_source": assumptions.get("price_source") or "unknown",
        "serving_batch_size": _number(assumptions.get("serving_batch_size")),
        "requests_per_day": _number(settings.get("requests_per_day")),
        "fine_tune_epochs": _number(settings.get("fine_tune_epochs")),
        "on_gpu": ", ".join(on_gpu),
        "unpriced": [{"id": cid, "reason": d["reason"]} for cid, d in details if d.get("reason")],
    }


def _breakdown(candidate: dict[str, Any]) -> dict[str, Any]:
    return (candidate.get("metrics", {}).get(metrics.BREAKDOWN) or {}).get("detail") or {}


def _precision_recall(breakdown: dict[str, Any], name: str) -> str | None:
    """'P 0.812 · R 0.790' for a class, or None where the probe predates per-class P and R."""
    precision = breakdown.get("per_class_precision", {}).get(name)
    recall = breakdown.get("per_class_recall", {}).get(name)
    if precision is None or recall is None:
        return None
    return f"P {_number(precision, 'fraction')} · R {_number(recall, 'fraction')}"


def _classes(results: dict[str, Any]) -> dict[str, Any]:
    """Per-class F1 per candidate; classes largest first, decide's long tail marked."""
    measured = [c for c in results["candidates"] if _breakdown(c).get("per_class_f1")]
    sizes = {c["name"]: c["rows"] for c in results["data"].get("classes") or []}
    for c in measured:
        sizes.update({name: None for name in _breakdown(c)["per_class_f1"] if name not in sizes})
    long_tail = results.get("long_tail") or {}
    tail = set(long_tail.get("classes", []))
    rows = [
        {
            "name": name,
            "rows": _number(count),
            "long_tail": name in tail,
            "cells": [
                {
                    "text": _number(_breakdown(c)["per_class_f1"].get(name), "fraction"),
                    "precision_recall": _precision_recall(_breakdown(c), name),
                    "worst": _breakdown(c).get("worst_class") == name,
                }
                for c in measured
            ],
        }
        for name, count in sorted(sizes.items(), key=lambda item: (-(item[1] or 0), item[0]))
    ]
    return {"candidates": [c["id"] for c in measured], "rows": rows, "tail": long_tail}


def _slices(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Per slice column: macro-F1 per slice value per candidate, with the value's row count."""
    counts = results["data"].get("slices", {})
    measured = [c for c in results["candidates"] if _breakdown(c).get("per_slice_f1")]
    columns = list(counts)
    for c in measured:
        columns += [k for k in _breakdown(c)["per_slice_f1"] if k not in columns]
    tables = []
    for column in columns:
        values = list(counts.get(column, {}))
        for c in measured:
            values += [v for v in _breakdown(c)["per_slice_f1"].get(column, {}) if v not in values]
        tables.append(
            {
                "column": column,
                "candidates": [c["id"] for c in measured],
                "rows": [
                    {
                        "value": value,
                        "rows": _number(counts.get(column, {}).get(value)),
                        "cells": [
                            _number(
                                _breakdown(c)["per_slice_f1"].get(column, {}).get(value),
                                "fraction",
                            )
                            for c in measured
                        ],
                    }
                    for value in values
                ],
            }
        )
    return tables


def _example(example: str, images: bool) -> dict[str, Any]:
    """One example input: an image file's name and thumbnail (None: unreadable now), or a text."""
    if not images:
        return {"text": example}
    name = PurePath(example).name or example
    return {"path": example, "name": name, "uri": thumbnail_uri(example)}


def _confusions(results: dict[str, Any]) -> dict[str, Any]:
    """The recommended candidate's most confused class pairs with their example inputs
    (thumbnails for images), and the other candidates' pairs as sentences."""
    images = (results["data"].get("modality") or "text") == "image"
    pick = results.get("recommendation")
    pairs = [
        {
            "sentence": pair["sentence"],
            "true": pair["true"],
            "predicted": pair["predicted"],
            "examples": [_example(example, images) for example in pair["examples"]],
        }
        for pair in results.get("confusions") or []
    ]
    others = [
        {"id": c["id"], "sentences": [pair["sentence"] for pair in c["confusions"]]}
        for c in results["candidates"]
        if c["id"] != pick and c.get("confusions")
    ]
    return {"pick": pick, "images": images, "pairs": pairs, "others": others}


def _known(value: Any, suffix: str = "") -> str:
    if value is None or value == []:
        return "unknown"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{_number(value)}{suffix}"


def _bytes(count: int | None) -> str:
    if count is None:
        return "unknown"
    return f"{count / 1e6:.1f} MB ({count:,} bytes)" if count >= 1e5 else f"{count:,} bytes"


def _card(candidate: dict[str, Any]) -> dict[str, Any]:
    meta = candidate.get("meta", {})
    params = meta.get("params")
    weight_format = _known(meta.get("weight_format"))
    if meta.get("weight_files"):
        weight_format += f" ({', '.join(meta['weight_files'])})"
    fields = [
        ("source", candidate.get("source")),
        ("path", candidate.get("path") or "–"),
        ("revision", candidate.get("revision")),
        ("derived from", candidate.get("parent") or "–"),
        ("variants", ", ".join(candidate.get("variants", [])) or "–"),
        ("licence", _known(meta.get("license"))),
        ("languages", _known(meta.get("languages"))),
        ("parameters", "unknown" if params is None else f"{format_params(params)} ({params:,})"),
        ("max input length", _known(meta.get("max_input_tokens"), " tokens")),
        ("weight format", weight_format),
        ("library", _known(meta.get("library"))),
        ("architecture", _known(meta.get("architecture"))),
        ("layers", _known(meta.get("layers"))),
        ("embedding size", _known(meta.get("embedding_dim"))),
        ("disk size", _bytes(meta.get("disk_size_bytes"))),
        ("author", _known(meta.get("author"))),
        ("pipeline tag", _known(meta.get("pipeline_tag"))),
        ("base model", _known(meta.get("base_model"))),
        ("needs remote code", _known(meta.get("needs_remote_code"))),
        ("model card sections", _known(meta.get("card_sections"))),
    ]
    if candidate.get("gpu"):  # none for the baseline, which has no torch model
        fields.append(("GPU", _gpu(candidate)))
    return {
        "id": candidate["id"],
        "status": candidate["status"],
        "reason": candidate.get("reason"),
        "rank": candidate.get("rank"),
        "baseline": candidate.get("source") == "baseline",
        "fields": fields,
        "datasets": meta.get("datasets") or [],
        "measurements": [_measurement(name, m) for name, m in candidate.get("metrics", {}).items()],
    }


def _gpu(candidate: dict[str, Any]) -> str:
    """One line: why the GPU path was skipped, or the device and each precision's p50 at
    batch size 1 and feature agreement (the full figures are in the measurements table)."""
    gpu = candidate["gpu"]
    if "skipped" in gpu:
        return f"skipped: {gpu['skipped']}"
    measured = candidate.get("metrics", {})
    parts = []
    for precision in gpu.get("precisions", []):
        p50 = measured.get(metrics.gpu_name(precision, metrics.latency_p50(1))) or {}
        cosine = (measured.get(metrics.gpu_name(precision, metrics.GPU_COSINE_MIN)) or {}).get(
            "value"
        )
        part = f"{precision} p50 {_number(p50.get('value'), 'ms')} ms at batch 1"
        if cosine is not None:
            part += f", min cosine to CPU fp32 {metrics.fmt(metrics.GPU_COSINE_MIN).format(cosine)}"
        parts.append(part)
    parts += [f"{precision} failed: {why}" for precision, why in gpu.get("failed", {}).items()]
    device = gpu.get("device_name") or gpu.get("device", "GPU")
    if gpu.get("runtime"):
        device += f" ({gpu['runtime']})"
    return f"{device}: " + "; ".join(parts)


def _measurement(name: str, metric: dict[str, Any]) -> dict[str, str]:
    unit = metric.get("unit")
    value = _number(metric.get("value"), unit)
    if metric.get("spread") is not None:
        value += " ± " + _number(metric["spread"], unit)
    detail = metric.get("detail") or {}
    scalars = [f"{k} {_number(v)}" for k, v in detail.items() if not isinstance(v, (list, dict))]
    return {"name": name, "value": value, "unit": unit or "", "detail": ", ".join(scalars)}


def _reproduce(results: dict[str, Any]) -> dict[str, Any]:
    settings = results.get("settings", {})
    environment = results.get("environment", {})
    return {
        "command": "modelscout rank --spec spec.yaml",
        "spec": yaml.safe_dump(settings, sort_keys=False, allow_unicode=True),
        "seed": settings.get("seed"),
        "packages": environment.get("packages", {}),
        "machine": environment.get("machine", {}),
        "python": environment.get("python"),
        "modelscout": environment.get("modelscout"),
    }
