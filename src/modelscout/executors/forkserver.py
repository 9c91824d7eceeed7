"""The measuring processes' fork server: started early (it imports torch and transformers
once, in the background, while the input is checked), every model pass forked from it in a
process of its own that dies with this one. Light to import: the CLI and the API start it
before anything slow is imported.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from modelscout.errors import one_line
from modelscout.measure.device import cuda_device
from modelscout.measure.lifetime import MAIN_PID_VARIABLE, die_with

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


def isolated_pool() -> Any:
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
        with isolated_pool() as pool:
            return pool.submit(cuda_device).result()
    except Exception as error:  # a broken driver costs the GPU figures, not the run
        return {"skipped": f"no usable CUDA device (looking for one failed: {one_line(error)})"}
