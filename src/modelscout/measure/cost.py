"""Dollars: per 1,000 predictions, per month and year at the user's traffic, and to fine-tune.

Pure arithmetic on measured throughput and an hourly price; the assumptions travel with
every number (in its ``detail``) so the report can spell them out.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from modelscout import metrics
from modelscout.errors import UserError
from modelscout.measure.timing import usable_cores
from modelscout.presets import instance_presets  # re-exported: the CLI lists the names
from modelscout.records import Measurement
from modelscout.spec import Spec

HOURS_PER_MONTH = 730.0  # 365 * 24 / 12
TRAINING_COST_FACTOR = 3.0  # forward + backward of fine-tuning ~ 3 forward passes


def hourly_price(instance: str | None, price_per_hour: float | None) -> tuple[float, str] | None:
    """The price to use and where it came from; None when the spec names neither."""
    if price_per_hour is not None:
        return price_per_hour, "price_per_hour from the spec"
    if instance is None:
        return None
    presets = instance_presets()
    if instance not in presets:
        raise UserError(
            f"unknown instance '{instance}'; use one of {', '.join(presets)} or give price_per_hour"
        )
    preset = presets[instance]
    return preset["price_per_hour"], f"{instance} on-demand ({preset['source']}, {preset['read']})"


def usd_per_1k(price_per_hour: float, items_per_s: float) -> float:
    """Compute cost of 1,000 predictions: $/h over predictions per hour.

    .. math:: c = 1000 \\cdot p / (3600 \\cdot r)

    with p the hourly price and r the measured throughput (items/s) at the serving batch size.
    """
    return 1000 * price_per_hour / (3600 * items_per_s)


def monthly_cost(
    price_per_hour: float, items_per_s: float, requests_per_day: float
) -> dict[str, float]:
    """Always-on instances needed for the average traffic, and what they cost per month.

    An instance is paid for every hour whether busy or not, so at least one is needed;
    more only when the day's requests take longer than a day at the measured throughput.
    """
    busy_hours_per_day = requests_per_day / items_per_s / 3600
    instances = max(1, math.ceil(busy_hours_per_day / 24))
    return {
        "instances": instances,
        "utilization": busy_hours_per_day / 24 / instances,
        "usd_per_month": instances * price_per_hour * HOURS_PER_MONTH,
    }


def fine_tune_cost(price_per_hour: float, items_per_s: float, rows: int, epochs: int) -> dict:
    """Estimated cost of fine-tuning on ``rows`` examples for ``epochs`` on the same instance.

    Training time ~ TRAINING_COST_FACTOR x (rows x epochs / forward throughput): a backward
    pass costs about twice a forward one. An estimate, not a measurement.
    """
    hours = TRAINING_COST_FACTOR * rows * epochs / items_per_s / 3600
    return {"hours": hours, "usd": hours * price_per_hour}


def cost_measurements(
    measured: dict[str, Measurement], spec: Spec, rows: int
) -> dict[str, Measurement]:
    """Dollar figures derived from the measured throughput (recomputed each run, never stored:
    they are arithmetic on stored measurements and the spec's price and traffic)."""
    price = hourly_price(spec.cost.instance, spec.cost.price_per_hour)
    if price is None:
        return {}
    per_hour, source = price
    device = instance_presets().get(spec.cost.instance or "", {}).get("device", "cpu")
    assumptions = {
        "price_per_hour": per_hour,
        "price_source": source,
        "serving_batch_size": spec.cost.batch_size,
        "device": device,
    }
    precision = None  # the CPU's figures
    if device == "gpu":
        precision = gpu_serving_precision(measured)
        if precision is None:
            missing = _no_gpu_figures(measured)
            why = f"not priced: {spec.cost.instance} is a GPU instance and {missing}"
            unpriced = Measurement(
                metrics.COST_PER_1K, None, "USD", detail={**assumptions, "reason": why}
            )
            return {unpriced.name: unpriced}
        load = measured[metrics.gpu_name(precision, metrics.LOAD_SECONDS)]
        assumptions |= {"precision": precision, "measured_on": load.detail.get("device_name")}
    serving_name = metrics.at_precision(precision, metrics.throughput(spec.cost.batch_size))
    serving = measured.get(serving_name)
    if serving is None or not serving.value:
        return {}
    out = _serving_costs(
        per_hour, serving.value, spec, {**assumptions, "items_per_s": serving.value}
    )
    training = measured.get(metrics.at_precision(precision, metrics.throughput(spec.batch_size)))
    if training is not None and training.value:
        out.append(_fine_tune(per_hour, training.value, rows, spec, assumptions))
    return {m.name: m for m in out}


def _serving_costs(
    per_hour: float, items_per_s: float, spec: Spec, assumptions: dict[str, Any]
) -> list[Measurement]:
    """Dollars per 1k predictions and, given the traffic, per month and year."""
    out = [
        Measurement(
            metrics.COST_PER_1K, usd_per_1k(per_hour, items_per_s), "USD", None, detail=assumptions
        )
    ]
    if spec.cost.requests_per_day is None:
        return out
    month = monthly_cost(per_hour, items_per_s, spec.cost.requests_per_day)
    detail = {
        **assumptions,
        **month,
        "requests_per_day": spec.cost.requests_per_day,
        "hours_per_month": HOURS_PER_MONTH,
    }
    return out + [
        Measurement(metrics.COST_PER_MONTH, month["usd_per_month"], "USD", None, detail=detail),
        Measurement(metrics.COST_PER_YEAR, 12 * month["usd_per_month"], "USD", None, detail=detail),
    ]


def _fine_tune(
    per_hour: float, items_per_s: float, rows: int, spec: Spec, assumptions: dict[str, Any]
) -> Measurement:
    """Dollars to fine-tune on all ``rows`` for the spec's epochs at the training batch size."""
    tune = fine_tune_cost(per_hour, items_per_s, rows, spec.cost.fine_tune_epochs)
    detail = {
        **assumptions,
        "hours": tune["hours"],
        "rows": rows,
        "epochs": spec.cost.fine_tune_epochs,
        "training_cost_factor": TRAINING_COST_FACTOR,
        "items_per_s": items_per_s,
    }
    return Measurement(metrics.COST_FINE_TUNE, tune["usd"], "USD", None, detail=detail)


GPU_AGREEMENT = 0.999  # lowest row cosine at which fp16 features stand for the fp32 ones


def gpu_serving_precision(measured: dict[str, Measurement]) -> str | None:
    """The precision a GPU instance is priced at: fp16 where its features agree with the CPU
    fp32 ones (no NaN/inf row, lowest row cosine >= GPU_AGREEMENT), else fp32; None when the
    candidate has neither measured."""
    fp16 = measured.get(metrics.gpu_name("fp16", metrics.GPU_COSINE_MIN))
    if fp16 is not None and fp16.value is not None and fp16.value >= GPU_AGREEMENT:
        return "fp16"
    return "fp32" if metrics.gpu_name("fp32", metrics.LOAD_SECONDS) in measured else None


def _no_gpu_figures(measured: dict[str, Measurement]) -> str:
    """Why a candidate has no GPU throughput to price: the GPU note's reason, if any."""
    note = measured.get(metrics.GPU_DEVICE)
    if note is None:
        return "this candidate has no model to run on a GPU (the TF-IDF baseline)"
    detail = note.detail or {}
    if "skipped" in detail:
        return f"it has no GPU figures ({detail['skipped']})"
    failed = "; ".join(f"{p}: {why}" for p, why in (detail.get("failed") or {}).items())
    return f"no usable GPU precision was measured ({failed or 'fp16 disagrees, no fp32'})"


def measuring_threads(spec: Spec) -> tuple[int | None, str]:
    """The torch/BLAS threads the model passes measure with, and why.

    The spec's ``threads`` first; else, for a CPU instance preset, its vCPUs (capped at this
    machine's usable cores), so the figures priced are those of a machine like it; else, on
    Ray, 1; else None: torch's default (the physical cores)."""
    if spec.threads is not None:
        return spec.threads, "threads from the spec"
    preset = instance_presets().get(spec.cost.instance or "")
    if (preset is None or preset["device"] != "cpu") and spec.executor == "ray":
        # Ray runs several passes on a node at once, each asking for its threads' CPUs:
        # torch's default (every core) in each would time them all under contention
        return 1, "one per Ray task (set threads to give each model pass more)"
    if preset is None or preset["device"] != "cpu":
        return None, "torch's default, one per physical core"
    cores = usable_cores()
    threads = min(preset["vcpus"], cores)
    capped = f", capped at this machine's {cores} usable cores" if threads < preset["vcpus"] else ""
    return threads, f"the {preset['vcpus']} vCPUs of {spec.cost.instance}{capped}"


def check_gpu_pricing(spec: Spec, find: Callable[[], dict[str, Any]]) -> None:
    """Refuse, before anything is measured, to price a GPU instance with no GPU to time on;
    ``find`` looks for the GPU, only when a GPU instance is named."""
    instance = spec.cost.instance
    preset = instance_presets().get(instance or "")
    if preset is None or preset["device"] != "gpu":
        return
    gpu = find()
    if "skipped" in gpu:
        raise UserError(
            f"cost.instance {instance} is a GPU instance, but this run measures no GPU "
            f"({gpu['skipped']}); run on a machine with a CUDA GPU and gpu: auto, "
            "or name a CPU instance"
        )
