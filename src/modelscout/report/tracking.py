"""Experiment tracking: a ``rank`` as an MLflow run (``--mlflow``; the ``mlflow`` extra).

The run's settings are the parent run's parameters, its pick and rationale its tags, and
results.json, results.md, matrix.csv and report.html its artifacts; each candidate is a nested
run with what is known of it as parameters (source, status, reason, rank, size, licence) and
every measured number as a metric. Everything comes from results.json, the contract: what an
MLflow user sees is what the reports show.

MLflow's own client does the writing (any tracking URI it takes: a server, a SQLite file,
Databricks); nothing here talks to a store directly.
"""

from __future__ import annotations

import logging
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from modelscout.errors import UserError, one_line
from modelscout.monitor.verdict import LEVELS

logger = logging.getLogger(__name__)

MLFLOW_MISSING = (
    "--mlflow needs MLflow, which is not installed; install it with "
    "pip install 'modelscout[mlflow]' (or pip install mlflow)"
)
# MLflow's limits: a parameter value of at most 6,000 characters (older servers: 500), a
# metric or parameter name of letters, digits and _ - . space / only
PARAM_CHARS = 500
_NOT_IN_NAMES = re.compile(r"[^\w\-. /]")
SETTINGS = (  # the spec settings that are the parent run's parameters
    "task",
    "quality_metric",
    "max_samples",
    "folds",
    "seed",
    "feature_layer",
    "executor",
    "budget",
    "estimators",
    "weights",
    "constraints",
    "verify",
)


def require_mlflow() -> None:
    """``UserError`` (what to install) when MLflow cannot be imported: told before measuring."""
    try:
        import mlflow  # noqa: F401
    except ImportError:
        raise UserError(MLFLOW_MISSING) from None


def tracking_uri(given: str | None) -> str | None:
    """The tracking URI: the spec's (``--mlflow-uri``), else ``MLFLOW_TRACKING_URI``, else
    None (MLflow's own default)."""
    return given or os.environ.get("MLFLOW_TRACKING_URI") or None


def metric_name(name: str) -> str:
    """A measurement's name as MLflow takes it: ``latency.p95_ms@8`` -> ``latency.p95_ms_at_8``."""
    return _NOT_IN_NAMES.sub("_", name.replace("@", "_at_"))


def log_rank(results: dict[str, Any], paths: list[Path], uri: str | None, experiment: str) -> str:
    """Log one ``rank`` (its results and report files) as an MLflow run with a nested run per
    candidate; the parent run's id. Any failure is a ``UserError`` that says the reports are
    written and what went wrong."""
    import mlflow

    try:
        if uri is not None:
            mlflow.set_tracking_uri(uri)
        mlflow.set_experiment(experiment)
        with mlflow.start_run(run_name=_run_name(results)) as parent:
            mlflow.log_params(_parent_params(results))
            mlflow.set_tags(_parent_tags(results))
            for candidate in results["candidates"]:
                with mlflow.start_run(run_name=candidate["id"][:250], nested=True):
                    mlflow.log_params(_candidate_params(candidate))
                    mlflow.log_metrics(_candidate_metrics(candidate))
            for path in paths:
                mlflow.log_artifact(str(path))
            return parent.info.run_id
    except Exception as error:  # the server, the URI, a refused value: the reports stand
        folder = paths[0].parent if paths else "the output folder"
        raise UserError(
            f"the reports are written to {folder}, but logging them to MLflow at "
            f"{mlflow.get_tracking_uri()} failed ({one_line(error)}); check --mlflow-uri or "
            "MLFLOW_TRACKING_URI"
        ) from None


def _run_name(results: dict[str, Any]) -> str:
    return f"rank {results['task']} ({len(results['candidates'])} candidates)"


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= PARAM_CHARS else text[: PARAM_CHARS - 1] + "…"


def _flat(prefix: str, value: Any) -> dict[str, Any]:
    """Nested settings as dotted parameters: ``weights.quality``."""
    if isinstance(value, dict):
        found: dict[str, Any] = {}
        for key, inner in value.items():
            found |= _flat(f"{prefix}.{key}", inner)
        return found
    return {prefix: value}


def _parent_params(results: dict[str, Any]) -> dict[str, str]:
    settings = results["settings"] | {
        "task": results["task"],
        "quality_metric": results["quality_metric"],
    }
    found: dict[str, Any] = {
        "data": settings.get("data"),
        "rows": results["data"]["rows_used"],  # the sample measured on
    }
    for key in SETTINGS:
        found |= _flat(key, settings.get(key))
    return {metric_name(k): _short(v) for k, v in found.items()}


def _parent_tags(results: dict[str, Any]) -> dict[str, str]:
    return {
        "modelscout.version": results["tool"]["version"],
        "modelscout.schema_version": results["schema_version"],
        "modelscout.recommendation": results["recommendation"] or "",
        "mlflow.note.content": results["rationale"],  # MLflow shows it as the run's description
    }


def _candidate_params(candidate: dict[str, Any]) -> dict[str, str]:
    meta = candidate.get("meta") or {}
    found = {
        "id": candidate["id"],
        "source": candidate["source"],
        "status": candidate["status"],
        "reason": candidate["reason"],
        "rank": candidate["rank"],
        "variants": ",".join(candidate["variants"]),
        "params": meta.get("params"),
        "license": meta.get("license"),
        "max_input_tokens": meta.get("max_input_tokens"),
        "weight_format": meta.get("weight_format"),
    }
    return {k: _short(v) for k, v in found.items() if v not in (None, "")}


def _candidate_metrics(candidate: dict[str, Any]) -> dict[str, float]:
    found = {
        metric_name(name): float(m["value"])
        for name, m in candidate["metrics"].items()
        if isinstance(m.get("value"), (int, float)) and not isinstance(m.get("value"), bool)
    }
    if candidate.get("score") is not None:
        found["score"] = float(candidate["score"])
    return found


MONITOR_TAG = "modelscout.monitor.model"  # the monitored model's key: its run is found again


def log_monitor(report: dict[str, Any], paths: list[Path], uri: str | None, experiment: str) -> str:
    """Log one ``monitor`` call (monitor.json's dictionary) to the monitored model's MLflow run
    (found by its ``MONITOR_TAG``, made on the first call) at the next step, stamped with the
    call's time, so that each statistic forms a series over time; the run's id. Metrics:
    ``<section>.<test>.statistic`` and ``.p_value`` (section ``all``, or ``column=value`` of a
    slice) and ``verdict`` (0 no drift, 1 drift, 2 retrain recommended; the level is a tag)."""
    import mlflow
    from mlflow.entities import Metric

    try:
        if uri is not None:
            mlflow.set_tracking_uri(uri)
        experiment_id = mlflow.set_experiment(experiment).experiment_id
        client = mlflow.tracking.MlflowClient()
        run_id = _monitor_run(client, experiment_id, report["model"])
        step = len(client.get_metric_history(run_id, "verdict"))
        stamp = int(datetime.fromisoformat(report["created"]).timestamp() * 1000)
        metrics = [Metric(k, v, stamp, step) for k, v in _monitor_metrics(report).items()]
        client.log_batch(run_id, metrics=metrics)
        client.set_tag(run_id, "modelscout.monitor.verdict", report["verdict"]["level"])
        for path in paths:
            client.log_artifact(run_id, str(path), artifact_path=f"step-{step}")
        return run_id
    except Exception as error:  # the server, the URI, a refused value: the reports stand
        raise UserError(
            f"the monitor's reports are written, but logging them to MLflow at "
            f"{mlflow.get_tracking_uri()} failed ({one_line(error)}); check --mlflow-uri or "
            "MLFLOW_TRACKING_URI"
        ) from None


def _monitor_run(client: Any, experiment_id: str, model: dict[str, Any]) -> str:
    """The id of the monitored model's run, made with its tags when there is none yet."""
    key = model["key"].replace("'", "\\'")
    found = client.search_runs([experiment_id], f"tags.`{MONITOR_TAG}` = '{key}'")
    if found:
        return found[0].info.run_id
    run = client.create_run(
        experiment_id,
        tags={MONITOR_TAG: model["key"], "modelscout.monitor.model_id": model["id"][:PARAM_CHARS]},
        run_name=f"monitor {model['id']}"[:250],
    )
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def _monitor_metrics(report: dict[str, Any]) -> dict[str, float]:
    """Every test's statistic and p-value, every row's and each slice's, and the verdict."""
    found = {"verdict": float(LEVELS.index(report["verdict"]["level"]))}
    for part in [report["overall"], *report["slices"]]:
        where = "all" if part["column"] is None else f"{part['column']}={part['value']}"
        for name, test in part["tests"].items():
            found[metric_name(f"{where}.{name}.statistic")] = float(test["statistic"])
            if test["p_value"] is not None:
                found[metric_name(f"{where}.{name}.p_value")] = float(test["p_value"])
    return found
