"""``modelscout compare``: what changed between two runs' results.json, as Markdown or JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from modelscout.cli.exit_codes import fail
from modelscout.cli.output import clean, console, print_json, write_text
from modelscout.errors import UserError

Old = Annotated[Path, typer.Argument(metavar="OLD", help="results.json of the earlier run.")]
New = Annotated[Path, typer.Argument(metavar="NEW", help="results.json of the later run.")]
MarkdownPath = Annotated[
    Path | None,
    typer.Option(metavar="PATH", help="Also write the comparison as Markdown here."),
]
AsJson = Annotated[
    bool,
    typer.Option("--json", help="Print the comparison as JSON on stdout, the rest on stderr."),
]


def compare(old: Old, new: New, markdown: MarkdownPath = None, as_json: AsJson = False) -> None:
    """Say what changed between two runs: candidates, ranks, the pick, metrics beyond noise.

    Quality is tested with the paired bootstrap on the rows both runs share (results.json 1.7
    keeps the predictions); otherwise unpaired, or by the fold spread, and it says so.

    Example:

        modelscout compare before/results.json after/results.json --markdown changes.md
    """
    # Imported here, not at the top: every command's start would pay for the report modules.
    from rich.markdown import Markdown

    from modelscout.report import read_results
    from modelscout.report.compare import compare_results, render_comparison_markdown

    try:
        comparison = compare_results(read_results(old), read_results(new))
        text = render_comparison_markdown(comparison)
        if markdown:
            write_text(markdown, text, "--markdown")
    except UserError as error:
        fail(str(error))
    (console if as_json else Console()).print(Markdown(clean(text)))
    if as_json:
        print_json(comparison)
