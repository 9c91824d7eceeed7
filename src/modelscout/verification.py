"""The verification stage: fine-tune the finalists of the frozen ranking, score them on held-out
rows against their own frozen probe on the same rows, and store everything.

``api.rank`` runs it between two calls of ``decide``: the frozen decision names the finalists
(the top ``verify.top`` ranked candidates), this module fine-tunes each in a process of its own
(measure/verify.py, through the executor) on the training rows of the probe's first
``verify.folds`` folds, and adds to each finalist's outcome its ``verified.<metric>`` figures
(with bootstrap intervals, and the paired gain over the frozen probe on the same rows), the
fine-tune's seconds, peak memory and cost. The second ``decide`` ranks the finalists on what
they reach fine-tuned. A fine-tune is stored as it finishes (its predictions with its
measurements, in one transaction), so an interrupted verification resumes where it stopped; a
candidate that cannot be fine-tuned, or whose fine-tune fails, keeps its frozen figures and
gets a note.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelscout import metrics
from modelscout.backends import backend_of
from modelscout.errors import one_line
from modelscout.executors import Executor, executor_for
from modelscout.executors.forkserver import find_gpu
from modelscout.measure.cost import hourly_price
from modelscout.measure.paired import (
    CONFIDENCE,
    RESAMPLES,
    Resamples,
    scored_truth,
    scorer_for,
)
from modelscout.measure.probe import PROBES, ProbeJob
from modelscout.measure.verify import (
    LEARNING_RATES,
    VERIFY_VERSION,
    NotVerifiable,
    VerifyJob,
    VerifyResult,
)
from modelscout.plan import Job, Ledger, features_version, task_settings
from modelscout.records import Candidate, Measurement, Outcome
from modelscout.run import RunResult, Step, write_failure_log
from modelscout.store import Store, StoreError, default_store_path

logger = logging.getLogger(__name__)

PREDICTIONS_VERSION = "verify-predictions-1"
NOTE_NAMES = (metrics.VERIFY_NOTE,)
RUN_NAMES = (metrics.VERIFY_SECONDS, metrics.VERIFY_PEAK_MEMORY, metrics.VERIFY_NOTE)


@dataclass
class Verification:
    """What the verification stage did (results.json ``verification``)."""

    mode: str
    asked: int  # verify.top as the spec gave it
    finalists: list[str]  # the frozen ranking's top, at most ``asked``, best first
    rows: int  # held-out rows each fine-tune is scored on
    folds: int  # probe folds fine-tuned on
    verified: list[str] = field(default_factory=list)  # finalists with fine-tuned figures
    skipped: dict[str, str] = field(default_factory=dict)  # finalist -> why it has none
    notes: list[str] = field(default_factory=list)  # e.g. K clamped to the ranked candidates
    device: str = "cpu"
    # the held-out rows' truth, and each verified finalist's predictions of them, in the form
    # the scorers read (measure/paired.py): class ids, (M, L) 0/1, numbers in original units
    truth: np.ndarray | None = None
    predictions: dict[str, np.ndarray] = field(default_factory=dict)


def finalists_of(ranked: list[str], top: int) -> tuple[list[str], list[str]]:
    """The first ``top`` of the frozen ranking, and a note when there are fewer."""
    chosen = ranked[:top]
    if len(ranked) < top:
        return chosen, [
            f"verify: {top} asked, {len(ranked)} candidate{'s' * (len(ranked) != 1)} ranked; "
            f"verified {len(chosen)}"
        ]
    return chosen, []


def verify(
    result: RunResult,
    finalists: list[str],
    *,
    step: Step | None = None,
    executor: Executor | None = None,
    notes: list[str] | None = None,
) -> Verification:
    """Fine-tune each of ``finalists`` (candidate ids of ``result``, best first) and add the
    figures to their outcomes; ``result.verification`` is set to what was done."""
    spec = result.spec
    splits = _splits(result)
    rows = np.concatenate([test for _, test in splits])
    device = _device(spec)
    done = Verification(
        spec.verify.mode,
        spec.verify.top,
        finalists,
        len(rows),
        len(splits),
        notes=list(notes or []),
    )
    done.device = device
    done.truth = scored_truth(result.sample.targets)[rows]
    with Store(spec.store or default_store_path(), fresh_after=result.fresh_after) as store:
        ledger = Ledger(store, result.sample.fingerprint, features_version(spec))
        worker = executor or executor_for(spec, result.threads.get("threads"))
        try:
            _fine_tune_all(result, finalists, ledger, worker, done, splits, rows, device, step)
        finally:
            if executor is None:  # made here: closed here
                worker.close()
    result.verification = done
    return done


def _fine_tune_all(
    result: RunResult,
    finalists: list[str],
    ledger: Ledger,
    worker: Executor,
    done: Verification,
    splits: list[tuple[np.ndarray, np.ndarray]],
    rows: np.ndarray,
    device: str,
    step: Step | None,
) -> None:
    """Each finalist fine-tuned (or skipped, with why), its figures added to its outcome."""
    outcomes = {o.candidate.id: o for o in result.outcomes}
    spec = result.spec
    for cid in finalists:
        outcome = outcomes[cid]
        (step or (lambda *_: None))(cid, f"fine-tuning ({spec.verify.mode})")
        found = _fine_tune(result, outcome, ledger, worker, _job(result, outcome, splits, device))
        if isinstance(found, str):
            done.skipped[cid] = found
            continue
        measurements, predictions = found
        if result.sample.task == "regression":  # fitted space -> the target's own units
            predictions = result.sample.targets.invert(predictions)
        done.predictions[cid] = predictions
        measurements.update(scored(result, cid, predictions, rows))
        measurements.update(calibrated(measurements))
        measurements.update(_cost(result, measurements))
        outcome.measurements.update(measurements)
        done.verified.append(cid)


def _splits(result: RunResult) -> list[tuple[np.ndarray, np.ndarray]]:
    """The probe's first ``verify.folds`` folds, (train, test) rows each: the fine-tunes train
    on their training rows and are scored on their test rows (the folds depend only on the
    targets, the folds and the seed, so they are the probe's)."""
    sample, spec = result.sample, result.spec
    job = ProbeJob(None, None, sample.targets, spec.folds, spec.seed)  # type: ignore[arg-type]
    return PROBES[sample.task].splits(job)[: min(spec.verify.folds, spec.folds)]


def _device(spec: Any) -> str:
    """Where fine-tunes run: the CUDA device when there is one and the spec allows it."""
    if spec.gpu == "off":
        return "cpu"
    return "cpu" if "skipped" in find_gpu() else "cuda"


def verify_job(result: RunResult, candidate: Candidate, device: str) -> Job:
    """The store job of a candidate's fine-tune: what determines its predictions and figures
    besides the candidate and the sample."""
    spec, settings = result.spec, result.spec.verify.model_dump()
    settings.pop("top")  # how many finalists there are does not change one fine-tune
    settings["learning_rate"] = settings["learning_rate"] or LEARNING_RATES[settings["mode"]]
    settings.update(
        probe_folds=spec.folds, seed=spec.seed, device=device, machine=result.environment["machine"]
    )
    settings.update(task_settings(result.sample.targets))
    return Job(candidate, "verify", RUN_NAMES, VERIFY_VERSION, settings)


def predictions_version(job: Job) -> str:
    return f"{PREDICTIONS_VERSION}:{json.dumps(job.settings, sort_keys=True, default=str)}"


def _fine_tune(
    result: RunResult, outcome: Outcome, ledger: Ledger, worker: Executor, work: VerifyJob
) -> tuple[dict[str, Measurement], np.ndarray] | str:
    """The stored or new fine-tune of ``outcome``'s candidate: its measurements and held-out
    predictions, or why it has none (stored too when it can never have one)."""
    candidate = outcome.candidate
    job = verify_job(result, candidate, work.device)
    refused = _refused(candidate)
    if refused:
        return refused
    stored = ledger.cached(Job(candidate, "verify", NOTE_NAMES, job.version, job.settings))
    skipped = stored and (stored[metrics.VERIFY_NOTE].detail or {}).get("skipped")
    if skipped:  # the mode cannot apply to this candidate: known from an earlier run
        ledger.reuse(stored)
        return skipped
    cached = ledger.cached(job)
    predictions = ledger.features(candidate, predictions_version(job))
    if cached is not None and predictions is not None:
        return dict(ledger.reuse(cached)), predictions
    try:
        done = worker.verify(work)
    except NotVerifiable as why:
        note = Measurement(metrics.VERIFY_NOTE, None, "", None, job.settings, 0.0, VERIFY_VERSION)
        note.detail = {"skipped": one_line(why)}
        ledger.save(candidate, [note])
        return one_line(why)
    except StoreError:
        raise
    except Exception as error:  # this candidate keeps its frozen figures; the run goes on
        log = write_failure_log(result.spec.output, candidate.id, error)
        where = f"; traceback in {result.spec.output / log}" if log else ""
        logger.warning("fine-tuning %s failed: %s%s", candidate.id, one_line(error), where)
        return f"its fine-tune failed: {one_line(error)}"
    measurements = run_measurements(done, job)
    ledger.store.put_features(
        candidate.key,
        ledger.data_key,
        predictions_version(job),
        done.predictions,
        *measurements,
    )
    ledger.measured += len(measurements)
    return {m.name: m for m in measurements}, done.predictions


def _refused(candidate: Candidate) -> str | None:
    """Why ``candidate`` cannot be fine-tuned at all, before any process starts."""
    if not backend_of(candidate).torch:
        return "a baseline, with no torch weights to fine-tune"
    if any(variant.kind == "int8" for variant in candidate.variants):
        return "an int8 ONNX Runtime model is not trained; fine-tune its parent instead"
    return None


def _job(
    result: RunResult, outcome: Outcome, splits: list[tuple[np.ndarray, np.ndarray]], device: str
) -> VerifyJob:
    spec, sample = result.spec, result.sample
    targets = sample.targets
    counts = targets.counts()
    read = backend_of(outcome.candidate).items
    return VerifyJob(
        candidate=outcome.candidate,
        meta=outcome.meta,
        items=sample.inputs.items if read is None else read(sample),
        targets=targets.fit_targets(),
        task=sample.task,
        classes=max(len(counts), 1),
        train_rows=[train for train, _ in splits],
        test_rows=[test for _, test in splits],
        mode=spec.verify.mode,
        epochs=spec.verify.epochs,
        patience=spec.verify.patience,
        budget_s=spec.verify.budget_s,
        learning_rate=spec.verify.learning_rate,
        batch_size=spec.verify.batch_size,
        seed=spec.seed,
        allow_pickle=spec.allow_pickle,
        trust_remote_code=spec.trust_remote_code,
        device=device,
        threads=result.threads.get("threads"),
    )


def run_measurements(done: VerifyResult, job: Job) -> list[Measurement]:
    """What a fine-tune measured that is stored: its seconds, peak memory, and a note with
    how it ran (mode, device, precision, parameters trained, each fold's epochs and stop)."""
    note = {
        "mode": done.mode,
        "device": done.device,
        "precision": done.precision,
        "trainable_params": done.trainable_params,
        "total_params": done.total_params,
        "folds": done.folds,
        "budget_hit": done.budget_hit,
        "rows": int(len(done.rows)),
        **({"calibration": done.calibration} if done.calibration else {}),
    }
    common = {"settings": job.settings, "version": VERIFY_VERSION}
    return [
        Measurement(metrics.VERIFY_SECONDS, done.seconds, "s", seconds=done.seconds, **common),
        Measurement(metrics.VERIFY_PEAK_MEMORY, done.peak_mb, "MB", **common),
        Measurement(metrics.VERIFY_NOTE, None, "", detail=note, **common),
    ]


def scored(
    result: RunResult, cid: str, predictions: np.ndarray, rows: np.ndarray
) -> dict[str, Measurement]:
    """``verified.<metric>`` for each quality metric of the task that has a scorer (``predictions``
    of ``rows`` in the scorers' form: numbers in the original units): the value
    on the held-out rows, its bootstrap interval, and the paired gain over the candidate's own
    frozen probe on the same rows (measure/paired.py)."""
    task, spec = result.sample.task, result.spec
    true = scored_truth(result.sample.targets)[rows]
    frozen = result.predictions.get(cid)
    frozen = None if frozen is None else np.asarray(frozen)[rows]
    draws = Resamples.draw(len(rows), RESAMPLES, spec.seed)
    whole = Resamples.identity(len(rows))
    tail = 100 * (1 - CONFIDENCE) / 2
    out = {}
    for metric in metrics.quality_choices(task):
        scorer = scorer_for(task, metric)
        if scorer is None:
            continue
        value = float(scorer(true, predictions, whole)[0])
        boot = scorer(true, predictions, draws)
        low, high = np.nanpercentile(boot, [tail, 100 - tail])
        detail: dict[str, Any] = {"low": float(low), "high": float(high), "rows": len(rows)}
        if frozen is not None:
            base = float(scorer(true, frozen, whole)[0])
            gains = boot - scorer(true, frozen, draws)
            gain_low, gain_high = np.nanpercentile(gains, [tail, 100 - tail])
            detail.update(frozen=base, gain=value - base)
            detail.update(gain_low=float(gain_low), gain_high=float(gain_high))
        name = metrics.verified(metric)
        out[name] = Measurement(name, value, metrics.unit(name), None, detail=detail)
    return out


def calibrated(measurements: dict[str, Measurement]) -> dict[str, Measurement]:
    """``verified.ece``: the fine-tuned model's calibration on the held-out rows, from its
    stored note (classification only)."""
    note = measurements[metrics.VERIFY_NOTE].detail or {}
    found = note.get("calibration")
    if not found:
        return {}
    detail = {"reliability": found["reliability"], "rows": note.get("rows")}
    ece = Measurement(metrics.VERIFIED_ECE, found["ece"], "fraction", None, detail=detail)
    return {metrics.VERIFIED_ECE: ece}


def _cost(result: RunResult, measurements: dict[str, Measurement]) -> dict[str, Measurement]:
    """What the fine-tune cost at the spec's hourly price (none without a price)."""
    cost = result.spec.cost
    price = hourly_price(cost.instance, cost.price_per_hour)
    seconds = measurements[metrics.VERIFY_SECONDS].value
    if price is None or seconds is None:
        return {}
    per_hour, source = price
    usd = per_hour * seconds / 3600
    detail = {"price_per_hour": per_hour, "price_source": source, "seconds": seconds}
    found = Measurement(metrics.COST_VERIFY, usd, "USD", None, detail=detail)
    return {metrics.COST_VERIFY: found}
