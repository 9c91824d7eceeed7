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

(the rare keys are null where there are no rare classes: regression, or no long tail).

The rare classes (``rare_groups``): the sample's long tail (data/tail.py, the report's "Long
tail" section), the smallest classes (multi-label: labels) holding at most 20% of the rows
together; balanced classes have none. Their score is the macro
recall over them, on the rows that have one (``rare_recall``): the share of each rare class's
rows still recognised, averaged over the rare classes; not the quality metric restricted to
those rows, since precision on a subset of rows is ill-defined (the false positives of a rare
class come from rows outside it) and a long tail's first failure is its rows being missed.

The pass (``stress_work``, ``stress_predictions``): for each fold of the probe's own splits,
one fit on the fold's clean training rows predicts the fold's stress rows clean and under
every perturbation at once (the perturbed rows are appended to the probe's inputs and
predicted as extra test positions; a fold's fit reads the targets of its training rows only).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from modelscout import metrics
from modelscout.data.images import load_image
from modelscout.data.inputs import Targets
from modelscout.data.perturb import perturb_images, perturb_texts
from modelscout.data.sample import stratified_rows
from modelscout.data.tail import LONG_TAIL_SHARE, long_tail_classes
from modelscout.measure.layers import BEST, LAST, MEAN
from modelscout.measure.paired import Resamples, Scorer, paired_bootstrap, scorer_for
from modelscout.measure.probe.base import PROBES, ProbeJob, Split
from modelscout.records import Measurement, Task
from modelscout.spec import Perturbation

STRESS_VERSION = "3"  # 2: the rare classes are the long tail; 3: rows seeded by sample row


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


RARE_RULE = (
    "the long tail: the smallest classes that together hold at most 20% of the sampled rows, "
    "classes of equal size together"
)
NO_TAIL = (
    "no long tail: no group of the smallest classes (equal sizes together) holds at most "
    "{share:.0%} of the rows"
)
RARE_SCORE = "macro recall over the rare classes, on their rows"
NO_CLASSES = "regression has no classes"


# -- the rows ----------------------------------------------------------------------------------
def stress_rows(key: np.ndarray, rows: int, seed: int) -> np.ndarray:
    """At most ``rows`` sample rows, stratified by ``key`` (every group kept in proportion,
    at least one row of each), drawn with a generator seeded by ``seed``; sorted.

    Shape: key: (N,) int group of each row (``Targets.stratify_key()``). Returns (R,) int.
    """
    if len(key) <= rows:
        return np.arange(len(key))
    return np.sort(stratified_rows(np.asarray(key), rows, np.random.default_rng(seed), 1))


def perturbed_texts(
    texts: Sequence[str],
    perturbations: Sequence[Perturbation],
    seed: int,
    rows: Sequence[int] | None = None,
) -> list[list[str]]:
    """Per perturbation, ``texts`` perturbed (text i seeded by (seed, rows[i]), its row in the
    sample: data/perturb.py), so that changing ``stress.rows`` leaves a kept row's
    perturbation as it was."""
    out = []
    for p in perturbations:
        options = {"vocabulary": p.vocabulary} if p.vocabulary else {}
        out.append(perturb_texts(texts, p.kind, p.severity, seed, rows, **options))
    return out


def perturbed_images(
    paths: Sequence[str],
    perturbations: Sequence[Perturbation],
    seed: int,
    folder: Path,
    rows: Sequence[int] | None = None,
) -> list[list[str]]:
    """Per perturbation, the image files ``paths`` perturbed (seeded as ``perturbed_texts``)
    and written as PNG under ``folder`` (the encoders read files); the new files' paths."""
    images = [load_image(path) for path in paths]
    out = []
    for number, p in enumerate(perturbations):
        files = []
        for row, image in enumerate(perturb_images(images, p.kind, p.severity, seed, rows)):
            path = folder / f"{number}-{row}.png"
            image.convert("RGB").save(path, format="PNG")
            files.append(str(path))
        out.append(files)
    return out


# -- the pass: one fit per fold for every slice ------------------------------------------------
def augmented(inputs: Any, perturbed: Sequence[Any]) -> Any:
    """The probe's inputs with every perturbation's rows appended: (N + P·R, D) features
    (dense or sparse) or N + P·R texts."""
    if sparse.issparse(inputs):
        return sparse.vstack([inputs, *perturbed], format="csr")
    if isinstance(inputs, np.ndarray):
        return np.vstack([inputs, *perturbed])
    return [*inputs, *(item for rows in perturbed for item in rows)]


def fold_positions(test: np.ndarray, stress: np.ndarray, n: int, slices: int) -> np.ndarray:
    """The positions in the augmented inputs of a fold's stress rows: clean (their sample
    rows), then under each perturbation p (n + p·R + j for the j-th stress row).

    Shape: test (T,), stress (R,) sorted sample rows. Returns ((P + 1) · S,) for the S
    stress rows in ``test``."""
    j = np.flatnonzero(np.isin(stress, test))
    r = len(stress)
    return np.concatenate([stress[j], *(n + p * r + j for p in range(slices))])


def _fit(job: ProbeJob, train: np.ndarray, positions: np.ndarray) -> np.ndarray | Exception:
    try:
        return np.asarray(PROBES[job.task].fit_fold(job, train, positions))
    except Exception as error:  # this candidate's stress pass fails, not the run
        return error


def stress_work(
    job: ProbeJob, splits: Sequence[Split], stress: np.ndarray, slices: int
) -> list[tuple[int, Callable[[], Any]]]:
    """One call per fold (``job``: the augmented ProbeJob, ``splits``: the clean probe's):
    (fold number, the call that fits the fold's training rows and predicts its stress rows
    clean and perturbed). Pool them with ``probe.base.pooled``."""
    n = len(job.targets)
    return [
        (number, partial(_fit, job, train, fold_positions(test, stress, n, slices)))
        for number, (train, test) in enumerate(splits)
        if np.isin(stress, test).any()  # a fold without stress rows has nothing to predict
    ]


def stress_predictions(
    folds: dict[int, Any], splits: Sequence[Split], stress: np.ndarray, slices: int
) -> np.ndarray:
    """The folds' predictions put back in place: (P + 1, R) (or (P + 1, R, L)), row 0 clean,
    row p + 1 under perturbation p. A fold that raised raises here.

    Shape: folds: fold number -> ((P + 1) · S,) predictions of ``fold_positions``."""
    out: np.ndarray | None = None
    for number, (_, test) in enumerate(splits):
        j = np.flatnonzero(np.isin(stress, test))
        if not len(j):  # no stress rows in this fold: it was not fitted (``stress_work``)
            continue
        found = folds[number]
        if isinstance(found, Exception):
            raise found
        found = np.asarray(found).reshape(slices + 1, len(j), *np.shape(found)[1:])
        if out is None:
            out = np.zeros((slices + 1, len(stress), *found.shape[2:]), dtype=found.dtype)
        out[:, j] = found
    assert out is not None, "no folds"
    return out


# -- the rare classes ----------------------------------------------------------------------------
def rare_groups(targets: Targets) -> tuple[np.ndarray | None, dict[str, Any]]:
    """The rare classes (multi-label: labels) of the sample, by index, and the ``rare``
    entry of the detail; (None, {"skipped": why}) for regression and for a sample without a
    long tail.

    Rule: the sample's long tail (data/tail.py, the report's "Long tail" section): the
    smallest classes that together hold at most 20% of the rows, classes of equal size
    together, so that balanced classes have no rare ones rather than arbitrary ones."""
    if targets.task == "regression":
        return None, {"skipped": NO_CLASSES}
    fitted = np.asarray(targets.fit_targets())
    if fitted.ndim == 2:
        counts, names = fitted.sum(axis=0), list(targets.names)  # type: ignore[attr-defined]
    else:
        names = list(targets.classes)  # type: ignore[attr-defined]
        counts = np.bincount(fitted, minlength=len(names))
    sizes = {name: int(count) for name, count in zip(names, counts, strict=True) if count > 0}
    tail = set(long_tail_classes(sizes, LONG_TAIL_SHARE))
    if not tail:
        return None, {"skipped": NO_TAIL.format(share=LONG_TAIL_SHARE)}
    rare = np.array([k for k, name in enumerate(names) if name in tail])
    entry = {"classes": [names[k] for k in rare], "rule": RARE_RULE, "score": RARE_SCORE}
    return rare, entry


def _rare_indicators(
    truth: np.ndarray, predicted: np.ndarray, rare: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(N, C) float: which rows truly have each rare class, and which of those are found."""
    if truth.ndim == 2:
        return truth[:, rare].astype(float), (truth[:, rare] * predicted[:, rare]).astype(float)
    true = truth[:, None] == rare[None, :]
    return true.astype(float), (true & (predicted[:, None] == rare[None, :])).astype(float)


def rare_recall(
    truth: np.ndarray, predicted: np.ndarray, draws: Resamples, rare: np.ndarray
) -> np.ndarray:
    """Macro recall over the rare classes per resample: TP_c / true_c averaged over the rare
    classes c with a true row in the resample (a scorer of measure/paired.py).

    Shape: truth, predicted: (N,) class ids or (N, L) 0/1; rare: (C,) ids. Returns (B,)."""
    true, found = _rare_indicators(truth, predicted, rare)
    support, hits = draws.counts @ true, draws.counts @ found
    present = support > 0
    recall = np.divide(hits, support, out=np.zeros_like(hits), where=present)
    with np.errstate(divide="ignore", invalid="ignore"):
        return recall.sum(axis=1) / present.sum(axis=1)


def rare_rows(truth: np.ndarray, rare: np.ndarray) -> np.ndarray:
    """(N,) bool: the rows with a rare class (multi-label: at least one rare label)."""
    if truth.ndim == 2:
        return truth[:, rare].any(axis=1)
    return np.isin(truth, rare)


# -- the scores ----------------------------------------------------------------------------------
def quality_drop(
    truth: np.ndarray,
    clean: np.ndarray,
    perturbed: np.ndarray,
    scorer: Scorer,
    higher: bool,
    seed: int,
) -> tuple[float, float, float, float, float]:
    """(clean score, perturbed score, drop, low, high) on the same rows: drop = clean −
    perturbed for a higher-is-better metric, perturbed − clean for a lower-is-better one
    (quality lost, in the metric's units); [low, high] its 95% paired bootstrap interval
    (measure/paired.py: the rows resampled once, both scored on each resample; Koehn 2004).

    Shape: truth, clean, perturbed: (R,) or (R, L), row-aligned."""
    whole = Resamples.identity(len(truth))
    before = float(scorer(truth, clean, whole)[0])
    after = float(scorer(truth, perturbed, whole)[0])
    pair = paired_bootstrap(truth, {"clean": clean, "perturbed": perturbed}, "clean", scorer,
                            seed=seed)[0]  # fmt: skip
    # pair: perturbed − clean; + 0.0 turns the -0.0 of a slice that changes nothing into 0.0
    if higher:
        return before, after, -pair.difference + 0.0, -pair.high + 0.0, -pair.low + 0.0
    return before, after, pair.difference + 0.0, pair.low + 0.0, pair.high + 0.0


def score_slices(
    task: Task,
    quality: str,
    truth: np.ndarray,
    predictions: np.ndarray,
    perturbations: Sequence[Perturbation],
    rare: np.ndarray | None,
    seed: int,
) -> list[SliceResult]:
    """Every slice's ``SliceResult`` from the stress rows' truth and ``stress_predictions``.

    Shape: truth: (R,) or (R, L) (``paired.scored_truth`` of the stress rows); predictions:
    (P + 1, R) or (P + 1, R, L), row 0 clean."""
    scorer = scorer_for(task, quality)
    if scorer is None:
        raise ValueError(f"{quality} has no paired scorer for {task}")
    if quality == metrics.SPEARMAN:
        scorer = _ranks_nothing_is_zero(scorer)
    higher = metrics.spec(quality).higher_is_better
    on_rare = None if rare is None or not len(rare) else rare_rows(truth, rare)
    out = []
    for number, p in enumerate(perturbations):
        clean, perturbed = predictions[0], predictions[number + 1]
        found = quality_drop(truth, clean, perturbed, scorer, higher, seed)
        if not np.isfinite(found).all():  # never a NaN drop that no limit can compare with
            raise ValueError(f"{metrics.label(quality)} cannot be scored under {p.name}")
        rare_found: tuple[float | None, ...] = (None,) * 5
        if on_rare is not None and on_rare.any():
            score = partial(rare_recall, rare=rare)
            rows = (truth[on_rare], clean[on_rare], perturbed[on_rare])
            rare_found = quality_drop(*rows, score, True, seed)
        out.append(SliceResult(p.name, p.kind, p.severity, *found, *rare_found))
    return out


def _ranks_nothing_is_zero(scorer: Scorer) -> Scorer:
    """Spearman's correlation with predictions that are all one number (a perturbation that
    left the model answering the same for every row) is undefined; such a model ranks nothing,
    so it scores 0, and its drop is all of its clean correlation."""

    def score(truth: np.ndarray, predicted: np.ndarray, draws: Resamples) -> np.ndarray:
        return np.nan_to_num(scorer(truth, predicted, draws), nan=0.0)

    return score


# -- the run's side --------------------------------------------------------------------------
def encode_layer(choice: str, detail: dict[str, Any] | None) -> str | int:
    """The ``EncodeJob.feature_layer`` that gives the features of the run's layer choice
    (``spec.feature_layer``): "last", "mean", or the index of the hidden layer that "best"
    chose in the model pass (``detail``: the ``metrics.FEATURE_LAYER`` detail; a choice made
    again on the perturbed rows would be another model)."""
    if choice == LAST:
        return LAST
    detail = detail or {}
    chosen = detail.get("choice")
    if chosen == MEAN:
        return MEAN
    if chosen == BEST:
        layer, count = int(detail["layer"]), int(detail["layers"])
        return LAST if layer == count else layer - 1  # the last: the model's own output
    if chosen == LAST:  # the encoder has no layers to choose from
        return LAST
    raise ValueError(f"the model pass did not say which layer {choice!r} chose")


def stress_failed(
    names: Sequence[str], settings: dict[str, Any], error: Exception
) -> list[Measurement]:
    """The stress measurements without a value, saying why (not stored: the next run tries
    again); the candidate itself stays measured."""
    reason = f"the stress slices failed: {type(error).__name__}: {error}"
    return [
        Measurement(name, None, metrics.spec(name).unit, None, settings, 0.0, STRESS_VERSION,
                    {"reason": reason})
        for name in names
    ]  # fmt: skip


def no_rare_rows(settings: dict[str, Any], rare: dict[str, Any]) -> Measurement:
    """``STRESS_RARE_DROP`` without a value where the sample has no rare classes or no stress
    row has one (stored: the same rows give the same answer)."""
    detail = {"rare": rare, "reason": rare.get("skipped", "no stress row has a rare class")}
    unit = metrics.spec(metrics.STRESS_RARE_DROP).unit
    return Measurement(
        metrics.STRESS_RARE_DROP, None, unit, None, settings, 0.0, STRESS_VERSION, detail
    )
