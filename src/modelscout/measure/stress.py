"""Stress slices (issue #15): each candidate's quality on held-out rows made worse the way an
operation makes them worse (``spec.stress``; the perturbations are data/perturb.py's).

A stratified subset of the sample (``stress.rows``) is perturbed once per slice, with a fixed
seed; each candidate encodes the perturbed rows (its own stress pass), and each row is scored
by the probe fitted on the clean rows of the other folds, the same folds as the probe's own,
so that the clean and the perturbed predictions of a row come from one fitted model and pair
up. Per slice: the quality metric on the clean rows and on them perturbed, the drop (quality
lost: clean minus perturbed for a higher-is-better metric, perturbed minus clean for MAE and
RMSE) with a paired bootstrap interval over the rows, and the same on the rare classes' rows
alone (the long tail breaks first).

The two measurements (``metrics.STRESS_DROP``, ``metrics.STRESS_RARE_DROP``) hold the worst
slice's drop as their value and every slice in their detail (``stress_measurements``)::

    {"quality_metric": <the run's quality metric>, "rows": 500,
     "rare": {"classes": ["refund", ...], "rule": "..."},     # or {"skipped": why}
     "worst": "typos:0.3",
     "slices": [{"name": "typos:0.3", "kind": "typos", "severity": 0.3,
                 "clean": 0.91, "quality": 0.85, "drop": 0.06, "low": 0.04, "high": 0.08,
                 "rare_clean": 0.80, "rare_quality": 0.62, "rare_drop": 0.18,
                 "rare_low": 0.09, "rare_high": 0.27}, ...]}

(the rare keys are null where there are no rare classes: regression).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from modelscout import metrics
from modelscout.records import Measurement

STRESS_VERSION = "1"


@dataclass(frozen=True)
class SliceResult:
    """One stress slice of one candidate: the quality metric clean and perturbed on the same
    rows, the drop (quality lost, in the metric's units) and its 95% paired bootstrap
    interval; the same on the rare classes' rows (None without rare classes)."""

    name: str  # Perturbation.name: "typos:0.3"
    kind: str
    severity: float
    clean: float
    quality: float
    drop: float
    low: float
    high: float
    rare_clean: float | None = None
    rare_quality: float | None = None
    rare_drop: float | None = None
    rare_low: float | None = None
    rare_high: float | None = None


def stress_measurements(
    slices: list[SliceResult],
    quality: str,
    rows: int,
    rare: dict[str, Any],
    settings: dict[str, Any],
    seconds: float = 0.0,
) -> list[Measurement]:
    """``STRESS_DROP`` (the worst slice's drop, every slice in its detail) and, where the task
    has classes and the rare classes were found, ``STRESS_RARE_DROP``; ``quality``: the run's
    quality metric, whose unit the drops are in."""
    worst = max(slices, key=lambda s: s.drop)
    detail = {
        "quality_metric": quality,
        "rows": rows,
        "rare": rare,
        "worst": worst.name,
        "slices": [asdict(s) for s in slices],
    }
    unit = metrics.unit(quality)
    spread = None
    out = [
        Measurement(
            metrics.STRESS_DROP, worst.drop, unit, spread, settings, seconds, STRESS_VERSION, detail
        )
    ]
    rare_slices = [s for s in slices if s.rare_drop is not None]
    if rare_slices:
        rare_worst = max(rare_slices, key=lambda s: s.rare_drop or 0.0)
        out.append(
            Measurement(
                metrics.STRESS_RARE_DROP,
                rare_worst.rare_drop,
                unit,
                None,
                settings,
                seconds,
                STRESS_VERSION,
                {**detail, "worst": rare_worst.name},
            )
        )
    return out
