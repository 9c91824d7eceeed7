"""Dollars: per 1,000 predictions, per month and year at the user's traffic, and to fine-tune.

Pure arithmetic on measured throughput and an hourly price; the assumptions travel with
every number (in its ``detail``) so the report can spell them out.
"""

from __future__ import annotations

import math
from functools import cache
from importlib.resources import files
from typing import Any

import yaml

from modelscout.errors import UserError

HOURS_PER_MONTH = 730.0  # 365 * 24 / 12
TRAINING_COST_FACTOR = 3.0  # forward + backward of fine-tuning ~ 3 forward passes


@cache
def instance_presets() -> dict[str, dict[str, Any]]:
    """The shipped table of instance types: name -> price_per_hour, device, source, read."""
    text = (files("modelscout.measure") / "instances.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


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
