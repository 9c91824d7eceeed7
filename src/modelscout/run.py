"""The run in a page: plan the jobs of every candidate, execute the missing ones, store them.

Per candidate, one at a time: describe it, check the metadata requirements (a Hub model on
its Hub metadata, downloaded only once it passes), then its model pass, alone on the machine
(load, features, timings, input lengths, ONNX, the GPU where there is one; stored in one
transaction). Then the cross-validated probes of all candidates, their folds sharing the
cores, each stored as it finishes; then per candidate the transferability estimators on its
features. A candidate that fails becomes a ``failed`` outcome with its reason and a log file;
the run goes on. ``api.rank`` then decides.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property, partial
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from modelscout import __version__, metrics
from modelscout.backends import backend_of
from modelscout.backends.base import LoadOptions
from modelscout.backends.text import check_loadable, has_classification_head
from modelscout.backends.vision import has_image_head
from modelscout.catalog.candidate import describe, download
from modelscout.catalog.constraints import check_meta
from modelscout.data import TaskData, nested_subsamples
from modelscout.errors import CandidateError, one_line
from modelscout.executors import Executor, executor_for, executor_name
from modelscout.executors.forkserver import find_gpu, start_server
from modelscout.inputs import Prepared, prepare
from modelscout.measure.cost import check_gpu_pricing, cost_measurements, measuring_threads
from modelscout.measure.device import GPU_OFF, gpu_measurements, skip_note
from modelscout.measure.encode import EncodeJob
from modelscout.measure.estimates import STABILITY_FRACTIONS, estimate
from modelscout.measure.model_pass import PassJob, pass_measurements
from modelscout.measure.paired import scored_truth
from modelscout.measure.probe import PROBES, ProbeJob, probe_measurements
from modelscout.measure.probe.base import pooled
from modelscout.measure.probe.curve_points import (
    CURVE_FRACTIONS,
    CurvePoints,
    curve_failed,
    curve_measurements,
)
from modelscout.measure.stress import (
    augmented,
    encode_layer,
    no_rare_rows,
    perturbed_images,
    perturbed_texts,
    rare_groups,
    score_slices,
    stress_failed,
    stress_measurements,
    stress_predictions,
    stress_rows,
    stress_work,
)
from modelscout.measure.timing import (
    machine,
    reliable_runs,
    settled,
    timed_medians,
    usable_cores,
)
from modelscout.measure.transferability import ESTIMATORS
from modelscout.plan import (
    LINEAR_PROBES,
    PROBS_VERSION,
    Job,
    Ledger,
    artifact_folder,
    curve_job,
    estimator_job,
    features_version,
    files_still_there,
    gpu_for,
    gpu_jobs,
    pass_job,
    pass_settings,
    probe_job,
    safe_name,
    stress_features_version,
    stress_job,
)
from modelscout.records import Candidate, Measurement, ModelMeta, Outcome
from modelscout.spec import Constraints, Spec
from modelscout.store import Store, StoreError, default_store_path

logger = logging.getLogger(__name__)

LOG_FOLDER = "logs"  # in the output folder: the traceback of each failed candidate
PACKAGES = (
    "torch",
    "transformers",
    "sentence-transformers",
    "scikit-learn",
    "numpy",
    "scipy",
    "huggingface-hub",
)

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
    # estimator -> why it was not run (it has no form for the task): said, never faked
    estimators_skipped: dict[str, str] = field(default_factory=dict)
    # candidate id -> its probe's out-of-fold predictions, row-aligned over the sample (the
    # folds depend only on the targets, the folds and the seed): paired across candidates
    predictions: dict[str, np.ndarray] = field(default_factory=dict)
    # what the verification stage did (modelscout/verification.py), once it has run
    verification: Any = None
    executor: str = "local"  # where the jobs ran (executors/)
    # what successive halving did (modelscout/halving.py), when the spec sets a budget
    halving: Any = None
    # --force: the store's rows created before this time.time() were not read (Store's
    # fresh_after); the verification stage opens the store with it too
    fresh_after: float | None = None


def environment() -> dict[str, Any]:
    """Versions of what produced the numbers, and the machine they were measured on."""
    packages = {}
    for name in PACKAGES:
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


def run(
    spec: Spec,
    *,
    prepared: Prepared | None = None,
    step: Step | None = None,
    on_candidate: Callable[[Outcome], None] | None = None,
    executor: Executor | None = None,
    light: bool = False,
    fresh_after: float | None = None,
) -> RunResult:
    """Measure every candidate of ``spec`` on its data; bad input raises ``UserError``.
    ``light``: no learning curves (an early round of successive halving, halving.py).

    With ``spec.force`` nothing stored before the run (before ``fresh_after`` when given: a
    caller running several rounds keeps one start) is read, so every job is measured again
    and overwrites its row; what this run stores itself is read as usual."""
    started = time.perf_counter()
    if not spec.force:
        fresh_after = None
    elif fresh_after is None:
        fresh_after = time.time()
    start_server()  # imports torch in the background while the data is read
    prepared = prepared or prepare(spec)
    tell = on_candidate or (lambda _: None)
    owned = executor is None  # made here: closed here
    threads = measuring_threads(spec)
    executor = executor or executor_for(spec, threads[0])
    try:
        with Store(spec.store or default_store_path(), fresh_after=fresh_after) as store:
            runner = Runner(spec, prepared, store, step or (lambda *_: None), executor, threads)
            runner.light = light
            check_gpu_pricing(spec, lambda: runner.gpu)
            outcomes = _measure(runner, prepared.candidates, tell)
    finally:
        if owned:
            executor.close()
    return RunResult(
        spec,
        prepared.data,
        prepared.sample,
        outcomes,
        environment(),
        runner.ledger.measured,
        runner.ledger.reused,
        time.perf_counter() - started,
        runner.timings,
        {"threads": runner.threads, "source": runner.threads_source},
        runner.estimators_skipped,
        {
            o.candidate.id: runner.predictions[o.candidate.id]
            for o in outcomes
            if o.status == "measured" and o.candidate.id in runner.predictions
        },
        executor=executor_name(executor),
        fresh_after=fresh_after,
    )


def _measure(
    runner: Runner, candidates: list[Candidate], tell: Callable[[Outcome], None]
) -> list[Outcome]:
    """Model passes (one at a time, each alone on the machine for its timings, where the
    executor asks it; else as many at once as it takes), then the probes of all candidates
    together, then what remains per candidate."""
    at_once = max(1, getattr(runner.executor, "passes_at_once", 1))
    if at_once == 1 or len(candidates) < 2:
        states = [runner.start(candidate) for candidate in candidates]
    else:
        pool = ThreadPoolExecutor(max_workers=min(at_once, len(candidates)))
        try:
            states = list(pool.map(runner.start, candidates))
        finally:  # Ctrl-C: the passes not started are dropped, not waited for
            pool.shutdown(wait=False, cancel_futures=True)
    for state in states:
        if isinstance(state, Outcome):
            tell(state)
    pending = [state for state in states if isinstance(state, Pending)]
    probed = iter(runner.probe_all(pending))  # in the order of ``pending``
    outcomes = []
    for state in states:
        if isinstance(state, Pending):
            state = runner.finish(state, next(probed))
            tell(state)
        outcomes.append(state)
    return outcomes


@dataclass
class Pending:
    """A candidate between its model pass and its probe."""

    candidate: Candidate
    meta: ModelMeta
    measurements: dict[str, Measurement]
    features: np.ndarray | None
    probs: np.ndarray | None
    clock: dict[str, float]


class Runner:
    """The jobs of one run: each candidate's steps, looked up in the store first."""

    def __init__(
        self,
        spec: Spec,
        prepared: Prepared,
        store: Store,
        step: Step,
        executor: Executor | None = None,
        threads: tuple[int | None, str] | None = None,
    ) -> None:
        self.spec, self.sample, self.step = spec, prepared.sample, step
        self.rows_in_data = len(prepared.data)
        self.ledger = Ledger(store, prepared.sample.fingerprint, features_version(spec))
        self.machine = machine()
        self.threads, self.threads_source = threads or measuring_threads(spec)
        self.executor = executor or executor_for(spec, self.threads)
        self.timings: dict[str, dict[str, float]] = {}  # candidate -> phase -> wall seconds
        self.estimators_skipped = skipped_estimators(spec.estimators, self.sample.task)
        self.predictions: dict[str, np.ndarray] = {}  # candidate id -> out-of-fold predictions
        self.light = False  # no learning curves (``run(light=True)``)

    @cached_property
    def gpu(self) -> dict[str, Any]:
        """The CUDA device model passes also measure on, or ``{"skipped": why}``; looked for
        once per run, when the first model candidate needs it."""
        return {"skipped": GPU_OFF} if self.spec.gpu == "off" else find_gpu()

    # -- the model pass -------------------------------------------------------------------
    def model_pass(
        self, candidate: Candidate, meta: ModelMeta
    ) -> tuple[dict[str, Measurement], np.ndarray | None, np.ndarray | None]:
        """Features (and a classification head's probabilities) plus everything timed on the
        same loaded model, in a process of its own; what the store holds is not measured."""
        artifacts = artifact_folder(self.spec, candidate)
        settings = pass_settings(self.spec, self.machine, self.threads, artifacts)
        gpu = gpu_for(candidate, lambda: self.gpu)
        measures_gpu = gpu is not None and "skipped" not in gpu
        gpu_settings = {**settings, "gpu": gpu}  # the device found is part of the key
        cached = self._stored_pass(candidate, settings, gpu_settings if measures_gpu else None)
        prior: dict[int, list[float]] = {}
        if cached is not None and not all(map(settled, timed_medians(cached))):
            # Replayed, it would repeat a figure nobody could trust; timed again, it goes on
            # from its reliable runs, so a timing its budget cut short settles over reruns.
            prior, cached = reliable_runs(cached), None
        features, probs, complete = self._stored_features(candidate, meta)
        if cached is not None and complete:
            return {**self.ledger.reuse(cached), **skip_note(gpu)}, features, probs
        # Given stored features, the pass only times; features of another layer than the
        # last come with their choice, so that pass chooses again.
        stored = features if complete and self.spec.feature_layer == "last" else None
        self.step(
            candidate.id,
            ("loading, timing" if stored is not None else "loading, encoding, timing")
            + (", on the GPU" if measures_gpu else ""),
        )
        job = self._pass_job(candidate, meta, gpu if measures_gpu else None, artifacts, stored)
        job.prior_ms = prior
        result = self.executor.model_pass(job)
        if result.features is not None and not np.isfinite(result.features).all():
            raise CandidateError("the model produced NaN or infinite features")
        measurements = pass_measurements(result, settings, len(self.sample))
        if result.gpu is not None:
            measurements += gpu_measurements(result.gpu, gpu, gpu_settings)
        saved = self.ledger.save(
            candidate, measurements, None if stored is not None else result.features
        )
        if result.source_probs is not None:
            self.ledger.save_probs(candidate, result.source_probs)
            probs = result.source_probs
        return {**saved, **skip_note(gpu)}, result.features, probs

    def _stored_pass(
        self, candidate: Candidate, settings: dict[str, Any], gpu_settings: dict | None
    ) -> dict[str, Measurement] | None:
        """The stored measurements of this pass (its GPU ones too, when it measures a GPU),
        or None when one is missing or a model file it kept was deleted since."""
        cached = self.ledger.cached(pass_job(self.spec, candidate, settings))
        if cached is not None and not files_still_there(cached[metrics.LOAD_SECONDS]):
            return None  # kept models deleted since: the pass runs again and writes them
        if cached is None or gpu_settings is None:
            return cached
        on_gpu: dict[str, Measurement] = {}
        for job in gpu_jobs(self.ledger, candidate, self.spec, gpu_settings):
            found = self.ledger.cached(job)
            if found is None:
                return None
            on_gpu.update(found)
        if len(on_gpu) == 1:  # only the note: a precision failed and is tried again
            return None
        return {**cached, **on_gpu}

    def _stored_features(
        self, candidate: Candidate, meta: ModelMeta
    ) -> tuple[np.ndarray | None, np.ndarray | None, bool]:
        """The stored features and head probabilities, and whether they are all there is to
        keep (a backend without dense features keeps none)."""
        if not backend_of(candidate).dense_features:
            return None, None, True
        features = self.ledger.features(candidate)
        probs = self.ledger.features(candidate, PROBS_VERSION)
        needs_probs = has_classification_head(meta) or has_image_head(meta)
        return features, probs, features is not None and (probs is not None or not needs_probs)

    def _pass_job(
        self,
        candidate: Candidate,
        meta: ModelMeta,
        gpu: dict[str, Any] | None,
        artifacts: Path | None,
        features: np.ndarray | None,
    ) -> PassJob:
        spec = self.spec
        return PassJob(
            candidate=candidate,
            meta=meta,
            items=self._items(candidate),
            labels=self.sample.targets.fit_targets(),
            task=self.sample.task,
            feature_layer=self.spec.feature_layer,
            batch_sizes=tuple(spec.batch_sizes),
            feature_batch=spec.batch_size,
            seed=spec.seed,
            allow_pickle=spec.allow_pickle,
            trust_remote_code=spec.trust_remote_code,
            latency_budget_s=spec.latency_budget_s,
            onnx=spec.onnx,
            gpu=gpu,
            artifacts=None if artifacts is None else str(artifacts),
            threads=self.threads,
            features=features,
        )

    # -- measurements on features -----------------------------------------------------------
    def probe_all(self, pending: list[Pending]) -> list[dict[str, Measurement] | Exception]:
        """Each candidate's cross-validated probe (the stored one where there is one), the
        folds of all candidates sharing the cores; a candidate whose probe raised gets the
        exception."""
        out: list[dict[str, Measurement] | Exception | None] = [None] * len(pending)
        owns: dict[int, tuple[Any, str]] = {}  # index in ``pending`` -> ``_own_probe``
        jobs, todo = [], []  # todo[j]: (the index in ``pending`` of jobs[j], its store job)
        # A backend's own probe model (the baseline's) is the slowest: first, so that the
        # last fold to finish is short.
        order = sorted(
            range(len(pending)), key=lambda i: backend_of(pending[i].candidate).dense_features
        )
        for index in order:
            item = pending[index]
            probe, name = owns[index] = self._own_probe(item)
            job = probe_job(self.spec, item.candidate, name, self.sample.targets)
            cached = self.ledger.cached(job)
            # a probe stored without its predictions (before they were kept) runs again
            predictions = self.ledger.predictions(job) if cached is not None else None
            if cached is not None and predictions is not None:
                out[index] = self.ledger.reuse(cached)
                self.predictions[item.candidate.id] = predictions
                continue
            self.step(item.candidate.id, f"{self.spec.folds}-fold probe")
            try:
                jobs.append(self._probe_job(item, probe))
            except Exception as error:  # e.g. no n-gram at all: this candidate fails
                out[index] = error
                continue
            todo.append((index, job))

        def store(position: int, result: Any) -> None:
            # Stored as each candidate's last fold comes in: a run killed in the middle of
            # the probes keeps the finished ones.
            index, job = todo[position]
            if isinstance(result, Exception):
                out[index] = result
                return
            pending[index].clock["probe_s"] = result.fit_seconds
            measurements = probe_measurements(result, self.sample.task, job.settings)
            out[index] = self.ledger.save_probe(job, measurements, result.predictions)
            self.predictions[job.candidate.id] = result.predictions

        self.executor.probes(jobs, store)
        if not self.light:
            self.curves(pending, out, owns)  # type: ignore[arg-type]
            if self.spec.stress is not None:
                self.stress(pending, out, owns)  # type: ignore[arg-type]
        return out  # type: ignore[return-value]

    def curves(
        self,
        pending: list[Pending],
        out: list[dict[str, Measurement] | Exception],
        owns: dict[int, tuple[Any, str]],
    ) -> None:
        """Each probed candidate's learning curve (``predicted.*``, measure/probe/curve_points.py)
        added to its probe's measurements: the stored one where there is one, refitted where
        only its points are stored, else measured, the fits of all candidates sharing the
        cores and each stored as it finishes."""
        task, jobs, todo = self.sample.task, [], []
        for index, item in enumerate(pending):
            found = out[index]
            if isinstance(found, Exception) or item.candidate.id not in self.predictions:
                continue
            probe, name = owns[index]
            job = curve_job(self.spec, item.candidate, name, self.sample.targets, self.rows_in_data)
            cached, packed = self.ledger.cached(job), self.ledger.curve_points(job)
            if cached is not None:
                found.update(self.ledger.reuse(cached))
            elif packed is not None:  # another row count: the curve refitted, nothing measured
                points = CurvePoints.unpack(packed, task, CURVE_FRACTIONS)
                found.update(self._save_curve(job, points))
            else:
                self.step(item.candidate.id, "learning curve")
                jobs.append(self._probe_job(item, probe))
                todo.append((index, job))

        def store(position: int, result: CurvePoints | Exception) -> None:
            index, job = todo[position]
            if isinstance(result, Exception):  # the probe stands; the curve says why it is not
                out[index].update(curve_failed(job, result))  # type: ignore[union-attr]
                return
            pending[index].clock["curve_s"] = result.fit_seconds
            out[index].update(self._save_curve(job, result))  # type: ignore[union-attr]

        full = [self.predictions[pending[index].candidate.id] for index, _ in todo]
        self.executor.curves(jobs, full, CURVE_FRACTIONS, store)

    def stress(
        self,
        pending: list[Pending],
        out: list[dict[str, Measurement] | Exception],
        owns: dict[int, tuple[Any, str]],
    ) -> None:
        """Each probed candidate's stress slices (measure/stress.py) added to its probe's
        measurements: the stored ones where they are, else its perturbed stress rows encoded
        (or read from the store) and one fit per fold of all candidates sharing the cores,
        each stored as it finishes. A candidate whose stress pass fails keeps its other
        measurements; its stress ones say why."""
        slices = StressSlices(self)
        quality = slices.quality
        todo: list[tuple[int, Job]] = []
        work: list[tuple[int, Any, Callable[[], Any]]] = []
        with tempfile.TemporaryDirectory(prefix="modelscout-stress-") as folder:
            for index, item in enumerate(pending):
                found = out[index]
                if isinstance(found, Exception) or item.candidate.id not in self.predictions:
                    continue
                probe, name = owns[index]
                job = stress_job(self.spec, item.candidate, name, self.sample.targets, quality)
                cached = self.ledger.cached(job)
                if cached is not None:
                    found.update(self.ledger.reuse(cached))
                    continue
                self.step(item.candidate.id, "stress slices")
                try:
                    calls = slices.work(item, probe, Path(folder))
                except StoreError:
                    raise
                except Exception as error:  # the candidate stands; its stress slices do not
                    found.update({m.name: m for m in stress_failed(job.names, job.settings, error)})
                    continue
                work += [(len(todo), number, call) for number, call in calls]
                todo.append((index, job))

        def finished(position: int, folds: dict[Any, Any]) -> None:
            index, job = todo[position]
            out[index].update(slices.save(job, folds))  # type: ignore[union-attr]

        pooled(work, self.threads or usable_cores(), finished)

    def _save_curve(self, job: Job, points: CurvePoints) -> dict[str, Measurement]:
        found = curve_measurements(
            points,
            self.sample.task,
            self.rows_in_data,
            self.spec.predict_rows,
            job.settings,
            self.spec.seed,
        )
        return self.ledger.save_curve(job, found, points.pack())

    def _own_probe(self, item: Pending) -> tuple[Any, str]:
        """The encoder whose own probe model replaces the linear probe (a backend without
        dense features: the baseline's model on term counts), or None; and the probe's name."""
        backend = backend_of(item.candidate)
        task = self.sample.task
        if backend.dense_features:
            return None, LINEAR_PROBES[task]
        options = LoadOptions(seed=self.spec.seed, task=task)
        encoder = backend.load(item.candidate, item.meta, options)
        return encoder, encoder.probe_name

    def _items(self, candidate: Candidate) -> list[Any]:
        """What ``candidate``'s encoder reads: the sample's inputs, or what its backend takes
        from the sample instead (``Backend.items``: the columns baseline's columns)."""
        read = backend_of(candidate).items
        return self.sample.inputs.items if read is None else read(self.sample)

    def _probe_job(self, item: Pending, probe: Any) -> ProbeJob:
        """The cross-validation of the task's linear probe on the features, or of ``probe``'s
        own model on its own inputs (the baseline's texts counted once for all folds)."""
        seed, sample = self.spec.seed, self.sample
        if probe is None:
            inputs, make_model = item.features, partial(PROBES[sample.task].linear_probe, seed)
        else:
            inputs = probe.probe_inputs(self._items(item.candidate))
            make_model = partial(probe.probe_model, seed)
        return ProbeJob(make_model, inputs, sample.targets, self.spec.folds, seed, sample.slices)

    def transferability(
        self, candidate: Candidate, features: np.ndarray, probs: np.ndarray | None
    ) -> dict[str, Measurement]:
        """Every configured estimator on the features (or the head's probabilities), on
        nested subsamples of 25%, 50% and 100% so the report can tell whether it settled."""
        targets = self.sample.targets
        fitted = targets.fit_targets()
        subsamples = nested_subsamples(targets.stratify_key(), STABILITY_FRACTIONS, self.spec.seed)
        out = {}
        for name in self.spec.estimators:
            if name in self.estimators_skipped:
                continue
            estimator = ESTIMATORS[name]
            head = estimator.needs == "source_probs"
            if head and probs is None:
                continue
            job = estimator_job(self.spec, candidate, name, targets)
            cached = self.ledger.cached(job)
            if cached is not None:
                out.update(self.ledger.reuse(cached))
                continue
            self.step(candidate.id, name)
            form = estimator.form(targets.task)
            inputs = probs if head else features.astype(np.float64)
            found = estimate(name, form, inputs, fitted, subsamples, job.settings)
            out.update(self.ledger.save(candidate, [found]))
        return out

    # -- one candidate ---------------------------------------------------------------------------
    def start(self, candidate: Candidate) -> Outcome | Pending:
        """Metadata, constraints and the model pass: a rejected or failed ``Outcome``, or a
        candidate waiting for its probe."""
        try:
            meta = describe(candidate)
        except Exception as error:  # unreadable metadata fails this candidate only
            return self.failed(candidate, ModelMeta(), error, "metadata: ")
        reason = check_meta(
            meta,
            self._checkable(candidate),
            is_baseline=candidate.source == "baseline",  # no weights: nothing to license
            modality=self.sample.modality,
        )
        if reason is None and not candidate.downloaded:
            try:
                candidate, meta, reason = self.download(candidate, meta)
            except Exception as error:  # refused before downloading, or the download failed
                return self.failed(candidate, meta, error)
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
            return self.failed(candidate, meta, error)
        return Pending(candidate, meta, measurements, features, probs, clock)

    def _checkable(self, candidate: Candidate) -> Constraints:
        """The requirements the metadata at hand can answer: before a Hub model is downloaded,
        the size of its layers variant is unknown, so max_params waits for its files."""
        layers_variant = any(variant.kind == "layers" for variant in candidate.variants)
        if candidate.downloaded or not layers_variant:
            return self.spec.constraints
        return self.spec.constraints.model_copy(update={"max_params": None})

    def download(
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
        return candidate, meta, check_meta(meta, spec.constraints, modality=self.sample.modality)

    def finish(self, item: Pending, probed: dict[str, Measurement] | Exception) -> Outcome:
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
            return self.failed(candidate, item.meta, error)
        return Outcome(candidate, item.meta, "measured", None, measurements)

    def failed(
        self, candidate: Candidate, meta: ModelMeta, error: BaseException, prefix: str = ""
    ) -> Outcome:
        """A failed outcome: the reason in one line, the full traceback in a log file."""
        log = write_failure_log(self.spec.output, candidate.id, error)
        where = f"; traceback in {self.spec.output / log}" if log else ""
        logger.warning("%s failed: %s%s", candidate.id, one_line(error), where)
        return Outcome(candidate, meta, "failed", prefix + one_line(error), log=log)


class StressSlices:
    """The stress slices of one run: the stress rows, their perturbations (made once, when a
    candidate first needs them), the folds and the rare classes, shared by every candidate."""

    def __init__(self, runner: Runner) -> None:
        spec, sample = runner.spec, runner.sample
        assert spec.stress is not None
        self.runner, self.perturbations = runner, spec.stress.perturbations
        self.quality = metrics.quality_metric(sample.task, spec.quality_metric)
        self.rows = stress_rows(sample.targets.stratify_key(), spec.stress.rows, spec.seed)
        self.rare, self.rare_entry = rare_groups(sample.targets)
        clean = ProbeJob(lambda: None, [], sample.targets, spec.folds, spec.seed)
        self.splits = PROBES[sample.task].splits(clean)
        self.truth = scored_truth(sample.targets)[self.rows]
        self._own: list[list[Any]] | None = None  # the data's own inputs perturbed

    def perturbed(self, items: list[Any], folder: Path) -> list[list[Any]]:
        """Per perturbation, the stress rows of ``items`` perturbed: texts, or PNG files
        written under ``folder``; the same for every candidate that reads the data's own
        inputs (made once)."""
        own = items == self.runner.sample.inputs.items
        if own and self._own is not None:
            return self._own
        chosen, seed = [items[i] for i in self.rows], self.runner.spec.seed
        if self.runner.sample.modality == "image":
            made = perturbed_images(chosen, self.perturbations, seed, folder, self.rows)
        else:
            made = perturbed_texts(chosen, self.perturbations, seed, self.rows)
        if own:
            self._own = made
        return made

    def work(self, item: Pending, probe: Any, folder: Path) -> list[tuple[int, Any]]:
        """The fold calls of ``item``'s stress pass (``measure.stress.stress_work``) on its
        probe's inputs with the perturbed rows appended: its features of them (encoded, or
        from the store), or a baseline's own inputs of the perturbed texts."""
        runner, sample = self.runner, self.runner.sample
        backend = backend_of(item.candidate)
        if backend.items is not None:
            raise ValueError("it reads the table's columns, which no perturbation changes")
        items = runner._items(item.candidate)
        if probe is None:
            perturbed = self.features(item, items, folder)
            inputs = augmented(item.features, perturbed)
            make_model = partial(PROBES[sample.task].linear_probe, runner.spec.seed)
        else:
            perturbed = self.perturbed(items, folder)
            inputs = probe.probe_inputs(augmented(items, perturbed))
            make_model = partial(probe.probe_model, runner.spec.seed)
        spec = runner.spec
        job = ProbeJob(make_model, inputs, sample.targets, spec.folds, spec.seed)
        return stress_work(job, self.splits, self.rows, len(self.perturbations))

    def features(self, item: Pending, items: list[Any], folder: Path) -> list[np.ndarray]:
        """``item``'s features of every perturbation's stress rows, (R, D) each: from the
        store, or encoded by its own process (``executor.encode``) and stored."""
        runner, spec = self.runner, self.runner.spec
        found = item.measurements.get(metrics.FEATURE_LAYER)
        layer = encode_layer(spec.feature_layer, None if found is None else found.detail)
        version = stress_features_version(spec, layer)
        features = runner.ledger.features(item.candidate, version)
        if features is None:
            runner.step(item.candidate.id, "encoding the stress rows")
            job = EncodeJob(
                item.candidate,
                item.meta,
                [x for rows in self.perturbed(items, folder) for x in rows],
                spec.batch_size,
                fit_items=items,
                fit_labels=runner.sample.targets.fit_targets(),
                task=runner.sample.task,
                seed=spec.seed,
                allow_pickle=spec.allow_pickle,
                trust_remote_code=spec.trust_remote_code,
                threads=runner.threads,
                feature_layer=layer,
            )
            features = runner.executor.encode(job).features
            if not np.isfinite(features).all():
                raise ValueError("the model produced NaN or infinite features")
            runner.ledger.save_features(item.candidate, version, features)
        return list(np.split(np.asarray(features), len(self.perturbations)))

    def save(self, job: Job, folds: dict[Any, Any]) -> dict[str, Measurement]:
        """The stress measurements of one candidate from its folds' predictions, stored; or,
        where they fail, the measurements without a value saying why (not stored)."""
        try:
            predictions = stress_predictions(folds, self.splits, self.rows, len(self.perturbations))
            task, seed = self.runner.sample.task, self.runner.spec.seed
            found = score_slices(
                task, self.quality, self.truth, predictions, self.perturbations, self.rare, seed
            )
            measurements = stress_measurements(
                found, self.quality, len(self.rows), self.rare_entry, job.settings
            )
            if len(measurements) < len(job.names):
                measurements.append(no_rare_rows(job.settings, self.rare_entry))
        except Exception as error:
            return {m.name: m for m in stress_failed(job.names, job.settings, error)}
        return self.runner.ledger.save(job.candidate, measurements)


def skipped_estimators(names: list[str], task: str) -> dict[str, str]:
    """The estimators among ``names`` that have no form for ``task``, each with why."""
    skipped = {}
    for name in names:
        estimator = ESTIMATORS[name]
        if estimator.form(task) is None:
            served = ", ".join(estimator.tasks)
            skipped[name] = f"no {task} form; it serves {served}"
    return skipped


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
