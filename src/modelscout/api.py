"""The Python API: the product. The CLI is a thin shell over these functions."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from modelscout.decide import Decision, decide
from modelscout.pipeline import Outcome, Prepared, Step, prepare, run
from modelscout.report import build_results, write_reports
from modelscout.report.write import prepare_output
from modelscout.spec import Spec

logger = logging.getLogger(__name__)


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
    """``rank``, then results.json, results.md, matrix.csv and report.html in ``spec.output``.

    The output folder is checked before anything is measured (``UserError`` when it cannot be
    written) and an older run's reports there are moved into ``previous/`` first.
    """
    prepare_output(spec.output)
    decision = rank(spec, **hooks)
    results = build_results(decision)
    paths = write_reports(results, spec.output)
    logger.info("wrote %s", ", ".join(str(p) for p in paths))
    return decision, results, paths


__all__ = ["Decision", "Outcome", "Prepared", "prepare", "rank", "rank_and_report"]
