"""The monitor itself: the chosen model's features of both sets, the drift tests on them, the
probe's prediction shift and estimated accuracy, on every row and per slice, each with its
verdict (verdict.py), gathered into monitor.json's model (contract.py).

Slices: a slice value is tested on its own when both sets have at least ``MIN_ROWS`` rows of
it; with k slice values tested, each is judged at ``alpha / k`` (Bonferroni), so that the slices
together raise at most ``alpha`` false alarms however many there are (at most 2 ``alpha`` with
the every-row verdict). The overall verdict is the worst of the
every-row verdict (at ``alpha``) and the slices' verdicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from modelscout import __version__
from modelscout.measure import drift
from modelscout.monitor.contract import (
    SCHEMA_VERSION,
    DataSet,
    Model,
    MonitorReport,
    Section,
    TestResult,
    Tool,
    VerdictResult,
)
from modelscout.monitor.data import MIN_ROWS, MonitorData, shared_slices
from modelscout.monitor.predictions import ProbePredictions, probe_predictions, psi_values
from modelscout.monitor.verdict import ALPHA, Verdict, slice_alpha, verdict, worst
from modelscout.records import Candidate


@dataclass
class Observed:
    """Both sets' features and, with reference labels, the probe's predictions."""

    reference: np.ndarray  # (N, D)
    current: np.ndarray  # (M, D)
    predictions: ProbePredictions | None = None


def observe(
    features: tuple[np.ndarray, np.ndarray], reference: MonitorData, *, folds: int, seed: int
) -> Observed:
    """The features, and the probe's predictions where the reference has labels."""
    ref, cur = features
    predictions = None
    if reference.targets is not None:
        predictions = probe_predictions(ref, reference.targets, cur, folds=folds, seed=seed)
    return Observed(ref, cur, predictions)


def drift_tests(
    observed: Observed, ref_rows: np.ndarray, cur_rows: np.ndarray, seed: int
) -> dict[str, drift.Test]:
    """Every test of drift.py on the given rows of each set (indices)."""
    x, y = observed.reference[ref_rows], observed.current[cur_rows]
    tests = {
        "mmd": drift.mmd(x, y, seed=seed),
        "classifier": drift.classifier_test(x, y, seed=seed),
        "per_dimension": drift.per_dimension(x, y, seed=seed),
    }
    found = observed.predictions
    if found is not None:
        tests["psi"] = drift.psi(
            psi_values(found.reference[ref_rows]), psi_values(found.current[cur_rows])
        )
    if found is not None and found.reference_confidence is not None:
        tests["estimated_accuracy"] = drift.estimated_accuracy(
            found.reference_confidence[ref_rows],
            found.reference_correct[ref_rows],
            found.current_confidence[cur_rows],
            seed=seed,
        )
    return tests


def section(
    tests: Mapping[str, drift.Test],
    rows: tuple[int, int],
    alpha: float,
    where: tuple[str, str] | None = None,
) -> tuple[Section, Verdict]:
    """One section of monitor.json and its verdict at ``alpha``."""
    judged = verdict(tests, alpha)
    out = Section(
        column=where[0] if where else None,
        value=where[1] if where else None,
        rows=list(rows),
        tests={name: _test(t) for name, t in tests.items()},
        verdict=verdict_result(judged, alpha),
    )
    return out, judged


def _test(test: drift.Test) -> TestResult:
    return TestResult(
        name=test.name, statistic=test.statistic, p_value=test.p_value, detail=test.detail
    )


def verdict_result(judged: Verdict, alpha: float) -> VerdictResult:
    return VerdictResult(
        level=judged.level, exit_code=judged.exit_code, alpha=alpha, reasons=judged.reasons
    )


def slice_rows(
    reference: MonitorData, current: MonitorData, min_rows: int
) -> tuple[list[tuple[str, str, np.ndarray, np.ndarray]], list[str]]:
    """(column, value, reference rows, current rows) of each slice value with ``min_rows``
    in both sets, and a sentence for each value left out."""
    tested, skipped = [], []
    for name in shared_slices(reference, current):
        ref_values, cur_values = reference.slices[name], current.slices[name]
        for value in sorted(set(ref_values) | set(cur_values)):
            ref_rows = np.flatnonzero(ref_values == value)
            cur_rows = np.flatnonzero(cur_values == value)
            if min(len(ref_rows), len(cur_rows)) >= min_rows:
                tested.append((name, str(value), ref_rows, cur_rows))
            else:
                skipped.append(
                    f"{name} = {value}: {len(ref_rows)} reference and {len(cur_rows)} current "
                    f"rows; a slice needs at least {min_rows} in both"
                )
    return tested, skipped


def judge(
    observed: Observed,
    reference: MonitorData,
    current: MonitorData,
    *,
    seed: int = 0,
    alpha: float = ALPHA,
    min_rows: int = MIN_ROWS,
) -> tuple[Section, list[Section], list[str], VerdictResult]:
    """Every row's section, the slices' sections, the slices left out, the overall verdict."""
    every = (np.arange(len(reference)), np.arange(len(current)))
    overall, overall_verdict = section(
        drift_tests(observed, *every, seed), (len(reference), len(current)), alpha
    )
    tested, skipped = slice_rows(reference, current, min_rows)
    each = slice_alpha(alpha, len(tested))
    slices, verdicts = [], [overall_verdict]
    for name, value, ref_rows, cur_rows in tested:
        tests = drift_tests(observed, ref_rows, cur_rows, seed)
        found, judged = section(tests, (len(ref_rows), len(cur_rows)), each, (name, value))
        slices.append(found)
        verdicts.append(judged)
    level = worst(verdicts)
    reasons = [
        f"{s.column} = {s.value}: {r}" if s.column else r
        for s, v in zip([overall, *slices], verdicts, strict=True)
        for r in v.reasons
    ]
    return overall, slices, skipped, verdict_result(Verdict(level, reasons), alpha)


def data_set(data: MonitorData, from_store: bool) -> DataSet:
    return DataSet(
        source=data.source,
        fingerprint=data.fingerprint,
        rows=len(data),
        labelled=data.targets is not None,
        from_store=from_store,
    )


def report(
    candidate: Candidate,
    sets: tuple[MonitorData, MonitorData],
    observed: Observed,
    reused: list[str],
    *,
    seed: int = 0,
    from_results: str | None = None,
    notes: list[str] | None = None,
) -> MonitorReport:
    """monitor.json's model of one monitor call (``rerank`` left to the caller)."""
    reference, current = sets
    overall, slices, skipped, judged = judge(observed, reference, current, seed=seed)
    return MonitorReport(
        schema_version=SCHEMA_VERSION,
        tool=Tool(name="modelscout", version=__version__),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        model=Model(
            id=candidate.id,
            key=candidate.key,
            source=candidate.source,
            from_results=from_results,
        ),
        modality=reference.modality,
        task=reference.targets.task if reference.targets is not None else None,
        reference=data_set(reference, "reference" in reused),
        current=data_set(current, "current" in reused),
        min_rows=MIN_ROWS,
        verdict=judged,
        overall=overall,
        slices=slices,
        skipped_slices=skipped,
        notes=list(notes or []),
    )
