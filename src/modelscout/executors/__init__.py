"""Where the jobs of a plan run: ``local`` (isolated worker processes on this machine) or
``ray`` (tasks on a Ray cluster, executors/ray.py, with the ``modelscout[ray]`` extra). Every
executor hands its results back to the run, which alone writes the store."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from modelscout.errors import UserError

if TYPE_CHECKING:  # names for the annotations only: the fork server's module must stay light
    import numpy as np

    from modelscout.measure.encode import EncodeJob, EncodeResult
    from modelscout.measure.model_pass import PassJob, PassResult
    from modelscout.measure.probe import ProbeJob, ProbeResult
    from modelscout.measure.probe.curve_points import CurvePoints
    from modelscout.measure.verify import VerifyJob, VerifyResult
    from modelscout.spec import Spec

EXECUTORS = ("local", "ray")
RAY_MISSING = (
    "executor ray needs Ray, which is not installed; install it with "
    "pip install 'modelscout[ray]' (or pip install ray), or use --executor local"
)


class Executor(Protocol):
    """Runs jobs and hands back their results as they finish, for the run to store."""

    # how many model passes the run may hand over at once (from as many threads): 1 where
    # each pass needs the machine alone (local), more where each task gets a machine's share
    passes_at_once: int

    def model_pass(self, job: PassJob) -> PassResult:
        """One candidate's model pass, alone on its machine (its timings need it)."""

    def probes(
        self,
        jobs: Sequence[ProbeJob],
        on_result: Callable[[int, ProbeResult | Exception], None],
    ) -> None:
        """Every probe; ``on_result(index, result)`` as each finishes (an exception for a
        probe that raised), so that a killed run keeps the finished ones."""

    def curves(
        self,
        jobs: Sequence[ProbeJob],
        full: Sequence[np.ndarray],
        fractions: tuple[float, ...],
        on_result: Callable[[int, CurvePoints | Exception], None],
    ) -> None:
        """Every probe's learning-curve points (measure/probe/curve_points.py), as
        ``probes``: ``on_result(index, points)`` as each finishes."""

    def encode(self, job: EncodeJob) -> EncodeResult:
        """One candidate's features of other rows (measure/encode.py), nothing timed: the
        stress slices' perturbed rows, the monitor's reference and current data."""

    def verify(self, job: VerifyJob) -> VerifyResult:
        """One finalist's verification fine-tune, alone on its machine (its own process)."""

    def close(self) -> None:
        """Release what the executor holds (a Ray connection); idempotent."""


def executor_for(spec: Spec, threads: int | None) -> Executor:
    """The executor ``spec.executor`` names; ``UserError`` (one line, what to install) when it
    needs a library that is not installed or a cluster that cannot be reached."""
    if spec.executor == "local":
        from modelscout.executors.local import LocalExecutor

        return LocalExecutor(threads)
    try:
        import ray  # noqa: F401
    except ImportError:
        raise UserError(RAY_MISSING) from None
    from modelscout.executors.ray import RayExecutor

    return RayExecutor(threads, address=spec.address, seed=spec.seed)


def executor_name(executor: Any) -> str:
    """``local`` or ``ray``, for the results' run section."""
    return getattr(executor, "name", "local")
