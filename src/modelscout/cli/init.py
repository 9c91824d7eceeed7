"""``modelscout init``: write a spec YAML with every setting, its default and what it does."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from modelscout.cli.exit_codes import fail
from modelscout.cli.output import clean, console, write_text
from modelscout.cli.template import spec_template
from modelscout.errors import UserError

SpecPath = Annotated[Path, typer.Argument(metavar="PATH", help="Where to write the spec.")]
Force = Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")]


def init(path: SpecPath = Path("modelscout.yaml"), force: Force = False) -> None:
    """Write a spec YAML with every setting, its default and what it does.

    Example:

        modelscout init spec.yaml && modelscout rank --spec spec.yaml
    """
    try:
        if path.exists() and not force:
            raise UserError(f"{path} already exists; pass --force to overwrite it")
        write_text(path, spec_template(), "init")
    except UserError as error:
        fail(str(error))
    next_step = f"set data: and candidates:, then run: modelscout rank --spec {path}"
    console.print(Text(clean(f"Wrote {path}; {next_step}")))
