"""The ``modelscout`` command: the Typer app, its global options, and one command per module
of this package. Every command parses flags, calls the Python API and prints; nothing else.

``--json`` (``rank``, ``compare``, ``profile``, ``cache ls|prune``) puts the machine output
alone on stdout; progress, tables and "Wrote ..." go to stderr. Exit codes: see ``exit_codes``.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated, Any

import typer
from rich.logging import RichHandler
from typer._click.exceptions import ClickException, NoArgsIsHelpError  # typer vendors click
from typer.core import TyperGroup

from modelscout import __version__
from modelscout.cli.cache import cache
from modelscout.cli.compare import compare
from modelscout.cli.demo import demo
from modelscout.cli.exit_codes import EXIT_BAD_INPUT, EXIT_CODES, MONITOR_EXIT_CODES
from modelscout.cli.init import init
from modelscout.cli.monitor import monitor
from modelscout.cli.output import clean, console, print_error
from modelscout.cli.profile import profile
from modelscout.cli.rank import rank
from modelscout.cli.report import report
from modelscout.cli.schema import schema


class _OneLineErrors(TyperGroup):
    """Usage errors (an unknown flag, a value not among the choices) as one ``error:`` line
    and exit code 2, like every other bad input, instead of click's usage block."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        try:
            # Not standalone, click returns the exit code of a typer.Exit instead of exiting.
            code = super().main(*args, standalone_mode=False, **kwargs)
        except NoArgsIsHelpError as error:
            if not standalone_mode:
                raise
            error.show()
            sys.exit(error.exit_code)
        except ClickException as error:
            if not standalone_mode:
                raise
            # typer checks choices with pydantic, whose message carries this prefix
            print_error(error.format_message().replace("Value error, ", ""))
            sys.exit(EXIT_BAD_INPUT)
        except typer.Abort:
            if not standalone_mode:
                raise
            console.print("Aborted.")
            sys.exit(1)
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=_OneLineErrors,
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Choose the right pre-trained model for your task, your data and your machine.",
    epilog=EXIT_CODES,
)
# The order here is the order of --help.
for command in (rank, profile, report, compare):
    app.command(epilog=EXIT_CODES)(command)
app.command(epilog=MONITOR_EXIT_CODES)(monitor)
app.command()(schema)
app.command()(init)
app.command(epilog=EXIT_CODES)(demo)
app.add_typer(cache, name="cache")


class _CleanLogs(logging.Filter):
    """Log messages carry candidate names and paths: no control sequences reach the terminal."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = clean(record.getMessage()), None
        return True


def _configure_logging(level: int) -> None:
    package = logging.getLogger("modelscout")
    package.setLevel(level)
    if not any(isinstance(h, RichHandler) for h in package.handlers):
        handler = RichHandler(console=console, show_time=False, show_path=False, markup=False)
        handler.addFilter(_CleanLogs())
        package.addHandler(handler)


def _show_version(value: bool) -> None:
    if value:
        print(f"modelscout {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool | None,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version, exit."
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Say what is being done (INFO logs).")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Everything (DEBUG logs).")] = False,
) -> None:
    """Choose the right pre-trained model for your task, your data and your machine."""
    _configure_logging(logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING)
