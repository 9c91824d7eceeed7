"""Spec + candidates -> jobs: candidate x step, each with the store key that determines it.

A job names what it measures (``names``), under which ``version`` and ``settings``; with the
candidate's key and the sample's fingerprint that is the store key (store.py). ``Ledger.cached``
answers whether the store already holds every measurement of a job: what it holds is skipped.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelscout import metrics
from modelscout.backends import backend_of
from modelscout.data.inputs import Targets
from modelscout.measure.device import GPU_INT8, GPU_NOTE, gpu_names
from modelscout.measure.estimates import STABILITY_FRACTIONS, TRANSFERABILITY_VERSION
from modelscout.measure.onnx import ONNX_NAMES
from modelscout.measure.paired import SCORERS
from modelscout.measure.probe import PROBES
from modelscout.measure.probe.curve_points import CURVE_FRACTIONS, CURVE_VERSION
from modelscout.measure.stress import STRESS_VERSION
from modelscout.measure.timing import stage_names, timing_names
from modelscout.records import Candidate, Measurement
from modelscout.spec import Spec
from modelscout.store import Store

FEATURES_VERSION = "1"  # the model's own features; other layer choices add theirs
MODEL_PASS_VERSION = "1"
PROBS_VERSION = "probs-1"
CURVE_POINTS_VERSION = "curve-points-1"  # a probe's learning-curve points (curve_points.py)
STRESS_FEATURES_VERSION = "stress-features-2"  # 2: each row seeded by its sample row
PREDICTIONS_VERSION = "predictions-1"  # the probe's out-of-fold predictions (measure/paired.py)
# the linear probe's name in its settings, by task (measure/probe)
LINEAR_PROBES = {
    "classification": "standardize-logreg-C1",
    "regression": "standardize-ridgecv",
    "multilabel": "standardize-ovr-logreg-C1-fold-thresholds",
}


@dataclass(frozen=True)
class Job:
    """One step of one candidate, and what determines its measurements."""

    candidate: Candidate
    step: str  # model_pass | gpu | probe | an estimator's name
    names: tuple[str, ...]
    version: str
    settings: dict[str, Any]


class Ledger:
    """The store as the run sees it: a job's stored measurements, and what is saved; counts
    what was measured and what was reused."""

    def __init__(
        self, store: Store, data_key: str, features_version: str = FEATURES_VERSION
    ) -> None:
        self.store, self.data_key = store, data_key
        self.features_version = features_version  # ``features_version(spec)``
        self.measured = self.reused = 0
        # the model passes of a Ray run save from several threads at once (run._measure)
        self._counting = threading.Lock()

    def cached(self, job: Job) -> dict[str, Measurement] | None:
        """Every measurement of ``job`` from the store, or None when one is missing."""
        key = job.candidate.key
        found = {
            n: self.store.get(key, self.data_key, n, job.version, job.settings) for n in job.names
        }
        return None if any(m is None for m in found.values()) else found

    def reuse(self, cached: dict[str, Measurement]) -> dict[str, Measurement]:
        """Count ``cached`` as reused and mark what was read for it as used now (for
        ``cache prune --older-than``): one write per job, none per row read."""
        with self._counting:
            self.reused += len(cached)
        self.store.touch()
        return cached

    def save(
        self,
        candidate: Candidate,
        measurements: list[Measurement],
        features: np.ndarray | None = None,
    ) -> dict[str, Measurement]:
        """Store ``measurements`` (with the features, in one transaction, when given)."""
        if features is not None:
            self.store.put_features(
                candidate.key, self.data_key, self.features_version, features, *measurements
            )
        else:
            self.store.put(candidate.key, self.data_key, *measurements)
        with self._counting:
            self.measured += len(measurements)
        return {m.name: m for m in measurements}

    def features(self, candidate: Candidate, version: str | None = None) -> Any:
        """The stored features of ``candidate`` (under ``version``; None: the run's own)."""
        version = version or self.features_version
        return self.store.get_features(candidate.key, self.data_key, version)

    def save_probs(self, candidate: Candidate, probs: np.ndarray) -> None:
        self.store.put_features(candidate.key, self.data_key, PROBS_VERSION, probs)

    def save_probe(
        self, job: Job, measurements: list[Measurement], predictions: np.ndarray
    ) -> dict[str, Measurement]:
        """A probe's measurements and its out-of-fold predictions, in one transaction."""
        self.store.put_features(
            job.candidate.key,
            self.data_key,
            predictions_version(job),
            predictions,
            *measurements,
        )
        with self._counting:
            self.measured += len(measurements)
        return {m.name: m for m in measurements}

    def save_curve(
        self, job: Job, measurements: list[Measurement], points: np.ndarray
    ) -> dict[str, Measurement]:
        """A curve's measurements and its packed points, in one transaction."""
        self.store.put_features(
            job.candidate.key, self.data_key, curve_points_version(job), points, *measurements
        )
        with self._counting:
            self.measured += len(measurements)
        return {m.name: m for m in measurements}

    def curve_points(self, job: Job) -> np.ndarray | None:
        """The stored packed points of a curve job, or None."""
        return self.features(job.candidate, curve_points_version(job))

    def save_features(self, candidate: Candidate, version: str, features: np.ndarray) -> None:
        """Features of other rows than the sample's own (the stress slices'), under
        ``version``."""
        self.store.put_features(candidate.key, self.data_key, version, features)

    def predictions(self, job: Job) -> np.ndarray | None:
        """The stored out-of-fold predictions of a probe job, or None."""
        return self.features(job.candidate, predictions_version(job))


def features_version(spec: Spec) -> str:
    """The store version of a run's features: the model's own ("1"), or those of another
    layer choice ("1:mean", "1:best"), so that one never stands in for another."""
    return (
        FEATURES_VERSION
        if spec.feature_layer == "last"
        else f"{FEATURES_VERSION}:{spec.feature_layer}"
    )


def pass_settings(
    spec: Spec, machine: dict[str, Any], threads: int | None, artifacts: Path | None
) -> dict[str, Any]:
    """What determines a model pass's measurements besides the candidate and the sample."""
    settings = {
        "batch_size": spec.batch_size,
        "batch_sizes": spec.batch_sizes,
        "latency_budget_s": spec.latency_budget_s,
        "machine": machine,
        # only when set, so that stores written before threads existed stay valid
        **({"threads": threads} if threads is not None else {}),
        # only when not the default, so that stores written before it existed stay valid
        **({"feature_layer": spec.feature_layer} if spec.feature_layer != "last" else {}),
    }
    if artifacts is not None:  # a pass that kept no files must not stand in for one that does
        settings["keep_artifacts"] = str(artifacts)
    return settings


def pass_job(spec: Spec, candidate: Candidate, settings: dict[str, Any]) -> Job:
    """The model pass: load, memory, timings (end to end, and preprocessing and forward pass
    apart); for dense features the truncation rate, and for
    a torch model the ONNX check where the spec asks for it."""
    backend = backend_of(candidate)
    names = [
        metrics.LOAD_SECONDS,
        metrics.PEAK_MEMORY,
        *timing_names("", spec.batch_sizes),
        *stage_names(spec.batch_sizes),
    ]
    if backend.dense_features:
        names.append(metrics.TRUNCATED)
        if spec.feature_layer != "last":
            names.append(metrics.FEATURE_LAYER)
        if spec.onnx and backend.torch:
            names += ONNX_NAMES
    return Job(candidate, "model_pass", tuple(names), MODEL_PASS_VERSION, settings)


def gpu_for(candidate: Candidate, find: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
    """The device ``candidate`` is measured on besides the CPU (``find`` looks for it, only
    when needed), or ``{"skipped": why}``; None for a backend with no torch model."""
    if not backend_of(candidate).torch:
        return None
    if any(variant.kind == "int8" for variant in candidate.variants):
        return {"skipped": GPU_INT8}
    return find()


def gpu_jobs(ledger: Ledger, candidate: Candidate, spec: Spec, settings: dict) -> list[Job]:
    """The GPU note's job, then (once the note is stored and says which precisions were
    measured) the job of those precisions' measurements. A precision that failed (out of
    memory, say) is tried again: no job then stands for it."""
    note = Job(candidate, "gpu", (GPU_NOTE,), MODEL_PASS_VERSION, settings)
    stored = ledger.cached(note)
    if stored is None or stored[GPU_NOTE].detail.get("failed"):
        return [note]
    names = gpu_names(stored[GPU_NOTE].detail["precisions"], spec.batch_sizes)
    return [note, Job(candidate, "gpu", tuple(names), MODEL_PASS_VERSION, settings)]


def task_settings(targets: Targets) -> dict[str, Any]:
    """What the task adds to a probe's or an estimator's store key: nothing for
    classification (so that stores written before other tasks existed stay valid), the task
    and the target transform for the others. (The targets themselves are in the sample's
    fingerprint.)"""
    if targets.task == "classification":
        return {}
    transform = getattr(targets, "transform", None)
    return {"task": targets.task, **({"target_transform": transform} if transform else {})}


def probe_job(spec: Spec, candidate: Candidate, probe_name: str, targets: Targets) -> Job:
    """The cross-validated probe of ``targets``' task (``measure/probe``)."""
    probe = PROBES[targets.task]
    settings = {"folds": spec.folds, "seed": spec.seed, "model": probe_name}
    settings.update(task_settings(targets) | layer_settings(spec, candidate))
    return Job(candidate, "probe", tuple(probe.names), probe.version, settings)


def layer_settings(spec: Spec, candidate: Candidate) -> dict[str, Any]:
    """What the layer choice adds to the key of a step on a candidate's features: nothing for
    the last layer (stores written before the choice existed stay valid) or for a backend
    without features (its probe reads its own inputs)."""
    if spec.feature_layer == "last" or not backend_of(candidate).dense_features:
        return {}
    return {"feature_layer": spec.feature_layer}


def curve_job(
    spec: Spec, candidate: Candidate, probe_name: str, targets: Targets, rows: int
) -> Job:
    """The probe's learning curve (``measure/probe/curve_points.py``): ``predicted.<metric>``
    for every scored quality metric of the task, at ``rows`` (the data's rows) and at the
    spec's ``predict_rows``. Its points are kept apart (``curve_points_version``): another
    row count only refits the curve."""
    names = tuple(metrics.predicted(name) for name in SCORERS[targets.task])
    settings = {**curve_points_settings(spec, candidate, probe_name, targets), "rows": rows}
    settings["predict_rows"] = spec.predict_rows
    return Job(candidate, "curve", names, CURVE_VERSION, settings)


def curve_points_settings(
    spec: Spec, candidate: Candidate, probe_name: str, targets: Targets
) -> dict[str, Any]:
    """What determines a probe's curve points besides the candidate and the sample: the
    probe's own settings and version, and the fractions."""
    probe = probe_job(spec, candidate, probe_name, targets)
    return {**probe.settings, "probe_version": probe.version, "fractions": CURVE_FRACTIONS}


def curve_points_version(job: Job) -> str:
    """The features-table version of a curve job's points (its settings less the rows it
    predicts at)."""
    determined = {k: v for k, v in job.settings.items() if k not in ("rows", "predict_rows")}
    return f"{CURVE_POINTS_VERSION}:{json.dumps(determined, sort_keys=True, default=str)}"


def predictions_version(job: Job) -> str:
    """The features-table version of a probe's out-of-fold predictions: everything that
    determines them besides the candidate and the sample (the task, the probe's version, its
    folds, seed and model), so a change to any stores them afresh."""
    task = job.settings.get("task", "classification")
    determined = {"task": task, "probe_version": job.version, **job.settings}
    return f"{PREDICTIONS_VERSION}:{json.dumps(determined, sort_keys=True, default=str)}"


def stress_settings(spec: Spec) -> dict[str, Any]:
    """What determines the stress rows and their perturbations besides the sample: every
    perturbation (kind, severity, vocabulary), the rows asked for and the seed."""
    assert spec.stress is not None
    return {
        "perturbations": [p.model_dump() for p in spec.stress.perturbations],
        "rows": spec.stress.rows,
        "seed": spec.seed,
    }


def stress_job(
    spec: Spec, candidate: Candidate, probe_name: str, targets: Targets, quality: str
) -> Job:
    """A candidate's stress slices (measure/stress.py): the probe's settings (the same folds
    and model), the stress settings and the quality metric the drops are in."""
    probe = probe_job(spec, candidate, probe_name, targets)
    names = [metrics.STRESS_DROP]
    if targets.task != "regression":
        names.append(metrics.STRESS_RARE_DROP)
    settings = {**probe.settings, "probe_version": probe.version, "quality_metric": quality}
    settings["stress"] = stress_settings(spec)
    return Job(candidate, "stress", tuple(names), STRESS_VERSION, settings)


def stress_features_version(spec: Spec, layer: str | int) -> str:
    """The features-table version of a candidate's features of the perturbed stress rows:
    the stress settings, the run's features version and the layer encoded, so that a rerun
    encodes nothing and another choice encodes afresh."""
    determined = {**stress_settings(spec), "features": features_version(spec), "layer": layer}
    return f"{STRESS_FEATURES_VERSION}:{json.dumps(determined, sort_keys=True, default=str)}"


def estimator_job(spec: Spec, candidate: Candidate, name: str, targets: Targets) -> Job:
    settings = {"fractions": STABILITY_FRACTIONS, "seed": spec.seed, **task_settings(targets)}
    settings.update(layer_settings(spec, candidate))
    return Job(candidate, name, (name,), TRANSFERABILITY_VERSION, settings)


def artifact_folder(spec: Spec, candidate: Candidate) -> Path | None:
    """Where this candidate's exported models are kept: a folder named after it under
    ``keep_artifacts``; None when nothing is kept (or for a backend with no torch model to
    export)."""
    if spec.keep_artifacts is None or not backend_of(candidate).torch:
        return None
    return spec.keep_artifacts.resolve() / safe_name(candidate.id)


def files_still_there(load: Measurement) -> bool:
    """Whether every model file a stored pass says it kept is still on disk."""
    kept = (load.detail or {}).get("artifacts") or {}
    return all(Path(path).is_file() for path in kept.values())


def safe_name(candidate_id: str) -> str:
    """A candidate id as one folder name: path separators, colons and other characters that
    are not portable in file names become ``_`` (``org/model+layers:3`` ->
    ``org_model+layers_3``)."""
    return re.sub(r"[^\w.+-]+", "_", candidate_id).strip("._") or "candidate"
