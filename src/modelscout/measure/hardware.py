"""Latency, throughput, memory and load time, measured on the user's own inputs.

Everything here times real calls of the candidate on this machine; nothing is estimated.
Each candidate is measured in a process of its own (forked from a server process that has
already imported torch and transformers), so one candidate's memory and threads never touch
another's. Memory is the peak resident set size (RSS) of that process above its level when
it started, sampled every 10 ms.

Where a CUDA device is found, the same process then measures the model there too, at fp32,
fp16 and (where the device computes it natively) bf16, and compares each precision's features
with the CPU fp32 ones.
"""

from __future__ import annotations

import copy
import gc
import logging
import os
import platform
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from modelscout.errors import one_line
from modelscout.measure.lifetime import MAIN_PID_VARIABLE, die_with

logger = logging.getLogger(__name__)


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


TARGET_CI = 0.05  # a timing is settled once its median's relative 95% CI half-width is below
ROUNDS = 5  # timed runs are split into this many rounds, whose medians should agree
# Fewer runs a round and the medians of random batches differ by chance: at batch 32, 20 runs
# of MiniLM on a quiet machine gave round medians 80% apart.
MIN_ROUND_RUNS = 10
# What makes a timing unreliable (docs/decisions.md, "Timings on a busy machine"):
MIN_CPU_PER_WALL = 0.75  # CPU seconds the process got per wall second of the timed runs
MAX_ROUND_SPREAD = 0.30  # (highest - lowest round median) / overall median
SPARE_CORES = 0.5  # other processes' load allowed above the cores our threads leave free
RETRIES = 2  # re-measurements of an unreliable timing
RETRY_WAIT_S = 1.0  # pause before each, for a burst of other work to pass


@dataclass
class Latency:
    p50_ms: float
    p95_ms: float
    p99_ms: float
    runs: int
    p50_ci_relative: float  # half-width of the 95% CI of the median, relative to it
    samples_ms: list[float]  # every timed run, in order
    p95_ci_ms: tuple[float, float | None] = (0.0, None)  # 95% CI of the p95; None: unbounded
    round_spread: float | None = None  # None: too few runs, or not in random order (data pass)
    reliable: bool = True
    unreliable_reasons: list[str] = field(default_factory=list)
    conditions: dict[str, float] = field(default_factory=dict)  # cpu_per_wall, others_load...
    attempts: int = 1


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. a container's cpuset)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


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


def quantile_ci(
    samples: Sequence[float], q: float, confidence: float = 0.95
) -> tuple[float, float | None]:
    r"""Distribution-free confidence interval of the ``q`` quantile, from order statistics.

    The count B of samples below the true quantile is Binomial(n, q) whatever the latency
    distribution, so with :math:`l = F^{-1}_B(\alpha/2)` and :math:`u = F^{-1}_B(1-\alpha/2)+1`
    the order statistics :math:`(X_{(l)}, X_{(u)})` (1-based) cover it with probability at
    least ``confidence`` (Conover, *Practical Nonparametric Statistics*, 3.2). The upper end
    is None when n is too small to bound it (u > n: e.g. fewer than 72 runs for the p95).

    Shape:
        samples: (N,)
    """
    from scipy.stats import binom  # here, not at the top: the CLI's start needs no SciPy

    ordered = np.sort(np.asarray(samples, dtype=np.float64))
    n, alpha = len(ordered), 1 - confidence
    low_rank = max(int(binom.ppf(alpha / 2, n, q)), 1)
    high_rank = int(binom.ppf(1 - alpha / 2, n, q)) + 1
    high = float(ordered[high_rank - 1]) if high_rank <= n else None
    return float(ordered[low_rank - 1]), high


def round_spread(samples: Sequence[float], rounds: int = ROUNDS) -> float:
    """(highest - lowest) median of ``rounds`` consecutive slices of the runs, over the
    median of all: a burst of other work slows one round, not the others."""
    medians = [float(np.median(part)) for part in np.array_split(np.asarray(samples), rounds)]
    overall = float(np.median(samples))
    return (max(medians) - min(medians)) / overall if overall > 0 else 0.0


def _busy_cpu_seconds(cpus: set[int]) -> float:
    """CPU seconds spent on anything but idle on ``cpus`` since boot, all processes.

    Linux counts guest time inside user time already, so it is left out here."""
    left_out = {"idle", "iowait", "guest", "guest_nice"}
    busy = 0.0
    for index, times in enumerate(psutil.cpu_times(percpu=True)):
        if index in cpus:
            busy += sum(v for k, v in times._asdict().items() if k not in left_out)
    return busy


class ConditionsWatch:
    """What else happened on the machine while timing: the CPU time this process got per
    wall second, and how many of its cores other processes kept busy on average."""

    def __enter__(self) -> ConditionsWatch:
        cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
        self._cpus = set(cores) if cores else set(range(psutil.cpu_count() or 1))
        self._busy = _busy_cpu_seconds(self._cpus)
        self._cpu = time.process_time()
        self._wall = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = max(time.perf_counter() - self._wall, 1e-9)
        own = time.process_time() - self._cpu
        busy = _busy_cpu_seconds(self._cpus) - self._busy
        self.conditions = {
            "cpu_per_wall": own / wall,
            "others_load": max(busy - own, 0.0) / wall,  # in cores
            "cores": len(self._cpus),
        }


def judge(latency: Latency, conditions: dict[str, float], threads: int, cpu_bound: bool) -> None:
    """Mark ``latency`` unreliable, with the figures, when the machine disturbed it.

    ``cpu_bound``: the timed call computes on this process's CPU threads (not a GPU's wait),
    so getting less CPU than wall time means it was descheduled."""
    reasons = []
    ratio, others, cores = (conditions[k] for k in ("cpu_per_wall", "others_load", "cores"))
    if cpu_bound and ratio < MIN_CPU_PER_WALL:
        reasons.append(
            f"the process ran {ratio:.2f} CPU s per wall s (under {MIN_CPU_PER_WALL}: "
            "it waited for a core)"
        )
    if latency.round_spread is not None and latency.round_spread > MAX_ROUND_SPREAD:
        reasons.append(
            f"the medians of {ROUNDS} rounds of runs differ by {latency.round_spread:.0%} "
            f"(over {MAX_ROUND_SPREAD:.0%})"
        )
    free = max(cores - threads, 0)
    if others > free + SPARE_CORES:
        reasons.append(
            f"other processes kept {others:.1f} of {cores:g} cores busy "
            f"({threads} measuring thread{'s' if threads != 1 else ''})"
        )
    latency.conditions = {k: round(float(v), 3) for k, v in conditions.items()}
    latency.reliable, latency.unreliable_reasons = not reasons, reasons


def measure_latency(
    predict: Callable[[list[str]], object],
    texts: Sequence[str],
    *,
    batch_size: int = 1,
    warmup: int = 3,
    min_runs: int = 100,
    max_runs: int = 1000,
    budget_s: float = 2.0,
    target_ci: float = TARGET_CI,
    seed: int = 0,
    threads: int = 1,
    cpu_bound: bool = True,
    prior_ms: Sequence[float] = (),
) -> Latency:
    """Wall-clock latency of ``predict`` on batches drawn from ``texts``.

    Batches are drawn at random from the user's texts, so their length distribution is
    the data's. After ``warmup`` calls, runs go on until the p50 is stable (relative 95% CI
    under ``target_ci``) with at least ``min_runs`` done, or ``budget_s`` is spent (at least
    20 runs whatever the budget), or ``max_runs`` is reached. The result says whether the
    machine let the runs be timed fairly (``judge``; ``threads``: the threads computing).

    ``prior_ms``: reliable runs of an earlier, unsettled timing of the same call. This one
    goes on from them (its percentiles and CIs are over both; its verdict is on its own runs
    and their conditions), so a timing that its budget cut short settles over reruns.
    """
    rng = np.random.default_rng([seed, len(prior_ms)])  # other batches than the earlier runs

    def batch() -> list[str]:
        return [texts[i] for i in rng.integers(0, len(texts), size=batch_size)]

    for _ in range(warmup):
        predict(batch())
    times: list[float] = [ms / 1000 for ms in prior_ms]
    fresh = 0
    deadline = time.perf_counter() + budget_s
    with ConditionsWatch() as watch:
        while len(times) < max_runs or fresh < 10:
            inputs = batch()
            start = time.perf_counter()
            predict(inputs)
            times.append(time.perf_counter() - start)
            fresh += 1
            if fresh % 10 == 0 and len(times) >= 20:
                ci = median_ci_relative(np.asarray(times))
                stable = len(times) >= min_runs and ci < target_ci
                if stable or time.perf_counter() > deadline:
                    break
    latency = summarize(times)
    if fresh >= ROUNDS * MIN_ROUND_RUNS:  # the rounds of this call's own runs
        latency.round_spread = round_spread(latency.samples_ms[-fresh:])
    judge(latency, watch.conditions, threads, cpu_bound)
    return latency


def measure_latency_reliably(
    predict: Callable[[list[str]], object],
    texts: Sequence[str],
    *,
    retries: int = RETRIES,
    wait_s: float = RETRY_WAIT_S,
    **options: Any,
) -> Latency:
    """``measure_latency``, measured again (after ``wait_s``) up to ``retries`` times while
    the machine disturbs it. When no attempt is reliable, the one with the lowest median is
    kept (the least disturbed), still marked unreliable."""
    attempts = [measure_latency(predict, texts, **options)]
    while not attempts[-1].reliable and len(attempts) <= retries:
        time.sleep(wait_s)
        attempts.append(measure_latency(predict, texts, **options))
    kept = attempts[-1] if attempts[-1].reliable else min(attempts, key=lambda t: t.p50_ms)
    kept.attempts = len(attempts)
    return kept


def summarize(seconds: Sequence[float]) -> Latency:
    """Percentiles (the p95's 95% CI too), run count, the median's relative CI and every
    sample, in milliseconds."""
    ms = np.asarray(seconds) * 1000
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    samples = [round(float(t), 4) for t in ms]
    return Latency(
        float(p50),
        float(p95),
        float(p99),
        len(ms),
        median_ci_relative(ms),
        samples,
        quantile_ci(ms, 0.95),
    )


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
    gpu: dict[str, Any] | None = None  # find_gpu()'s device to measure on too; None: CPU only
    artifacts: str | None = None  # folder to keep the exported ONNX / int8 models in, if any
    threads: int | None = None  # torch/BLAS threads to measure with; None: torch's default
    features: np.ndarray | None = None  # stored features: the pass only times (and compares)
    retries: int = RETRIES  # re-measurements of a timing the machine disturbed
    # batch size -> reliable runs (ms) of a stored timing that did not settle: continued
    prior_ms: dict[int, list[float]] = field(default_factory=dict)


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
    gpu: Precisions | None = None  # the same model on the CUDA device, when job.gpu names one
    artifacts: dict[str, str] | None = None  # kind ("onnx", "int8") -> path of a kept model file


def _from_batches(seconds: list[float], conditions: dict[str, float], threads: int) -> Latency:
    """Latency percentiles of the full batches of a pass over the data (longest texts first,
    so their rounds are not compared)."""
    latency = summarize(seconds[:-1] if len(seconds) > 1 else seconds)  # the last may be short
    judge(latency, conditions, threads, cpu_bound=True)
    return latency


def _time_batches(
    predict: Callable[[list[str]], object],
    texts: Sequence[str],
    batch_sizes: Sequence[int],
    *,
    seed: int,
    budget_s: float,
    threads: int,
    cpu_bound: bool = True,
    retries: int = RETRIES,
    prior_ms: dict[int, list[float]] | None = None,
) -> tuple[dict[int, Latency], dict[int, float]]:
    latency, throughput = {}, {}
    for size in batch_sizes:
        latency[size] = measure_latency_reliably(
            predict,
            texts,
            retries=retries,
            batch_size=size,
            seed=seed,
            budget_s=budget_s,
            threads=threads,
            cpu_bound=cpu_bound,
            prior_ms=(prior_ms or {}).get(size, ()),
        )
        throughput[size] = (
            size * len(latency[size].samples_ms) / (sum(latency[size].samples_ms) / 1000)
        )
    return latency, throughput


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
    a latency sample on the user's own texts, and its items/s is the throughput (unless the
    machine disturbed it: that batch size is then timed again like the others). Given
    ``job.features`` (stored ones), there is no feature pass: every batch size is timed.
    """
    import torch

    from modelscout.backends.onnx import int8_files
    from modelscout.backends.text import load_text_encoder

    threads = torch.get_num_threads()
    keep = None if job.artifacts is None else Path(job.artifacts)
    int8 = None
    if any(variant.kind == "int8" for variant in job.candidate.variants):
        # Exported and quantized before memory and load time are watched: what they measure
        # is loading and serving the int8 model, as a deployment would, not converting it.
        int8 = int8_files(load_text_encoder(job.candidate, job.meta, **_loading(job)), keep)
        gc.collect()  # the PyTorch model, gone
    kept = {} if int8 is None else dict(int8.kept)
    with MemoryWatch() as memory:
        loaded = _load_and_encode(job, int8, threads)
        from_pass = _feature_pass_timing(job, loaded, threads)
        latency, throughput = _time_batches(
            loaded.encode,
            job.texts,
            [s for s in job.batch_sizes if not (from_pass and s == job.feature_batch)],
            seed=job.seed,
            budget_s=job.latency_budget_s,
            threads=threads,
            retries=job.retries,
            prior_ms=job.prior_ms,
        )
    if from_pass:
        latency[job.feature_batch] = from_pass
        throughput[job.feature_batch] = len(job.texts) / sum(loaded.seconds)
    model, features = loaded.model, loaded.features
    rows = min(len(job.texts), CHECK_ROWS)
    onnx = gpu = None
    if job.onnx and features is not None:
        onnx = _onnx_check(job, model, features[:rows], threads, keep)
        if "path" in onnx:
            kept["onnx"] = onnx["path"]
    if job.gpu is not None and features is not None:
        gpu = _gpu_check(job, model, features[:rows])
    return PassResult(
        features=features,
        load_s=loaded.load_s,
        peak_mb=memory.peak_mb,
        process_peak_mb=memory.peak_bytes / 2**20,
        latency=dict(sorted(latency.items())),
        throughput=dict(sorted(throughput.items())),
        token_lengths=None if features is None else model.token_lengths(job.texts),
        max_length=None if features is None else model.max_length,
        threads=threads,
        device="cpu",
        onnx=onnx,
        source_probs=getattr(model, "source_probs", None),
        gpu=gpu,
        artifacts=kept or None,
    )


@dataclass
class _Loaded:
    """A loaded candidate and its feature pass: what the timings after it start from."""

    model: Any
    encode: Callable[[list[str]], object]
    features: np.ndarray | None  # None for the baseline, which has no features
    load_s: float
    seconds: list[float]  # each feature-pass batch; empty when the features were stored
    conditions: dict[str, float]  # the machine during the feature pass


def _loading(job: PassJob) -> dict[str, bool]:
    return {"allow_pickle": job.allow_pickle, "trust_remote_code": job.trust_remote_code}


def _load_and_encode(job: PassJob, int8: Any, threads: int) -> _Loaded:
    """Load (for the baseline: fit) the candidate and run its feature pass, batch by batch."""
    from modelscout.backends.baseline import tfidf_classifier
    from modelscout.backends.text import load_text_encoder

    start = time.perf_counter()
    if job.candidate.source == "baseline":
        model = tfidf_classifier(job.seed).fit(job.texts, job.labels)
        load_s = time.perf_counter() - start
        seconds = []
        with ConditionsWatch() as watch:
            for first in range(0, len(job.texts), job.feature_batch):
                batch = job.texts[first : first + job.feature_batch]
                begin = time.perf_counter()
                model.predict(batch)
                seconds.append(time.perf_counter() - begin)
        return _Loaded(model, model.predict, None, load_s, seconds, watch.conditions)
    if int8 is not None:
        model = int8.load(threads)
    else:
        model = load_text_encoder(job.candidate, job.meta, **_loading(job))
    load_s = time.perf_counter() - start

    def encode(batch: list[str]) -> object:
        return model.encode(batch, batch_size=len(batch))

    if job.features is not None:
        return _Loaded(model, encode, job.features, load_s, [], {})
    with ConditionsWatch() as watch:
        features, seconds = model.encode_timed(job.texts, job.feature_batch)
    return _Loaded(model, encode, features, load_s, seconds, watch.conditions)


def _feature_pass_timing(job: PassJob, loaded: _Loaded, threads: int) -> Latency | None:
    """The feature pass as the timing of its batch size: only with enough full batches, and
    only when the machine left it alone; else None (that batch size is timed like the rest)."""
    full_batches = len(job.texts) // job.feature_batch
    if not loaded.seconds or full_batches < MIN_PASS_BATCHES:
        return None
    if job.feature_batch not in job.batch_sizes:
        return None
    timing = _from_batches(loaded.seconds, loaded.conditions, threads)
    return timing if timing.reliable else None


def _gpu_check(job: PassJob, model: Any, features: np.ndarray) -> Precisions:
    """The same model on ``job.gpu`` at each precision, compared with the CPU ``features``."""
    return measure_precisions(
        model,
        job.texts,
        features,
        device=job.gpu["device"],
        precisions=gpu_precisions(job.gpu),
        batch_sizes=job.batch_sizes,
        seed=job.seed,
        budget_s=job.latency_budget_s,
    )


def _onnx_check(
    job: PassJob, model: Any, features: np.ndarray, threads: int, keep: Path | None
) -> dict[str, Any]:
    """Export to ONNX, compare with PyTorch's ``features`` and time it as the model is timed."""
    from modelscout.backends.onnx import check_onnx

    return check_onnx(
        model,
        job.texts[: len(features)],
        features,
        threads,
        lambda predict: measure_latency_reliably(
            predict,
            job.texts,
            retries=job.retries,
            seed=job.seed,
            budget_s=job.latency_budget_s,
            threads=threads,
        ),
        keep,
    )


# -- the same model on another device, at other precisions ---------------------------------------

CHECK_ROWS = 64  # rows on which an exported or converted model's features are compared
PRECISIONS = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}  # name -> torch dtype


@dataclass
class DevicePass:
    """One model at one precision on one device: what it costs there, how far its features
    moved from the CPU fp32 ones."""

    device: str  # torch device, e.g. "cuda" or "cpu"
    dtype: str  # torch dtype, e.g. "float16"
    load_s: float  # moving the loaded CPU fp32 model there, casting included
    peak_mb: float  # peak memory on the device above its level before the move
    latency: dict[int, Latency]
    throughput: dict[int, float]  # items/s per batch size
    rows: int  # rows whose features were compared
    max_abs_diff: float | None  # None when a row is NaN or infinite
    cosine_min: float | None  # lowest per-row cosine similarity; None likewise
    nonfinite_rows: int  # rows with a NaN or infinite feature (fp16 overflow, say)


@dataclass
class Precisions:
    """The model on one device at each precision tried."""

    passes: dict[str, DevicePass]  # precision (fp32, fp16, bf16) -> its measurements
    failed: dict[str, str]  # precision -> why it could not be measured


def feature_agreement(
    features: np.ndarray, reference: np.ndarray
) -> tuple[float | None, float | None, int]:
    r"""Largest absolute difference and lowest row-wise cosine similarity of two feature sets.

    .. math::

        \cos_i = \frac{\langle f_i, r_i \rangle}{\lVert f_i \rVert \, \lVert r_i \rVert}

    Returns ``(max |f - r|, min_i cos_i, rows with a NaN or infinite feature)``; the first two
    are None when that count is not 0, since a broken row makes both meaningless.

    Shape:
        - features: (R, D)
        - reference: (R, D), the CPU fp32 features of the same rows
    """
    features, reference = features.astype(np.float64), reference.astype(np.float64)
    nonfinite = int((~np.isfinite(features)).any(axis=1).sum())
    if nonfinite:
        return None, None, nonfinite
    norms = np.linalg.norm(features, axis=1) * np.linalg.norm(reference, axis=1)
    cosine = np.sum(features * reference, axis=1) / np.maximum(norms, np.finfo(np.float64).tiny)
    return float(np.abs(features - reference).max()), float(cosine.min()), 0


class DeviceMemory:
    """Peak memory on ``device`` above its level at entry: on a GPU the CUDA caching
    allocator's peak (``torch.cuda.max_memory_allocated``: weights and activations, not the
    CUDA context), on the CPU the process's RSS peak (``MemoryWatch``)."""

    def __init__(self, device: Any) -> None:  # a torch.device
        self.device = device
        self.peak_mb = 0.0

    def __enter__(self) -> DeviceMemory:
        import torch

        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
        else:
            self._rss = MemoryWatch().__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        import torch

        if self.device.type == "cuda":
            peak = torch.cuda.max_memory_allocated(self.device)
            self.peak_mb = (peak - self._start) / 2**20
        else:
            self._rss.__exit__(*exc)
            self.peak_mb = self._rss.peak_mb


def _synchronize(device: Any) -> None:
    """Wait until ``device`` has finished its queued work (CPU work is done on return)."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _release(device: Any) -> None:
    """Collect what is unreachable and, on a GPU, return the allocator's cached blocks."""
    import torch

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def measure_on_device(
    encoder: Any,
    texts: Sequence[str],
    reference: np.ndarray,
    *,
    device: str,
    dtype: Any,
    batch_sizes: Sequence[int],
    seed: int = 0,
    budget_s: float = 2.0,
) -> DevicePass:
    """Time a copy of ``encoder`` (a loaded ``backends.text.TextEncoder``) on ``device`` at
    ``dtype``, and compare its features with ``reference``.

    ``encoder`` itself stays as it was (fp32 on the CPU) for the next precision. Load time is
    the move (and cast) of the copy; every timed call ends with ``torch.cuda.synchronize`` on
    a GPU, so a latency runs until the features are back in host memory, tokenization
    included, as on the CPU. Latency and throughput per batch size are timed like the CPU's
    (``measure_latency``); the feature comparison runs first and doubles as extra warm-up.

    Shape:
        texts: (N,) the user's texts; reference: (R, D) CPU fp32 features of ``texts[:R]``.
    """
    import torch

    device = torch.device(device)
    torch.empty(0, device=device)  # a GPU's context is set up here, not inside the timed move
    _check_host_memory_for_copy(encoder.model)
    moved = copy.deepcopy(encoder)  # made before anything is timed; freed on return
    with DeviceMemory(device) as memory:
        start = time.perf_counter()
        moved.to(device, dtype)
        _synchronize(device)
        load_s = time.perf_counter() - start
        features = moved.encode(list(texts[: len(reference)]))

        def predict(batch: list[str]) -> object:
            out = moved.encode(batch, batch_size=len(batch))
            _synchronize(device)
            return out

        latency, throughput = _time_batches(
            predict,
            texts,
            batch_sizes,
            seed=seed,
            budget_s=budget_s,
            threads=torch.get_num_threads(),
            cpu_bound=device.type == "cpu",
        )
    max_abs_diff, cosine_min, nonfinite = feature_agreement(features, reference)
    return DevicePass(
        device=str(device),
        dtype=str(dtype).removeprefix("torch."),
        load_s=load_s,
        peak_mb=memory.peak_mb,
        latency=latency,
        throughput=throughput,
        rows=len(reference),
        max_abs_diff=max_abs_diff,
        cosine_min=cosine_min,
        nonfinite_rows=nonfinite,
    )


def _check_host_memory_for_copy(model: Any) -> None:
    """Raise (this precision then fails with the reason) rather than let a host copy of a
    model that fits in memory once but not twice get the whole process killed, CPU figures
    and all."""
    tensors = [*model.parameters(), *model.buffers()]
    needed = sum(t.numel() * t.element_size() for t in tensors)
    available = psutil.virtual_memory().available
    if needed > 0.8 * available:
        raise MemoryError(
            f"copying the model for the device needs {needed / 2**20:.0f} MB of host memory, "
            f"{available / 2**20:.0f} MB is available"
        )


def measure_precisions(
    encoder: Any,
    texts: Sequence[str],
    reference: np.ndarray,
    *,
    device: str,
    precisions: dict[str, Any],
    batch_sizes: Sequence[int],
    seed: int = 0,
    budget_s: float = 2.0,
) -> Precisions:
    """``measure_on_device`` at each of ``precisions`` (name -> torch dtype), one at a time.

    A precision that cannot run (out of device memory, an operation with no kernel for that
    dtype) is recorded with its reason; the others, and the CPU figures, stand.
    """
    import torch

    passes, failed = {}, {}
    for name, dtype in precisions.items():
        try:
            passes[name] = measure_on_device(
                encoder,
                texts,
                reference,
                device=device,
                dtype=dtype,
                batch_sizes=batch_sizes,
                seed=seed,
                budget_s=budget_s,
            )
        except Exception as error:
            failed[name] = one_line(error)
        # The copy died with measure_on_device's frame (or with the traceback just dropped);
        # give its memory back so the next precision's peak starts from the same level.
        _release(torch.device(device))
    return Precisions(passes, failed)


def gpu_precisions(found: dict[str, Any]) -> dict[str, Any]:
    """Precision name -> torch dtype to measure on the device ``find_gpu`` found."""
    import torch

    names = ["fp32", "fp16", *(["bf16"] if found.get("bf16") else [])]
    return {name: getattr(torch, PRECISIONS[name]) for name in names}


MIN_PASS_BATCHES = 20
# forkserver_lifetime first: the server dies with the main process even while importing torch
_PRELOAD = [
    "modelscout.measure.forkserver_lifetime",
    "torch",
    "transformers",
    "sentence_transformers",
    "sklearn.svm",
]


def _context() -> Any:
    import multiprocessing

    context = multiprocessing.get_context("forkserver")
    os.environ[MAIN_PID_VARIABLE] = str(os.getpid())  # the server inherits it (lifetime.py)
    context.set_forkserver_preload(_PRELOAD)
    return context


def _isolated_pool() -> Any:
    """A pool of one process forked from the server, which dies with this process."""
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(
        max_workers=1, mp_context=_context(), initializer=die_with, initargs=(os.getpid(),)
    )


def start_server() -> None:
    """Start the fork server (it imports torch and transformers once) ahead of first use."""
    from multiprocessing import forkserver

    _context()
    forkserver.ensure_running()
    logger.debug("measuring processes' fork server running")


NO_GPU_DRIVER = (
    "no CUDA device (no GPU driver: /dev/nvidiactl, /dev/kfd and /dev/dxg are all absent)"
)
GPU_DRIVER_FILES = ("/dev/nvidiactl", "/dev/kfd", "/dev/dxg")  # NVIDIA, ROCm, WSL2


def cuda_device() -> dict[str, Any]:
    """The CUDA device torch would use in this process: ``{"device": "cuda", "device_name",
    "runtime" (e.g. "CUDA 12.4", or "ROCm 6.1"), "bf16" (computes bf16 natively)}``, or
    ``{"skipped": why there is none}``."""
    import torch

    if not torch.cuda.is_available():
        built = torch.version.cuda or torch.version.hip
        hint = "" if built else f"; torch {torch.__version__} is built without CUDA"
        return {"skipped": f"no CUDA device (torch.cuda.is_available() is False{hint})"}
    try:  # native bf16 only: emulated bf16 (before Ampere) is slow, nobody would deploy it
        bf16 = torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:  # a torch from before that argument: the same test, spelled out
        bf16 = bool(torch.version.hip) or torch.cuda.get_device_capability()[0] >= 8
    runtime = f"CUDA {torch.version.cuda}" if torch.version.cuda else f"ROCm {torch.version.hip}"
    return {
        "device": "cuda",
        "device_name": torch.cuda.get_device_name(),
        "runtime": runtime,
        "bf16": bool(bf16),
    }


def find_gpu() -> dict[str, Any]:
    """``cuda_device()``, asked of a process forked from the measuring server (this one does
    not import torch). On Linux, a machine without any GPU driver's device file answers at
    once, without waiting for the server to have imported torch."""
    if sys.platform.startswith("linux") and not any(map(os.path.exists, GPU_DRIVER_FILES)):
        return {"skipped": NO_GPU_DRIVER}
    try:
        with _isolated_pool() as pool:
            return pool.submit(cuda_device).result()
    except Exception as error:  # a broken driver costs the GPU figures, not the run
        return {"skipped": f"no usable CUDA device (looking for one failed: {one_line(error)})"}


def run_isolated(job: PassJob) -> PassResult:
    """``run_model_pass`` in a fresh process of its own; its death fails only this candidate."""
    from concurrent.futures.process import BrokenProcessPool

    from modelscout.errors import CandidateError

    logger.debug("model pass of %s in a process of its own", job.candidate.id)
    with _isolated_pool() as pool:
        try:
            return pool.submit(run_model_pass, job).result()
        except BrokenProcessPool:
            raise CandidateError(
                "its measuring process died (out of memory, or a crash in native code)"
            ) from None
