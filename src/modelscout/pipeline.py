"""Runs every candidate through every measurement, reusing what the store already has.

Per candidate: resolve and describe it, check the metadata requirements, then
one model pass (load, features, throughput, latency, input lengths; stored in
one transaction), then the measurements on features (probe, LogME). A
candidate that fails becomes a ``failed`` outcome with its reason; the run
goes on.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from modelscout import __version__
from modelscout.backends.baseline import tfidf_classifier
from modelscout.catalog.candidate import Candidate, describe, resolve_candidate
from modelscout.catalog.constraints import check_meta
from modelscout.catalog.meta import ModelMeta
from modelscout.data import TaskData, load_task_data, stratified_sample
from modelscout.errors import CandidateError, UserError, one_line
from modelscout.measure.hardware import MemoryWatch, machine, measure_latency
from modelscout.measure.probe import cross_validate, linear_probe
from modelscout.spec import Spec
from modelscout.store import Measurement, Store, default_store_path

FEATURES_VERSION = "1"
MODEL_PASS_VERSION = "1"
PROBE_VERSION = "1"
LOGME_VERSION = "1"

Step = Callable[[str, str], None]  # (candidate id, what is being done)


@dataclass
class Outcome:
    """A candidate after the pipeline: measured, rejected on metadata, or failed."""

    candidate: Candidate
    meta: ModelMeta
    status: str  # measured | rejected | failed
    reason: str | None = None
    measurements: dict[str, Measurement] = field(default_factory=dict)

    def value(self, name: str) -> float | None:
        found = self.measurements.get(name)
        return None if found is None else found.value


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
    def __init__(self, spec: Spec, sample: TaskData, store: Store, step: Step) -> None:
        self.spec, self.sample, self.store, self.step = spec, sample, store, step
        self.data_key = sample.fingerprint
        self.machine = machine()
        self.measured = self.reused = 0

    def _cached(
        self, candidate: Candidate, names: list[str], version: str, settings: dict[str, Any]
    ) -> dict[str, Measurement] | None:
        found = {
            n: self.store.get(candidate.key, self.data_key, n, version, settings) for n in names
        }
        if any(m is None for m in found.values()):
            return None
        self.reused += len(found)
        return found

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
    def model_pass(self, candidate: Candidate, meta: ModelMeta) -> tuple[dict, np.ndarray | None]:
        """Features plus everything timed on the same loaded model."""
        settings = {"batch_size": self.spec.batch_size, "machine": self.machine}
        names = [
            "load.seconds",
            "memory.peak_mb",
            f"throughput.items_per_s@{self.spec.batch_size}",
            "latency.p50_ms@1",
            "latency.p95_ms@1",
            "latency.p99_ms@1",
        ]
        if candidate.source != "baseline":
            names.append("length.truncated_fraction")
        cached = self._cached(candidate, names, MODEL_PASS_VERSION, settings)
        features = None
        if candidate.source != "baseline":
            features = self.store.get_features(candidate.key, self.data_key, FEATURES_VERSION)
        if cached is not None and (features is not None or candidate.source == "baseline"):
            return cached, features
        self.step(candidate.id, "loading and encoding")
        if candidate.source == "baseline":
            return self._baseline_pass(candidate, settings), None
        return self._encoder_pass(candidate, meta, settings)

    def _encoder_pass(self, candidate, meta, settings):
        from modelscout.backends.text import load_text_encoder

        texts = self.sample.texts
        with MemoryWatch() as memory:
            start = time.perf_counter()
            encoder = load_text_encoder(
                candidate,
                meta,
                allow_pickle=self.spec.allow_pickle,
                trust_remote_code=self.spec.trust_remote_code,
            )
            load_s = time.perf_counter() - start
            start = time.perf_counter()
            features = encoder.encode(texts, batch_size=self.spec.batch_size)
            encode_s = time.perf_counter() - start
            self.step(candidate.id, "latency at batch 1")
            latency = measure_latency(
                partial(encoder.encode, batch_size=1), texts, seed=self.spec.seed
            )
        lengths = encoder.token_lengths(texts)
        limit = encoder.max_length
        del encoder
        gc.collect()
        if not np.isfinite(features).all():
            raise CandidateError("the model produced NaN or infinite features")
        measurements = self._pass_measurements(settings, load_s, encode_s, memory, latency) + [
            Measurement(
                "length.truncated_fraction",
                float(np.mean(lengths > limit)),
                "fraction",
                None,
                settings,
                detail={
                    "max_input_tokens": limit,
                    "p50_tokens": float(np.percentile(lengths, 50)),
                    "p95_tokens": float(np.percentile(lengths, 95)),
                    "max_tokens": int(lengths.max()),
                },
            ),
        ]
        return self._save(candidate, measurements, features), features

    def _baseline_pass(self, candidate, settings):
        texts, labels = self.sample.texts, self.sample.labels
        with MemoryWatch() as memory:
            start = time.perf_counter()
            model = tfidf_classifier(self.spec.seed).fit(texts, labels)
            fit_s = time.perf_counter() - start
            start = time.perf_counter()
            for first in range(0, len(texts), self.spec.batch_size):
                model.predict(texts[first : first + self.spec.batch_size])
            predict_s = time.perf_counter() - start
            latency = measure_latency(model.predict, texts, seed=self.spec.seed)
        measurements = self._pass_measurements(settings, fit_s, predict_s, memory, latency)
        measurements[0].detail = {"what": "fit on the sample (the baseline trains, nothing loads)"}
        return self._save(candidate, measurements)

    def _pass_measurements(self, settings, load_s, encode_s, memory, latency) -> list[Measurement]:
        n = len(self.sample)
        batch = self.spec.batch_size
        return [
            Measurement("load.seconds", load_s, "s", None, settings, load_s),
            Measurement("memory.peak_mb", memory.peak_mb, "MB", None, settings),
            Measurement(
                f"throughput.items_per_s@{batch}",
                n / encode_s,
                "items/s",
                None,
                settings,
                encode_s,
                detail={"items": n},
            ),
            Measurement(
                "latency.p50_ms@1",
                latency.p50_ms,
                "ms",
                None,
                settings,
                detail={"runs": latency.runs},
            ),
            Measurement(
                "latency.p95_ms@1",
                latency.p95_ms,
                "ms",
                None,
                settings,
                detail={"runs": latency.runs},
            ),
            Measurement(
                "latency.p99_ms@1",
                latency.p99_ms,
                "ms",
                None,
                settings,
                detail={"runs": latency.runs},
            ),
        ]

    # -- measurements on features -----------------------------------------------------------
    def probe(self, candidate: Candidate, features: np.ndarray | None) -> dict[str, Measurement]:
        baseline = candidate.source == "baseline"
        settings = {
            "folds": self.spec.folds,
            "seed": self.spec.seed,
            "model": "tfidf-linear-svm" if baseline else "standardize-logreg-C1",
        }
        names = ["probe.accuracy", "probe.macro_f1", "probe.breakdown"]
        cached = self._cached(candidate, names, PROBE_VERSION, settings)
        if cached is not None:
            return cached
        self.step(candidate.id, f"{self.spec.folds}-fold probe")
        start = time.perf_counter()
        result = cross_validate(
            (lambda: tfidf_classifier(self.spec.seed))
            if baseline
            else (lambda: linear_probe(self.spec.seed)),
            self.sample.texts if baseline else features,
            self.sample.labels,
            classes=self.sample.classes,
            folds=self.spec.folds,
            seed=self.spec.seed,
            slices=self.sample.slices,
        )
        seconds = time.perf_counter() - start
        worst = min(result.per_class_f1, key=result.per_class_f1.get)
        return self._save(
            candidate,
            [
                Measurement(
                    "probe.accuracy",
                    result.accuracy,
                    "fraction",
                    result.accuracy_std,
                    settings,
                    seconds,
                ),
                Measurement(
                    "probe.macro_f1",
                    result.macro_f1,
                    "fraction",
                    result.macro_f1_std,
                    settings,
                    seconds,
                ),
                Measurement(
                    "probe.breakdown",
                    result.per_class_f1[worst],
                    "fraction",
                    None,
                    settings,
                    seconds,
                    detail={
                        "worst_class": worst,
                        "per_class_f1": result.per_class_f1,
                        "per_slice_f1": result.per_slice_f1,
                    },
                ),
            ],
        )

    def logme(self, candidate: Candidate, features: np.ndarray) -> dict[str, Measurement]:
        from modelscout.measure.transferability import logme

        settings = {"solver": "fixed_point"}
        cached = self._cached(candidate, ["logme"], LOGME_VERSION, settings)
        if cached is not None:
            return cached
        self.step(candidate.id, "LogME")
        start = time.perf_counter()
        value = logme(features.astype(np.float64), self.sample.labels)
        return self._save(
            candidate,
            [
                Measurement(
                    "logme", value, "evidence/sample", None, settings, time.perf_counter() - start
                )
            ],
        )

    # -- one candidate ---------------------------------------------------------------------------
    def run_candidate(self, candidate: Candidate) -> Outcome:
        try:
            meta = describe(candidate)
        except Exception as error:  # unreadable metadata fails this candidate only
            return Outcome(candidate, ModelMeta(), "failed", f"metadata: {one_line(error)}")
        reason = check_meta(meta, self.spec.constraints, is_baseline=candidate.source == "baseline")
        if reason:
            return Outcome(candidate, meta, "rejected", reason)
        try:
            measurements, features = self.model_pass(candidate, meta)
            measurements = dict(measurements)
            measurements.update(self.probe(candidate, features))
            if features is not None:
                measurements.update(self.logme(candidate, features))
        except Exception as error:
            return Outcome(candidate, meta, "failed", one_line(error))
        return Outcome(candidate, meta, "measured", None, measurements)


@dataclass
class Prepared:
    """Everything checked before any model is touched: bad input fails here, fast."""

    data: TaskData
    sample: TaskData
    candidates: list[Candidate]


def prepare(spec: Spec) -> Prepared:
    """Load and check the data, draw the sample, resolve every candidate."""
    data = load_task_data(
        spec.data,
        spec.text_column,
        spec.label_column,
        spec.slice_columns,
        min_rows_per_class=spec.folds,
    )
    sample = stratified_sample(data, spec.max_samples, spec.seed, min_per_class=spec.folds)
    candidates = [
        resolve_candidate(c, allow_pickle=spec.allow_pickle) for c in spec.all_candidates()
    ]
    if not candidates:
        raise UserError("no candidates: pass --candidate, or keep the TF-IDF baseline")
    return Prepared(data, sample, candidates)


def run(
    spec: Spec,
    *,
    prepared: Prepared | None = None,
    step: Step | None = None,
    on_candidate: Callable[[Outcome], None] | None = None,
) -> RunResult:
    """Measure every candidate of ``spec`` on its data; bad input raises ``UserError``."""
    started = time.perf_counter()
    prepared = prepared or prepare(spec)
    with Store(spec.store or default_store_path()) as store:
        runner = _Runner(spec, prepared.sample, store, step or (lambda *_: None))
        outcomes = []
        for candidate in prepared.candidates:
            outcome = runner.run_candidate(candidate)
            outcomes.append(outcome)
            if on_candidate:
                on_candidate(outcome)
    return RunResult(
        spec,
        prepared.data,
        prepared.sample,
        outcomes,
        environment(),
        runner.measured,
        runner.reused,
        time.perf_counter() - started,
    )
