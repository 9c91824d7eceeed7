"""One monitor call, from the spec (its ``data`` is the reference) and the model's id to
monitor.json's model: read and check both sets, resolve the model, its features (from the
store, or one encode pass), the statistics and the verdicts.

Every check of the input comes before the model is loaded, so that bad input is told at once.
"""

from __future__ import annotations

from typing import Any

from modelscout.backends import backend_of
from modelscout.catalog.candidate import Candidate, describe, download, resolve_candidate
from modelscout.errors import UserError
from modelscout.executors import executor_for
from modelscout.measure.cost import measuring_threads
from modelscout.monitor.contract import MonitorReport
from modelscout.monitor.data import MonitorData, check_pair, read_set
from modelscout.monitor.features import features_of
from modelscout.monitor.watch import observe, report
from modelscout.spec import Spec
from modelscout.store import Store, default_store_path


def read_sets(spec: Spec, current: Any) -> tuple[MonitorData, MonitorData]:
    """Both sets, read alike and checked against each other."""
    reference = read_set(spec.data, spec, "reference", min_per_class=spec.folds)
    found = read_set(current, spec, "current")
    check_pair(reference, found)
    return reference, found


def monitored_model(spec: Spec, model: str, modality: str) -> Candidate:
    """The model to monitor, resolved as ``rank`` resolves a candidate; ``UserError`` when it
    has no features of its own or reads another modality."""
    candidate = resolve_candidate(
        model, allow_pickle=spec.allow_pickle, trust_remote_code=spec.trust_remote_code
    )
    if not backend_of(candidate).dense_features:
        raise UserError(
            f"{model} has no features of its own to watch (a fitted baseline); monitor a "
            "pre-trained model"
        )
    if spec.feature_layer == "best":
        raise UserError(
            "monitor reads the model's last or mean layer; set feature_layer: last or mean "
            "(the layer 'best' chose is the rank's, on its sample)"
        )
    reads = describe(candidate).modality
    if reads is not None and reads != modality:
        raise UserError(f"{model} reads {reads} inputs, and the data is {modality}")
    return candidate


def run_monitor(
    spec: Spec,
    model: str,
    current: Any,
    *,
    from_results: str | None = None,
    notes: list[str] | None = None,
) -> MonitorReport:
    """Monitor ``model`` on ``spec.data`` (the reference) against ``current``."""
    reference, found = read_sets(spec, current)
    candidate = monitored_model(spec, model, reference.modality)
    if not candidate.downloaded:
        candidate = download(
            candidate, allow_pickle=spec.allow_pickle, trust_remote_code=spec.trust_remote_code
        )
    threads = measuring_threads(spec)[0]
    executor = executor_for(spec, threads)
    try:
        with Store(spec.store or default_store_path()) as store:
            features, reused = features_of(
                candidate, describe(candidate), (reference, found), store, executor, spec, threads
            )
    finally:
        executor.close()
    observed = observe(features, reference, folds=spec.folds, seed=spec.seed)
    return report(
        candidate,
        (reference, found),
        observed,
        reused,
        seed=spec.seed,
        from_results=from_results,
        notes=notes,
    )
