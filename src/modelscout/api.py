"""The Python API: the product. The CLI is a thin shell over these functions.

Importing it is quick (pandas, the catalog): the measuring and deciding modules (scikit-learn,
SciPy, matplotlib: seconds) are imported when ``rank`` runs, after ``prepare`` has checked the
input, so a mistake in the data or the spec is told at once, by the CLI too.
"""

from __future__ import annotations

import logging
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelscout.executors.forkserver import start_server
from modelscout.inputs import Prepared, prepare
from modelscout.spec import Spec

if TYPE_CHECKING:
    from modelscout.decide import Decision
    from modelscout.records import Outcome
    from modelscout.run import Step

logger = logging.getLogger(__name__)
_LATER = {"Decision": "modelscout.decide", "Outcome": "modelscout.records"}


def __getattr__(name: str) -> Any:
    """``Decision`` and ``Outcome``, imported on first use (see the module's docstring)."""
    if name in _LATER:
        return getattr(import_module(_LATER[name]), name)
    raise AttributeError(f"module 'modelscout.api' has no attribute {name!r}")


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
    start_server()  # imports torch in the background while the input is checked
    prepared = prepared or prepare(spec)
    if spec.budget is not None:  # a budget too small is bad input: told before Ray starts
        import_module("modelscout.halving").check_budget(spec, prepared)
    threads = import_module("modelscout.measure.cost").measuring_threads(spec)[0]
    # One executor for the run and its verification (a Ray connection is made once); a
    # missing Ray is told here, before anything is measured.
    executor = import_module("modelscout.executors").executor_for(spec, threads)
    try:
        return _rank(spec, prepared, step, on_candidate, executor)
    finally:
        executor.close()


def _rank(spec: Spec, prepared: Prepared, step: Any, on_candidate: Any, executor: Any) -> Any:
    decide = import_module("modelscout.decide").decide
    hooks = {"prepared": prepared, "step": step, "on_candidate": on_candidate}
    if spec.budget is None:
        result = import_module("modelscout.run").run(spec, executor=executor, **hooks)
    else:  # successive halving: the measurements spent where they decide something
        result = import_module("modelscout.halving").run_halving(spec, executor=executor, **hooks)
    decision = decide(result)
    if spec.verify.top == 0:
        return decision
    # Verification: the frozen ranking's finalists fine-tuned, then decided again on that.
    verification = import_module("modelscout.verification")
    ranked = [row.id for row in decision.rows if row.status == "ranked"]
    finalists, notes = verification.finalists_of(ranked, spec.verify.top)
    verification.verify(result, finalists, step=step, notes=notes, executor=executor)
    return decide(result)


def rank_and_report(
    spec: Spec, *, prepared: Prepared | None = None, **hooks: Any
) -> tuple[Decision, dict[str, Any], list[Path]]:
    """``rank``, then results.json, results.md, matrix.csv and report.html in ``spec.output``.

    The output folder is checked before anything is measured (``UserError`` when it cannot be
    written) and an older run's reports there are moved into ``previous/`` first.
    """
    start_server()
    prepared = prepared or prepare(spec)  # input errors first: the report modules load slowly
    write = import_module("modelscout.report.write")
    write.prepare_output(spec.output)
    tracking = import_module("modelscout.report.tracking") if spec.tracked else None
    if tracking is not None:
        tracking.require_mlflow()  # a missing MLflow is told before anything is measured
    decision = rank(spec, prepared=prepared, **hooks)
    results = import_module("modelscout.report").build_results(decision)
    paths = write.write_reports(results, spec.output)
    logger.info("wrote %s", ", ".join(str(p) for p in paths))
    if tracking is not None:
        uri = tracking.tracking_uri(spec.mlflow_uri)
        run_id = tracking.log_rank(results, paths, uri, spec.mlflow_experiment)
        logger.info("logged to MLflow: run %s of experiment %s", run_id, spec.mlflow_experiment)
    return decision, results, paths


__all__ = ["Decision", "Outcome", "Prepared", "prepare", "rank", "rank_and_report"]
