"""The shipped table of instance types (``measure/instances.yaml``): name -> hourly price,
device, vCPUs, where the price was read and when.

A low module: the spec checks an instance name against it and measure/cost.py prices with it.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

import yaml


@cache
def instance_presets() -> dict[str, dict[str, Any]]:
    """The shipped table of instance types: name -> price_per_hour, device, source, read."""
    # Read through the top package: naming modelscout.measure would import it (and its deps).
    table = files("modelscout") / "measure" / "instances.yaml"
    return yaml.safe_load(table.read_text(encoding="utf-8"))
