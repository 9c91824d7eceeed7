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

from modelscout.errors import UserError, require_writable_folder
from modelscout.executors.forkserver import start_server
from modelscout.inputs import Prepared, prepare
from modelscout.spec import Spec, build_spec, read_spec_file

if TYPE_CHECKING:
    from modelscout.decide import Decision
    from modelscout.monitor.contract import MonitorReport
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


# The settings of a rank's results.json a monitor reads its data and model as (the columns,
# the layer choice, the store and executor the features came from).
MONITOR_SETTINGS = (
    "data",
    "text_column",
    "image_column",
    "label_column",
    "slice_columns",
    "modality",
    "task",
    "label_delimiter",
    "target_transform",
    "folds",
    "seed",
    "batch_size",
    "feature_layer",
    "store",
    "threads",
    "executor",
    "address",
    "allow_pickle",
    "trust_remote_code",
)


def monitor_spec(
    model: str, spec_file: Path | None = None, **overrides: Any
) -> tuple[Spec, str, str | None]:
    """(the spec, its ``data`` the reference; the model's id; the results.json it came from).

    ``model``: a candidate id as ``rank`` takes it, or a rank's results.json, whose
    recommendation is the model and whose settings (the columns, the reference data) are the
    defaults; ``spec_file`` and the non-None ``overrides`` (``data``: the reference) go on top.
    """
    from_results = None
    settings: dict[str, Any] = {}
    if model.endswith(".json"):
        from_results = model
        results = import_module("modelscout.report.json").read_results(model)
        if not results.get("recommendation"):
            raise UserError(f"{model} recommends no model; give --model a model id")
        given = results.get("settings") or {}
        settings = {k: given[k] for k in MONITOR_SETTINGS if given.get(k) is not None}
        model = results["recommendation"]
    if spec_file is not None:
        settings |= read_spec_file(spec_file)
    settings |= {k: v for k, v in overrides.items() if v is not None and v != []}
    if settings.get("data") is None:
        raise UserError("no reference data given; pass --reference FILE (or set data: in the spec)")
    return build_spec(None, **settings), model, from_results


def rerank_spec(source: str | Path, current: Any, output: Path | None) -> Spec:
    """The spec ``--rerank`` runs ``rank`` with: a YAML spec's or a results.json's settings,
    on the current data, its reports in ``output/rerank`` when an output folder is given."""
    source = Path(source)
    if source.suffix == ".json":
        settings = dict(import_module("modelscout.report.json").read_results(source)["settings"])
    else:
        settings = read_spec_file(source)
    settings |= {"data": current, "mlflow": False, "mlflow_uri": None}
    if output is not None:
        settings["output"] = Path(output) / "rerank"
    return build_spec(None, **settings)


def monitor(
    model: str,
    current: Any,
    *,
    spec_file: Path | None = None,
    rerank: str | Path | None = None,
    output: Path | None = None,
    **overrides: Any,
) -> MonitorReport:
    """Watch the chosen ``model``'s inputs for drift: the reference (``data=`` in
    ``overrides``, the spec's data, or the results.json's) against ``current``.

    With ``rerank`` (a spec or a results.json), ``rank`` runs again on the current rows (they
    need labels) and the report says whether the model still wins. With ``output``,
    monitor.json and monitor.html are written there; with ``mlflow``/``mlflow_uri`` in the
    spec, the call is logged to MLflow as the next step of the model's series. Raises
    ``UserError`` for bad input (the reference, the current data, the model).
    """
    spec, model, from_results = monitor_spec(model, spec_file, **overrides)
    if output is not None:
        require_writable_folder(output, "--output")
    tracking = import_module("modelscout.report.tracking") if spec.tracked else None
    if tracking is not None:
        tracking.require_mlflow()
    again = _prepared_rerank(rerank, current, output)
    pipeline = import_module("modelscout.monitor.pipeline")
    report = pipeline.run_monitor(spec, model, current, from_results=from_results)
    if again is not None:
        report.rerank = _rerank(again, report.model.key, str(current), output is not None)
    paths = []
    if output is not None:
        paths = import_module("modelscout.report.monitor").write_monitor(report, output)
    if tracking is not None:
        uri = tracking.tracking_uri(spec.mlflow_uri)
        tracking.log_monitor(report.model_dump(mode="json"), paths, uri, spec.mlflow_experiment)
    return report


def _prepared_rerank(
    rerank: str | Path | None, current: Any, output: Path | None
) -> tuple[Spec, Prepared] | None:
    """The rerank's spec and checked input, before anything is measured."""
    if rerank is None:
        return None
    spec = rerank_spec(rerank, current, output)
    try:
        return spec, prepare(spec)
    except UserError as error:
        raise UserError(
            f"--rerank ranks again on the current data, which needs labels: {error}"
        ) from None


def _rerank(again: tuple[Spec, Prepared], chosen_key: str, data: str, write: bool) -> Any:
    """``rank`` on the current rows: which candidate wins now; with ``write`` (an output
    folder given), its reports in ``output/rerank``."""
    spec, prepared = again
    if write:
        decision = rank_and_report(spec, prepared=prepared)[0]
    else:
        decision = rank(spec, prepared=prepared)
    ranked = [r for r in decision.rows if r.status == "ranked"]
    ranked.sort(key=lambda r: r.rank)
    winner = ranked[0].outcome.candidate if ranked else None
    still = winner is not None and winner.key == chosen_key
    if winner is None:
        sentence = "On the current data no candidate was ranked."
    elif still:
        sentence = f"On the current data the chosen model ({winner.id}) still wins."
    else:
        sentence = f"On the current data {winner.id} now wins over the chosen model."
    return import_module("modelscout.monitor.contract").Rerank(
        data=data,
        recommendation=winner.id if winner else None,
        chosen_still_wins=still,
        ranked=[r.outcome.candidate.id for r in ranked],
        sentence=sentence,
    )


__all__ = [
    "Decision",
    "Outcome",
    "Prepared",
    "monitor",
    "prepare",
    "rank",
    "rank_and_report",
]
