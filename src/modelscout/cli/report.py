"""``modelscout report``: render report.html again from results.json alone."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from modelscout.cli.exit_codes import fail
from modelscout.cli.output import clean, console, write_text
from modelscout.errors import UserError

Results = Annotated[
    Path, typer.Argument(metavar="PATH", help="results.json written by 'modelscout rank'.")
]
HtmlPath = Annotated[
    Path | None,
    typer.Option(
        metavar="PATH",
        help="HTML file; missing folders are created [default: report.html beside results.json].",
    ),
]


def report(results: Results, output: HtmlPath = None) -> None:
    """Render report.html again from results.json alone.

    Example:

        modelscout report out/results.json --output out/report.html
    """
    # Imported here: the HTML renderer imports matplotlib (about 1 s).
    from modelscout.report import read_results
    from modelscout.report.html import render_html

    target = output or results.with_name("report.html")
    try:
        write_text(target, render_html(read_results(results)), "--output")
    except UserError as error:
        fail(str(error))
    console.print(Text(clean(f"Wrote {target}")))
