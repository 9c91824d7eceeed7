"""results.md: the summary and evaluation matrix, for pull requests and tickets."""

from __future__ import annotations

from typing import Any

from modelscout import metrics
from modelscout.decide.pareto import pareto_axes_label
from modelscout.report import tasks
from modelscout.report.halving import ROUND_HEADERS, halving_headers, halving_rows, round_rows
from modelscout.report.matrix import (
    find_metric,
    format_metric,
    matrix_headers,
    matrix_rows,
    results_quality,
    results_task,
    units_note,
)
from modelscout.report.md_escape import md_code, md_text
from modelscout.report.stress import (
    rare_headers,
    rare_rows,
    stress_headers,
    stress_line,
    stress_rows,
)
from modelscout.report.verified import verification_headers, verification_rows


def render_markdown(results: dict[str, Any]) -> str:
    data = results["data"]
    headers = matrix_headers(results)
    lines = [
        "# modelscout results",
        "",
        f"**Recommendation:** {md_text(results['recommendation'] or 'none')}",
        "",
        md_text(results["rationale"]),
        "",
        *_warnings(results),
        f"{md_text(tasks.task_line(results))}.",
        "",
        f"Data: {data['rows_used']} rows used of {data['rows_in_file']} "
        f"({md_text(tasks.data_counts(results))}), "
        f"fingerprint {md_code(data['fingerprint'][:12])}. "
        f"Pareto set ({pareto_axes_label(results_quality(results))}): "
        f"{', '.join(map(md_text, results['pareto'])) or 'none'}.",
        *(f"Note on the data: {md_text(note)}." for note in data.get("notes", [])),
        *_what_would_change(results),
        "",
        "## Evaluation matrix",
        "",
        "| " + " | ".join(md_text(h) for h in headers) + " |",
        "|" + "---|" * len(headers),
    ]
    lines += ["| " + " | ".join(md_text(v) for v in row) + " |" for row in matrix_rows(results)]
    lines += _task_notes(results) + _ties(results) + _verification(results) + _halving(results)
    lines += _stress(results) + _timing(results) + _long_tail(results)
    lines += _labels(results) + _residuals(results) + _confusions(results) + _curves(results)
    lines += _variants(results) + _cost(results) + _deployment(results) + _gpu(results)
    weights = ", ".join(f"{md_text(k)} {v:g}" for k, v in results["weights"].items())
    evidence = (results.get("quality_evidence") or {}).get("sentence")
    lines += [
        "",
        f"Weights: {weights}. Spreads are the standard deviation over "
        f"{results['settings']['folds']} cross-validation folds."
        + (f" {md_text(evidence)}" if evidence else ""),
        "",
    ]
    return "\n".join(lines)


def _curves(results: dict[str, Any]) -> list[str]:
    """The learning curves as a table: each candidate's quality on the sample, the quality
    expected trained on all the data's rows with its interval, and how far that extrapolates."""
    quality = results_quality(results)
    predicted, fmt = metrics.predicted(quality), metrics.fmt(quality)
    rows = []
    for c in results["candidates"]:
        found = find_metric(c, predicted)
        if not found:
            continue
        detail = found.get("detail") or {}
        sample = format_metric(c, quality, fmt, spread=False)
        points = " · ".join(
            f"{p['rows']:.0f}: {'–' if p['mean'] is None else fmt.format(p['mean'])}"
            for p in detail.get("points", [])
        )
        if found.get("value") is None:
            cells = ["–", "–", "–", detail.get("reason", "no curve")]
        else:
            at = detail["predictions"]
            cells = [
                f"{fmt.format(found['value'])} at {detail['rows']:,} rows",
                f"{fmt.format(detail['low'])} – {fmt.format(detail['high'])}",
                "; ".join(f"{fmt.format(p['value'])} at {p['rows']:,} rows" for p in at[1:]),
                f"{detail['extrapolation']:g}× the largest training size"
                + (" (far: read with care)" if detail.get("far") else ""),
            ]
        rows.append([c["id"], sample, *cells, points])
    if not rows:
        return []
    headers = ["candidate", "on the sample", "expected", "interval", "also", "extrapolation"]
    lines = [
        "",
        "## Learning curves",
        "",
        md_text(
            f"{metrics.label(quality)} of the probe trained on nested fractions of each fold's "
            "rows (the points: mean training rows: mean score), fitted as an inverse power law "
            "and extended to the data's rows; the interval is a bootstrap over folds."
        ),
        "",
        "| " + " | ".join([*headers, "points"]) + " |",
        "|" + "---|" * (len(headers) + 1),
    ]
    return lines + ["| " + " | ".join(md_text(v) for v in row) + " |" for row in rows]


def _task_notes(results: dict[str, Any]) -> list[str]:
    """Under the matrix: the units of MAE and RMSE, the mean-predictor floor, which baselines
    each candidate beats, and the estimators skipped for the task, with their reasons."""
    notes = [note for note in (units_note(results), tasks.floor_line(results)) if note]
    notes += tasks.beats_lines(results) + tasks.layer_lines(results)
    skipped = tasks.skipped_estimators(results)
    if skipped:
        notes.append("Estimators skipped: " + "; ".join(f"{name} ({why})" for name, why in skipped))
    return ["", *(f"- {md_text(note)}." for note in notes)] if notes else []


def _labels(results: dict[str, Any]) -> list[str]:
    """Multi-label: each label's support and F1 per candidate, largest first, the long tail
    marked (the HTML report's per-class table gives precision and recall too)."""
    if results_task(results) != "multilabel":
        return []
    measured = [c for c in results["candidates"] if _per_label(c)]
    if not measured:
        return []
    tail = set((results.get("long_tail") or {}).get("classes", []))
    sizes = {c["name"]: c["rows"] for c in results["data"].get("classes") or []}
    for c in measured:  # a label the data summary lacks still shows, with its probe support
        support = (c["metrics"][metrics.BREAKDOWN].get("detail") or {}).get("support") or {}
        sizes.update({k: v for k, v in support.items() if k not in sizes})
    lines = [
        "",
        "## Per label",
        "",
        "| label | rows | " + " | ".join(f"{md_text(c['id'])} F1" for c in measured) + " |",
        "|---|---|" + "---|" * len(measured),
    ]
    for name, rows in sorted(sizes.items(), key=lambda item: (-item[1], item[0])):
        shown = md_text(name) + (" (long tail)" if name in tail else "")
        cells = [_fraction(_per_label(c).get(name)) for c in measured]
        lines.append(f"| {shown} | {rows} | " + " | ".join(cells) + " |")
    return lines


def _per_label(candidate: dict[str, Any]) -> dict[str, float]:
    breakdown = (candidate.get("metrics", {}).get(metrics.BREAKDOWN) or {}).get("detail") or {}
    return breakdown.get("per_class_f1") or {}


def _fraction(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _residuals(results: dict[str, Any]) -> list[str]:
    """Regression: each candidate's MAE, RMSE and bias per slice value (target units)."""
    lines = []
    for table in tasks.slice_residuals(results):
        lines += [
            "",
            f"Slice column {md_code(table['column'])}:",
            "",
            "| value | rows | " + " | ".join(md_text(c) for c in table["candidates"]) + " |",
            "|---|---|" + "---|" * len(table["candidates"]),
        ]
        lines += [
            f"| {md_text(row['value'])} | {row['rows']} | "
            + " | ".join(md_text(cell) for cell in row["cells"])
            + " |"
            for row in table["rows"]
        ]
    if not lines:
        return []
    return [
        "",
        "## Residuals by slice",
        "",
        f"Bias is predicted minus true ({metrics.TARGET_UNITS}).",
    ] + lines


def _warnings(results: dict[str, Any]) -> list[str]:
    """Busy-machine timings and flagged candidates (decide's alerts), each a bold quote."""
    lines = []
    for note in results.get("alerts") or []:
        lines += [f"> **{md_text(note)}**", ""]
    return lines


def _what_would_change(results: dict[str, Any]) -> list[str]:
    """Decide's sentences on what would change the pick, as a list."""
    sentences = results.get("what_would_change") or []
    if not sentences:
        return []
    return ["", "What would change the pick:", "", *(f"- {md_text(s)}" for s in sentences)]


TIES_HEADERS = ("candidate", "difference to the best", "95% interval", "tied with the best")


def tie_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The paired test's pairs as display strings, in TIES_HEADERS' order (the interval's
    confidence is the one in results.json)."""
    ties = results.get("ties")
    if not ties:
        return []
    show = metrics.spec(ties["metric"]).show
    return [
        (
            pair["candidate"],
            show(pair["difference"]),
            f"{show(pair['low'])} to {show(pair['high'])}",
            "yes" if pair["tied"] else "no",
        )
        for pair in ties["pairs"]
    ]


def ties_line(results: dict[str, Any]) -> str | None:
    """Decide's sentence on the test of ties and its note (why none ran), or None."""
    ties = results.get("ties") or {}
    found = [text for text in (ties.get("sentence"), results.get("ties_note")) if text]
    return " ".join(found) or None


def _ties(results: dict[str, Any]) -> list[str]:
    """The paired test of ties with the best, as a table, or the note saying why none ran."""
    line = ties_line(results)
    if line is None:
        return []
    lines = ["", "## Statistical ties", "", md_text(line)]
    rows = tie_rows(results)
    return lines + _table(TIES_HEADERS, rows) if rows else lines


def _verification(results: dict[str, Any]) -> list[str]:
    """Decide's sentence on what verification did, and the finalists' fine-tuned figures."""
    verdict = results.get("verification")
    if not verdict:
        return []
    lines = ["", "## Verification", "", md_text(verdict["sentence"])]
    for note in verdict.get("notes") or []:
        lines += ["", md_text(note)]
    return lines + _table(verification_headers(results), verification_rows(results))


def _table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    lines = ["", "| " + " | ".join(md_text(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    return lines + ["| " + " | ".join(md_text(v) for v in row) + " |" for row in rows]


def _halving(results: dict[str, Any]) -> list[str]:
    """What successive halving did: its sentence and notes, the rounds, each candidate."""
    record = results.get("halving")
    if not record:
        return []
    lines = ["", "## Successive halving", "", md_text(record["sentence"])]
    for note in record.get("notes") or []:
        lines += ["", md_text(note)]
    lines += _table(ROUND_HEADERS, round_rows(results))
    return lines + _table(halving_headers(results), halving_rows(results))


def _stress(results: dict[str, Any]) -> list[str]:
    """The stress slices: what they are, decide's sentences, the drops and the rare classes'."""
    line = stress_line(results)
    if line is None:
        return []
    lines = ["", "## Stress slices", "", md_text(line)]
    for sentence in results["stress"]["sentences"]:
        lines += ["", md_text(sentence)]
    lines += _table(stress_headers(results), stress_rows(results))
    rare = rare_rows(results)
    return lines + (_table(rare_headers(results), rare) if rare else [])


def _long_tail(results: dict[str, Any]) -> list[str]:
    """Decide's sentence on the long-tail classes."""
    tail = results.get("long_tail")
    return ["", "## Long tail", "", md_text(tail["sentence"])] if tail else []


def _confusions(results: dict[str, Any]) -> list[str]:
    """Decide's sentences on each ranked candidate's most confused class pairs, each with its
    example inputs: image file paths as code, texts quoted."""
    images = (results["data"].get("modality") or "text") == "image"
    lines = []
    for candidate in results["candidates"]:
        if candidate["status"] != "ranked" or not candidate.get("confusions"):
            continue
        lines += ["", f"{md_text(candidate['id'])}:", ""]
        for pair in candidate["confusions"]:
            shown = [md_code(e) if images else f"“{md_text(e)}”" for e in pair["examples"]]
            examples = f" Examples: {', '.join(shown)}." if shown else ""
            lines.append(f"- {md_text(pair['sentence'])}{examples}")
    return ["", "## Most confused classes", *lines] if lines else []


STAGE_NAMES = (metrics.preprocess_ms, metrics.forward_ms)


def timing_summary(measured: dict[str, Any], size: int = 1) -> str | None:
    """'p95 12.3 ms @1 (95% CI 11.0–14.2 ms), 2 threads, 140 runs', or None if not timed."""
    p95 = measured.get(metrics.latency_p95(size))
    if p95 is None or p95.get("value") is None:
        return None
    detail = p95.get("detail") or {}
    text = f"p95 {p95['value']:.1f} ms @{size}"
    low, high = detail.get("ci95_ms") or (None, None)
    if low is not None:
        text += f" (95% CI {low:.1f}–{'∞' if high is None else f'{high:.1f}'} ms)"
    threads = detail.get("threads")
    if threads is not None:
        text += f", {threads} thread{'s' if threads != 1 else ''}"
    if detail.get("runs") is not None:
        text += f", {detail['runs']} runs"
    if detail.get("reliable") is False:
        text += ", busy machine: " + "; ".join(detail.get("unreliable_reasons") or [])
    return text


def stage_summary(measured: dict[str, Any], size: int = 1) -> str:
    """'; of which preprocessing 1.2 ms and forward pass 10.4 ms (medians) @1', or ''."""
    found = [(measured.get(name(size)) or {}).get("value") for name in STAGE_NAMES]
    if None in found:
        return ""
    preprocess, forward = found
    return (
        f"; of which preprocessing {preprocess:.1f} ms and forward pass {forward:.1f} ms "
        f"(medians) @{size}"
    )


def _timing(results: dict[str, Any]) -> list[str]:
    """Each candidate's p95 at batch 1 with its interval, threads and reliability."""
    lines = [
        f"- {md_text(c['id'])}: {md_text(text)}{stage_summary(c.get('metrics', {}))}"
        for c in results["candidates"]
        if (text := timing_summary(c.get("metrics", {})))
    ]
    if not lines:
        return []
    threads = (results.get("run") or {}).get("threads") or {}
    source = f" Threads: {md_text(threads['source'])}." if threads.get("source") else ""
    return ["", "## Timing", "", *lines, "", f"Timed on this machine.{source}"]


def _variants(results: dict[str, Any]) -> list[str]:
    sentences = [v["sentence"] for v in results.get("variants", []) if v["sentence"]]
    if not sentences:
        return []
    return ["", "## Cheaper variants", "", *(f"- {md_text(s)}" for s in sentences)]


def _money(metric: dict[str, Any] | None) -> str:
    return "–" if metric is None or metric["value"] is None else f"${metric['value']:,.4g}"


def _cost(results: dict[str, Any]) -> list[str]:
    priced = [c for c in results["candidates"] if metrics.COST_PER_1K in c.get("metrics", {})]
    if not priced:
        return []
    lines = [
        "",
        "## Cost",
        "",
        "| candidate | $ per 1k predictions | $ per month | $ per year "
        "| fine-tuning $ | instances | utilization |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in priced:
        m = c["metrics"]
        month = m.get(metrics.COST_PER_MONTH)
        detail = month["detail"] if month else {}
        utilization = f"{detail['utilization']:.1%}" if detail else "–"
        lines.append(
            f"| {md_text(c['id'])} | {_money(m.get(metrics.COST_PER_1K))} | {_money(month)} "
            f"| {_money(m.get(metrics.COST_PER_YEAR))} "
            f"| {_money(m.get(metrics.COST_FINE_TUNE))} "
            f"| {detail.get('instances', '–')} | {utilization} |"
        )
    first = priced[0]["metrics"][metrics.COST_PER_1K]["detail"]
    settings = results["settings"]["cost"]
    unpriced = [f"- {md_text(c['id'])}: {md_text(why)}" for c, why in _unpriced(priced)]
    lines += ["", *unpriced] if unpriced else []
    lines += [
        "",
        "Assumptions: "
        + md_text(
            f"${first['price_per_hour']:g} per hour ({first['price_source']}); "
            f"requests served at batch size {first['serving_batch_size']}, at the throughput "
            f"measured on this machine{_on_gpu(priced)}; $ per 1k counts busy time only; "
            "monthly and annual figures "
            "pay for always-on instances (730 h a month), as many as the average traffic of "
            f"{settings['requests_per_day'] or 'n/a'} requests a day needs; fine-tuning is "
            f"estimated as 3x the forward time over all rows for {settings['fine_tune_epochs']} "
            "epochs on the same instance."
        ),
    ]
    return lines


def _unpriced(priced: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
    """Candidates with a cost row but no price, and why (e.g. no GPU figures)."""
    found = [(c, c["metrics"][metrics.COST_PER_1K].get("detail", {})) for c in priced]
    return [(c, detail["reason"]) for c, detail in found if detail.get("reason")]


def _on_gpu(priced: list[dict[str, Any]]) -> str:
    """' on its GPU (fp16 on NVIDIA L4)' when a GPU instance was priced, else ''."""
    details = [c["metrics"][metrics.COST_PER_1K].get("detail", {}) for c in priced]
    used = sorted(
        {(d["precision"], d.get("measured_on") or "?") for d in details if "precision" in d}
    )
    if not used:
        return ""
    return " on its GPU (" + ", ".join(f"{p} on {where}" for p, where in used) + ")"


def _deployment(results: dict[str, Any]) -> list[str]:
    models = [c for c in results["candidates"] if c["source"] != "baseline"]
    if not models:
        return []
    lines = [
        "",
        "## Deployment",
        "",
        "| candidate | weights | remote code | ONNX | ONNX max diff "
        "| ONNX p50 ms @1 | PyTorch p50 ms @1 |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in models:
        m, meta = c.get("metrics", {}), c.get("meta", {})
        onnx = m.get(metrics.ONNX_OK)
        if onnx is None:
            verdict = "not checked (--onnx)"
        elif onnx["value"] is None:  # not run: the reason says why (e.g. no onnx extra)
            verdict = onnx.get("detail", {}).get("reason") or "not run"
        elif not onnx["value"]:
            verdict = "fail: " + (onnx.get("detail", {}).get("reason") or "unknown")
        else:
            verdict = "pass"
        diff = m.get(metrics.ONNX_MAX_ABS_DIFF, {}).get("value")
        lines.append(
            f"| {md_text(c['id'])} | {md_text(meta.get('weight_format') or '–')} "
            f"| {'needed' if meta.get('needs_remote_code') else 'no'} | {md_text(verdict)} "
            f"| {metrics.spec(metrics.ONNX_MAX_ABS_DIFF).show(diff)} "
            f"| {_number(m.get(metrics.onnx_latency('p50')))} "
            f"| {_number(m.get(metrics.latency_p50(1)))} |"
        )
    return lines


def _number(metric: dict[str, Any] | None, fmt: str = "{:.2f}") -> str:
    return "–" if metric is None or metric.get("value") is None else fmt.format(metric["value"])


def _gpu(results: dict[str, Any]) -> list[str]:
    """Each model on the GPU per precision, or why the GPU path was skipped."""
    noted = [c for c in results["candidates"] if c.get("gpu")]
    if not noted:
        return []
    lines = ["", "## GPU", ""]
    skipped = [c for c in noted if "skipped" in c["gpu"]]
    measured = [c for c in noted if "skipped" not in c["gpu"]]
    reasons = {c["gpu"]["skipped"] for c in skipped}
    if skipped and not measured and len(reasons) == 1:
        lines.append(md_text(f"Skipped: {reasons.pop()}. Every figure above is the CPU's."))
    else:
        lines += [f"- {md_text(c['id'])}: skipped, {md_text(c['gpu']['skipped'])}" for c in skipped]
    if not measured:
        return lines
    devices = sorted({_device(c["gpu"]) for c in measured})
    batch = max(results["settings"]["batch_sizes"])
    lines += [
        "",
        md_text(
            f"Measured on {', '.join(devices)}, the model moved there from the CPU at each "
            "precision; features compared with the CPU fp32 ones. The ranking uses the CPU "
            "figures."
        ),
        "",
        f"| candidate | precision | load s | peak MB | p50 ms @1 | p95 ms @1 | items/s @{batch} "
        "| max abs diff | min cosine |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    failures = []
    for c in measured:
        lines += [_gpu_row(c, precision, batch) for precision in c["gpu"]["precisions"]]
        failures += [
            f"- {md_text(c['id'])} at {md_text(p)}: failed, {md_text(why)}"
            for p, why in c["gpu"]["failed"].items()
        ]
    return lines + ([""] + failures if failures else [])


def _gpu_row(candidate: dict[str, Any], precision: str, batch: int) -> str:
    """One precision's row of the GPU table."""
    measured = candidate.get("metrics", {})

    def on_gpu(name: str) -> dict[str, Any] | None:
        return measured.get(metrics.gpu_name(precision, name))

    return (
        f"| {md_text(candidate['id'])} | {md_text(precision)} "
        f"| {_number(on_gpu(metrics.LOAD_SECONDS))} "
        f"| {_number(on_gpu(metrics.PEAK_MEMORY), '{:.0f}')} "
        f"| {_number(on_gpu(metrics.latency_p50(1)))} "
        f"| {_number(on_gpu(metrics.latency_p95(1)))} "
        f"| {_number(on_gpu(metrics.throughput(batch)), '{:.0f}')} "
        f"| {_agreement(on_gpu(metrics.GPU_MAX_ABS_DIFF), metrics.GPU_MAX_ABS_DIFF)} "
        f"| {_agreement(on_gpu(metrics.GPU_COSINE_MIN), metrics.GPU_COSINE_MIN)} |"
    )


def _device(gpu: dict[str, Any]) -> str:
    return f"{gpu['device_name']} ({gpu['runtime']})" if gpu["runtime"] else gpu["device_name"]


def _agreement(metric: dict[str, Any] | None, name: str) -> str:
    """A feature-agreement figure in its metric's format, or how many compared rows came out
    NaN or infinite."""
    if metric is None:
        return "–"
    if metric.get("value") is None:
        detail = metric.get("detail", {})
        return f"NaN/inf in {detail.get('nonfinite_rows')} of {detail.get('rows')} rows"
    return metrics.fmt(name).format(metric["value"])
