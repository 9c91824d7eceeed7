"""The progress a run shows while it measures: a bar over the candidates and a line per
candidate saying which step it is on, then how it ended."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from modelscout.cli.output import clean, console

if TYPE_CHECKING:
    from rich.progress import TaskID

    from modelscout.records import Outcome


class CandidateProgress:
    """A rich ``Progress`` whose ``step`` and ``done`` are the run's two hooks."""

    def __init__(self, candidates: int, quiet: bool) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=console,
            disable=quiet,
            transient=False,
        )
        self.overall = self.progress.add_task("candidates", total=candidates)
        self.lines: dict[str, TaskID] = {}

    def __enter__(self) -> CandidateProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def _line(self, candidate: str) -> TaskID:
        if candidate not in self.lines:
            self.lines[candidate] = self.progress.add_task(
                clean(candidate, one_line=True), total=None
            )
        return self.lines[candidate]

    def step(self, candidate: str, what: str) -> None:
        """``candidate`` is now doing ``what``."""
        name = clean(candidate, one_line=True)
        self.progress.update(self._line(candidate), description=f"{name}: {clean(what)}")

    def done(self, outcome: Outcome) -> None:
        """``outcome``'s candidate has finished: its status, and one more on the overall bar."""
        cid = outcome.candidate.id
        description = f"{clean(cid, one_line=True)}: {outcome.status}"
        self.progress.update(self._line(cid), description=description, total=1, completed=1)
        self.progress.advance(self.overall)
