"""The Python API: the product. The CLI is a thin shell over these functions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelscout.decide import Decision, decide
from modelscout.pipeline import Outcome, Prepared, Step, prepare, run
from modelscout.report import build_results, write_reports
from modelscout.spec import Spec


def rank(
    spec: Spec,
    *,
    prepared: Prepared | None = None,
    step: Step | None = None,
    on_candidate: Any = None,
) -> Decision:
    """Measure every candidate of ``spec`` on its data and decide.

    Raises ``UserError`` for bad input; a candidate that cannot be measured is a
    ``failed`` row of the decision, not an exception.
    """
    return decide(run(spec, prepared=prepared, step=step, on_candidate=on_candidate))


def rank_and_report(spec: Spec, **hooks: Any) -> tuple[Decision, dict[str, Any], list[Path]]:
    """``rank``, then results.json, results.md and matrix.csv in ``spec.output``."""
    decision = rank(spec, **hooks)
    results = build_results(decision)
    return decision, results, write_reports(results, spec.output)


__all__ = ["Decision", "Outcome", "Prepared", "prepare", "rank", "rank_and_report"]
