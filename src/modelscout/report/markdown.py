"""results.md: the summary and evaluation matrix, for pull requests and tickets."""

from __future__ import annotations

from typing import Any

from modelscout.report.matrix import HEADERS, matrix_rows
from modelscout.report.md_escape import md_code, md_text


def render_markdown(results: dict[str, Any]) -> str:
    data = results["data"]
    lines = [
        "# modelscout results",
        "",
        f"**Recommendation:** {md_text(results['recommendation'] or 'none')}",
        "",
        md_text(results["rationale"]),
        "",
        *_warnings(results),
        f"Data: {data['rows_used']} rows used of {data['rows_in_file']} "
        f"({len(data['classes'])} classes), fingerprint {md_code(data['fingerprint'][:12])}. "
        f"Pareto set (macro-F1, p95 latency, memory): "
        f"{', '.join(map(md_text, results['pareto'])) or 'none'}.",
        *(f"Note on the data: {md_text(note)}." for note in data.get("notes", [])),
        "",
        "## Evaluation matrix",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|" + "---|" * len(HEADERS),
    ]
    lines += ["| " + " | ".join(md_text(v) for v in row) + " |" for row in matrix_rows(results)]
    lines += _timing(results)
    lines += _variants(results) + _cost(results) + _deployment(results) + _gpu(results)
    weights = ", ".join(f"{md_text(k)} {v:g}" for k, v in results["weights"].items())
    lines += [
        "",
        f"Weights: {weights}. Spreads are the standard deviation over "
        f"{results['settings']['folds']} cross-validation folds.",
        "",
    ]
    return "\n".join(lines)


def _warnings(results: dict[str, Any]) -> list[str]:
    """Busy-machine timings and flagged candidates, each a bold quote above the matrix."""
    notes = [f"Warning: {w}." for w in results.get("warnings") or []]
    notes += [
        f"Flagged: {c['id']}: {f}." for c in results["candidates"] for f in c.get("flags") or []
    ]
    lines = []
    for note in notes:
        lines += [f"> **{md_text(note)}**", ""]
    return lines


def timing_summary(metrics: dict[str, Any], size: int = 1) -> str | None:
    """'p95 12.3 ms @1 (95% CI 11.0–14.2 ms), 2 threads, 140 runs', or None if not timed."""
    p95 = metrics.get(f"latency.p95_ms@{size}")
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


def _timing(results: dict[str, Any]) -> list[str]:
    """Each candidate's p95 at batch 1 with its interval, threads and reliability."""
    lines = [
        f"- {md_text(c['id'])}: {md_text(text)}"
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
    priced = [c for c in results["candidates"] if "cost.usd_per_1k" in c.get("metrics", {})]
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
        month = m.get("cost.usd_per_month")
        detail = month["detail"] if month else {}
        utilization = f"{detail['utilization']:.1%}" if detail else "–"
        lines.append(
            f"| {md_text(c['id'])} | {_money(m.get('cost.usd_per_1k'))} | {_money(month)} "
            f"| {_money(m.get('cost.usd_per_year'))} "
            f"| {_money(m.get('cost.fine_tune_usd'))} "
            f"| {detail.get('instances', '–')} | {utilization} |"
        )
    first = priced[0]["metrics"]["cost.usd_per_1k"]["detail"]
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
    found = [(c, c["metrics"]["cost.usd_per_1k"].get("detail", {})) for c in priced]
    return [(c, detail["reason"]) for c, detail in found if detail.get("reason")]


def _on_gpu(priced: list[dict[str, Any]]) -> str:
    """' on its GPU (fp16 on NVIDIA L4)' when a GPU instance was priced, else ''."""
    details = [c["metrics"]["cost.usd_per_1k"].get("detail", {}) for c in priced]
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
        onnx = m.get("deploy.onnx_ok")
        if onnx is None:
            verdict = "not checked (--onnx)"
        elif onnx["value"] is None:  # not run: the reason says why (e.g. no onnx extra)
            verdict = onnx.get("detail", {}).get("reason") or "not run"
        elif not onnx["value"]:
            verdict = "fail: " + (onnx.get("detail", {}).get("reason") or "unknown")
        else:
            verdict = "pass"
        diff = m.get("deploy.onnx_max_abs_diff", {}).get("value")
        lines.append(
            f"| {md_text(c['id'])} | {md_text(meta.get('weight_format') or '–')} "
            f"| {'needed' if meta.get('needs_remote_code') else 'no'} | {md_text(verdict)} "
            f"| {f'{diff:.1e}' if diff is not None else '–'} "
            f"| {_number(m.get('deploy.onnx_latency.p50_ms@1'))} "
            f"| {_number(m.get('latency.p50_ms@1'))} |"
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
        m = c.get("metrics", {})
        for precision in c["gpu"]["precisions"]:
            prefix = f"gpu.{precision}."
            lines.append(
                f"| {md_text(c['id'])} | {md_text(precision)} "
                f"| {_number(m.get(prefix + 'load.seconds'))} "
                f"| {_number(m.get(prefix + 'memory.peak_mb'), '{:.0f}')} "
                f"| {_number(m.get(prefix + 'latency.p50_ms@1'))} "
                f"| {_number(m.get(prefix + 'latency.p95_ms@1'))} "
                f"| {_number(m.get(f'{prefix}throughput.items_per_s@{batch}'), '{:.0f}')} "
                f"| {_agreement(m.get(prefix + 'max_abs_diff'), '{:.1e}')} "
                f"| {_agreement(m.get(prefix + 'cosine_min'), '{:.5f}')} |"
            )
        failures += [
            f"- {md_text(c['id'])} at {md_text(p)}: failed, {md_text(why)}"
            for p, why in c["gpu"]["failed"].items()
        ]
    return lines + ([""] + failures if failures else [])


def _device(gpu: dict[str, Any]) -> str:
    return f"{gpu['device_name']} ({gpu['runtime']})" if gpu["runtime"] else gpu["device_name"]


def _agreement(metric: dict[str, Any] | None, fmt: str) -> str:
    """A feature-agreement figure, or how many compared rows came out NaN or infinite."""
    if metric is None:
        return "–"
    if metric.get("value") is None:
        detail = metric.get("detail", {})
        return f"NaN/inf in {detail.get('nonfinite_rows')} of {detail.get('rows')} rows"
    return fmt.format(metric["value"])
