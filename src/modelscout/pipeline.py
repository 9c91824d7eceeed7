"""Runs every candidate through every measurement, reusing what the store already has.

Per candidate, one at a time: resolve and describe it, check the metadata
requirements (a Hub model on its Hub metadata, downloaded only once it passes),
then one model pass in a process of its own (load, features, throughput,
latency, input lengths, the GPU where there is one; stored in one
transaction). Then the cross-validated probes of all candidates, their folds
sharing the cores, each stored as it finishes; then per candidate the
transferability estimators on its features. A candidate that fails becomes a
``failed`` outcome with its reason; the run goes on.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, partial
from pathlib import Path
from typing import Any

import numpy as np

from modelscout import __version__
from modelscout.backends.baseline import fold_classifier, term_counts
from modelscout.backends.text import check_loadable, has_classification_head
from modelscout.catalog.candidate import describe, download
from modelscout.catalog.constraints import check_meta
from modelscout.data import TaskData, nested_subsamples
from modelscout.errors import CandidateError, UserError, one_line
from modelscout.inputs import Prepared, prepare
from modelscout.measure.cost import (
    HOURS_PER_MONTH,
    TRAINING_COST_FACTOR,
    fine_tune_cost,
    hourly_price,
    instance_presets,
    monthly_cost,
    usd_per_1k,
)
from modelscout.measure.hardware import (
    TARGET_CI,
    Latency,
    PassJob,
    PassResult,
    Precisions,
    find_gpu,
    machine,
    run_isolated,
    start_server,
    usable_cores,
)
from modelscout.measure.probe import ProbeJob, ProbeResult, cross_validate_many, linear_probe
from modelscout.measure.transferability import ESTIMATORS, HEAD_ESTIMATORS
from modelscout.measure.validation import InputError
from modelscout.records import Candidate, Measurement, ModelMeta, Outcome
from modelscout.spec import Constraints, Spec
from modelscout.store import Store, StoreError, default_store_path

logger = logging.getLogger(__name__)

FEATURES_VERSION = "1"
MODEL_PASS_VERSION = "1"
PROBE_VERSION = "2"  # 2: macro precision and recall, per-class precision and recall
PROBE_NAMES = [
    "probe.accuracy",
    "probe.macro_f1",
    "probe.macro_precision",
    "probe.macro_recall",
    "probe.breakdown",
]
PROBS_VERSION = "probs-1"
TRANSFERABILITY_VERSION = "1"
STABILITY_FRACTIONS = (0.25, 0.5, 1.0)
ESTIMATOR_UNITS = {
    "logme": "evidence/sample",
    "logme_icml": "evidence/sample",
    "knn": "accuracy",
    "leep": "log-likelihood",
    "nce": "nats",
    "nleep": "log-likelihood",
}

LOG_FOLDER = "logs"  # in the output folder: the traceback of each failed candidate
GPU_NOTE = "gpu.device"  # where the GPU path ran (device, precisions) or why it was skipped
GPU_OFF = "turned off in the spec (gpu: off)"
GPU_INT8 = "an int8 variant runs in ONNX Runtime, on the CPU only"

Step = Callable[[str, str], None]  # (candidate id, what is being done)


@dataclass
class RunResult:
    spec: Spec
    data: TaskData
    sample: TaskData
    outcomes: list[Outcome]
    environment: dict[str, Any]
    measured: int = 0
    reused: int = 0
    seconds: float = 0.0
    timings: dict[str, dict[str, float]] = field(default_factory=dict)
    threads: dict[str, Any] = field(default_factory=dict)  # measuring_threads' answer


def environment() -> dict[str, Any]:
    """Versions of what produced the numbers, and the machine they were measured on."""
    from importlib.metadata import PackageNotFoundError, version

    packages = {}
    for name in (
        "torch",
        "transformers",
        "sentence-transformers",
        "scikit-learn",
        "numpy",
        "scipy",
        "huggingface-hub",
    ):
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = None
    return {
        "modelscout": __version__,
        "python": sys.version.split()[0],
        "packages": packages,
        "machine": machine(),
    }


class _Runner:
    def __init__(
        self, spec: Spec, sample: TaskData, store: Store, step: Step, rows_in_data: int = 0
    ) -> None:
        self.rows_in_data = rows_in_data or len(sample)
        self.spec, self.sample, self.store, self.step = spec, sample, store, step
        self.data_key = sample.fingerprint
        self.machine = machine()
        self.threads, self.threads_source = measuring_threads(spec)
        self.measured = self.reused = 0
        self.timings: dict[str, dict[str, float]] = {}  # candidate -> phase -> wall seconds

    @cached_property
    def gpu(self) -> dict[str, Any]:
        """The CUDA device model passes also measure on, or ``{"skipped": why}``; looked for
        once per run, when the first model candidate needs it."""
        return {"skipped": GPU_OFF} if self.spec.gpu == "off" else find_gpu()

    def _gpu_for(self, candidate: Candidate) -> dict[str, Any] | None:
        """The device this candidate is measured on besides the CPU, or ``{"skipped": why}``;
        None for the baseline, which has no torch model."""
        if candidate.source == "baseline":
            return None
        if any(variant.kind == "int8" for variant in candidate.variants):
            return {"skipped": GPU_INT8}
        return self.gpu

    def _cached(
        self, candidate: Candidate, names: list[str], version: str, settings: dict[str, Any]
    ) -> dict[str, Measurement] | None:
        found = {
            n: self.store.get(candidate.key, self.data_key, n, version, settings) for n in names
        }
        return None if any(m is None for m in found.values()) else found

    def _reuse(self, cached: dict[str, Measurement]) -> dict[str, Measurement]:
        self.reused += len(cached)
        return cached

    def _save(
        self,
        candidate: Candidate,
        measurements: list[Measurement],
        features: np.ndarray | None = None,
    ) -> dict[str, Measurement]:
        if features is not None:
            self.store.put_features(
                candidate.key, self.data_key, FEATURES_VERSION, features, *measurements
            )
        else:
            self.store.put(candidate.key, self.data_key, *measurements)
        self.measured += len(measurements)
        return {m.name: m for m in measurements}

    # -- the model pass -------------------------------------------------------------------
    def _pass_names(self, candidate: Candidate) -> list[str]:
        names = ["load.seconds", "memory.peak_mb", *timing_names("", self.spec.batch_sizes)]
        if candidate.source != "baseline":
            names.append("length.truncated_fraction")
            if self.spec.onnx:
                names += ONNX_NAMES
        return names

    def model_pass(
        self, candidate: Candidate, meta: ModelMeta
    ) -> tuple[dict, np.ndarray | None, np.ndarray | None]:
        """Features (and a classification head's probabilities) plus everything timed on the
        same loaded model, in a process of its own."""
        settings = {
            "batch_size": self.spec.batch_size,
            "batch_sizes": self.spec.batch_sizes,
            "latency_budget_s": self.spec.latency_budget_s,
            "machine": self.machine,
            # only when set, so that stores written before threads existed stay valid
            **({"threads": self.threads} if self.threads is not None else {}),
        }
        artifacts = self._artifact_folder(candidate)
        if artifacts is not None:  # a pass that kept no files must not stand in for one that does
            settings["keep_artifacts"] = str(artifacts)
        gpu = self._gpu_for(candidate)
        measures_gpu = gpu is not None and "skipped" not in gpu
        gpu_settings = {**settings, "gpu": gpu}  # the device found is part of the key
        cached = self._cached(candidate, self._pass_names(candidate), MODEL_PASS_VERSION, settings)
        if cached is not None and not _files_still_there(cached["load.seconds"]):
            cached = None  # kept models deleted since: the pass runs again and writes them
        if cached is not None and measures_gpu:
            on_gpu = self._cached_gpu(candidate, gpu_settings)
            cached = None if on_gpu is None else {**cached, **on_gpu}
        prior: dict[int, list[float]] = {}
        if cached is not None and not all(map(settled, _timings(cached))):
            # Replayed, it would repeat a figure nobody could trust; timed again, it goes on
            # from its reliable runs, so a timing its budget cut short settles over reruns.
            prior = _reliable_runs(cached)
            cached = None
        features = probs = None
        if candidate.source != "baseline":
            features = self.store.get_features(candidate.key, self.data_key, FEATURES_VERSION)
            probs = self.store.get_features(candidate.key, self.data_key, PROBS_VERSION)
        complete = candidate.source == "baseline" or (
            features is not None and (probs is not None or not has_classification_head(meta))
        )
        if cached is not None and complete:
            return {**self._reuse(cached), **_skip_note(gpu)}, features, probs
        stored = features if complete else None  # the pass then only times
        self.step(
            candidate.id,
            ("loading, timing" if stored is not None else "loading, encoding, timing")
            + (", on the GPU" if measures_gpu else ""),
        )
        job = PassJob(
            candidate=candidate,
            meta=meta,
            texts=self.sample.texts,
            labels=self.sample.labels,
            batch_sizes=tuple(self.spec.batch_sizes),
            feature_batch=self.spec.batch_size,
            seed=self.spec.seed,
            allow_pickle=self.spec.allow_pickle,
            trust_remote_code=self.spec.trust_remote_code,
            latency_budget_s=self.spec.latency_budget_s,
            onnx=self.spec.onnx,
            gpu=gpu if measures_gpu else None,
            artifacts=None if artifacts is None else str(artifacts),
            threads=self.threads,
            features=stored,
            prior_ms=prior,
        )
        result = run_isolated(job)
        if result.features is not None and not np.isfinite(result.features).all():
            raise CandidateError("the model produced NaN or infinite features")
        measurements = pass_measurements(result, settings, len(self.sample))
        if result.gpu is not None:
            measurements += gpu_measurements(result.gpu, gpu, gpu_settings)
        saved = self._save(candidate, measurements, None if stored is not None else result.features)
        if result.source_probs is not None:
            self.store.put_features(
                candidate.key, self.data_key, PROBS_VERSION, result.source_probs
            )
            probs = result.source_probs
        return {**saved, **_skip_note(gpu)}, result.features, probs

    def _artifact_folder(self, candidate: Candidate) -> Path | None:
        """Where this candidate's exported models are kept: a folder named after it under
        ``keep_artifacts``; None when nothing is kept (or for the baseline, which exports none)."""
        if self.spec.keep_artifacts is None or candidate.source == "baseline":
            return None
        return self.spec.keep_artifacts.resolve() / safe_name(candidate.id)

    def _cached_gpu(
        self, candidate: Candidate, settings: dict[str, Any]
    ) -> dict[str, Measurement] | None:
        """The stored GPU measurements of a pass: the note first, then those of every
        precision it says was measured (a precision that failed has only its reason there)."""
        note = self._cached(candidate, [GPU_NOTE], MODEL_PASS_VERSION, settings)
        if note is None or note[GPU_NOTE].detail.get("failed"):
            return None  # a precision that failed (out of memory, say) is tried again
        names = gpu_names(note[GPU_NOTE].detail["precisions"], self.spec.batch_sizes)
        found = self._cached(candidate, names, MODEL_PASS_VERSION, settings)
        return None if found is None else {**note, **found}

    # -- measurements on features -----------------------------------------------------------
    def probe_all(self, pending: list[_Pending]) -> list[dict[str, Measurement] | Exception]:
        """Each candidate's cross-validated probe (the stored one where there is one), the
        folds of all candidates sharing the cores; a candidate whose probe raised gets the
        exception."""
        out: list[dict[str, Measurement] | Exception | None] = [None] * len(pending)
        jobs, todo = [], []  # todo[j]: the index in ``pending`` of jobs[j]
        # The baseline's folds are the slowest: first, so that the last fold to finish is short.
        for index in sorted(
            range(len(pending)), key=lambda i: pending[i].candidate.source != "baseline"
        ):
            item = pending[index]
            cached = self._cached(
                item.candidate, PROBE_NAMES, PROBE_VERSION, self._probe_settings(item)
            )
            if cached is not None:
                out[index] = self._reuse(cached)
                continue
            self.step(item.candidate.id, f"{self.spec.folds}-fold probe")
            if item.candidate.source == "baseline":
                # the folds and model of tfidf_classifier, the texts counted once for all folds
                try:
                    inputs, widths = term_counts(self.sample.texts)
                except Exception as error:  # e.g. no n-gram at all: this candidate fails
                    out[index] = error
                    continue
                make_model = partial(fold_classifier, widths, self.spec.seed)
            else:
                inputs, make_model = item.features, partial(linear_probe, self.spec.seed)
            jobs.append(
                ProbeJob(
                    make_model,
                    inputs,
                    self.sample.labels,
                    self.sample.classes,
                    self.spec.folds,
                    self.spec.seed,
                    self.sample.slices,
                )
            )
            todo.append(index)

        def store(position: int, result: ProbeResult | Exception) -> None:
            # Stored as each candidate's last fold comes in: a run killed in the middle of
            # the probes keeps the finished ones.
            index = todo[position]
            if isinstance(result, Exception):
                out[index] = result
                return
            pending[index].clock["probe_s"] = result.fit_seconds
            out[index] = self._save_probe(pending[index], result)

        cross_validate_many(jobs, n_jobs=self.threads or usable_cores(), on_result=store)
        return out  # type: ignore[return-value]

    def _probe_settings(self, item: _Pending) -> dict[str, Any]:
        baseline = item.candidate.source == "baseline"
        return {
            "folds": self.spec.folds,
            "seed": self.spec.seed,
            "model": "tfidf-linear-svm" if baseline else "standardize-logreg-C1",
        }

    def _save_probe(self, item: _Pending, result: ProbeResult) -> dict[str, Measurement]:
        settings, seconds = self._probe_settings(item), result.fit_seconds
        worst = min(result.per_class_f1, key=result.per_class_f1.get)
        return self._save(
            item.candidate,
            [
                Measurement(
                    "probe.accuracy",
                    result.accuracy,
                    "fraction",
                    result.accuracy_std,
                    settings,
                    seconds,
                    PROBE_VERSION,
                ),
                Measurement(
                    "probe.macro_f1",
                    result.macro_f1,
                    "fraction",
                    result.macro_f1_std,
                    settings,
                    seconds,
                    PROBE_VERSION,
                ),
                Measurement(
                    "probe.macro_precision",
                    result.macro_precision,
                    "fraction",
                    result.macro_precision_std,
                    settings,
                    seconds,
                    PROBE_VERSION,
                ),
                Measurement(
                    "probe.macro_recall",
                    result.macro_recall,
                    "fraction",
                    result.macro_recall_std,
                    settings,
                    seconds,
                    PROBE_VERSION,
                ),
                Measurement(
                    "probe.breakdown",
                    result.per_class_f1[worst],
                    "fraction",
                    None,
                    settings,
                    seconds,
                    PROBE_VERSION,
                    detail={
                        "worst_class": worst,
                        "per_class_f1": result.per_class_f1,
                        "per_class_precision": result.per_class_precision,
                        "per_class_recall": result.per_class_recall,
                        "per_slice_f1": result.per_slice_f1,
                    },
                ),
            ],
        )

    def transferability(
        self, candidate: Candidate, features: np.ndarray, probs: np.ndarray | None
    ) -> dict[str, Measurement]:
        """Every configured estimator on the features (or the head's probabilities), on
        nested subsamples of 25%, 50% and 100% so the report can tell whether it settled."""
        labels = self.sample.labels
        subsamples = nested_subsamples(labels, STABILITY_FRACTIONS, self.spec.seed)
        out = {}
        for name in self.spec.estimators:
            head = name in HEAD_ESTIMATORS
            if head and probs is None:
                continue
            settings = {"fractions": STABILITY_FRACTIONS, "seed": self.spec.seed}
            cached = self._cached(candidate, [name], TRANSFERABILITY_VERSION, settings)
            if cached is not None:
                out.update(self._reuse(cached))
                continue
            self.step(candidate.id, name)
            estimator = HEAD_ESTIMATORS[name] if head else ESTIMATORS[name]
            inputs = probs if head else features.astype(np.float64)
            start = time.perf_counter()
            values, errors = {}, {}
            for fraction, rows in zip(STABILITY_FRACTIONS, subsamples, strict=True):
                try:
                    values[str(fraction)] = float(estimator(inputs[rows], labels[rows]))
                except (InputError, ValueError, np.linalg.LinAlgError) as error:
                    errors[str(fraction)] = one_line(error)
            detail = {
                "subsamples": values,
                "rows": {
                    str(f): len(r) for f, r in zip(STABILITY_FRACTIONS, subsamples, strict=True)
                },
            }
            if errors:
                detail["errors"] = errors
            measurement = Measurement(
                name,
                values.get("1.0"),
                ESTIMATOR_UNITS.get(name, "score"),
                None,
                settings,
                time.perf_counter() - start,
                detail=detail,
            )
            out.update(self._save(candidate, [measurement]))
        return out

    # -- one candidate ---------------------------------------------------------------------------
    def start(self, candidate: Candidate) -> Outcome | _Pending:
        """Metadata, constraints and the model pass: a rejected or failed ``Outcome``, or a
        candidate waiting for its probe."""
        try:
            meta = describe(candidate)
        except Exception as error:  # unreadable metadata fails this candidate only
            return self._failed(candidate, ModelMeta(), error, "metadata: ")
        reason = check_meta(
            meta, self._checkable(candidate), is_baseline=candidate.source == "baseline"
        )
        if reason is None and not candidate.downloaded:
            try:
                candidate, meta, reason = self._download(candidate, meta)
            except Exception as error:  # refused before downloading, or the download failed
                return self._failed(candidate, meta, error)
        if reason:
            return Outcome(candidate, meta, "rejected", reason)
        clock = self.timings.setdefault(candidate.id, {})
        try:
            start = time.perf_counter()
            measurements, features, probs = self.model_pass(candidate, meta)
            clock["model_pass_s"] = time.perf_counter() - start
            logger.info("%s: model pass done in %.1f s", candidate.id, clock["model_pass_s"])
            measurements = dict(measurements)
            measurements.update(cost_measurements(measurements, self.spec, self.rows_in_data))
        except StoreError:  # the store's fault, not this candidate's: the run stops
            raise
        except Exception as error:
            return self._failed(candidate, meta, error)
        return _Pending(candidate, meta, measurements, features, probs, clock)

    def _checkable(self, candidate: Candidate) -> Constraints:
        """The requirements the metadata at hand can answer: before a Hub model is downloaded,
        the size of its layers variant is unknown, so max_params waits for its files."""
        layers_variant = any(variant.kind == "layers" for variant in candidate.variants)
        if candidate.downloaded or not layers_variant:
            return self.spec.constraints
        return self.spec.constraints.model_copy(update={"max_params": None})

    def _download(
        self, candidate: Candidate, meta: ModelMeta
    ) -> tuple[Candidate, ModelMeta, str | None]:
        """A Hub candidate accepted on its Hub metadata, downloaded and described from its files,
        with the reason it is rejected once those are known (a layers variant's size)."""
        spec = self.spec
        check_loadable(
            meta, allow_pickle=spec.allow_pickle, trust_remote_code=spec.trust_remote_code
        )
        candidate = download(
            candidate, allow_pickle=spec.allow_pickle, trust_remote_code=spec.trust_remote_code
        )
        meta = describe(candidate)
        return candidate, meta, check_meta(meta, spec.constraints)

    def finish(self, item: _Pending, probed: dict[str, Measurement] | Exception) -> Outcome:
        """The probe's measurements, then the transferability estimators."""
        candidate, measurements = item.candidate, item.measurements
        try:
            if isinstance(probed, Exception):
                raise probed
            measurements.update(probed)
            if item.features is not None:
                start = time.perf_counter()
                measurements.update(self.transferability(candidate, item.features, item.probs))
                item.clock["transferability_s"] = time.perf_counter() - start
        except StoreError:
            raise
        except Exception as error:
            return self._failed(candidate, item.meta, error)
        return Outcome(candidate, item.meta, "measured", None, measurements)

    def _failed(
        self, candidate: Candidate, meta: ModelMeta, error: BaseException, prefix: str = ""
    ) -> Outcome:
        """A failed outcome: the reason in one line, the full traceback in a log file."""
        log = write_failure_log(self.spec.output, candidate.id, error)
        where = f"; traceback in {self.spec.output / log}" if log else ""
        logger.warning("%s failed: %s%s", candidate.id, one_line(error), where)
        return Outcome(candidate, meta, "failed", prefix + one_line(error), log=log)


def write_failure_log(output: Path, candidate_id: str, error: BaseException) -> Path | None:
    """Write the traceback of ``error`` (with its causes: for an error raised in a measuring
    process, concurrent.futures chains the remote traceback as the cause) to
    ``output/logs/<candidate>.log``; the path relative to ``output``, None if it cannot be
    written (the run goes on: the reason is still in the results)."""
    log = Path(LOG_FOLDER) / f"{safe_name(candidate_id)}.log"
    text = f"{candidate_id}\n\n" + "".join(traceback.format_exception(error))
    try:
        (output / log).parent.mkdir(parents=True, exist_ok=True)
        (output / log).write_text(text, encoding="utf-8")
    except OSError as problem:
        logger.warning("could not write the traceback of %s: %s", candidate_id, problem)
        return None
    return log


@dataclass
class _Pending:
    """A candidate between its model pass and its probe."""

    candidate: Candidate
    meta: ModelMeta
    measurements: dict[str, Measurement]
    features: np.ndarray | None
    probs: np.ndarray | None
    clock: dict[str, float]


def settled(timing: Measurement) -> bool:
    """Whether a stored timing may be replayed: its median's CI reached the target and the
    machine left it alone (a timing stored before reliability was judged is unsettled)."""
    detail = timing.detail or {}
    ci = detail.get("p50_ci_relative")
    target = detail.get("target_ci", TARGET_CI)
    return detail.get("reliable") is True and ci is not None and ci <= target


def _reliable_runs(measured: dict[str, Measurement]) -> dict[int, list[float]]:
    """Batch size -> every run (ms) of the stored CPU timings the machine left alone."""
    runs = {}
    for name, timing in measured.items():
        detail = timing.detail or {}
        if name.startswith("latency.p50_ms@") and detail.get("reliable") is True:
            runs[int(name.partition("@")[2])] = list(detail.get("samples_ms") or [])
    return runs


def _timings(measured: dict[str, Measurement]) -> list[Measurement]:
    """The median latencies among ``measured`` (CPU, GPU and ONNX): each stands for its timing.
    A timing never taken (the ONNX check not run, or its export failed) has none to judge."""
    return [
        m
        for name, m in measured.items()
        if name.partition("@")[0].endswith("latency.p50_ms") and m.value is not None
    ]


def measuring_threads(spec: Spec) -> tuple[int | None, str]:
    """The torch/BLAS threads the model passes measure with, and why.

    The spec's ``threads`` first; else, for a CPU instance preset, its vCPUs (capped at this
    machine's usable cores), so the figures priced are those of a machine like it; else None:
    torch's default (the physical cores)."""
    if spec.threads is not None:
        return spec.threads, "threads from the spec"
    preset = instance_presets().get(spec.cost.instance or "")
    if preset is None or preset["device"] != "cpu":
        return None, "torch's default, one per physical core"
    cores = usable_cores()
    threads = min(preset["vcpus"], cores)
    capped = f", capped at this machine's {cores} usable cores" if threads < preset["vcpus"] else ""
    return threads, f"the {preset['vcpus']} vCPUs of {spec.cost.instance}{capped}"


def check_gpu_pricing(spec: Spec, find: Callable[[], dict[str, Any]]) -> None:
    """Refuse, before anything is measured, to price a GPU instance with no GPU to time on;
    ``find`` looks for the GPU, only when a GPU instance is named."""
    instance = spec.cost.instance
    preset = instance_presets().get(instance or "")
    if preset is None or preset["device"] != "gpu":
        return
    gpu = find()
    if "skipped" in gpu:
        raise UserError(
            f"cost.instance {instance} is a GPU instance, but this run measures no GPU "
            f"({gpu['skipped']}); run on a machine with a CUDA GPU and gpu: auto, "
            "or name a CPU instance"
        )


def pass_measurements(result: PassResult, settings: dict[str, Any], rows: int) -> list[Measurement]:
    """The measurements of one model pass, named by batch size."""
    process = {"threads": result.threads, "device": result.device}
    kept = {"artifacts": result.artifacts} if result.artifacts else {}
    out = [
        Measurement(
            "load.seconds",
            result.load_s,
            "s",
            None,
            settings,
            result.load_s,
            detail={**process, **kept},
        ),
        Measurement(
            "memory.peak_mb",
            result.peak_mb,
            "MB",
            None,
            settings,
            detail={**process, "process_peak_mb": result.process_peak_mb},
        ),
    ]
    out += timing_measurements("", result.latency, result.throughput, settings, process)
    if result.token_lengths is not None:
        lengths = result.token_lengths
        out.append(
            Measurement(
                "length.truncated_fraction",
                float(np.mean(lengths > result.max_length)),
                "fraction",
                None,
                settings,
                detail={
                    "max_input_tokens": result.max_length,
                    "rows": rows,
                    "p50_tokens": float(np.percentile(lengths, 50)),
                    "p95_tokens": float(np.percentile(lengths, 95)),
                    "max_tokens": int(lengths.max()),
                },
            )
        )
    if result.onnx is not None:
        out += onnx_measurements(result.onnx, settings)
    return out


def timing_measurements(
    prefix: str,
    latencies: dict[int, Latency],
    throughput: dict[int, float],
    settings: dict[str, Any],
    facts: dict[str, Any],
) -> list[Measurement]:
    """``{prefix}latency.p50_ms@B`` (p95, p99) and ``{prefix}throughput.items_per_s@B`` for
    each batch size B; ``facts`` (threads, device, ...) go into every detail."""
    out = []
    for size, latency in latencies.items():
        details = latency_details(latency, facts)
        for name, value in (
            ("p50", latency.p50_ms),
            ("p95", latency.p95_ms),
            ("p99", latency.p99_ms),
        ):
            out.append(
                Measurement(
                    f"{prefix}latency.{name}_ms@{size}",
                    value,
                    "ms",
                    None,
                    settings,
                    detail=details[name],
                )
            )
        out.append(
            Measurement(
                f"{prefix}throughput.items_per_s@{size}",
                throughput[size],
                "items/s",
                None,
                settings,
                detail=facts,
            )
        )
    return out


def latency_details(latency: Latency, facts: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The detail stored with each percentile ("p50", "p95", "p99") of one timing: its runs,
    the machine's verdict on them (``settled`` reads it back) and ``facts``; the p50 keeps
    every sample, the p95 its 95% CI."""
    runs = {
        "runs": latency.runs,
        "p50_ci_relative": latency.p50_ci_relative,
        "target_ci": TARGET_CI,
        "reliable": latency.reliable,
        "unreliable_reasons": latency.unreliable_reasons,
        "conditions": latency.conditions,
        "round_spread": latency.round_spread,
        "attempts": latency.attempts,
        **facts,
    }
    return {
        "p50": {**runs, "samples_ms": latency.samples_ms},
        "p95": {**runs, "ci95_ms": list(latency.p95_ci_ms)},
        "p99": runs,
    }


def timing_names(prefix: str, batch_sizes: list[int]) -> list[str]:
    """The names ``timing_measurements`` gives for ``batch_sizes``."""
    return [
        f"{prefix}{name}@{size}"
        for size in batch_sizes
        for name in ("latency.p50_ms", "latency.p95_ms", "latency.p99_ms", "throughput.items_per_s")
    ]


def gpu_names(precisions: list[str], batch_sizes: list[int]) -> list[str]:
    """The measurement names of a GPU pass at ``precisions``, the note aside."""
    names = []
    for precision in precisions:
        prefix = f"gpu.{precision}."
        names += [prefix + n for n in ("load.seconds", "memory.peak_mb", "max_abs_diff")]
        names += [prefix + "cosine_min", *timing_names(prefix, batch_sizes)]
    return names


def gpu_measurements(
    found: Precisions, device: dict[str, Any], settings: dict[str, Any]
) -> list[Measurement]:
    """The GPU pass, named ``gpu.{precision}.{the CPU measurement's name}``, plus the note
    ``gpu.device``: the device, the precisions measured and why any other failed."""
    note = {
        "device": device["device"],
        "device_name": device["device_name"],
        "runtime": device["runtime"],
        "precisions": list(found.passes),
        "failed": found.failed,
    }
    out = [Measurement(GPU_NOTE, None, "", None, settings, detail=note)]
    for precision, run in found.passes.items():
        prefix = f"gpu.{precision}."
        facts = {"device": run.device, "device_name": device["device_name"], "dtype": run.dtype}
        agreement = {**facts, "rows": run.rows, "nonfinite_rows": run.nonfinite_rows}
        out += [
            Measurement(
                prefix + "load.seconds", run.load_s, "s", None, settings, run.load_s, detail=facts
            ),
            Measurement(prefix + "memory.peak_mb", run.peak_mb, "MB", None, settings, detail=facts),
            Measurement(
                prefix + "max_abs_diff", run.max_abs_diff, "abs", None, settings, detail=agreement
            ),
            Measurement(
                prefix + "cosine_min", run.cosine_min, "cosine", None, settings, detail=agreement
            ),
        ]
        out += timing_measurements(prefix, run.latency, run.throughput, settings, facts)
    return out


def _skip_note(gpu: dict[str, Any] | None) -> dict[str, Measurement]:
    """The note of a skipped GPU path: known before the pass, so recomputed, never stored."""
    if gpu is None or "skipped" not in gpu:
        return {}
    return {GPU_NOTE: Measurement(GPU_NOTE, None, "", None, detail=dict(gpu))}


ONNX_NAMES = [
    "deploy.onnx_ok",
    "deploy.onnx_max_abs_diff",
    "deploy.onnx_latency.p50_ms@1",
    "deploy.onnx_latency.p95_ms@1",
]


def onnx_measurements(found: dict[str, Any], settings: dict[str, Any]) -> list[Measurement]:
    """ONNX export findings; a failed or skipped export is recorded, with its reason. The
    latency carries the same detail as the PyTorch timings (``latency_details``), so that an
    unsettled one is measured again and a disturbed one is warned about."""
    ok = None if found["ok"] is None else float(found["ok"])
    latency: Latency | None = found.get("latency")  # None: not run, or the export failed
    facts = {k: found.get(k) for k in ("reason", "export_s", "size_mb")}
    facts["runs"] = None if latency is None else latency.runs
    out = [
        Measurement("deploy.onnx_ok", ok, "pass", None, settings, detail=facts),
        Measurement("deploy.onnx_max_abs_diff", found.get("max_abs_diff"), "abs", None, settings),
    ]
    if latency is None:
        return out + [
            Measurement(f"deploy.onnx_latency.{name}_ms@1", None, "ms", None, settings)
            for name in ("p50", "p95")
        ]
    details = latency_details(latency, {"threads": found["threads"], "device": "cpu"})
    return out + [
        Measurement(
            f"deploy.onnx_latency.{name}_ms@1", value, "ms", None, settings, detail=details[name]
        )
        for name, value in (("p50", latency.p50_ms), ("p95", latency.p95_ms))
    ]


def cost_measurements(
    measured: dict[str, Measurement], spec: Spec, rows: int
) -> dict[str, Measurement]:
    """Dollar figures derived from the measured throughput (recomputed each run, never stored:
    they are arithmetic on stored measurements and the spec's price and traffic)."""
    price = hourly_price(spec.cost.instance, spec.cost.price_per_hour)
    if price is None:
        return {}
    per_hour, source = price
    device = instance_presets().get(spec.cost.instance or "", {}).get("device", "cpu")
    assumptions = {
        "price_per_hour": per_hour,
        "price_source": source,
        "serving_batch_size": spec.cost.batch_size,
        "device": device,
    }
    prefix = ""
    if device == "gpu":
        precision = gpu_serving_precision(measured)
        if precision is None:
            missing = _no_gpu_figures(measured)
            why = f"not priced: {spec.cost.instance} is a GPU instance and {missing}"
            unpriced = Measurement(
                "cost.usd_per_1k", None, "USD", detail={**assumptions, "reason": why}
            )
            return {unpriced.name: unpriced}
        prefix = f"gpu.{precision}."
        timed_on = measured[prefix + "load.seconds"].detail.get("device_name")
        assumptions |= {"precision": precision, "measured_on": timed_on}
    serving = measured.get(f"{prefix}throughput.items_per_s@{spec.cost.batch_size}")
    if serving is None or not serving.value:
        return {}
    assumptions["items_per_s"] = serving.value
    out = [
        Measurement(
            "cost.usd_per_1k", usd_per_1k(per_hour, serving.value), "USD", None, detail=assumptions
        )
    ]
    if spec.cost.requests_per_day is not None:
        month = monthly_cost(per_hour, serving.value, spec.cost.requests_per_day)
        detail = {
            **assumptions,
            **month,
            "requests_per_day": spec.cost.requests_per_day,
            "hours_per_month": HOURS_PER_MONTH,
        }
        out += [
            Measurement("cost.usd_per_month", month["usd_per_month"], "USD", None, detail=detail),
            Measurement(
                "cost.usd_per_year", 12 * month["usd_per_month"], "USD", None, detail=detail
            ),
        ]
    training = measured.get(f"{prefix}throughput.items_per_s@{spec.batch_size}")
    if training is not None and training.value:
        tune = fine_tune_cost(per_hour, training.value, rows, spec.cost.fine_tune_epochs)
        out.append(
            Measurement(
                "cost.fine_tune_usd",
                tune["usd"],
                "USD",
                None,
                detail={
                    **assumptions,
                    "hours": tune["hours"],
                    "rows": rows,
                    "epochs": spec.cost.fine_tune_epochs,
                    "training_cost_factor": TRAINING_COST_FACTOR,
                    "items_per_s": training.value,
                },
            )
        )
    return {m.name: m for m in out}


def _files_still_there(load: Measurement) -> bool:
    """Whether every model file a stored pass says it kept is still on disk."""
    kept = (load.detail or {}).get("artifacts") or {}
    return all(Path(path).is_file() for path in kept.values())


GPU_AGREEMENT = 0.999  # lowest row cosine at which fp16 features stand for the fp32 ones


def gpu_serving_precision(measured: dict[str, Measurement]) -> str | None:
    """The precision a GPU instance is priced at: fp16 where its features agree with the CPU
    fp32 ones (no NaN/inf row, lowest row cosine >= GPU_AGREEMENT), else fp32; None when the
    candidate has neither measured."""
    fp16 = measured.get("gpu.fp16.cosine_min")
    if fp16 is not None and fp16.value is not None and fp16.value >= GPU_AGREEMENT:
        return "fp16"
    return "fp32" if "gpu.fp32.load.seconds" in measured else None


def _no_gpu_figures(measured: dict[str, Measurement]) -> str:
    """Why a candidate has no GPU throughput to price: the GPU note's reason, if any."""
    note = measured.get(GPU_NOTE)
    if note is None:
        return "this candidate has no model to run on a GPU (the TF-IDF baseline)"
    detail = note.detail or {}
    if "skipped" in detail:
        return f"it has no GPU figures ({detail['skipped']})"
    failed = "; ".join(f"{p}: {why}" for p, why in (detail.get("failed") or {}).items())
    return f"no usable GPU precision was measured ({failed or 'fp16 disagrees, no fp32'})"


def safe_name(candidate_id: str) -> str:
    """A candidate id as one folder name: path separators, colons and other characters that
    are not portable in file names become ``_`` (``org/model+layers:3`` ->
    ``org_model+layers_3``)."""
    return re.sub(r"[^\w.+-]+", "_", candidate_id).strip("._") or "candidate"


def run(
    spec: Spec,
    *,
    prepared: Prepared | None = None,
    step: Step | None = None,
    on_candidate: Callable[[Outcome], None] | None = None,
) -> RunResult:
    """Measure every candidate of ``spec`` on its data; bad input raises ``UserError``."""
    started = time.perf_counter()
    start_server()  # imports torch in the background while the data is read
    prepared = prepared or prepare(spec)
    with Store(spec.store or default_store_path()) as store:
        runner = _Runner(
            spec, prepared.sample, store, step or (lambda *_: None), len(prepared.data)
        )
        check_gpu_pricing(spec, lambda: runner.gpu)
        # Model passes one at a time (each alone on the machine, for its timings), then the
        # probes of all candidates together, then what remains per candidate.
        states = []
        for candidate in prepared.candidates:
            state = runner.start(candidate)
            if isinstance(state, Outcome) and on_candidate:
                on_candidate(state)
            states.append(state)
        pending = [state for state in states if isinstance(state, _Pending)]
        probed = iter(runner.probe_all(pending))  # in the order of ``pending``
        outcomes = []
        for state in states:
            if isinstance(state, _Pending):
                state = runner.finish(state, next(probed))
                if on_candidate:
                    on_candidate(state)
            outcomes.append(state)
    return RunResult(
        spec,
        prepared.data,
        prepared.sample,
        outcomes,
        environment(),
        runner.measured,
        runner.reused,
        time.perf_counter() - started,
        runner.timings,
        {"threads": runner.threads, "source": runner.threads_source},
    )


def profile(spec: Spec, *, prepared: Prepared | None = None) -> dict[str, Any]:
    """Only the hardware side of the first candidate: load, latency, throughput, memory.

    Returns the ``modelscout profile --json`` object (docs/results-schema.md).
    """
    start_server()
    prepared = prepared or prepare(spec)
    candidate = prepared.candidates[0]
    meta = describe(candidate)
    with Store(spec.store or default_store_path()) as store:
        runner = _Runner(spec, prepared.sample, store, lambda *_: None, len(prepared.data))
        if not candidate.downloaded:  # checked on its Hub metadata first, as rank does
            candidate, meta, _ = runner._download(candidate, meta)
        measured, _, _ = runner.model_pass(candidate, meta)
    load = measured["load.seconds"]
    truncated = measured.get("length.truncated_fraction")
    return {
        "candidate": candidate.id,
        "device": load.detail["device"],
        "threads": load.detail["threads"],
        "load_s": load.value,
        "peak_memory_mb": measured["memory.peak_mb"].value,
        "process_peak_memory_mb": measured["memory.peak_mb"].detail["process_peak_mb"],
        "disk_size_mb": (meta.disk_size_bytes or 0) / 2**20,
        "truncated_fraction": truncated.value if truncated else None,
        "rows": len(prepared.sample),
        "batches": _batches(measured, spec.batch_sizes),
        "gpu": _gpu_profile(measured, spec.batch_sizes),
    }


def _batches(measured: dict[str, Measurement], sizes: list[int], prefix: str = "") -> dict:
    """Batch size (a string) -> its latency percentiles, items/s, timed runs, the p95's 95% CI
    and whether the machine left the timing alone (with the figures why not)."""
    out = {}
    for size in sizes:
        median = measured[f"{prefix}latency.p50_ms@{size}"]
        p95 = measured[f"{prefix}latency.p95_ms@{size}"]
        out[str(size)] = {
            "p50_ms": median.value,
            "p95_ms": p95.value,
            "p99_ms": measured[f"{prefix}latency.p99_ms@{size}"].value,
            "items_per_s": measured[f"{prefix}throughput.items_per_s@{size}"].value,
            "runs": median.detail["runs"],
            "p95_ci_ms": p95.detail["ci95_ms"],
            "reliable": median.detail["reliable"],
            "unreliable_reasons": median.detail["unreliable_reasons"],
        }
    return out


def _gpu_profile(measured: dict[str, Measurement], sizes: list[int]) -> dict[str, Any] | None:
    """The GPU side of ``profile``: ``{"skipped": why}``, or the device and, per precision, its
    load time, peak memory, feature agreement and batches; None for the baseline."""
    note = measured.get(GPU_NOTE)
    if note is None:
        return None
    if "skipped" in note.detail:
        return dict(note.detail)
    precisions = {}
    for precision in note.detail["precisions"]:
        prefix = f"gpu.{precision}."
        precisions[precision] = {
            "dtype": measured[prefix + "load.seconds"].detail["dtype"],
            "load_s": measured[prefix + "load.seconds"].value,
            "peak_memory_mb": measured[prefix + "memory.peak_mb"].value,
            "max_abs_diff": measured[prefix + "max_abs_diff"].value,
            "cosine_min": measured[prefix + "cosine_min"].value,
            "nonfinite_rows": measured[prefix + "cosine_min"].detail["nonfinite_rows"],
            "batches": _batches(measured, sizes, prefix),
        }
    return {
        "device": note.detail["device"],
        "device_name": note.detail["device_name"],
        "runtime": note.detail["runtime"],
        "precisions": precisions,
        "failed": note.detail["failed"],
    }
