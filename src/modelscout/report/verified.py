"""The verification table both reports show: per finalist, what it reaches fine-tuned on the
held-out rows, against its own frozen probe on the same rows, and what the fine-tune took."""

from __future__ import annotations

from typing import Any

from modelscout import metrics

STOPS = {"early": "early stop", "epochs": "all epochs", "budget": "budget hit"}


def verification_headers(results: dict[str, Any]) -> tuple[str, ...]:
    """The table's headers, the metric named (``fine-tuned macro-F1``)."""
    verdict = results.get("verification") or {}
    label = metrics.label(verdict["metric"]) if verdict.get("metric") else "fine-tuned"
    frozen = metrics.label(
        results.get("quality_metric") or metrics.DEFAULT_QUALITY["classification"]
    )
    return (
        "candidate",
        label,
        "95% interval",
        f"frozen {frozen} (same rows)",
        "gain (95% interval)",
        "ECE",
        "epochs",
        "seconds",
        "peak MB",
        "$",
    )


def verification_rows(results: dict[str, Any]) -> list[tuple[str, ...]]:
    """One row per finalist (those not fine-tuned say why), as display strings."""
    verdict = results.get("verification")
    if not verdict:
        return []
    by_id = {c["id"]: c for c in results["candidates"]}
    out = []
    for cid in verdict["finalists"]:
        if cid in verdict["skipped"]:
            out.append((cid, "not fine-tuned: " + verdict["skipped"][cid], *[""] * 8))
            continue
        found = by_id[cid]["metrics"]
        out.append((cid, *_figures(found, verdict["metric"])))
    return out


def _figures(found: dict[str, Any], name: str) -> tuple[str, ...]:
    show = metrics.spec(name).show
    quality = found.get(name) or {}
    detail = quality.get("detail") or {}
    gain = detail.get("gain")
    # a signed gain for fractions (+0.012), the metric's own format otherwise (MAE in units)
    signed = (lambda v: f"{v:+.3f}") if metrics.spec(name).format == "{:.3f}" else show
    gain_text = (
        "–"
        if gain is None
        else f"{signed(gain)} ({signed(detail['gain_low'])} to {signed(detail['gain_high'])})"
    )
    note = (found.get(metrics.VERIFY_NOTE) or {}).get("detail") or {}
    epochs = ", ".join(
        f"{fold.get('epochs', '?')} ({STOPS.get(fold.get('stopped'), fold.get('stopped'))})"
        for fold in note.get("folds", [])
    )
    seconds = (found.get(metrics.VERIFY_SECONDS) or {}).get("value")
    memory = (found.get(metrics.VERIFY_PEAK_MEMORY) or {}).get("value")
    usd = (found.get(metrics.COST_VERIFY) or {}).get("value")
    ece = (found.get(metrics.VERIFIED_ECE) or {}).get("value")
    return (
        show(quality.get("value")),
        f"{show(detail.get('low'))} to {show(detail.get('high'))}",
        show(detail.get("frozen")),
        gain_text,
        metrics.spec(metrics.VERIFIED_ECE).show(ece),
        epochs or "–",
        "–" if seconds is None else f"{seconds:.0f}",
        "–" if memory is None else f"{memory:.0f}",
        "–" if usd is None else f"{usd:.4f}",
    )
