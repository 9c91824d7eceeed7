"""Successive halving over the candidates within the spec's ``budget`` (being written)."""

from __future__ import annotations

from typing import Any

from modelscout.errors import UserError


def run_halving(spec: Any, **hooks: Any) -> Any:
    raise UserError("budget: successive halving is not available in this build yet")
