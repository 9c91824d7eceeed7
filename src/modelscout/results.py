"""results.json as a typed model: what docs/results-schema.md documents and
report/json.py's ``build_results`` emits, for ``modelscout schema`` and for readers.

Every part forbids unknown keys, so a field added to ``build_results`` but not here (or
the other way round) fails tests/test_results_model.py. A field added in a later minor
version has a default, so older files (1.0 to 1.3) still validate. To add a field: add it to
its part below, with a default when older files lack it, and to docs/results-schema.md.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelscout.records import ModelMeta


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Tool(_Closed):
    name: str = Field(description="modelscout")
    version: str


class Metric(_Closed):
    """One measurement: every number carries its unit and, where measured, its spread."""

    value: float | None = Field(description="null when not measured, never guessed")
    spread: float | None = Field(description="std over cross-validation folds, where any")
    unit: str
    detail: dict[str, Any] | None = Field(None, description="how it was measured (per metric)")


class GpuPath(_Closed):
    """Where the GPU path ran and at which precisions, or why it was skipped."""

    device: str | None = None
    device_name: str | None = None
    runtime: str | None = None
    precisions: list[str] | None = None
    failed: dict[str, str] | None = None
    skipped: str | None = Field(None, description="instead of the rest: why it did not run")


class Meta(ModelMeta):
    """What is known about a candidate without running it (catalog/meta.py's ModelMeta)."""

    model_config = ConfigDict(extra="forbid")


class Confusion(_Closed):
    """1.4: one of a candidate's most confused class pairs, as decide wrote it."""

    true: str = Field(description="the true class")
    predicted: str = Field(description="the class the probe predicted for it")
    count: int = Field(description="rows of the true class predicted as the other")
    class_rows: int = Field(description="rows of the true class in the sample")
    examples: list[str] = Field(
        description="inputs of such rows: image file paths, or texts cut to 200 characters"
    )
    sentence: str


class Candidate(_Closed):
    id: str = Field(description="as the user named it, with +variant parts")
    source: str = Field(description="folder, package, hub or baseline")
    path: str | None
    revision: str | None
    parent: str | None = Field(description="for a derived variant, the id it was derived from")
    variants: list[str]
    status: str = Field(
        description="ranked, rejected, failed, or stopped (1.8: left behind by halving)"
    )
    reason: str | None = Field(description="why it was rejected or failed, in one line")
    log: str | None = Field(
        None, description="1.2: a failed candidate's traceback file, relative to results.json"
    )
    flags: list[str] = Field(
        default_factory=list,
        description="1.2: why a ranked candidate is not clearly within the latency budget",
    )
    artifacts: dict[str, str] | None = Field(
        None, description="1.2: kind (onnx, int8) -> path of a kept exported model"
    )
    rank: int | None
    score: float | None
    pareto: bool
    criteria: dict[str, float]
    metrics: dict[str, Metric]
    gpu: GpuPath | None = Field(None, description="1.1: the GPU path; null for the baseline")
    confusions: list[Confusion] = Field(
        default_factory=list, description="1.4: the most confused class pairs, most rows first"
    )
    beats: dict[str, bool] = Field(
        default_factory=dict,
        description="1.5: for a ranked candidate, baseline id (and, for regression, 'mean "
        "predictor') -> whether its quality metric beats that one's",
    )
    meta: Meta
    predictions: list[Any] | None = Field(
        None,
        description="1.7: the probe's out-of-fold predictions, one per sample row in the order "
        "of data.row_keys: class ids into data.classes, label-index lists (multi-label) or "
        "numbers in the target's units; null when not kept (not measured, or an older file)",
    )


class VariantComparison(_Closed):
    variant: str
    parent: str
    ratios: dict[str, float | None] = Field(description="variant / parent")
    sentence: str


class Sensitivity(_Closed):
    criterion: str
    current_share: float
    pick_holds_from: float | None
    pick_holds_to: float | None
    flips_to: list[str]
    sentence: str | None = Field(None, description="1.3: what this means for the pick")


class Stability(_Closed):
    estimator: str
    top: dict[str, str] = Field(description="subsample fraction -> top candidate")
    kendall_tau_vs_full: dict[str, float]
    settled: bool


class LongTail(_Closed):
    """1.3: the long-tail classes (1.5: multi-label, labels) of the sample, as decide defined
    them; for labels ``rows`` and ``total_rows`` count label assignments."""

    share: float = Field(description="the long tail holds at most this share of the rows")
    classes: list[str] = Field(description="smallest first")
    rows: int
    total_rows: int
    sentence: str


class ClassCount(_Closed):
    name: str
    rows: int = Field(description="rows of the class; multi-label: rows having the label")


class TargetSummary(_Closed):
    """1.5: a regression target in the sample, in its original units."""

    min: float
    median: float
    max: float
    mean: float
    transform: str | None = Field(description="'log' when models were fitted on log(target)")


class Data(_Closed):
    source: str
    modality: str | None = Field(None, description="1.4: text or image")
    fingerprint: str
    sample_fingerprint: str
    rows_in_file: int
    rows_dropped: int
    rows_used: int
    classes: list[ClassCount] = Field(
        description="classes (multi-label: labels, with their support) in the sample; empty "
        "for regression"
    )
    target: TargetSummary | None = Field(None, description="1.5: regression only")
    slices: dict[str, dict[str, int]] = Field(description="column -> value -> rows")
    max_text_chars: int | None = Field(None, description="1.2: characters each text is cut to")
    rows_cut: int = Field(0, description="1.2: texts that were cut to max_text_chars")
    notes: list[str] = Field(
        default_factory=list, description="1.2: sentences the reports show about the data"
    )
    row_keys: list[str] | None = Field(
        None,
        description="1.7: per sample row, a hash of its input and target that identifies it "
        "across runs; null when no predictions were kept",
    )
    truth: list[Any] | None = Field(
        None,
        description="1.7: per sample row, its target in the predictions' form (class id, "
        "label-index list or number); null when no predictions were kept",
    )


class Machine(_Closed):
    cpu: str
    cores: int | None
    platform: str
    threads: int | None = None
    device: str | None = None


class Environment(_Closed):
    modelscout: str
    python: str
    packages: dict[str, str | None]
    machine: Machine


class Run(_Closed):
    measured: int
    reused: int
    seconds: float
    timings: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="1.1: candidate -> step -> wall seconds"
    )
    threads: dict[str, Any] | None = Field(
        None, description="1.2: {threads: N or null, source: why} the timings were taken with"
    )
    executor: str = Field("local", description="1.8: where the jobs ran: local or ray")


class TiePair(_Closed):
    """1.6: one candidate against the best on the quality metric, on the same resampled rows."""

    candidate: str
    difference: float = Field(description="candidate − best, in the quality metric's units")
    low: float = Field(description="lower end of the percentile interval of the difference")
    high: float = Field(description="upper end of the percentile interval")
    tied: bool = Field(description="the interval holds 0")


class Ties(_Closed):
    """1.6: the paired test of every ranked candidate against the best on quality."""

    metric: str = Field(description="the quality metric tested")
    method: str = Field(description="paired bootstrap")
    resamples: int
    confidence: float
    rows: int = Field(description="the sample rows resampled (the probes' out-of-fold rows)")
    best: str = Field(description="the ranked candidate with the best quality")
    tied_with_best: list[str] = Field(description="candidates whose interval holds 0")
    pairs: list[TiePair]
    sentence: str = Field(description="what the test is and who is tied, as the reports show it")


class Verification(_Closed):
    """1.7: what the verification stage did: the finalists fine-tuned, and the pick after."""

    mode: str = Field(description="head, full or lora")
    asked: int = Field(description="verify.top as the spec gave it")
    finalists: list[str] = Field(description="the frozen ranking's top, best first")
    verified: list[str] = Field(description="finalists with fine-tuned figures, in final order")
    skipped: dict[str, str] = Field(description="finalist -> why it was not fine-tuned")
    notes: list[str] = Field(description="e.g. fewer candidates ranked than asked")
    rows: int = Field(description="held-out rows every fine-tune is scored on")
    folds: int = Field(description="probe folds fine-tuned on (each holding its test rows out)")
    device: str = Field(description="cpu or cuda")
    metric: str = Field(description="the fine-tuned quality metric ranked (verified.*)")
    frozen_pick: str | None = Field(description="the pick of the frozen ranking")
    pick: str | None = Field(description="the pick after verification")
    changed: bool = Field(description="verification changed the pick")
    tied_with_best: list[str] = Field(
        description="verified finalists statistically tied with the best fine-tuned one"
    )
    sentence: str = Field(description="what verification decided, as the reports show it")


class HalvingRound(_Closed):
    """1.8: one round of successive halving."""

    round: int
    rows: int = Field(description="rows of the round's stratified sample")
    candidates: list[str] = Field(description="measured in this round")
    survivors: list[str] = Field(description="went on to the next round")
    kept_on_ties: list[str] = Field(description="survivors kept on a paired-bootstrap tie")
    tied_over_budget: list[str] = Field(
        description="tied with the last survivor, stopped: the budget afforded no more"
    )
    seconds: float = Field(description="wall seconds of the round")
    passes: float = Field(description="candidates x rows / the whole sample's rows")
    last: bool = Field(description="the full run of the finalists")


class HalvingStanding(_Closed):
    """1.8: how far one candidate went under successive halving, and why it stopped."""

    rounds: int = Field(description="rounds it was measured in")
    rows: int = Field(description="rows of its last round")
    value: float | None = Field(description="its quality metric on its last round's sample")
    status: str = Field(description="finalist, stopped, failed, rejected or baseline")
    reason: str | None = Field(description="why it stopped; null for a finalist")


class Halving(_Closed):
    """1.8: what successive halving did within the spec's budget."""

    budget: str = Field(description="as the spec gave it: N passes or N s")
    eta: int = Field(description="each round kept about 1/eta of its candidates")
    finalists_asked: int = Field(description="max(halving.finalists, verify.top)")
    metric: str = Field(description="the quality metric survivors were chosen on")
    rounds: list[HalvingRound]
    candidates: dict[str, HalvingStanding]
    passes: float = Field(description="passes spent (one: a candidate on the whole sample)")
    exhaustive_passes: float = Field(description="passes measuring every candidate would take")
    ratio: float | None = Field(description="passes / exhaustive_passes")
    seconds: float = Field(description="wall seconds of all rounds")
    notes: list[str] = Field(description="fewer finalists than asked, a budget overspent")
    sentence: str = Field(description="what halving did, as the reports show it")


class StressSlice(_Closed):
    """1.9: one stress slice of one candidate (measure/stress.py's SliceResult)."""

    name: str = Field(description="the perturbation and its severity: typos:0.3")
    kind: str
    severity: float
    clean: float = Field(description="the quality metric on the stressed rows, unperturbed")
    quality: float = Field(description="the quality metric on the same rows, perturbed")
    drop: float = Field(description="quality lost, in the quality metric's units")
    low: float | None = Field(description="95% paired bootstrap interval of the drop, low end")
    high: float | None = Field(description="its high end")
    rare_clean: float | None = Field(None, description="the same on the rare classes' rows")
    rare_quality: float | None = None
    rare_drop: float | None = None
    rare_low: float | None = None
    rare_high: float | None = None


class StressCandidate(_Closed):
    """1.9: one candidate's stress slices."""

    rows: int | None = Field(description="the rows each slice perturbed")
    worst: str | None = Field(description="the slice with the largest drop")
    rare: dict[str, Any] = Field(
        description="the rare classes, the rule that chose them and their score, or {skipped: why}"
    )
    slices: list[StressSlice]
    reason: str | None = Field(None, description="why there are no slices (a failed pass)")


class StressPerturbation(_Closed):
    """1.9: one perturbation the spec asked for."""

    name: str
    kind: str
    severity: float


class Stress(_Closed):
    """1.9: the stress slices: held-out rows perturbed, each candidate's quality lost."""

    quality_metric: str = Field(description="the metric the drops are in")
    perturbations: list[StressPerturbation] = Field(description="the spec's stress slices")
    rows: int = Field(description="stress.rows as the spec gave it")
    seed: int = Field(description="the run's seed (perturbations and resampling)")
    candidates: dict[str, StressCandidate] = Field(
        description="candidate id -> its slices, for those measured"
    )
    fragile: str | None = Field(description="the fragile ranked candidate, by decide's rule")
    sentences: list[str] = Field(description="what the rationale says about the stress slices")


class QualityEvidence(_Closed):
    """1.7: what the ranking's quality criterion is made of."""

    asked: list[str] = Field(description="the spec's quality_evidence")
    used: list[str] = Field(description="the signals some ranked candidate has")
    sentence: str = Field(description="what quality is, as the reports say it")


class Results(_Closed):
    """results.json (docs/results-schema.md)."""

    schema_version: str
    tool: Tool
    created: str = Field(description="ISO 8601 UTC")
    task: str = Field(description="classification, multilabel or regression")
    quality_metric: str | None = Field(
        None, description="1.5: the probe metric ranked and constrained as quality"
    )
    estimators_skipped: dict[str, str] = Field(
        default_factory=dict,
        description="1.5: estimator -> why it did not run (no published form for the task)",
    )
    recommendation: str | None
    rationale: str
    warnings: list[str] = Field(
        default_factory=list, description="1.2: timings taken on a busy machine, in sentences"
    )
    alerts: list[str] = Field(
        default_factory=list, description="1.3: the warning and flag lines, as shown"
    )
    pareto: list[str]
    weights: dict[str, float]
    sensitivity: list[Sensitivity]
    what_would_change: list[str] = Field(
        default_factory=list, description="1.3: the sentences on what would change the pick"
    )
    long_tail: LongTail | None = Field(
        None, description="1.3: the long-tail classes; null for regression"
    )
    confusions: list[Confusion] = Field(
        default_factory=list, description="1.4: the recommended candidate's confused pairs"
    )
    ties: Ties | None = Field(
        None, description="1.6: statistical ties with the best; null when not computed"
    )
    ties_note: str | None = Field(
        None, description="1.6: why there is no test of ties, or what it left out"
    )
    verification: Verification | None = Field(
        None, description="1.7: the verification stage; null when it did not run"
    )
    quality_evidence: QualityEvidence | None = Field(
        None, description="1.7: what the quality criterion is made of; null before 1.7"
    )
    halving: Halving | None = Field(
        None, description="1.8: successive halving; null when the spec set no budget"
    )
    stress: Stress | None = Field(
        None, description="1.9: the stress slices; null when the spec asked for none"
    )
    variants: list[VariantComparison]
    transferability_stability: list[Stability] = Field(
        default_factory=list, description="1.1: did each estimator's ranking settle"
    )
    candidates: list[Candidate]
    data: Data
    environment: Environment
    settings: dict[str, Any] = Field(description="the spec as validated, defaults included")
    run: Run
