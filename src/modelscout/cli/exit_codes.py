"""How a command ends: the exit codes every command shares and the one-line bad-input exit.

- 0: every candidate was measured and at least one was ranked;
- 1: an unexpected error (a bug: please report it with the ``--debug`` output);
- 2: bad input (a flag, the spec, the data, the output folder): one line says what to fix;
- 3: finished, but at least one candidate failed (the others are in the results);
- 4: finished, but nothing was ranked (every candidate was rejected or failed);
- 5 (monitor): drift; 6 (monitor): retrain recommended (monitor/verdict.py's ``EXIT_CODES``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

import typer

from modelscout.cli.output import print_error

if TYPE_CHECKING:
    from modelscout.decide import Decision

EXIT_BAD_INPUT = 2
EXIT_PARTIAL = 3
EXIT_NOTHING_RANKED = 4
EXIT_CODES = """\b
Exit codes: 0 ranked; 1 unexpected error; 2 bad input (one line says what to fix);
3 finished but some candidate failed; 4 finished but nothing was ranked;
monitor: 0 no drift, 5 drift, 6 retrain recommended."""
MONITOR_EXIT_CODES = """\b
Exit codes: 0 no drift; 5 drift; 6 retrain recommended; 1 unexpected error;
2 bad input (one line says what to fix)."""


def fail(message: str) -> NoReturn:
    """Print ``message`` as one ``error:`` line and exit with the bad-input code."""
    print_error(message)
    raise typer.Exit(EXIT_BAD_INPUT)


def exit_code(decision: Decision) -> int:
    """0 when something was ranked and nothing failed, else the code that says which."""
    statuses = {row.status for row in decision.rows}
    if "ranked" not in statuses:
        return EXIT_NOTHING_RANKED
    return EXIT_PARTIAL if "failed" in statuses else 0
