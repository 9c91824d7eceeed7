"""The local executor: each model pass in a process of its own, forked from a server process
that has already imported torch and transformers, so one candidate's memory and threads never
touch another's and its death fails only that candidate; the probes' folds share the cores.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from modelscout.executors.forkserver import isolated_pool
from modelscout.measure.encode import EncodeJob, EncodeResult, run_encode
from modelscout.measure.model_pass import PassJob, PassResult, run_model_pass
from modelscout.measure.probe import ProbeJob, ProbeResult, cross_validate_many
from modelscout.measure.probe.curve_points import CurvePoints, curve_points_many
from modelscout.measure.timing import usable_cores
from modelscout.measure.verify import VerifyJob, VerifyResult, run_verify

logger = logging.getLogger(__name__)


def run_isolated(job: PassJob | VerifyJob | EncodeJob, work: Callable = run_model_pass) -> Any:
    """``work(job)`` (the model pass, or a verification fine-tune) in a fresh process of its
    own; its death fails only this candidate."""
    from concurrent.futures.process import BrokenProcessPool

    from modelscout.errors import CandidateError

    logger.debug("model pass of %s in a process of its own", job.candidate.id)
    with isolated_pool() as pool:
        try:
            return pool.submit(work, job).result()
        except BrokenProcessPool:
            raise CandidateError(
                "its measuring process died (out of memory, or a crash in native code)"
            ) from None


class LocalExecutor:
    """The ``Executor`` of this machine: model passes one at a time, each in a process of its
    own; the probes' folds sharing ``threads`` threads (None: every usable core)."""

    name = "local"
    passes_at_once = 1  # each model pass alone on the machine: its timings need it

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads

    def model_pass(self, job: PassJob) -> PassResult:
        return run_isolated(job)

    def verify(self, job: VerifyJob) -> VerifyResult:
        return run_isolated(job, run_verify)

    def encode(self, job: EncodeJob) -> EncodeResult:
        return run_isolated(job, run_encode)

    def probes(
        self,
        jobs: Sequence[ProbeJob],
        on_result: Callable[[int, ProbeResult | Exception], None],
    ) -> None:
        cross_validate_many(jobs, n_jobs=self.threads or usable_cores(), on_result=on_result)

    def curves(
        self,
        jobs: Sequence[ProbeJob],
        full: Sequence[np.ndarray],
        fractions: tuple[float, ...],
        on_result: Callable[[int, CurvePoints | Exception], None],
    ) -> None:
        curve_points_many(jobs, full, fractions, self.threads or usable_cores(), on_result)

    def close(self) -> None:
        """Nothing to release: each pass's process ends with it."""
