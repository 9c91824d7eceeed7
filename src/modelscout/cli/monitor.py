"""``modelscout monitor``: watch the chosen model's inputs for drift, in its own feature space,
write monitor.json and monitor.html, print the verdict, and exit with its code (0 no drift,
5 drift, 6 retrain recommended) so that a scheduler can act on it (docs/monitor.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from modelscout.cli.exit_codes import fail
from modelscout.cli.options import AllowPickle, Modality, TrustRemoteCode
from modelscout.cli.output import clean, console
from modelscout.cli.rank import (
    ImageColumn,
    LabelColumn,
    MlflowExperiment,
    MlflowUri,
    RankStore,
    SliceColumns,
    SpecFile,
    TextColumn,
)
from modelscout.errors import UserError
from modelscout.monitor.contract import TEST_ORDER

Model = Annotated[
    str,
    typer.Option(
        metavar="ID",
        help="The chosen model: a folder, installed package, Hub id or python: entry, as rank "
        "takes it, or a rank's results.json (its recommendation and its settings).",
    ),
]
Reference = Annotated[
    Path | None,
    typer.Option(
        metavar="PATH",
        help="The data the model was chosen on (labels optional) [default: the spec's or the "
        "results.json's data].",
    ),
]
Current = Annotated[
    Path, typer.Option(metavar="PATH", help="The new data to compare (labels not needed).")
]
MonitorOutput = Annotated[
    Path, typer.Option(metavar="DIR", help="Folder for monitor.json and monitor.html.")
]
Rerank = Annotated[
    Path | None,
    typer.Option(
        metavar="SPEC",
        help="A spec (YAML) or a rank's results.json: rank its candidates again on the current "
        "data (it needs labels) and say whether the chosen model still wins.",
    ),
]
Mlflow = Annotated[
    bool | None,
    typer.Option(
        "--mlflow",
        help="Log the statistics to MLflow, one run per model, one step per call.",
    ),
]
AsJson = Annotated[
    bool, typer.Option("--json", help="Print monitor.json on stdout, the rest on stderr.")
]


def monitor(
    model: Model,
    current: Current,
    reference: Reference = None,
    spec: SpecFile = None,
    modality: Annotated[Modality | None, typer.Option(help="text or image")] = None,
    text_column: TextColumn = None,
    image_column: ImageColumn = None,
    label_column: LabelColumn = None,
    slice_columns: SliceColumns = None,
    output: MonitorOutput = Path("modelscout-monitor"),
    rerank: Rerank = None,
    mlflow: Mlflow = None,
    mlflow_uri: MlflowUri = None,
    mlflow_experiment: MlflowExperiment = None,
    store: RankStore = None,
    allow_pickle: AllowPickle = None,
    trust_remote_code: TrustRemoteCode = None,
    as_json: AsJson = False,
) -> None:
    """Watch the chosen model's inputs for drift: new data against the reference.

    Example:

        modelscout monitor --model out/results.json --current today.csv --output watch
    """
    from modelscout.api import monitor as run_monitor

    settings = {
        "data": str(reference) if reference is not None else None,
        "modality": modality.value if modality is not None else None,
        "text_column": text_column,
        "image_column": image_column,
        "label_column": label_column,
        "slice_columns": slice_columns,
        "mlflow": mlflow,
        "mlflow_uri": mlflow_uri,
        "mlflow_experiment": mlflow_experiment,
        "store": store,
        "allow_pickle": allow_pickle,
        "trust_remote_code": trust_remote_code,
    }
    try:
        report = run_monitor(
            model, current, spec_file=spec, rerank=rerank, output=output, **settings
        )
    except UserError as error:
        fail(str(error))
    show_monitor(report.model_dump(mode="json"), console if as_json else Console())
    console.print(Text(clean(f"Wrote {output / 'monitor.json'}, {output / 'monitor.html'}")))
    if as_json:
        print(report.model_dump_json(indent=2))
    raise typer.Exit(report.verdict.exit_code)


def show_monitor(report: dict[str, Any], out: Console) -> None:
    """The verdict, a table of every section's tests, the reasons and the rerank's sentence."""
    sections = [report["overall"], *report["slices"]]
    names = [n for n in TEST_ORDER if any(n in s["tests"] for s in sections)]
    table = Table(title=clean(f"monitor {report['model']['id']}", one_line=True))
    for header in ["rows", "ref / cur", *names, "verdict"]:
        table.add_column(header)
    for part in sections:
        where = "every row" if part["column"] is None else f"{part['column']} = {part['value']}"
        cells = [_cell(part["tests"].get(n)) for n in names]
        rows = f"{part['rows'][0]} / {part['rows'][1]}"
        table.add_row(
            *(Text(clean(c, one_line=True)) for c in [where, rows, *cells]),
            Text(part["verdict"]["level"]),
        )
    out.print(table)
    verdict = report["verdict"]
    out.print(Text(f"Verdict: {verdict['level']} (exit code {verdict['exit_code']})"))
    for reason in verdict["reasons"]:
        out.print(Text(clean(f"  {reason}", one_line=True)))
    if report.get("rerank"):
        out.print(Text(clean(report["rerank"]["sentence"], one_line=True)))


def _cell(test: dict[str, Any] | None) -> str:
    if test is None:
        return "–"
    if test["p_value"] is None:
        return f"{test['statistic']:.3g}"
    return f"{test['statistic']:.3g} (p {test['p_value']:.2g})"
