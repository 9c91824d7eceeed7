"""Latency, throughput, memory and load time, measured on the user's own inputs.

Everything here times real calls of the candidate on this machine; nothing is estimated.
Each candidate is measured in a process of its own (forked from a server process that has
already imported torch and transformers), so one candidate's memory and threads never touch
another's. Memory is the peak resident set size (RSS) of that process above its level when
it started, sampled every 10 ms.
"""

from __future__ import annotations

import os
import platform
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import psutil


def machine() -> dict[str, object]:
    """What the timings depend on: CPU model, core count, platform (threads and device are
    recorded by each candidate's own process, with its numbers)."""
    return {"cpu": _cpu_name(), "cores": os.cpu_count(), "platform": platform.platform(terse=True)}


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


class MemoryWatch:
    """Peak RSS of this process above its level at entry, sampled in a thread."""

    def __init__(self, interval_s: float = 0.01) -> None:
        self.interval_s = interval_s
        self._process = psutil.Process()
        self._stop = threading.Event()
        self.start_bytes = 0
        self.peak_bytes = 0

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.peak_bytes = max(self.peak_bytes, self._process.memory_info().rss)

    def __enter__(self) -> MemoryWatch:
        self.start_bytes = self.peak_bytes = self._process.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_bytes = max(self.peak_bytes, self._process.memory_info().rss)

    @property
    def peak_mb(self) -> float:
        return (self.peak_bytes - self.start_bytes) / 2**20


@dataclass
class Latency:
    p50_ms: float
    p95_ms: float
    p99_ms: float
    runs: int
    p50_ci_relative: float  # half-width of the 95% CI of the median, relative to it
    samples_ms: list[float]  # every timed run, in order


def median_ci_relative(samples: np.ndarray) -> float:
    """Half-width of the distribution-free 95% CI of the median, relative to the median.

    The CI is given by the order statistics at ranks n/2 -+ 1.96 sqrt(n)/2 (binomial normal
    approximation), so it needs no assumption about the shape of the latency distribution.
    """
    n = len(samples)
    ordered = np.sort(samples)
    half = 1.96 * np.sqrt(n) / 2
    low = ordered[max(int(np.floor(n / 2 - half)), 0)]
    high = ordered[min(int(np.ceil(n / 2 + half)), n - 1)]
    median = float(np.median(ordered))
    return float((high - low) / 2 / median) if median > 0 else float("inf")


def measure_latency(
    predict: Callable[[list[str]], object],
    texts: Sequence[str],
    *,
    batch_size: int = 1,
    warmup: int = 3,
    min_runs: int = 100,
    max_runs: int = 1000,
    budget_s: float = 2.0,
    target_ci: float = 0.05,
    seed: int = 0,
) -> Latency:
    """Wall-clock latency of ``predict`` on batches drawn from ``texts``.

    Batches are drawn at random from the user's texts, so their length distribution is
    the data's. After ``warmup`` calls, runs go on until the p50 is stable (relative 95% CI
    under ``target_ci``) with at least ``min_runs`` done, or ``budget_s`` is spent (at least
    20 runs whatever the budget), or ``max_runs`` is reached.
    """
    rng = np.random.default_rng(seed)

    def batch() -> list[str]:
        return [texts[i] for i in rng.integers(0, len(texts), size=batch_size)]

    for _ in range(warmup):
        predict(batch())
    times: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(times) < max_runs:
        inputs = batch()
        start = time.perf_counter()
        predict(inputs)
        times.append(time.perf_counter() - start)
        if len(times) % 10 == 0 and len(times) >= 20:
            stable = len(times) >= min_runs and median_ci_relative(np.asarray(times)) < target_ci
            if stable or time.perf_counter() > deadline:
                break
    return summarize(times)


def summarize(seconds: Sequence[float]) -> Latency:
    """Percentiles, run count, the median's relative CI and every sample, in milliseconds."""
    ms = np.asarray(seconds) * 1000
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    samples = [round(float(t), 4) for t in ms]
    return Latency(float(p50), float(p95), float(p99), len(ms), median_ci_relative(ms), samples)


@dataclass
class PassJob:
    """What a candidate's own process needs for its model pass."""

    candidate: Any  # catalog.candidate.Candidate
    meta: Any  # catalog.meta.ModelMeta
    texts: list[str]
    labels: np.ndarray  # the baseline fits on them; models ignore them
    batch_sizes: tuple[int, ...]
    feature_batch: int
    seed: int = 0
    allow_pickle: bool = False
    trust_remote_code: bool = False
    latency_budget_s: float = 2.0
    onnx: bool = False


@dataclass
class PassResult:
    """Everything measured while the candidate was loaded."""

    features: np.ndarray | None
    load_s: float
    peak_mb: float  # RSS above the process's level at start
    process_peak_mb: float  # absolute RSS peak of the process
    latency: dict[int, Latency]
    throughput: dict[int, float]  # items/s per batch size
    token_lengths: np.ndarray | None = None
    max_length: int | None = None
    threads: int = 1
    device: str = "cpu"
    onnx: dict[str, Any] | None = None  # backends.onnx.check_onnx's findings
    source_probs: np.ndarray | None = None  # (N, K) softmax of a classification head


def _from_batches(seconds: list[float]) -> Latency:
    """Latency percentiles of the full batches of a pass over the data."""
    return summarize(seconds[:-1] if len(seconds) > 1 else seconds)  # the last may be short


def _time_batches(
    predict: Callable[[list[str]], object], job: PassJob, skip: int
) -> tuple[dict[int, Latency], dict[int, float]]:
    latency, throughput = {}, {}
    for size in job.batch_sizes:
        if size == skip:
            continue
        latency[size] = measure_latency(
            predict, job.texts, batch_size=size, seed=job.seed, budget_s=job.latency_budget_s
        )
        throughput[size] = (
            size * len(latency[size].samples_ms) / (sum(latency[size].samples_ms) / 1000)
        )
    return latency, throughput


def run_model_pass(job: PassJob) -> PassResult:
    """Load the candidate, extract features at ``feature_batch``, time every batch size.

    The feature pass doubles as the measurement at ``feature_batch``: each of its batches is
    a latency sample on the user's own texts, and its items/s is the throughput.
    """
    import torch

    from modelscout.backends.baseline import tfidf_classifier
    from modelscout.backends.text import load_text_encoder

    with MemoryWatch() as memory:
        start = time.perf_counter()
        if job.candidate.source == "baseline":
            model = tfidf_classifier(job.seed).fit(job.texts, job.labels)
            encode, features = model.predict, None
            load_s = time.perf_counter() - start
            seconds = []
            for first in range(0, len(job.texts), job.feature_batch):
                batch = job.texts[first : first + job.feature_batch]
                begin = time.perf_counter()
                model.predict(batch)
                seconds.append(time.perf_counter() - begin)
        else:
            model = load_text_encoder(
                job.candidate,
                job.meta,
                allow_pickle=job.allow_pickle,
                trust_remote_code=job.trust_remote_code,
            )
            load_s = time.perf_counter() - start
            features, seconds = model.encode_timed(job.texts, job.feature_batch)

            def encode(batch: list[str]) -> object:
                return model.encode(batch, batch_size=len(batch))

        # The feature pass stands in for timing its batch size only with enough batches.
        from_pass = len(job.texts) // job.feature_batch >= MIN_PASS_BATCHES
        latency, throughput = _time_batches(encode, job, skip=job.feature_batch if from_pass else 0)
    if from_pass and job.feature_batch in job.batch_sizes:
        latency[job.feature_batch] = _from_batches(seconds)
        throughput[job.feature_batch] = len(job.texts) / sum(seconds)
    lengths = None if features is None else model.token_lengths(job.texts)
    onnx = None
    if job.onnx and features is not None:
        from modelscout.backends.onnx import check_onnx

        rows = min(len(job.texts), 64)
        onnx = check_onnx(
            model,
            job.texts[:rows],
            features[:rows],
            torch.get_num_threads(),
            lambda predict: measure_latency(
                predict, job.texts, seed=job.seed, budget_s=job.latency_budget_s
            ),
        )
    return PassResult(
        features=features,
        load_s=load_s,
        peak_mb=memory.peak_mb,
        process_peak_mb=memory.peak_bytes / 2**20,
        latency=dict(sorted(latency.items())),
        throughput=dict(sorted(throughput.items())),
        token_lengths=lengths,
        max_length=None if features is None else model.max_length,
        threads=torch.get_num_threads(),
        device="cpu",
        onnx=onnx,
        source_probs=getattr(model, "source_probs", None),
    )


MIN_PASS_BATCHES = 20
_PRELOAD = ["torch", "transformers", "sentence_transformers", "sklearn.svm"]


def _context() -> Any:
    import multiprocessing

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    return context


def start_server() -> None:
    """Start the fork server (it imports torch and transformers once) ahead of first use."""
    from multiprocessing import forkserver

    _context()
    forkserver.ensure_running()


def run_isolated(job: PassJob) -> PassResult:
    """``run_model_pass`` in a fresh process of its own; its death fails only this candidate."""
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    from modelscout.errors import CandidateError

    with ProcessPoolExecutor(max_workers=1, mp_context=_context()) as pool:
        try:
            return pool.submit(run_model_pass, job).result()
        except BrokenProcessPool:
            raise CandidateError(
                "its measuring process died (out of memory, or a crash in native code)"
            ) from None
