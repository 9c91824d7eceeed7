"""Hard requirements checked on what is known before running a model.

Unknown never passes a requirement: a candidate whose licence is not stated
cannot be shown to satisfy ``licenses``. The TF-IDF baseline has no pre-trained
weights, so licence, language and size requirements do not apply to it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from modelscout import metrics
from modelscout.records import Modality, ModelMeta
from modelscout.spec import Constraints

MULTILINGUAL = {"multilingual", "mul"}
AS_DATA = {"text": "text", "image": "images", "audio": "audio"}  # "the data is images"


def check_meta(
    meta: ModelMeta,
    constraints: Constraints,
    *,
    is_baseline: bool = False,
    modality: Modality | None = None,
) -> str | None:
    """The reason the candidate is rejected, or None when it meets every known requirement.

    ``modality``: the data's; a candidate that reads another is rejected (one whose modality
    is unknown is tried: its load or features will tell)."""
    if modality is not None and meta.modality is not None and meta.modality != modality:
        return f"reads {AS_DATA[meta.modality]}; the data is {AS_DATA[modality]}"
    if is_baseline:
        return None
    if constraints.max_params is not None:
        if meta.params is None:
            return (
                "parameter count unknown (no safetensors header), so max_params cannot be checked"
            )
        if meta.params > constraints.max_params:
            return (
                f"{meta.params / 1e6:.1f}M parameters, above the max_params limit of "
                f"{constraints.max_params / 1e6:.1f}M"
            )
    if constraints.licenses is not None:
        allowed = {name.lower() for name in constraints.licenses}
        if meta.license is None:
            return f"licence not stated in its card; allowed: {', '.join(constraints.licenses)}"
        if meta.license.lower() not in allowed:
            allowed_text = ", ".join(constraints.licenses)
            return f"licence {meta.license} is not among the allowed ({allowed_text})"
    if constraints.languages is not None:
        declared = {lang.lower() for lang in meta.languages or []}
        if not declared:
            return f"declares no languages; required: {', '.join(constraints.languages)}"
        missing = [lang for lang in constraints.languages if lang.lower() not in declared]
        if missing and not declared & MULTILINGUAL:
            return f"does not declare {', '.join(missing)} (declares {', '.join(sorted(declared))})"
    return None


def check_measured(
    values: dict[str, float],
    constraints: Constraints,
    p95_detail: dict | None = None,
    quality: str | None = None,
) -> str | None:
    """The reason a measured candidate breaks a latency or memory budget or ``min_quality``,
    or None.

    ``values``: metric name -> measured value.
    ``p95_detail`` (the p95's measurement detail) lets the latency budget be decided on the
    p95's confidence interval (``check_latency``). ``quality``: the run's quality metric
    (``metrics.quality_metric``), what ``min_quality`` is checked on."""
    p95 = values.get(metrics.latency_p95(1))
    if constraints.max_latency_ms_p95 is not None and p95 is not None:
        reason, _ = check_latency(p95, p95_detail, constraints.max_latency_ms_p95)
        if reason:
            return reason
    memory = values.get(metrics.PEAK_MEMORY)
    if (
        constraints.max_memory_mb is not None
        and memory is not None
        and memory > constraints.max_memory_mb
    ):
        return f"peak memory {memory:.0f} MB, above the {constraints.max_memory_mb:g} MB limit"
    if constraints.min_quality is not None and quality is not None:
        return check_quality(values.get(quality), quality, constraints.min_quality)
    return None


def check_latency(p95: float, detail: dict | None, budget: float) -> tuple[str | None, str | None]:
    """``(reason to reject, flag)`` for a p95 latency at batch 1 against its budget.

    Decided on the p95's 95% CI (``detail["ci95_ms"]``, upper end None when unbounded):
    entirely above the budget rejects, entirely below passes, straddling it flags. A timing
    the machine disturbed (``detail["reliable"]`` False) that is over the budget is flagged,
    not rejected: the busy machine, not the model, may be what is slow. Without a CI (a
    timing stored before there was one) the point decides, as it used to."""
    detail = detail or {}
    interval = detail.get("ci95_ms")
    over = f"p95 latency {p95:.1f} ms at batch 1"
    if interval is None:
        return (f"{over}, above the {budget:g} ms budget" if p95 > budget else None), None
    low, high = interval
    if high is None:
        shown = f"{over} (95% CI from {low:.1f} ms; too few runs to bound it above)"
    else:
        shown = f"{over} (95% CI {low:.1f} ms to {high:.1f} ms)"
    if detail.get("reliable") is False and p95 > budget:
        reasons = "; ".join(detail.get("unreliable_reasons") or [])
        return None, (
            f"{shown} is over the {budget:g} ms budget, but was timed on a busy machine "
            f"({reasons}); measure again on a quiet one"
        )
    if low > budget:
        return f"{shown}, above the {budget:g} ms budget", None
    if high is not None and high <= budget:
        return None, None
    return None, f"{shown} straddles the {budget:g} ms budget: not clearly within it"


def check_quality(value: float | None, quality: str, minimum: float) -> str | None:
    """The reason ``value`` of the quality metric ``quality`` misses ``min_quality``, or None.

    For a lower-is-better metric (MAE, RMSE) ``minimum`` is a ceiling: the value must not
    exceed it. A candidate without the value cannot be shown to meet it, so it is rejected."""
    found = metrics.spec(quality)
    label = found.label
    if value is None:
        return f"no {label} measured, so min_quality {found.show(minimum)} cannot be checked"
    if found.higher_is_better and value < minimum:
        return f"{label} {found.show(value)}, below the min_quality of {found.show(minimum)}"
    if not found.higher_is_better and value > minimum:
        return (
            f"{label} {found.show(value)}, above the min_quality of {found.show(minimum)} "
            f"({label} is lower-is-better)"
        )
    return None


LATENCY_WORDS = "p95 latency"  # how every latency reason and flag starts (check_latency)
DROP_WORDS = "quality drops"  # how every max_quality_drop reason and flag starts


def _end(found: dict, end: str) -> float:
    """A slice's interval end ``low`` or ``high``, its point drop where it has no interval."""
    value = found.get(end)
    return found["drop"] if value is None else value


def _drop_text(found: dict, show: Callable[[float | None], str]) -> str:
    """'quality drops 0.142 [0.100, 0.180] under typos:0.3': a slice's drop and its interval."""
    interval = ""
    if found.get("low") is not None and found.get("high") is not None:
        interval = f" [{show(found['low'])}, {show(found['high'])}]"
    return f"{DROP_WORDS} {show(found['drop'])}{interval} under {found['name']}"


def check_quality_drop(
    detail: dict | None, limit: float, quality: str
) -> tuple[str | None, str | None]:
    """``(reason to reject, flag)`` for a candidate's stress slices against ``max_quality_drop``.

    ``detail``: the ``metrics.STRESS_DROP`` measurement's (measure/stress.py: every slice with
    its drop and 95% paired bootstrap interval); ``quality``: the run's quality metric, whose
    units the drops are in. Decided on each slice's interval, as the latency budget is
    (``check_latency``): a slice whose interval lies entirely above the limit rejects (the
    largest such drop is named), one that straddles it flags, all entirely at or below pass.
    A slice without an interval is decided on its point. No measurement rejects: unknown never
    passes a requirement."""
    show = metrics.spec(quality).show
    limit_text = f"max_quality_drop {show(limit)}"
    slices = (detail or {}).get("slices") or []
    if not slices:
        why = f" ({detail['reason']})" if (detail or {}).get("reason") else ""
        return f"no stress drop measured{why}, so {limit_text} cannot be checked", None
    unknown = [s for s in slices if not all(map(math.isfinite, (s["drop"], _end(s, "low"))))]
    if unknown:  # unknown never passes a requirement
        return f"the drop under {unknown[0]['name']} is unknown, so {limit_text} fails", None
    over = [s for s in slices if _end(s, "low") > limit]
    if over:
        worst = max(over, key=lambda s: s["drop"])
        return f"{_drop_text(worst, show)}, over {limit_text}", None
    straddling = [s for s in slices if _end(s, "high") > limit]
    if straddling:
        worst = max(straddling, key=lambda s: s["drop"])
        return None, f"{_drop_text(worst, show)} straddles {limit_text}: not clearly within it"
    return None, None
