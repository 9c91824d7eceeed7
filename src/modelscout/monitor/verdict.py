"""The monitor's verdict from its drift statistics (measure/drift.py), with the thresholds
documented in docs/monitor.md:

- **drift** when one of the three feature-space tests (MMD, the classifier test, the
  per-dimension KS tests) rejects "same distribution" at ``ALPHA`` / 3 (Bonferroni: at most
  ``ALPHA`` false alarms over the three together). The PSI alone does not say drift: its
  sampling noise alone (at least about (K - 1)(1/n + 1/m) for K classes and n, m rows) passes
  ``PSI_LARGE`` with 10 classes and 75 rows a set, as a slice often has;
- **retrain recommended** when there is drift and the model is expected to be worse for it:
  the estimated accuracy on the current rows (confidence-based, without labels) is below the
  reference's by more than ``ACCURACY_DROP`` with the whole interval below the reference, or
  the predictions' PSI reaches ``PSI_LARGE`` and its permutation p-value is below ``alpha``
  (the population the model answers for has moved, beyond the PSI's own noise: with 77
  classes and 200 rows a set, two halves of one split have a median PSI of 1.3);
- **no drift** otherwise.

Slices: each slice value both sets have at least ``monitor.data.MIN_ROWS`` rows of is judged
on its own by the same rules at ``slice_alpha(ALPHA, k)`` = ``ALPHA`` / k for k slice values
(Bonferroni: the slices together raise at most ``ALPHA`` false alarms, however many there
are); the overall verdict is the ``worst`` of the every-row verdict (at ``ALPHA``) and the
slices' verdicts, so a call with slices raises at most 2 ``ALPHA`` false alarms in all.

The exit codes (``EXIT_CODES``) let a scheduler act: 0 no drift, 5 drift, 6 retrain
recommended (2 stays bad input, 1 an unexpected error).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from modelscout.measure.drift import Test

Level = Literal["no drift", "drift", "retrain recommended"]
LEVELS: tuple[Level, ...] = ("no drift", "drift", "retrain recommended")
EXIT_CODES: dict[Level, int] = {"no drift": 0, "drift": 5, "retrain recommended": 6}

ALPHA = 0.05  # family-wise false-alarm rate of the three feature-space tests together
FEATURE_TESTS = ("mmd", "classifier", "per_dimension")
PSI_LARGE = 0.25  # the usual mark of a large population shift (0.1: a moderate one)
ACCURACY_DROP = 0.05  # estimated accuracy this far below the reference's: retrain


@dataclass(frozen=True)
class Verdict:
    level: Level
    reasons: list[str] = field(default_factory=list)  # one sentence per test that counted

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.level]


def verdict(tests: Mapping[str, Test], alpha: float = ALPHA) -> Verdict:
    """The verdict of one set of statistics (all rows, or one slice), by the rules above;
    ``tests``: by name, any of FEATURE_TESTS, ``psi`` and ``estimated_accuracy``."""
    each = alpha / len(FEATURE_TESTS)
    reasons = [
        f"{name}: p = {test.p_value:.3g} < {each:.3g}"
        for name, test in tests.items()
        if name in FEATURE_TESTS and test.p_value is not None and test.p_value < each
    ]
    if not reasons:
        return Verdict("no drift")
    psi = tests.get("psi")
    large_psi = (
        psi is not None
        and psi.statistic >= PSI_LARGE
        and (psi.p_value is None or psi.p_value < alpha)
    )
    if large_psi:
        reasons.append(
            f"prediction PSI {psi.statistic:.3f} ≥ {PSI_LARGE}"
            + (f" (p = {psi.p_value:.3g} < {alpha:.3g})" if psi.p_value is not None else "")
        )
    worse = _accuracy_fell(tests.get("estimated_accuracy"))
    if worse:
        reasons.append(worse)
    return Verdict("retrain recommended" if worse or large_psi else "drift", reasons)


def _accuracy_fell(test: Test | None) -> str | None:
    """Why the estimated accuracy says retrain, or None."""
    if test is None:
        return None
    reference = test.detail["reference_accuracy"]
    if reference - test.statistic > ACCURACY_DROP and test.detail["high"] < reference:
        return (
            f"estimated accuracy {test.statistic:.3f} [{test.detail['low']:.3f}, "
            f"{test.detail['high']:.3f}] against {reference:.3f} on the reference"
        )
    return None


def slice_alpha(alpha: float, slices: int) -> float:
    """The false-alarm rate each of ``slices`` slice values is judged at: ``alpha / slices``
    (Bonferroni over the slices; ``alpha`` when there are none)."""
    return alpha / max(slices, 1)


def worst(verdicts: list[Verdict]) -> Level:
    """The most serious level among ``verdicts`` (all rows and every slice)."""
    return max((v.level for v in verdicts), key=LEVELS.index, default="no drift")
