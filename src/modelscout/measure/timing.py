"""Latency and throughput, timed on the user's own inputs, and whether the machine let them be.

Everything here times real calls on this machine; nothing is estimated. A timing runs until
its median's 95% CI is narrow enough or its budget is spent; ``judge`` says whether other work
on the machine disturbed it; the measurements keep every run, so that an unsettled timing goes
on from them at the next run.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psutil

from modelscout import metrics
from modelscout.records import Measurement


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


def from_batches(seconds: list[float], conditions: dict[str, float], threads: int) -> Latency:
    """Latency percentiles of the full batches of a pass over the data (longest texts first,
    so their rounds are not compared)."""
    latency = summarize(seconds[:-1] if len(seconds) > 1 else seconds)  # the last may be short
    judge(latency, conditions, threads, cpu_bound=True)
    return latency


def time_batches(
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


# Fewest and most runs of each stage per batch size, and the share of the latency budget they
# may take: a where-the-time-goes split, not a figure decisions use, so it is kept cheap. With
# (5, 30) runs, 0.25 of the budget and a warm-up batch, it made the overhead benchmark's rank
# 8-15% slower (docs/benchmarks.md); the model is already warm from the timings before it.
STAGE_RUNS = (3, 15)
STAGE_SHARE = 0.05


@dataclass
class Stages:
    """Preprocessing and forward pass of one batch size, timed apart (ms per batch)."""

    preprocess_ms: list[float]
    forward_ms: list[float]

    @property
    def medians(self) -> tuple[float, float]:
        return float(np.median(self.preprocess_ms)), float(np.median(self.forward_ms))


def time_stages(
    encoder: Any, items: Sequence[Any], batch_sizes: Sequence[int], *, seed: int, budget_s: float
) -> dict[int, Stages]:
    """Batch size -> ``encoder.preprocess`` and ``encoder.forward`` timed apart, on batches
    drawn at random from ``items`` (a different batch each run), for ``STAGE_SHARE`` of
    ``budget_s`` and within ``STAGE_RUNS`` runs. The end-to-end latency (``measure_latency``
    of both in a row) stays the figure decisions use; this says where its time goes."""
    rng = np.random.default_rng([seed, 1])
    # A classification head's forward keeps its batch's source probabilities: dropped each run.
    forget = getattr(encoder, "reset_source_probs", lambda: None)
    out = {}
    for size in batch_sizes:
        stages = Stages([], [])
        deadline = time.perf_counter() + budget_s * STAGE_SHARE
        while len(stages.forward_ms) < STAGE_RUNS[1]:
            batch = [items[i] for i in rng.integers(0, len(items), size=size)]
            forget()
            start = time.perf_counter()
            ready = encoder.preprocess(batch)
            middle = time.perf_counter()
            encoder.forward(ready)
            stages.preprocess_ms.append((middle - start) * 1000)
            stages.forward_ms.append((time.perf_counter() - middle) * 1000)
            if len(stages.forward_ms) >= STAGE_RUNS[0] and time.perf_counter() > deadline:
                break
        out[size] = stages
    return out


def stage_names(batch_sizes: Sequence[int]) -> list[str]:
    """The names ``stage_measurements`` gives for ``batch_sizes``."""
    names = (metrics.preprocess_ms, metrics.forward_ms)
    return [name(size) for size in batch_sizes for name in names]


def stage_measurements(
    stages: dict[int, Stages], settings: dict[str, Any], facts: dict[str, Any]
) -> list[Measurement]:
    """``preprocess.ms_per_batch@B`` and ``forward.ms_per_batch@B``: the medians, with every
    run and the preprocessing's share of the two in the detail."""
    out = []
    for size, found in stages.items():
        preprocess, forward = found.medians
        share = preprocess / (preprocess + forward) if preprocess + forward > 0 else None
        detail = {**facts, "runs": len(found.forward_ms), "preprocess_share": share}
        out += [
            Measurement(
                metrics.preprocess_ms(size), preprocess, "ms", None, settings,
                detail={**detail, "samples_ms": found.preprocess_ms},
            ),
            Measurement(
                metrics.forward_ms(size), forward, "ms", None, settings,
                detail={**detail, "samples_ms": found.forward_ms},
            ),
        ]  # fmt: skip
    return out


def timing_names(precision: str | None, batch_sizes: list[int]) -> list[str]:
    """The names ``timing_measurements`` gives for ``batch_sizes``."""
    names = []
    for size in batch_sizes:
        names += [metrics.latency(quantile, size) for quantile in metrics.QUANTILES]
        names.append(metrics.throughput(size))
    return [metrics.at_precision(precision, name) for name in names]


def timing_measurements(
    precision: str | None,
    latencies: dict[int, Latency],
    throughput: dict[int, float],
    settings: dict[str, Any],
    facts: dict[str, Any],
) -> list[Measurement]:
    """The latency percentiles (``latency.p50_ms@B``, p95, p99) and ``throughput.items_per_s@B``
    for each batch size B, on the CPU (``precision`` None or "") or on the GPU at
    ``precision`` (``gpu.fp16.latency.p50_ms@B``); ``facts`` (threads, device, ...) go into
    every detail."""
    out = []
    for size, latency in latencies.items():
        details = latency_details(latency, facts)
        for quantile, value in (
            ("p50", latency.p50_ms),
            ("p95", latency.p95_ms),
            ("p99", latency.p99_ms),
        ):
            name = metrics.at_precision(precision, metrics.latency(quantile, size))
            out.append(Measurement(name, value, "ms", None, settings, detail=details[quantile]))
        name = metrics.at_precision(precision, metrics.throughput(size))
        out.append(Measurement(name, throughput[size], "items/s", None, settings, detail=facts))
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


def settled(timing: Measurement) -> bool:
    """Whether a stored timing may be replayed: its median's CI reached the target and the
    machine left it alone (a timing stored before reliability was judged is unsettled)."""
    detail = timing.detail or {}
    ci = detail.get("p50_ci_relative")
    target = detail.get("target_ci", TARGET_CI)
    return detail.get("reliable") is True and ci is not None and ci <= target


def reliable_runs(measured: dict[str, Measurement]) -> dict[int, list[float]]:
    """Batch size -> every run (ms) of the stored CPU timings the machine left alone."""
    runs = {}
    for name, timing in measured.items():
        detail = timing.detail or {}
        if not metrics.is_known(name) or detail.get("reliable") is not True:
            continue
        spec, batch, precision = metrics.parse(name)
        if spec.name == metrics.LATENCY_P50 and precision is None:
            runs[batch] = list(detail.get("samples_ms") or [])
    return runs


_MEDIANS = (metrics.LATENCY_P50, metrics.ONNX_LATENCY_P50)


def timed_medians(measured: dict[str, Measurement]) -> list[Measurement]:
    """The median latencies among ``measured`` (CPU, GPU and ONNX): each stands for its timing.
    A timing never taken (the ONNX check not run, or its export failed) has none to judge."""
    return [
        m
        for name, m in measured.items()
        if m.value is not None and metrics.is_known(name) and metrics.spec(name).name in _MEDIANS
    ]
