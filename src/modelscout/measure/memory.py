"""Peak memory while a candidate runs: the process's resident set size (RSS) on the CPU, the
CUDA caching allocator's peak on a GPU, each above its level when the watch started."""

from __future__ import annotations

import threading
from typing import Any

import psutil


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
