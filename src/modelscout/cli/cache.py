"""``modelscout cache ls`` and ``modelscout cache prune``: what the measurement store holds,
and removing what no run needs any more. The store does the counting and deleting
(``Store.usage``, ``Store.prune``); this module parses the flags and prints."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from modelscout.cli.exit_codes import fail
from modelscout.cli.output import clean, print_json
from modelscout.errors import UserError
from modelscout.store import CandidateUsage, Pruned, Selection, default_store_path, open_existing

cache = typer.Typer(
    name="cache",
    help="What the measurement store holds: list it, prune it.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)

CacheStore = Annotated[
    Path | None,
    typer.Option(
        metavar="PATH",
        help="SQLite measurement cache [default: $MODELSCOUT_STORE or ~/.cache/modelscout].",
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead of a table.")]
OlderThan = Annotated[
    str | None,
    typer.Option(
        metavar="DURATION", help="Rows no run has read or written for this long: 30d, 12h, 2w."
    ),
]
CandidateText = Annotated[
    str | None,
    typer.Option(metavar="TEXT", help="Rows of the candidate keys containing TEXT (see 'ls')."),
]
Everything = Annotated[bool, typer.Option("--all", help="Every row: an empty store.")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Say what would go; remove nothing.")]

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MB = 2**20


def parse_duration(text: str) -> float:
    """Seconds in ``30d``, ``12h``, ``90m``, ``2w``, ``45s``; a UserError saying how to write
    one otherwise."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text.lower())
    if found is None:
        raise UserError(
            f"--older-than {text!r} is not a duration; write a number and a unit: "
            "30d (days), 12h (hours), 90m (minutes), 2w (weeks)"
        )
    return float(found[1]) * UNITS[found[2]]


@cache.command("ls")
def ls(store: CacheStore = None, as_json: AsJson = False) -> None:
    """List what the store holds per candidate key: measurement rows, feature arrays, their
    size, data samples, last use.

    Example:

        modelscout cache ls --store ~/.cache/modelscout/store.sqlite
    """
    path = store or default_store_path()
    try:
        with open_existing(path) as opened:
            usage, size = opened.usage(), opened.disk_bytes()
    except UserError as error:
        fail(str(error))
    if as_json:
        print_json(
            {"store": str(path), "file_bytes": size, "candidates": [_row(u) for u in usage]}
            | {"totals": _totals(usage)}
        )
        return
    out = Console()
    out.print(_table(usage))
    totals = _totals(usage)
    out.print(
        Text(
            f"{totals['candidates']} candidate key(s), {totals['measurements']} measurement(s), "
            f"{totals['features']} feature array(s), {totals['mb']:.1f} MB of rows; "
            f"the file {clean(path, one_line=True)}: {size / MB:.1f} MB"
        ),
        soft_wrap=True,
    )


@cache.command()
def prune(
    older_than: OlderThan = None,
    candidate: CandidateText = None,
    everything: Everything = False,
    dry_run: DryRun = False,
    store: CacheStore = None,
    as_json: AsJson = False,
) -> None:
    """Remove rows from the store, then compact the file. --older-than and --candidate
    together remove the rows matching both.

    Example:

        modelscout cache prune --older-than 30d --dry-run
    """
    path = store or default_store_path()
    try:
        if candidate is not None and not candidate.strip():
            raise UserError(
                "--candidate is empty, which would match every row; give part of a key "
                "from 'modelscout cache ls', or --all"
            )
        if everything and (older_than or candidate):
            raise UserError("--all removes every row: pass it alone, or --older-than/--candidate")
        age = parse_duration(older_than) if older_than is not None else None
        selection = Selection(age, candidate, everything)
        selection.sql()  # nothing selected: said before the store is opened
        with open_existing(path) as opened:
            pruned = opened.prune(selection, dry_run=dry_run)
    except UserError as error:
        fail(str(error))
    if as_json:
        print_json(
            {
                "store": str(path),
                "dry_run": dry_run,
                "removed": [_row(u) for u in pruned.removed],
                "file_bytes_before": pruned.bytes_before,
                "file_bytes_after": pruned.bytes_after,
            }
        )
        return
    _say_pruned(pruned, dry_run)


def _say_pruned(pruned: Pruned, dry_run: bool) -> None:
    out = Console()
    totals = _totals(pruned.removed)
    if not pruned.removed:
        out.print("Nothing to remove: no row matches.")
        return
    out.print(_table(pruned.removed, "would go" if dry_run else "removed"))
    what = (
        f"{totals['measurements']} measurement(s) and {totals['features']} feature array(s) "
        f"of {totals['candidates']} candidate key(s), {totals['mb']:.1f} MB of rows"
    )
    if dry_run:
        out.print(Text(f"Would remove {what}; nothing was removed (--dry-run)."))
        return
    before, after = pruned.bytes_before / MB, pruned.bytes_after / MB
    line = f"Removed {what}; the file went from {before:.1f} MB to {after:.1f} MB."
    if pruned.blocked:
        line += " Another process is reading the store: the file shrinks once it is done."
    out.print(Text(line))


def _when(stamp: float | None) -> str | None:
    if stamp is None:
        return None
    return datetime.fromtimestamp(stamp, timezone.utc).isoformat(timespec="seconds")


def _row(usage: CandidateUsage) -> dict[str, Any]:
    return {
        "candidate": usage.candidate,
        "measurements": usage.measurements,
        "features": usage.features,
        "bytes": usage.bytes,
        "samples": usage.samples,
        "last_used": _when(usage.used),
    }


def _totals(usage: list[CandidateUsage]) -> dict[str, Any]:
    return {
        "candidates": len(usage),
        "measurements": sum(u.measurements for u in usage),
        "features": sum(u.features for u in usage),
        "bytes": sum(u.bytes for u in usage),
        "mb": sum(u.bytes for u in usage) / MB,
    }


def _table(usage: list[CandidateUsage], title: str = "") -> Table:
    table = Table(
        title=f"measurement store{f' ({title})' if title else ''}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),
    )
    table.add_column("candidate key", overflow="fold")  # whole: it is what --candidate takes
    # rows: measurements; data: the data samples measured on
    for header in ("rows", "arrays", "MB", "data", "last used UTC"):
        table.add_column(header, justify="right", no_wrap=True)
    for u in usage:
        used = (_when(u.used) or "–").replace("T", " ")[:16]
        cells = (u.candidate, u.measurements, u.features, f"{u.bytes / MB:.2f}", u.samples, used)
        table.add_row(*(Text(clean(cell, one_line=True)) for cell in cells))
    return table
