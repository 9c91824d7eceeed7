"""The model pass: in a candidate's own process, load its encoder through the backend registry,
extract its features, time every batch size, and run the ONNX and GPU checks on the same
loaded model; then the measurements that pass gives, named by batch size.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modelscout import metrics
from modelscout.backends import backend_of
from modelscout.backends.base import Backend, LoadOptions
from modelscout.backends.onnx import Int8Files, int8_files
from modelscout.measure.device import Precisions, gpu_precisions, measure_precisions
from modelscout.measure.layers import LAST, layer_features, layer_measurement
from modelscout.measure.memory import MemoryWatch
from modelscout.measure.onnx import onnx_check, onnx_measurements
from modelscout.measure.timing import (
    RETRIES,
    ConditionsWatch,
    Latency,
    Stages,
    from_batches,
    stage_measurements,
    time_batches,
    time_stages,
    timing_measurements,
)
from modelscout.records import Candidate, Measurement, ModelMeta, Task

CHECK_ROWS = 64  # rows on which an exported or converted model's features are compared
MIN_PASS_BATCHES = 20


@dataclass
class PassJob:
    """What a candidate's own process needs for its model pass."""

    candidate: Candidate
    meta: ModelMeta
    items: list[Any]  # the sample's inputs: texts, or image file paths
    # an encoder that is trained (``fit``) fits on them (Targets.fit_targets()); others ignore
    # them
    labels: np.ndarray
    batch_sizes: tuple[int, ...]
    feature_batch: int
    seed: int = 0
    allow_pickle: bool = False
    trust_remote_code: bool = False
    latency_budget_s: float = 2.0
    onnx: bool = False
    gpu: dict[str, Any] | None = None  # find_gpu()'s device to measure on too; None: CPU only
    artifacts: str | None = None  # folder to keep the exported ONNX / int8 models in, if any
    threads: int | None = None  # torch/BLAS threads to measure with; None: torch's default
    features: np.ndarray | None = None  # stored features: the pass only times (and compares)
    retries: int = RETRIES  # re-measurements of a timing the machine disturbed
    # batch size -> reliable runs (ms) of a stored timing that did not settle: continued
    prior_ms: dict[int, list[float]] = field(default_factory=dict)
    task: Task = "classification"  # what ``labels`` are: class ids, numbers, label indicators
    feature_layer: str = "last"  # measure/layers.py: last, mean or best


@dataclass
class PassResult:
    """Everything measured while the candidate was loaded."""

    features: np.ndarray | None
    load_s: float
    peak_mb: float  # RSS above the process's level at start
    process_peak_mb: float  # absolute RSS peak of the process
    latency: dict[int, Latency]
    throughput: dict[int, float]  # items/s per batch size
    stages: dict[int, Stages] = field(default_factory=dict)  # preprocess and forward apart
    token_lengths: np.ndarray | None = None
    max_length: int | None = None
    threads: int = 1
    device: str = "cpu"
    onnx: dict[str, Any] | None = None  # backends.onnx.check_onnx's findings
    source_probs: np.ndarray | None = None  # (N, K) softmax of a classification head
    gpu: Precisions | None = None  # the same model on the CUDA device, when job.gpu names one
    artifacts: dict[str, str] | None = None  # kind ("onnx", "int8") -> path of a kept model file
    pooling: str | None = None  # how the encoder pools its outputs into one vector, if it says
    layer: dict[str, Any] | None = None  # measure/layers.py: which layer's features, and why


def run_model_pass(job: PassJob) -> PassResult:
    """``_model_pass`` with torch and the BLAS libraries held to ``job.threads`` threads."""
    import torch
    from threadpoolctl import threadpool_limits

    if job.threads is not None:
        torch.set_num_threads(job.threads)
    with threadpool_limits(job.threads):  # None limits nothing
        return _model_pass(job)


def _model_pass(job: PassJob) -> PassResult:
    """Load the candidate, extract features at ``feature_batch``, time every batch size.

    The feature pass doubles as the measurement at ``feature_batch``: each of its batches is
    a latency sample on the user's own inputs, and its items/s is the throughput (unless the
    machine disturbed it: that batch size is then timed again like the others). Given
    ``job.features`` (stored ones), there is no feature pass: every batch size is timed.
    """
    import torch

    threads = torch.get_num_threads()
    keep = None if job.artifacts is None else Path(job.artifacts)
    backend = backend_of(job.candidate)
    int8 = _int8_files(job, backend, keep)
    kept = {} if int8 is None else dict(int8.kept)
    with MemoryWatch() as memory:
        loaded = _load_and_encode(job, backend, int8, threads)
        from_pass = _feature_pass_timing(job, loaded, threads)
        latency, throughput = time_batches(
            loaded.predict,
            job.items,
            [s for s in job.batch_sizes if not (from_pass and s == job.feature_batch)],
            seed=job.seed,
            budget_s=job.latency_budget_s,
            threads=threads,
            retries=job.retries,
            prior_ms=job.prior_ms,
        )
        stages = time_stages(
            loaded.encoder, job.items, job.batch_sizes, seed=job.seed, budget_s=job.latency_budget_s
        )
    if from_pass:
        latency[job.feature_batch] = from_pass
        throughput[job.feature_batch] = len(job.items) / sum(loaded.seconds)
    result = PassResult(
        features=loaded.features,
        load_s=loaded.load_s,
        peak_mb=memory.peak_mb,
        process_peak_mb=memory.peak_bytes / 2**20,
        latency=dict(sorted(latency.items())),
        throughput=dict(sorted(throughput.items())),
        stages=stages,
        threads=threads,
        source_probs=loaded.source_probs,
        pooling=getattr(loaded.encoder, "pooling", None),
    )
    _checks(job, loaded, result, keep, kept)
    if job.feature_layer != LAST and result.features is not None:
        # after the checks: ONNX and the GPU are compared with the model's own output
        chosen, result.layer = layer_features(
            loaded.encoder, job.items, job.feature_batch, job.feature_layer, job.labels, job.task
        )
        if chosen is not None:
            result.features = chosen
    return result


def _checks(
    job: PassJob, loaded: _Loaded, result: PassResult, keep: Path | None, kept: dict[str, str]
) -> None:
    """What the same loaded encoder says besides its timings: its input lengths against its
    limit, the ONNX check and the GPU pass (both on the first CHECK_ROWS features)."""
    encoder, features = loaded.encoder, loaded.features
    if features is None:  # no features (a fitted baseline): nothing to compare with
        return
    if hasattr(encoder, "input_lengths"):
        result.token_lengths = encoder.input_lengths(job.items)
        result.max_length = encoder.max_length
    rows = min(len(job.items), CHECK_ROWS)
    if job.onnx:
        timing = {"retries": job.retries, "seed": job.seed, "budget_s": job.latency_budget_s}
        result.onnx = onnx_check(encoder, job.items, features[:rows], result.threads, keep, timing)
        if "path" in result.onnx:
            kept["onnx"] = result.onnx["path"]
    if job.gpu is not None:
        result.gpu = _gpu_check(job, encoder, features[:rows])
    result.artifacts = kept or None


def _int8_files(job: PassJob, backend: Backend, keep: Path | None) -> Int8Files | None:
    """An int8 variant exported and quantized (it runs in ONNX Runtime), before memory and
    load time are watched: what they measure is loading and serving the int8 model, as a
    deployment would, not converting it. None for a candidate that is no int8 variant."""
    if not any(variant.kind == "int8" for variant in job.candidate.variants):
        return None
    files = int8_files(backend.load(job.candidate, job.meta, _options(job)), keep)
    gc.collect()  # the PyTorch model, gone
    return files


@dataclass
class _Loaded:
    """A loaded candidate and its feature pass: what the timings after it start from."""

    encoder: Any  # an Encoder (backends/base.py)
    predict: Callable[[list[Any]], object]
    features: np.ndarray | None  # None for a backend without dense features (the baseline)
    load_s: float
    seconds: list[float]  # each feature-pass batch; empty when the features were stored
    conditions: dict[str, float]  # the machine during the feature pass
    source_probs: np.ndarray | None = None  # (N, K) of a source classification head


def _options(job: PassJob) -> LoadOptions:
    return LoadOptions(job.allow_pickle, job.trust_remote_code, job.seed, job.threads, job.task)


def _load_and_encode(job: PassJob, backend: Backend, int8: Any, threads: int) -> _Loaded:
    """Load the candidate (and train it on the sample, where its encoder is trained: ``fit``)
    and run its feature pass, batch by batch."""
    start = time.perf_counter()
    encoder = (
        int8.load(threads)
        if int8 is not None
        else backend.load(job.candidate, job.meta, _options(job))
    )
    if hasattr(encoder, "fit"):
        encoder.fit(job.items, job.labels)
    load_s = time.perf_counter() - start

    # Each forward of a classification head appends its batch's source probabilities: kept
    # from the feature pass, dropped while timing (they would pile up and be copied each call).
    forget = getattr(encoder, "reset_source_probs", lambda: None)

    def predict(batch: list[Any]) -> object:
        forget()
        return encoder.forward(encoder.preprocess(batch))

    if not backend.dense_features:  # only timed: its outputs are no features
        with ConditionsWatch() as watch:
            _, seconds = _encode_timed(encoder, job.items, job.feature_batch)
        return _Loaded(encoder, predict, None, load_s, seconds, watch.conditions)
    if job.features is not None:
        return _Loaded(encoder, predict, job.features, load_s, [], {})
    forget()
    with ConditionsWatch() as watch:
        features, seconds = _encode_timed(encoder, job.items, job.feature_batch)
    probs = getattr(encoder, "source_probs", None)
    return _Loaded(encoder, predict, features, load_s, seconds, watch.conditions, probs)


def _encode_timed(
    encoder: Any, items: list[Any], batch_size: int
) -> tuple[np.ndarray, list[float]]:
    """(N, D) features of ``items`` and the wall-clock seconds of each batch: the encoder's
    own ``encode_timed`` where it has one (text encoders batch longest first), else its
    ``preprocess`` and ``forward`` on consecutive batches."""
    if hasattr(encoder, "encode_timed"):
        return encoder.encode_timed(items, batch_size)
    parts, seconds = [], []
    for first in range(0, len(items), batch_size):
        begin = time.perf_counter()
        parts.append(
            np.asarray(encoder.forward(encoder.preprocess(items[first : first + batch_size])))
        )
        seconds.append(time.perf_counter() - begin)
    return np.concatenate(parts).astype(np.float32, copy=False), seconds


def _feature_pass_timing(job: PassJob, loaded: _Loaded, threads: int) -> Latency | None:
    """The feature pass as the timing of its batch size: only with enough full batches, and
    only when the machine left it alone; else None (that batch size is timed like the rest)."""
    full_batches = len(job.items) // job.feature_batch
    if not loaded.seconds or full_batches < MIN_PASS_BATCHES:
        return None
    if job.feature_batch not in job.batch_sizes:
        return None
    timing = from_batches(loaded.seconds, loaded.conditions, threads)
    return timing if timing.reliable else None


def _gpu_check(job: PassJob, model: Any, features: np.ndarray) -> Precisions:
    """The same model on ``job.gpu`` at each precision, compared with the CPU ``features``."""
    return measure_precisions(
        model,
        job.items,
        features,
        device=job.gpu["device"],
        precisions=gpu_precisions(job.gpu),
        batch_sizes=job.batch_sizes,
        seed=job.seed,
        budget_s=job.latency_budget_s,
    )


def pass_measurements(result: PassResult, settings: dict[str, Any], rows: int) -> list[Measurement]:
    """The measurements of one model pass, named by batch size."""
    process = {"threads": result.threads, "device": result.device}
    kept = {"artifacts": result.artifacts} if result.artifacts else {}
    if result.pooling is not None:  # said with the load: part of what was loaded
        kept["pooling"] = result.pooling
    out = [
        Measurement(
            metrics.LOAD_SECONDS,
            result.load_s,
            "s",
            None,
            settings,
            result.load_s,
            detail={**process, **kept},
        ),
        Measurement(
            metrics.PEAK_MEMORY,
            result.peak_mb,
            "MB",
            None,
            settings,
            detail={**process, "process_peak_mb": result.process_peak_mb},
        ),
    ]
    out += timing_measurements("", result.latency, result.throughput, settings, process)
    out += stage_measurements(result.stages, settings, process)
    out += _truncation(result, settings, rows)
    if result.onnx is not None:
        out += onnx_measurements(result.onnx, settings)
    if result.layer is not None:
        out.append(layer_measurement(result.layer, settings))
    return out


def _truncation(result: PassResult, settings: dict[str, Any], rows: int) -> list[Measurement]:
    """The share of inputs cut at the encoder's limit, for an encoder with features; one that
    cuts nothing (no ``input_lengths``: images, resized whole) stores it unmeasured, with why,
    so that the pass's stored measurements are complete either way."""
    if result.features is None:
        return []
    name = metrics.TRUNCATED
    lengths = result.token_lengths
    if lengths is None:
        reason = "not measured: the encoder cuts no inputs (it has no input_lengths)"
        return [Measurement(name, None, "fraction", None, settings, detail={"reason": reason})]
    detail = {
        "max_input_tokens": result.max_length,
        "rows": rows,
        "p50_tokens": float(np.percentile(lengths, 50)),
        "p95_tokens": float(np.percentile(lengths, 95)),
        "max_tokens": int(lengths.max()),
    }
    value = float(np.mean(lengths > result.max_length))
    return [Measurement(name, value, "fraction", None, settings, detail=detail)]
