"""Where the jobs of a plan run: ``local`` (isolated worker processes on this machine); a Ray
executor implements the same protocol later. Every executor stores into the same store."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # names for the annotations only: the fork server's module must stay light
    from modelscout.measure.model_pass import PassJob, PassResult
    from modelscout.measure.probe import ProbeJob, ProbeResult
    from modelscout.measure.verify import VerifyJob, VerifyResult


class Executor(Protocol):
    """Runs jobs and hands back their results as they finish, for the run to store."""

    def model_pass(self, job: PassJob) -> PassResult:
        """One candidate's model pass, alone on its machine (its timings need it)."""

    def probes(
        self,
        jobs: Sequence[ProbeJob],
        on_result: Callable[[int, ProbeResult | Exception], None],
    ) -> None:
        """Every probe; ``on_result(index, result)`` as each finishes (an exception for a
        probe that raised), so that a killed run keeps the finished ones."""

    def verify(self, job: VerifyJob) -> VerifyResult:
        """One finalist's verification fine-tune, alone on its machine (its own process)."""
