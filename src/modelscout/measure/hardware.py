"""Latency, throughput, memory and load time, measured on the user's own inputs.

Everything here times real calls of the candidate on this machine; nothing is
estimated. Memory is the resident set size (RSS) of this process above what
it was before the candidate was loaded, sampled every few milliseconds.
"""

from __future__ import annotations

import os
import platform
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import psutil


def machine() -> dict[str, object]:
    """What the timings depend on: CPU model, core count, torch threads, device."""
    import torch

    return {
        "cpu": _cpu_name(),
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "device": "cpu",
        "platform": platform.platform(terse=True),
    }


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

    def __init__(self, interval_s: float = 0.005) -> None:
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


def measure_latency(
    predict: Callable[[list[str]], object],
    texts: Sequence[str],
    *,
    batch_size: int = 1,
    warmup: int = 3,
    min_runs: int = 20,
    max_runs: int = 300,
    budget_s: float = 2.0,
    seed: int = 0,
) -> Latency:
    """Wall-clock latency of ``predict`` on batches drawn from ``texts``.

    Batches are drawn at random from the user's texts, so their length
    distribution is the data's. Runs continue until ``max_runs`` or until
    ``budget_s`` is spent with at least ``min_runs`` done.
    """
    rng = np.random.default_rng(seed)

    def batch() -> list[str]:
        return [texts[i] for i in rng.integers(0, len(texts), size=batch_size)]

    for _ in range(warmup):
        predict(batch())
    times = []
    deadline = time.perf_counter() + budget_s
    while len(times) < max_runs and (len(times) < min_runs or time.perf_counter() < deadline):
        inputs = batch()
        start = time.perf_counter()
        predict(inputs)
        times.append(time.perf_counter() - start)
    ms = np.asarray(times) * 1000
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return Latency(float(p50), float(p95), float(p99), len(times))
