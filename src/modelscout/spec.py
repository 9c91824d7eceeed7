"""What the user wants: task, data, candidates, constraints and weights.

A spec comes from a YAML file, from CLI flags, or both (flags win). Every field
is validated by pydantic; a malformed spec is a ``UserError`` naming the field.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from modelscout.errors import UserError
from modelscout.estimator_names import DEFAULT_ESTIMATORS, check_estimator_names
from modelscout.metrics import PROBE_PREFIX, quality_choices, quality_metric
from modelscout.presets import instance_presets
from modelscout.records import TASKS, Modality, Task
from modelscout.variant_syntax import parse_variant

# The signals the ranking's quality is made of by default: the best predictor of the
# full-train ranking in benchmarks/quality_evidence.py (docs/benchmarks.md)
QUALITY_SIGNALS = ("sample", "full_size")
DEFAULT_QUALITY_EVIDENCE = ("sample", "full_size")
BASELINE_TFIDF = "baseline:tfidf"
BASELINE_PIXELS = "baseline:pixels"
BASELINE_COLUMNS = "baseline:columns"  # fitted on ``baseline_columns`` of the table
# The baseline ``baseline: true`` adds, by the data's modality.
BASELINES = {"text": BASELINE_TFIDF, "image": BASELINE_PIXELS}


def in_memory_kind(data: Any) -> str | None:
    """ "DataFrame" for a pandas.DataFrame, "Dataset" for a datasets.Dataset, else None.

    Looked up in ``sys.modules``: whoever holds such an object has imported its library, and
    whoever has not need not pay for importing it here (datasets is an optional dependency).
    """
    pandas, datasets = sys.modules.get("pandas"), sys.modules.get("datasets")
    if pandas is not None and isinstance(data, pandas.DataFrame):
        return "DataFrame"
    if datasets is not None and isinstance(data, datasets.Dataset):
        return "Dataset"
    return None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Constraints(_Strict):
    """Hard requirements: a candidate that breaks one is rejected with the reason."""

    max_latency_ms_p95: float | None = Field(None, gt=0, description="p95 latency at batch 1, ms")
    max_params: int | None = Field(None, gt=0, description="parameter count")
    max_memory_mb: float | None = Field(None, gt=0, description="peak memory while serving, MB")
    licenses: list[str] | None = Field(None, description="allowed licence ids, e.g. apache-2.0")
    languages: list[str] | None = Field(None, description="languages the model must declare")
    min_quality: float | None = Field(
        None,
        description="the quality metric must reach this (for a lower-is-better one, such as "
        "MAE: must not exceed it)",
    )
    max_quality_drop: float | None = Field(
        None,
        ge=0,
        description="the quality lost under the worst stress slice (stress:), in the quality "
        "metric's units, must not exceed this",
    )


class Weights(_Strict):
    """How much each criterion counts in the ranking (they need not sum to 1)."""

    quality: float = Field(
        0.6, ge=0, description="the quality metric (quality_metric: macro-F1, R² by default)"
    )
    latency: float = Field(0.2, ge=0, description="p95 latency at batch 1")
    memory: float = Field(0.1, ge=0, description="peak memory")
    size: float = Field(0.1, ge=0, description="parameter count")
    transferability: float = Field(0.0, ge=0, description="LogME")
    cost: float = Field(0.0, ge=0, description="$ per 1k predictions (needs a price)")
    robustness: float = Field(
        0.0, ge=0, description="the quality lost under the worst stress slice (needs stress:)"
    )

    @model_validator(mode="after")
    def _not_all_zero(self) -> Weights:
        if not any(self.model_dump().values()):
            raise ValueError("all weights are 0; give at least one criterion a positive weight")
        return self


class Cost(_Strict):
    """What serving and fine-tuning cost: an hourly price and the traffic to serve."""

    instance: str | None = Field(None, description="a preset from measure/instances.yaml")
    price_per_hour: float | None = Field(None, gt=0, description="USD per hour; wins over instance")
    requests_per_day: float | None = Field(None, ge=0, description="for monthly/annual figures")
    batch_size: int = Field(1, ge=1, description="batch size requests are served at")
    fine_tune_epochs: int = Field(3, ge=1, description="epochs assumed for the fine-tuning cost")

    @field_validator("instance")
    @classmethod
    def _known_instance(cls, value: str | None) -> str | None:
        if value is not None and value not in instance_presets():
            names = ", ".join(instance_presets())
            raise ValueError(f"unknown instance '{value}'; use one of {names}")
        return value


class Verify(_Strict):
    """The verification stage: fine-tune the top candidates of the frozen ranking on the
    user's data (measure/verify) and rank the finalists on what they reach fine-tuned.
    ``verify: 2`` in YAML (or ``--verify 2``) is ``verify: {top: 2}``."""

    top: int = Field(0, ge=0, description="fine-tune this many finalists (0: no verification)")
    mode: Literal["head", "full", "lora"] = Field(
        "full",
        description="head: a new head on frozen weights; full: every weight; lora: low-rank "
        "adapters (peft) where the architecture has known target modules",
    )
    epochs: int = Field(3, ge=1, description="at most this many epochs (early stopping)")
    patience: int = Field(1, ge=1, description="epochs without a better validation loss")
    budget_s: float = Field(300.0, gt=0, description="wall seconds each fine-tune may take")
    learning_rate: float | None = Field(None, gt=0, description="[head 1e-2, full 3e-5, lora 5e-4]")
    batch_size: int = Field(16, ge=1, description="training batch size")
    folds: int = Field(
        1,
        ge=1,
        description="fine-tune on this many of the probe's folds, each holding its test rows "
        "out (1: one holdout of 1/folds of the rows)",
    )

    @model_validator(mode="before")
    @classmethod
    def _count_alone(cls, value: Any) -> Any:
        return {"top": value} if isinstance(value, int) and not isinstance(value, bool) else value


_DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


class Budget(_Strict):
    """What successive halving may spend (halving.py): ``passes`` (one pass: one candidate
    measured on the whole sample) or wall ``seconds`` of measuring. In YAML and on the
    command line: ``budget: 6`` or ``6 passes``; ``900s``, ``15m``, ``1h``."""

    passes: float | None = Field(None, gt=0, description="candidate passes")
    seconds: float | None = Field(None, gt=0, description="wall seconds of measuring")

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("give a number of passes (6, '6 passes') or a duration ('15m')")
        if isinstance(value, (int, float)):
            return {"passes": value}
        if not isinstance(value, str):
            return value
        text = value.strip().lower()
        for word in (" passes", " pass", "passes", "pass"):
            if text.endswith(word):
                return {"passes": _number(text.removesuffix(word), value)}
        if text[-1:] in _DURATION_UNITS:
            return {"seconds": _number(text[:-1], value) * _DURATION_UNITS[text[-1]]}
        return {"passes": _number(text, value)}

    @model_validator(mode="after")
    def _one_unit(self) -> Budget:
        if (self.passes is None) == (self.seconds is None):
            raise ValueError("give the budget in passes or in seconds, not both")
        return self

    def __str__(self) -> str:
        if self.passes is not None:
            return f"{self.passes:g} passes"
        return f"{self.seconds:g} s"


def _number(text: str, value: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(
            f"budget {value!r} is not a number of passes ('6', '6 passes') or a duration "
            "('900s', '15m', '1h')"
        ) from None


# The perturbations a stress slice can apply, by modality (data/perturb.py's TEXT and IMAGE;
# a test checks they agree): written here so that checking a spec imports no Pillow.
PERTURBATIONS: dict[str, tuple[str, ...]] = {
    "text": (
        "typos",
        "char_noise",
        "casing",
        "truncation",
        "drop_words",
        "duplicate_words",
        "code_switching",
    ),
    "image": ("blur", "noise", "jpeg", "brightness", "contrast", "rotation", "downscale"),
}


class Perturbation(_Strict):
    """One stress slice: the held-out rows perturbed by ``kind`` at ``severity``. In YAML a
    bare kind (``typos``, severity 0.3) or ``typos:0.1`` will do."""

    kind: str = Field(description="a perturbation of data/perturb.py, e.g. typos, blur")
    severity: float = Field(0.3, gt=0, le=1, description="how strong, in (0, 1]")
    vocabulary: list[str] | None = Field(
        None,
        description="code_switching: the words of another language switched in (default: "
        "none given is an error)",
    )

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            kind, _, severity = value.partition(":")
            return {"kind": kind.strip(), **({"severity": severity} if severity else {})}
        return value

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        known = [k for kinds in PERTURBATIONS.values() for k in kinds]
        if value not in known:
            raise ValueError(f"unknown perturbation {value!r}; use one of {', '.join(known)}")
        return value

    @model_validator(mode="after")
    def _vocabulary_for_code_switching(self) -> Perturbation:
        if self.kind == "code_switching" and not self.vocabulary:
            raise ValueError("code_switching needs a vocabulary: the words switched in")
        return self

    @property
    def name(self) -> str:
        """The slice's name in the results and reports: ``typos:0.1``."""
        return f"{self.kind}:{self.severity:g}"

    @property
    def modality(self) -> str:
        return next(m for m, kinds in PERTURBATIONS.items() if self.kind in kinds)


class Stress(_Strict):
    """Stress slices (measure/stress.py): held-out rows of the sample perturbed, encoded by
    each candidate and scored by the probe fitted on the clean rows of the other folds.
    ``stress: [typos, blur:0.5]`` in YAML is ``stress: {perturbations: [...]}``."""

    perturbations: list[Perturbation] = Field(min_length=1, description="the slices")
    rows: int = Field(
        500,
        ge=20,
        description="held-out rows perturbed per slice (a stratified subset of the sample)",
    )

    @model_validator(mode="before")
    @classmethod
    def _list_alone(cls, value: Any) -> Any:
        return {"perturbations": value} if isinstance(value, (list, str)) else value

    @field_validator("perturbations", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _distinct(self) -> Stress:
        names = [p.name for p in self.perturbations]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"perturbation {twice[0]} is named twice")
        return self


class Halving(_Strict):
    """The schedule of successive halving (used when ``budget`` is set)."""

    eta: int = Field(3, ge=2, description="each round keeps about 1/eta of its candidates")
    finalists: int = Field(
        3, ge=1, description="at least this many reach the last round (the top-3 to compare)"
    )
    min_rows: int = Field(200, ge=20, description="rows of the first round's sample, at the least")


class Spec(_Strict):
    """One ranking run, fully described."""

    data: Any = Field(
        description="CSV, TSV, JSONL, JSON or Parquet file, or a folder of images with one "
        "sub-folder per class (relative to this file); from Python also a pandas.DataFrame or "
        "a datasets.Dataset"
    )
    modality: Modality | None = Field(
        None,
        description="text or image (audio: not yet) [image for a folder or a table whose "
        "image_column names image files, else text]",
    )
    text_column: str = Field("text", description="column holding the texts")
    image_column: str = Field(
        "image", description="column holding image file paths (relative to the table's folder)"
    )
    label_column: str = Field(
        "label",
        description="column holding the labels (classification, multilabel) or the numbers "
        "(regression)",
    )
    task: Task | None = Field(
        None,
        description="classification, multilabel or regression [detected from the label "
        "column: lists -> multilabel, numbers with many distinct values -> regression]",
    )
    label_delimiter: str | None = Field(
        None,
        description="multilabel: the text between a row's labels, e.g. ';' (JSON lists are "
        "read without it)",
    )
    target_transform: Literal["log"] | None = Field(
        None,
        description="regression: fit on log(target) (skewed targets such as prices); every "
        "figure is still in the original units",
    )
    quality_metric: str | None = Field(
        None,
        description="the probe metric ranked and constrained as quality, e.g. macro_f1, "
        "micro_f1, r2, mae [macro_f1; r2 for regression]",
    )
    quality_evidence: list[str] = Field(
        default_factory=lambda: list(DEFAULT_QUALITY_EVIDENCE),
        description="what the ranking's quality criterion is made of, each min-max scaled over "
        "the candidates and averaged: sample (the probe on the sample), full_size (its "
        "learning curve at the data's rows), or an estimator (knn, logme, ...); a candidate "
        "without one uses the others",
    )
    baseline_columns: list[str] | None = Field(
        None,
        description="also rank a baseline fitted on these other columns of the table "
        "(categories one-hot, numbers as they are), e.g. [room_type]",
    )
    candidates: list[str] = Field(
        default_factory=list,
        description="model folders, installed model packages, Hub ids, python:module:factory, "
        "baseline:tfidf (text) or baseline:pixels (images)",
    )
    variants: list[str] = Field(
        default_factory=list,
        description="derive from every model candidate: int8, layers:K, max_length:L, image_size:S",
    )
    baseline: bool = Field(
        True,
        description="also rank the baseline of the data's modality (TF-IDF + linear SVM for "
        "text, raw pixels for images)",
    )
    slice_columns: list[str] | None = Field(
        None, description="columns to break scores down by [language, if present]"
    )
    max_samples: int = Field(2000, ge=10, description="rows of the stratified sample")
    folds: int = Field(5, ge=2, le=20, description="cross-validation folds")
    seed: int = Field(0, description="seed for the sample and the folds")
    batch_size: int = Field(32, ge=1, description="batch size of the feature pass")
    feature_layer: Literal["last", "mean", "best"] = Field(
        "last",
        description="the hidden layer features come from: last (the model's own output), "
        "mean (the mean of every layer, pooled), best (the layer with the best LogME on the "
        "sample)",
    )
    batch_sizes: list[int] = Field(
        default_factory=lambda: [1, 8, 32], description="batch sizes timed (1 is always included)"
    )
    output: Path = Field(Path("modelscout-results"), description="folder the reports go to")
    store: Path | None = Field(
        None, description="SQLite measurement cache [$MODELSCOUT_STORE or ~/.cache/modelscout]"
    )
    threads: int | None = Field(
        None, ge=1, description="torch/BLAS threads to measure with [all cores]"
    )
    keep_artifacts: Path | None = Field(None, description="keep exported ONNX / int8 models here")
    allow_pickle: bool = Field(False, description="load pickle (.bin) checkpoints (can run code)")
    trust_remote_code: bool = Field(False, description="run the models' own Python code")
    latency_budget_s: float = Field(2.0, gt=0, description="time spent timing each batch size")
    onnx: bool = Field(False, description="export to ONNX, compare outputs and latency")
    gpu: Literal["auto", "off"] = Field(
        "auto", description="auto: also measure on the CUDA GPU, if there is one; off: CPU only"
    )
    estimators: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ESTIMATORS),
        description="transferability estimators (leep and nce need a classification head)",
    )
    constraints: Constraints = Field(
        default_factory=Constraints, description="hard requirements; breaking one rejects"
    )
    weights: Weights = Field(default_factory=Weights, description="what counts how much")
    cost: Cost = Field(default_factory=Cost, description="hourly price and traffic to serve")
    verify: Verify = Field(
        default_factory=Verify, description="fine-tune the top finalists (verify: K)"
    )
    predict_rows: int | None = Field(
        None,
        gt=0,
        description="also predict the quality at this many training rows [the data's rows]",
    )
    budget: Budget | None = Field(
        None,
        description="successive halving over the candidates within this budget: passes "
        "(6, '6 passes') or a duration ('15m') [none: measure every candidate fully]",
    )
    halving: Halving = Field(default_factory=Halving, description="the halving schedule")
    executor: Literal["local", "ray"] = Field(
        "local", description="where the jobs run: this machine, or a Ray cluster"
    )
    address: str | None = Field(
        None,
        description="the Ray cluster's address (ray: executor) [RAY_ADDRESS, else a local "
        "Ray started for the run]",
    )
    force: bool = Field(False, description="recompute what the store already holds")
    stress: Stress | None = Field(
        None, description="stress slices: perturbations of held-out rows (measure/stress.py)"
    )
    mlflow: bool = Field(
        False, description="log the run to MLflow: a run, a nested run per candidate, the reports"
    )
    mlflow_uri: str | None = Field(
        None, description="MLflow tracking URI (implies mlflow) [MLFLOW_TRACKING_URI]"
    )
    mlflow_experiment: str = Field("modelscout", description="MLflow experiment to log to")

    @property
    def tracked(self) -> bool:
        """Whether the run is logged to MLflow (``mlflow``, or a ``mlflow_uri`` given)."""
        return self.mlflow or self.mlflow_uri is not None

    @model_validator(mode="after")
    def _stress_for_robustness(self) -> Spec:
        if self.stress is None and self.weights.robustness > 0:
            raise ValueError("weights.robustness needs stress slices; add stress: [typos, ...]")
        if self.stress is None and self.constraints.max_quality_drop is not None:
            raise ValueError(
                "constraints.max_quality_drop needs stress slices; add stress: [typos, ...]"
            )
        return self

    @model_validator(mode="after")
    def _serving_batch_is_timed(self) -> Spec:
        if self.cost.batch_size not in self.batch_sizes:
            self.batch_sizes = sorted({*self.batch_sizes, self.cost.batch_size})
        return self

    @field_validator("data")
    @classmethod
    def _file_or_table(cls, value: Any) -> Any:
        """A path (str or Path) as a Path; a DataFrame or Dataset as it is (Python API)."""
        if isinstance(value, (str, Path)):
            return Path(value)
        if in_memory_kind(value) is None:
            raise ValueError(
                f"a {type(value).__name__} is not data; give a file path, a pandas.DataFrame "
                "or a datasets.Dataset"
            )
        return value

    @field_serializer("data")
    def _data_as_text(self, value: Any) -> str:
        """The path, or what the in-memory table was (it is not written out)."""
        kind = in_memory_kind(value)
        return str(value) if kind is None else f"<{kind} of {len(value)} rows>"

    @field_validator("quality_metric")
    @classmethod
    def _known_quality(cls, value: str | None) -> str | None:
        # The task may still be detected from the data: prepare() checks the pair.
        if value is not None:
            name = value if value.startswith(PROBE_PREFIX) else PROBE_PREFIX + value
            known = {c for task in TASKS for c in quality_choices(task)}
            if name not in known:
                short = ", ".join(sorted(c.removeprefix(PROBE_PREFIX) for c in known))
                raise ValueError(f"unknown quality metric {value!r}; use one of {short}")
        return value

    @model_validator(mode="after")
    def _task_settings_fit(self) -> Spec:
        if self.target_transform is not None and self.task not in (None, "regression"):
            raise ValueError(f"target_transform is for regression; the task is {self.task}")
        if self.label_delimiter is not None and self.task not in (None, "multilabel"):
            raise ValueError(f"label_delimiter is for multilabel; the task is {self.task}")
        if self.quality_metric is not None and self.task is not None:
            quality_metric(self.task, self.quality_metric)
        return self

    @field_validator("gpu", mode="before")
    @classmethod
    def _yaml_switch(cls, value: Any) -> Any:
        """YAML reads a bare ``off`` (or ``on``) as a boolean; take it as the word meant."""
        return ("auto" if value else "off") if isinstance(value, bool) else value

    @field_validator("batch_sizes")
    @classmethod
    def _with_batch_of_one(cls, value: list[int]) -> list[int]:
        if any(size < 1 for size in value):
            raise ValueError("batch sizes must be positive integers")
        return sorted({1, *value})

    @field_validator("quality_evidence")
    @classmethod
    def _known_signals(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("name at least one signal: sample, full_size or an estimator")
        try:
            check_estimator_names([v for v in value if v not in QUALITY_SIGNALS])
        except ValueError as error:
            raise ValueError(f"{error}; or sample, full_size") from None
        return list(dict.fromkeys(value))

    @field_validator("estimators")
    @classmethod
    def _known_estimators(cls, value: list[str]) -> list[str]:
        # By name (built-ins and installed plugins): checking a spec imports no estimator.
        return check_estimator_names(value)

    @field_validator("variants")
    @classmethod
    def _known_variants(cls, value: list[str]) -> list[str]:
        return [str(parse_variant(v)) for v in value]

    def all_candidates(self, modality: Modality = "text") -> list[str]:
        """Candidate ids to measure: the named ones, their variants, then the baselines (the
        one of the data's ``modality`` when ``baseline`` is on, the columns baseline when
        ``baseline_columns`` names columns, whatever ``baseline`` says, and any named)."""
        baselines = {*BASELINES.values(), BASELINE_COLUMNS}
        named = [c for c in self.candidates if c not in baselines]
        derived = [f"{c}+{v}" for c in named if "+" not in c for v in self.variants]
        ids = list(dict.fromkeys(named + derived))
        wanted = [c for c in self.candidates if c in baselines]
        if self.baseline and modality in BASELINES:
            wanted.append(BASELINES[modality])
        if self.baseline_columns:
            wanted.append(BASELINE_COLUMNS)
        return ids + list(dict.fromkeys(wanted))


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "spec"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown setting (check its spelling against the spec format in README.md)"
    more = f" (and {len(error.errors()) - 1} more)" if len(error.errors()) > 1 else ""
    return f"{where}: {message}{more}"


def read_spec_file(path: Path) -> dict[str, Any]:
    """Read a YAML spec into a dict, resolving ``data`` relative to the file's folder."""
    if not path.is_file():
        raise UserError(f"spec file {path} does not exist; check the path given to --spec")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UserError(f"spec file {path} is not valid YAML{where}; fix its syntax") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise UserError(
            f"spec file {path} must be a mapping of settings, not a {type(raw).__name__}"
        )
    for key in ("data", "output", "store", "keep_artifacts"):
        if isinstance(raw.get(key), str) and not Path(raw[key]).is_absolute():
            raw[key] = str(path.parent / raw[key])
    return raw


def build_spec(spec_file: Path | None = None, **overrides: Any) -> Spec:
    """The spec from an optional YAML file, with non-None ``overrides`` (CLI flags) on top."""
    settings = read_spec_file(spec_file) if spec_file else {}
    verify = settings.get("verify")
    if isinstance(verify, int) and not isinstance(verify, bool):  # ``verify: 2``; flags merge
        settings["verify"] = {"top": settings["verify"]}
    if isinstance(settings.get("stress"), (list, str)):  # ``stress: [typos]``; flags merge
        settings["stress"] = {"perturbations": settings["stress"]}
    for key, value in overrides.items():
        # (not ``value == []``: a DataFrame compares element by element)
        if value is None or (isinstance(value, (list, tuple)) and not value):
            continue
        if isinstance(value, dict):
            given = {k: v for k, v in value.items() if v is not None}
            if given:
                settings[key] = {**settings.get(key, {}), **given}
        else:
            settings[key] = value
    if settings.get("data") is None:
        raise UserError("no data given; pass --data FILE or set data: in the spec file")
    try:
        return Spec.model_validate(settings)
    except ValidationError as error:
        source = f"spec file {spec_file}" if spec_file else "settings"
        raise UserError(f"{source}: {_describe(error)}") from None


def load_spec(path: str | Path) -> Spec:
    """Load and validate a YAML spec file."""
    return build_spec(Path(path))
