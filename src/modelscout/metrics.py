"""Every metric the tool produces, as data: name, unit, direction, label, format, tasks.

A metric name is written here and nowhere else (../shared/DESIGN.md, "Rules"): decide,
constraints and every renderer read names, units, directions, labels and formats from this
registry. Names that carry a batch size (``latency.p95_ms@8``) or a precision
(``gpu.fp16.latency.p95_ms@8``) are families: build them with ``latency_p95(8)`` and
``gpu_name("fp16", ...)``, read them back with ``parse``. A new task's metrics (regression,
multi-label) are new ``MetricSpec`` lines, not new branches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from modelscout.records import TASKS, Task

Direction = Literal["higher", "lower"]


@dataclass(frozen=True)
class MetricSpec:
    """One metric: ``name`` is the base name, without ``@batch`` or ``gpu.{precision}.``."""

    name: str
    unit: str
    direction: Direction | None  # None: not an ordering (a pass flag, a breakdown, a note)
    label: str  # short, for a table header or an axis
    format: str  # for one value, e.g. "{:.3f}"
    tasks: tuple[Task, ...] = TASKS
    description: str = ""
    batched: bool = False  # its name ends in @batch

    @property
    def higher_is_better(self) -> bool:
        return self.direction == "higher"

    def show(self, value: float | None) -> str:
        """``value`` in this metric's format, '–' when missing."""
        return "–" if value is None else self.format.format(value)


CLASSIFICATION: tuple[Task, ...] = ("classification",)
MULTILABEL: tuple[Task, ...] = ("multilabel",)
REGRESSION: tuple[Task, ...] = ("regression",)
LABELS: tuple[Task, ...] = ("classification", "multilabel")  # tasks whose targets are labels

# Base names. A family member is built from its base by the helpers below.
ACCURACY = "probe.accuracy"
MACRO_F1 = "probe.macro_f1"
MACRO_PRECISION = "probe.macro_precision"
MACRO_RECALL = "probe.macro_recall"
BREAKDOWN = "probe.breakdown"
ECE = "probe.ece"
MICRO_F1 = "probe.micro_f1"
SAMPLES_F1 = "probe.samples_f1"
SUBSET_ACCURACY = "probe.subset_accuracy"
R2 = "probe.r2"
MAE = "probe.mae"
RMSE = "probe.rmse"
SPEARMAN = "probe.spearman"
RESIDUALS = "probe.residuals"
TARGET_UNITS = "target units"  # the unit of MAE and RMSE: the target's own (USD for a price)
LATENCY_P50 = "latency.p50_ms"
LATENCY_P95 = "latency.p95_ms"
LATENCY_P99 = "latency.p99_ms"
THROUGHPUT = "throughput.items_per_s"
PREPROCESS_MS = "preprocess.ms_per_batch"
FORWARD_MS = "forward.ms_per_batch"
LOAD_SECONDS = "load.seconds"
PEAK_MEMORY = "memory.peak_mb"
TRUNCATED = "length.truncated_fraction"
ONNX_OK = "deploy.onnx_ok"
ONNX_MAX_ABS_DIFF = "deploy.onnx_max_abs_diff"
ONNX_LATENCY_P50 = "deploy.onnx_latency.p50_ms"
ONNX_LATENCY_P95 = "deploy.onnx_latency.p95_ms"
GPU_MAX_ABS_DIFF = "max_abs_diff"  # only behind gpu.{precision}.
GPU_COSINE_MIN = "cosine_min"  # only behind gpu.{precision}.
GPU_DEVICE = "gpu.device"  # a note: where the GPU path ran, or why it did not
COST_PER_1K = "cost.usd_per_1k"
COST_PER_MONTH = "cost.usd_per_month"
COST_PER_YEAR = "cost.usd_per_year"
COST_FINE_TUNE = "cost.fine_tune_usd"
VERIFY_SECONDS = "verify.train_seconds"
VERIFY_PEAK_MEMORY = "verify.peak_mb"
VERIFY_NOTE = "verify.note"  # mode, epochs run, early stop, budget, holdout, gain; or why not
COST_VERIFY = "cost.verify_usd"
STRESS_DROP = "stress.worst_drop"  # measure/stress.py; per slice in its detail
STRESS_RARE_DROP = "stress.rare_worst_drop"  # the same on the rare classes' rows
FEATURE_LAYER = "features.layer"  # a note: which hidden layer the features come from
PARAMS = "params"  # not a measurement: ModelMeta.params, ranked as the size criterion

GPU_PREFIX = "gpu."
QUANTILES = {"p50": LATENCY_P50, "p95": LATENCY_P95, "p99": LATENCY_P99}

_TIMING = "on the user's inputs and machine"
# fmt: off
_SPECS = [
    # name, unit, direction, label, format, tasks, description
    MetricSpec(ACCURACY, "fraction", "higher", "accuracy", "{:.3f}", CLASSIFICATION,
               "accuracy of the cross-validated linear probe"),
    MetricSpec(MACRO_F1, "fraction", "higher", "macro-F1", "{:.3f}", LABELS,
               "macro-F1 of the cross-validated linear probe (multi-label: over the labels)"),
    MetricSpec(MACRO_PRECISION, "fraction", "higher", "macro-P", "{:.3f}", CLASSIFICATION,
               "macro precision of the probe"),
    MetricSpec(MACRO_RECALL, "fraction", "higher", "macro-R", "{:.3f}", CLASSIFICATION,
               "macro recall of the probe"),
    MetricSpec(BREAKDOWN, "fraction", None, "worst-class F1", "{:.3f}", LABELS,
               "F1 of the worst class (multi-label: label); per class and per slice in its "
               "detail"),
    MetricSpec(ECE, "fraction", "lower", "ECE", "{:.3f}", CLASSIFICATION,
               "expected calibration error of the probe's predicted-class probabilities "
               "(15 equal-width bins); reliability bins in its detail"),
    MetricSpec(MICRO_F1, "fraction", "higher", "micro-F1", "{:.3f}", MULTILABEL,
               "micro-F1 of the cross-validated one-vs-rest probe, over every (row, label)"),
    MetricSpec(SAMPLES_F1, "fraction", "higher", "samples-F1", "{:.3f}", MULTILABEL,
               "F1 of each row's predicted label set, averaged over rows"),
    MetricSpec(SUBSET_ACCURACY, "fraction", "higher", "subset acc.", "{:.3f}", MULTILABEL,
               "share of rows whose whole label set is predicted exactly"),
    MetricSpec(R2, "R²", "higher", "R²", "{:.3f}", REGRESSION,
               "R² of the cross-validated ridge probe, in the target's original units"),
    MetricSpec(MAE, TARGET_UNITS, "lower", "MAE", "{:,.4g}", REGRESSION,
               "mean absolute error of the ridge probe, in the target's original units"),
    MetricSpec(RMSE, TARGET_UNITS, "lower", "RMSE", "{:,.4g}", REGRESSION,
               "root mean squared error of the ridge probe, in the target's original units"),
    MetricSpec(SPEARMAN, "rho", "higher", "Spearman", "{:.3f}", REGRESSION,
               "Spearman rank correlation of the probe's predictions with the targets"),
    MetricSpec(RESIDUALS, TARGET_UNITS, None, "worst-slice MAE", "{:,.4g}", REGRESSION,
               "MAE of the worst slice (overall without slices); residuals by slice, the mean "
               "predictor's figures and predicted-vs-true points in its detail"),
    MetricSpec(LATENCY_P50, "ms", "lower", "p50", "{:.1f}", TASKS,
               f"median latency of one call {_TIMING}", batched=True),
    MetricSpec(LATENCY_P95, "ms", "lower", "p95", "{:.1f}", TASKS,
               f"95th percentile latency of one call {_TIMING}", batched=True),
    MetricSpec(LATENCY_P99, "ms", "lower", "p99", "{:.1f}", TASKS,
               f"99th percentile latency of one call {_TIMING}", batched=True),
    MetricSpec(THROUGHPUT, "items/s", "higher", "items/s", "{:.0f}", TASKS,
               f"items per second {_TIMING}", batched=True),
    MetricSpec(PREPROCESS_MS, "ms", "lower", "preprocess", "{:.1f}", TASKS,
               "median time to make one batch model-ready (tokenize; decode, resize, normalize "
               "images), apart from the forward pass", batched=True),
    MetricSpec(FORWARD_MS, "ms", "lower", "forward", "{:.1f}", TASKS,
               "median time of the forward pass on one preprocessed batch", batched=True),
    MetricSpec(LOAD_SECONDS, "s", "lower", "load s", "{:.2f}", TASKS,
               "time to load the model in a fresh process"),
    MetricSpec(PEAK_MEMORY, "MB", "lower", "peak MB", "{:.0f}", TASKS,
               "peak resident memory above the runtime's"),
    MetricSpec(TRUNCATED, "fraction", "lower", "truncated", "{:.1%}", TASKS,
               "share of inputs longer than the model's max input"),
    MetricSpec(ONNX_OK, "pass", None, "ONNX", "{:.0f}", TASKS,
               "1 when the ONNX export runs and matches PyTorch, 0 when not"),
    MetricSpec(ONNX_MAX_ABS_DIFF, "abs", "lower", "ONNX max diff", "{:.1e}", TASKS,
               "largest absolute difference of ONNX Runtime's features to PyTorch's"),
    MetricSpec(ONNX_LATENCY_P50, "ms", "lower", "ONNX p50", "{:.2f}", TASKS,
               "ONNX Runtime median latency", batched=True),
    MetricSpec(ONNX_LATENCY_P95, "ms", "lower", "ONNX p95", "{:.2f}", TASKS,
               "ONNX Runtime 95th percentile latency", batched=True),
    MetricSpec(GPU_MAX_ABS_DIFF, "abs", "lower", "max abs diff", "{:.1e}", TASKS,
               "largest absolute difference of the GPU features to the CPU fp32 ones"),
    MetricSpec(GPU_COSINE_MIN, "cosine", "higher", "min cosine", "{:.5f}", TASKS,
               "lowest row-wise cosine of the GPU features to the CPU fp32 ones"),
    MetricSpec(GPU_DEVICE, "", None, "GPU", "{}", TASKS,
               "a note: the device and precisions, or why the GPU path was skipped"),
    MetricSpec(COST_PER_1K, "USD", "lower", "$ / 1k", "{:.4f}", TASKS,
               "compute cost of 1,000 predictions"),
    MetricSpec(COST_PER_MONTH, "USD", "lower", "$ / month", "{:,.4g}", TASKS,
               "always-on instances for the traffic, a month"),
    MetricSpec(COST_PER_YEAR, "USD", "lower", "$ / year", "{:,.4g}", TASKS,
               "always-on instances for the traffic, a year"),
    MetricSpec(COST_FINE_TUNE, "USD", "lower", "fine-tuning $", "{:,.4g}", TASKS,
               "estimated cost of fine-tuning on all rows"),
    MetricSpec(VERIFY_SECONDS, "s", "lower", "fine-tune s", "{:.0f}", TASKS,
               "wall seconds of the verification fine-tune (training and its evaluation)"),
    MetricSpec(VERIFY_PEAK_MEMORY, "MB", "lower", "fine-tune MB", "{:.0f}", TASKS,
               "peak resident memory of the verification fine-tune above the runtime's"),
    MetricSpec(VERIFY_NOTE, "", None, "verified", "{}", TASKS,
               "a note: the fine-tune's mode, epochs, early stop and budget, its holdout and "
               "its gain over the frozen probe on the same rows; or why it was skipped"),
    MetricSpec(COST_VERIFY, "USD", "lower", "fine-tune $", "{:,.4g}", TASKS,
               "what the verification fine-tune cost at the spec's hourly price"),
    MetricSpec(FEATURE_LAYER, "layer", None, "layer", "{:.0f}", TASKS,
               "the hidden layer LogME chose (feature_layer: best); the detail says which "
               "features were used (last, mean of all layers, best) and why"),
    MetricSpec(STRESS_DROP, "quality", "lower", "stress drop", "{:.3f}", TASKS,
               "quality lost under the worst stress slice: the quality metric on held-out "
               "rows minus the same on them perturbed (a lower-is-better metric: the rise), "
               "in its own units; every slice with its interval in the detail"),
    MetricSpec(STRESS_RARE_DROP, "quality", "lower", "rare-class drop", "{:.3f}", LABELS,
               "the same on the rare classes' (labels') rows alone: the long tail breaks "
               "first; every slice in the detail"),
    MetricSpec(PARAMS, "count", "lower", "params", "{:,}", TASKS,
               "parameter count (from the weights' headers)"),
]
# fmt: on
# The transferability estimators: all higher-is-better, each on a scale of its own.
LOGME = "logme"
ESTIMATOR_UNITS = {
    LOGME: "evidence/sample",
    "logme_icml": "evidence/sample",
    "h_score": "score",
    "regularized_h_score": "score",
    "transrate": "score",
    "gbc": "score",
    "sfda": "score",
    "parc": "score",
    "nleep": "log-likelihood",
    "knn": "score",  # accuracy (classification), R² (regression), micro-F1 (multi-label)
    "leep": "log-likelihood",
    "nce": "nats",
}
ESTIMATOR_LABELS = {"logme": "LogME", "logme_icml": "LogME (ICML)", "h_score": "H-score",
                    "regularized_h_score": "regularized H-score", "transrate": "TransRate",
                    "gbc": "GBC", "sfda": "SFDA", "parc": "PARC", "nleep": "NLEEP",
                    "knn": "kNN", "leep": "LEEP", "nce": "NCE"}  # fmt: skip
# The tasks each built-in estimator has a published form for (measure/transferability/registry.py
# holds the forms; tests check the two agree). The others serve classification only.
ESTIMATOR_TASKS: dict[str, tuple[Task, ...]] = {LOGME: TASKS, "logme_icml": TASKS, "knn": TASKS}
_SPECS += [
    MetricSpec(name, unit, "higher", ESTIMATOR_LABELS[name], "{:.3f}",
               ESTIMATOR_TASKS.get(name, CLASSIFICATION),
               f"transferability estimator {ESTIMATOR_LABELS[name]}")
    for name, unit in ESTIMATOR_UNITS.items()
]  # fmt: skip
# Every quality metric twice more: fine-tuned on the holdout (``verified.macro_f1``, the
# verification stage) and predicted at the full row count from the probe's learning curve
# (``predicted.macro_f1``); same unit, direction and tasks as the probe's own.
VERIFIED_PREFIX = "verified."
PREDICTED_PREFIX = "predicted."
_QUALITY_SPECS = [
    s for s in _SPECS
    if s.name.startswith("probe.") and s.direction is not None and s.name != ECE
]  # fmt: skip
_SPECS += [
    MetricSpec(VERIFIED_PREFIX + s.name.removeprefix("probe."), s.unit, s.direction,
               f"fine-tuned {s.label}", s.format, s.tasks,
               f"{s.label} of the fine-tuned model on the verification holdout")
    for s in _QUALITY_SPECS
] + [
    MetricSpec(PREDICTED_PREFIX + s.name.removeprefix("probe."), s.unit, s.direction,
               f"{s.label} at full size", s.format, s.tasks,
               f"{s.label} the probe is expected to reach trained on every row, from its "
               "learning curve on nested samples (interval in its detail)")
    for s in _QUALITY_SPECS
]  # fmt: skip
VERIFIED_ECE = VERIFIED_PREFIX + "ece"
_SPECS.append(
    MetricSpec(VERIFIED_ECE, "fraction", "lower", "fine-tuned ECE", "{:.3f}", CLASSIFICATION,
               "expected calibration error of the fine-tuned model's predicted-class "
               "probabilities on the verification holdout (15 bins); reliability bins in its "
               "detail")
)  # fmt: skip
REGISTRY: dict[str, MetricSpec] = {spec.name: spec for spec in _SPECS}
ESTIMATORS = tuple(ESTIMATOR_UNITS)

# The probe metric each task ranks as "quality" unless the spec names another
# (``quality_metric``); constraints (``min_quality``), weights, the Pareto set and every
# sentence about quality then read that one.
DEFAULT_QUALITY: dict[Task, str] = {
    "classification": MACRO_F1,
    "multilabel": MACRO_F1,
    "regression": R2,
}
PROBE_PREFIX = "probe."
# Probe figures that are no quality: a classifier that always predicts the commonest class
# with its frequency as confidence is perfectly calibrated and useless.
NOT_QUALITY = (ECE,)


def quality_choices(task: Task) -> list[str]:
    """The probe metrics of ``task`` that can be ranked as its quality (they have a direction)."""
    return [
        s.name
        for s in _SPECS
        if s.name.startswith(PROBE_PREFIX)
        and task in s.tasks
        and s.direction is not None
        and s.name not in NOT_QUALITY
    ]


def quality_metric(task: Task, chosen: str | None = None) -> str:
    """The quality metric of a run: ``chosen`` (a full name, ``probe.r2``, or a short one,
    ``r2``) or the task's default; ``ValueError`` (one line) when ``chosen`` is no quality
    metric of ``task``."""
    if chosen is None:
        return DEFAULT_QUALITY[task]
    name = chosen if chosen.startswith(PROBE_PREFIX) else PROBE_PREFIX + chosen
    choices = quality_choices(task)
    if name not in choices:
        short = ", ".join(c.removeprefix(PROBE_PREFIX) for c in choices)
        raise ValueError(f"quality_metric {chosen!r} is not a {task} metric; use one of {short}")
    return name


def verified(quality: str) -> str:
    """``probe.macro_f1`` -> ``verified.macro_f1``: the quality metric of the fine-tuned model."""
    return VERIFIED_PREFIX + quality.removeprefix(PROBE_PREFIX)


def predicted(quality: str) -> str:
    """``probe.macro_f1`` -> ``predicted.macro_f1``: the quality metric at the full row count."""
    return PREDICTED_PREFIX + quality.removeprefix(PROBE_PREFIX)


def spec(name: str) -> MetricSpec:
    """The spec of a metric name, family members included; KeyError for an unknown name."""
    return parse(name)[0]


def with_batch(base: str, batch: int) -> str:
    """``latency.p95_ms`` and 8 -> ``latency.p95_ms@8``."""
    return f"{base}@{batch}"


def latency(quantile: str, batch: int = 1) -> str:
    """``latency("p95", 8)`` -> ``latency.p95_ms@8``; quantile is p50, p95 or p99."""
    return with_batch(QUANTILES[quantile], batch)


def latency_p50(batch: int = 1) -> str:
    return with_batch(LATENCY_P50, batch)


def latency_p95(batch: int = 1) -> str:
    return with_batch(LATENCY_P95, batch)


def throughput(batch: int) -> str:
    return with_batch(THROUGHPUT, batch)


def preprocess_ms(batch: int) -> str:
    """``preprocess_ms(8)`` -> ``preprocess.ms_per_batch@8``."""
    return with_batch(PREPROCESS_MS, batch)


def forward_ms(batch: int) -> str:
    """``forward_ms(8)`` -> ``forward.ms_per_batch@8``."""
    return with_batch(FORWARD_MS, batch)


def onnx_latency(quantile: str, batch: int = 1) -> str:
    """``onnx_latency("p50")`` -> ``deploy.onnx_latency.p50_ms@1``."""
    base = {"p50": ONNX_LATENCY_P50, "p95": ONNX_LATENCY_P95}[quantile]
    return with_batch(base, batch)


def gpu_name(precision: str, name: str) -> str:
    """A CPU metric's name measured on the GPU at ``precision``:
    ``gpu_name("fp16", "latency.p95_ms@1")`` -> ``gpu.fp16.latency.p95_ms@1``."""
    return f"{GPU_PREFIX}{precision}.{name}"


def at_precision(precision: str | None, name: str) -> str:
    """``name`` as measured on the CPU when ``precision`` is None or "", else on the GPU at
    ``precision``: ``at_precision("fp16", "load.seconds")`` -> ``gpu.fp16.load.seconds``."""
    return gpu_name(precision, name) if precision else name


def parse(name: str) -> tuple[MetricSpec, int | None, str | None]:
    """``(spec, batch, precision)`` of a metric name; batch and precision None where the name
    has none. ``parse("gpu.fp16.latency.p95_ms@8")`` -> (latency.p95_ms's spec, 8, "fp16").
    KeyError for a name no spec covers."""
    base, _, batch_text = name.partition("@")
    precision = None
    if base not in REGISTRY and base.startswith(GPU_PREFIX):
        precision, _, base = base.removeprefix(GPU_PREFIX).partition(".")
    found = REGISTRY.get(base)
    if found is None or found.batched != bool(batch_text):
        raise KeyError(f"no metric spec covers {name!r} (see modelscout.metrics)")
    return found, int(batch_text) if batch_text else None, precision


def is_known(name: str) -> bool:
    """Whether a spec covers ``name``."""
    try:
        parse(name)
    except (KeyError, ValueError):
        return False
    return True


def batch_sizes(names: list[str] | dict[str, object], base: str) -> list[int]:
    """The batch sizes ``base`` (a batched CPU name) was measured at among ``names``."""
    found = []
    for name in names:
        if is_known(name):
            spec_, batch, precision = parse(name)
            if spec_.name == base and precision is None:
                found.append(batch)
    return sorted(found)


def label(name: str) -> str:
    """Display label of a name with its batch and precision: 'p95 ms @1', 'fp16 p95 ms @1'."""
    found, batch, precision = parse(name)
    text = found.label
    if found.batched and found.unit == "ms":
        text += " ms"
    if batch is not None:
        text += f" @{batch}"
    return f"{precision} {text}" if precision else text


def unit(name: str) -> str:
    return parse(name)[0].unit


def fmt(name: str) -> str:
    return parse(name)[0].format


def for_task(task: Task) -> list[MetricSpec]:
    """The specs that apply to ``task``."""
    return [s for s in _SPECS if task in s.tasks]
