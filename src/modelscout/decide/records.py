"""What decide hands to the report: a Row per candidate and the Decision, every sentence in it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelscout import metrics
from modelscout.measure.paired import Ties
from modelscout.records import Outcome

if TYPE_CHECKING:
    from modelscout.run import RunResult


@dataclass(frozen=True)
class Confusion:
    """One of a candidate's most confused class pairs, and the sentence that says it."""

    true: str
    predicted: str
    count: int  # rows of ``true`` the probe predicted as ``predicted``
    class_rows: int  # rows of ``true`` in the sample
    examples: list[str]  # inputs of such rows: image file paths, or texts (cut)
    sentence: str


@dataclass
class Row:
    """One candidate in the evaluation matrix."""

    outcome: Outcome
    status: str  # ranked | rejected | failed
    reason: str | None = None
    rank: int | None = None
    score: float | None = None
    pareto: bool = False
    normalized: dict[str, float] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)  # ranked, but not clearly within a budget
    confusions: list[Confusion] = field(default_factory=list)  # most confused pairs first
    # baseline id (and, for regression, MEAN_PREDICTOR) -> whether this row's quality beats it
    beats: dict[str, bool] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.outcome.candidate.id

    def raw(self, metric: str) -> float | None:
        if metric == metrics.PARAMS:
            return self.outcome.meta.params
        return self.outcome.value(metric)


@dataclass(frozen=True)
class LongTail:
    """The long-tail classes (multi-label: labels) of the sample and the sentence that defines
    them. For labels, ``rows`` and ``total_rows`` count label assignments (a row with two
    labels counts in both)."""

    share: float  # at most this share of the rows
    classes: list[str]  # smallest first
    rows: int  # rows the long-tail classes hold
    total_rows: int
    sentence: str


@dataclass
class Decision:
    """The ranking and every sentence the reports show about it (``docs/results-schema.md``).

    ``sensitivity`` entries: criterion, current_share, pick_holds_from, pick_holds_to,
    flips_to and the sentence saying it; ``what_would_change``: the sentences to show under
    "What would change it" (those of the sensitivity, or why nothing can); ``alerts``: the
    warnings and flags as the lines the reports put above the matrix; ``confusions``: the
    recommended candidate's most confused class pairs (each row has its own);
    ``quality_metric``: the run's (``metrics.quality_metric``); ``long_tail`` is None for
    regression (numbers have no classes); ``ties``: which candidates are statistically tied
    with the best on quality, None (with ``ties_note`` saying why) when not computed.
    """

    rows: list[Row]
    recommendation: str | None
    rationale: str
    pareto: list[str]
    weights: dict[str, float]
    sensitivity: list[dict[str, Any]]
    run: RunResult
    variants: list[dict[str, Any]] = field(default_factory=list)
    stability: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # e.g. timings taken on a busy machine
    alerts: list[str] = field(default_factory=list)
    what_would_change: list[str] = field(default_factory=list)
    long_tail: LongTail | None = None
    confusions: list[Confusion] = field(default_factory=list)  # the recommended candidate's
    quality_metric: str = metrics.DEFAULT_QUALITY["classification"]  # what ranks as quality
    ties: Ties | None = None  # the paired test against the best (measure/paired.py)
    ties_note: str | None = None  # why there is no test, or what it left out
    # what verification decided (decide/verified.py), None when it did not run
    verification: dict[str, Any] | None = None
    # what the quality criterion is made of: signals asked and used, and the sentence
    quality_evidence: dict[str, Any] = field(default_factory=dict)
    # the stress slices (decide/stress.py's ``stress_record``), None when none were asked
    stress: dict[str, Any] | None = None
