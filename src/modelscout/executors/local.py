"""The local executor: each model pass in a process of its own, forked from a server process
that has already imported torch and transformers, so one candidate's memory and threads never
touch another's and its death fails only that candidate; the probes' folds share the cores.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from modelscout.errors import one_line
from modelscout.measure.device import cuda_device
from modelscout.measure.lifetime import MAIN_PID_VARIABLE, die_with
from modelscout.measure.model_pass import PassJob, PassResult, run_model_pass
from modelscout.measure.probe import ProbeJob, ProbeResult, cross_validate_many
from modelscout.measure.timing import usable_cores

logger = logging.getLogger(__name__)


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


class LocalExecutor:
    """The ``Executor`` of this machine: model passes one at a time, each in a process of its
    own; the probes' folds sharing ``threads`` threads (None: every usable core)."""

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads

    def model_pass(self, job: PassJob) -> PassResult:
        return run_isolated(job)

    def probes(
        self,
        jobs: Sequence[ProbeJob],
        on_result: Callable[[int, ProbeResult | Exception], None],
    ) -> None:
        cross_validate_many(jobs, n_jobs=self.threads or usable_cores(), on_result=on_result)
