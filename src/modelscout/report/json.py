"""results.json: the versioned contract (documented in docs/results-schema.md)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import ValidationError

from modelscout import __version__, metrics
from modelscout.data import MAX_TEXT_CHARS
from modelscout.data.inputs import LabelSetTargets, NumberTargets, Targets
from modelscout.decide import Decision, Row
from modelscout.decide import rationale as words
from modelscout.decide.baselines import BASELINE_SOURCE, beats_values
from modelscout.errors import UserError
from modelscout.results import Results

if TYPE_CHECKING:
    from modelscout.run import RunResult

SCHEMA_VERSION = "1.9"

# A row key's length in hex digits: 64 bits, so that two different rows of samples of a few
# thousand share a key with odds below one in a billion.
ROW_KEY_HEX = 16


def encoded(predicted: np.ndarray) -> list[Any]:
    """Predictions or truth in results.json's compact form: class ids as ints, a label set as
    the list of its label indices, numbers as floats (original units).

    Shape:
        predicted: (N,) class ids or numbers, or (N, L) 0/1 label indicators.
    """
    values = np.asarray(predicted)
    if values.ndim == 2:
        return [np.flatnonzero(row).tolist() for row in values]
    if np.issubdtype(values.dtype, np.integer):
        return values.tolist()
    return values.astype(float).tolist()


def _target_text(targets: Targets) -> list[bytes]:
    """Each row's target as bytes, independent of how models were fitted (a regression
    target's transform is left out: the same row under another transform is the same row)."""
    if isinstance(targets, NumberTargets):
        return [repr(float(v)).encode("ascii") for v in targets.values]
    return targets.fingerprint_parts()


def row_keys(run: RunResult) -> list[str]:
    """A short hash of each sample row's input (text, or image file content) and target, so
    that two runs' rows can be matched across samples (decide/compare.py)."""
    inputs = run.sample.inputs.fingerprint_parts()
    targets = _target_text(run.sample.targets)
    return [
        hashlib.sha256(i + b"\x1f" + t).hexdigest()[:ROW_KEY_HEX]
        for i, t in zip(inputs, targets, strict=True)
    ]


def _truth(targets: Targets) -> list[Any]:
    """The sample's truth in the form its predictions are scored against (decide/rank.py):
    class ids into ``data.classes``, label indices, or numbers in the original units."""
    if isinstance(targets, NumberTargets):
        return encoded(targets.values)
    if isinstance(targets, LabelSetTargets):
        return encoded(targets.indicators)
    return encoded(targets.fit_targets())


def _candidate(row: Row, predictions: dict[str, np.ndarray]) -> dict[str, Any]:
    outcome = row.outcome
    predicted = predictions.get(outcome.candidate.id)
    candidate = outcome.candidate
    measurements = dict(outcome.measurements)
    gpu = measurements.pop(metrics.GPU_DEVICE, None)  # a note, not a number: ``gpu`` below
    load = measurements.get(metrics.LOAD_SECONDS)
    return {
        "id": candidate.id,
        "source": candidate.source,
        "path": str(candidate.path) if candidate.path else None,
        "revision": candidate.revision,
        "parent": candidate.parent,
        "variants": [str(v) for v in candidate.variants],
        "status": row.status,
        "reason": row.reason,
        "log": outcome.log.as_posix() if outcome.log else None,
        "flags": row.flags,
        "rank": row.rank,
        "score": row.score,
        "pareto": row.pareto,
        "criteria": row.normalized,
        "metrics": {
            name: {
                "value": m.value,
                "spread": m.spread,
                "unit": m.unit,
                **({"detail": m.detail} if m.detail else {}),
            }
            for name, m in sorted(measurements.items())
        },
        "gpu": gpu.detail if gpu else None,
        "confusions": [asdict(c) for c in row.confusions],
        "beats": row.beats,
        "artifacts": (load.detail or {}).get("artifacts") if load else None,
        "meta": outcome.meta.model_dump(),
        "predictions": None if predicted is None else encoded(predicted),
    }


def _target(targets: Targets) -> dict[str, Any] | None:
    """A regression target in its original units: min, median, max, mean and the transform
    models were fitted under; None for classes and label sets."""
    if not isinstance(targets, NumberTargets):
        return None
    values = targets.values
    summary = {
        "min": np.min(values),
        "median": np.median(values),
        "max": np.max(values),
        "mean": np.mean(values),
    }
    return {k: float(v) for k, v in summary.items()} | {"transform": targets.transform}


def _data(run: RunResult) -> dict[str, Any]:
    """The ``data`` part: where the rows came from, the sample, its classes (multi-label: each
    label's support; regression: none, ``target`` instead) and slices."""
    data, sample = run.data, run.sample
    return {
        "source": data.source,
        "modality": sample.modality,
        "fingerprint": data.fingerprint,
        "sample_fingerprint": sample.fingerprint,
        "rows_in_file": data.rows_in_file,
        "rows_dropped": data.rows_dropped,
        "rows_used": len(sample),
        "max_text_chars": MAX_TEXT_CHARS,
        "rows_cut": data.rows_cut,
        "notes": sample.notes,
        "row_keys": row_keys(run) if run.predictions else None,
        "truth": _truth(sample.targets) if run.predictions else None,
        "classes": [{"name": c, "rows": n} for c, n in sample.targets.counts().items()],
        "target": _target(sample.targets),
        "slices": {
            column: {
                str(v): int(n) for v, n in zip(*np.unique(values, return_counts=True), strict=True)
            }
            for column, values in sample.slices.items()
        },
    }


def build_results(decision: Decision) -> dict[str, Any]:
    """The results dictionary of a decision (what results.json holds)."""
    run = decision.run
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "modelscout", "version": __version__},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "task": run.sample.task,
        "quality_metric": decision.quality_metric,
        "estimators_skipped": dict(run.estimators_skipped),
        "recommendation": decision.recommendation,
        "rationale": decision.rationale,
        "warnings": decision.warnings,
        "alerts": decision.alerts,
        "pareto": decision.pareto,
        "weights": decision.weights,
        "sensitivity": decision.sensitivity,
        "what_would_change": decision.what_would_change,
        "long_tail": asdict(decision.long_tail) if decision.long_tail else None,
        "confusions": [asdict(c) for c in decision.confusions],
        "ties": asdict(decision.ties) if decision.ties else None,
        "ties_note": decision.ties_note,
        "verification": decision.verification,
        "quality_evidence": decision.quality_evidence or None,
        "halving": run.halving,
        "stress": decision.stress,
        "variants": decision.variants,
        "transferability_stability": decision.stability,
        "candidates": [_candidate(row, run.predictions) for row in decision.rows],
        "data": _data(run),
        "environment": run.environment,
        "settings": run.spec.model_dump(mode="json"),
        "run": {
            "measured": run.measured,
            "reused": run.reused,
            "seconds": round(run.seconds, 2),
            "timings": {c: {k: round(v, 3) for k, v in t.items()} for c, t in run.timings.items()},
            "threads": run.threads,
            "executor": run.executor,
        },
    }


# A JSON string, or an array of scalars (or of arrays of scalars) with no object in it: strings
# are matched whole first, so that a bracket inside one never starts an array
_STRING = r'"(?:[^"\\]|\\.)*"'
_SCALAR = rf'[^\[\]{{}}"]|{_STRING}'
_STRING_OR_FLAT_ARRAY = re.compile(rf"{_STRING}|\[(?:{_SCALAR}|\[(?:{_SCALAR})*\])*\]")


def _one_line(found: re.Match[str], ascii_only: bool = False) -> str:
    text = found.group()
    if text.startswith('"'):
        return text
    return json.dumps(json.loads(text), ensure_ascii=ascii_only)


def dumps_results(results: dict[str, Any], ascii_only: bool = False) -> str:
    """results.json's text: indented, but each array of plain values on one line, so that
    the per-row predictions, truth and row keys take a line each, not a line per row;
    ``ascii_only`` escapes every other character (for a terminal)."""
    text = json.dumps(results, indent=2, ensure_ascii=ascii_only, default=str)
    return _STRING_OR_FLAT_ARRAY.sub(partial(_one_line, ascii_only=ascii_only), text)


def read_results(path: str | Path) -> dict[str, Any]:
    """Load a results.json, checking that its schema version is one this version reads."""
    path = Path(path)
    if not path.is_file():
        raise UserError(
            f"{path} does not exist; give the results.json written by 'modelscout rank'"
        )
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise UserError(
            f"{path} is not valid JSON; give a results.json written by modelscout"
        ) from None
    version = str(results.get("schema_version", "")) if isinstance(results, dict) else ""
    if version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
        raise UserError(
            f"{path} has schema_version {version or '(none)'}; this modelscout reads "
            f"{SCHEMA_VERSION.split('.')[0]}.x"
        )
    try:
        Results.model_validate(results)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise UserError(
            f"{path} is not a complete results.json ({where}: {first['msg'].lower()}); give a "
            "results.json written by 'modelscout rank'"
        ) from None
    return upgraded(results)


def upgraded(results: dict[str, Any]) -> dict[str, Any]:
    """A results dictionary of any 1.x version with what later minor versions added, written
    by decide's own functions: the sentences (1.3), the quality metric, skipped estimators
    and each candidate's ``beats`` (1.5), and no test of ties (1.6: without the out-of-fold
    predictions it cannot be computed, and the note says so)."""
    return with_verification(with_ties(with_quality(with_sentences(results))))


def with_verification(results: dict[str, Any]) -> dict[str, Any]:
    """A results dictionary with what schema 1.7 added, for an older one: no verification."""
    if "verification" in results:
        return results
    return results | {"verification": None, "quality_evidence": None}


def with_ties(results: dict[str, Any]) -> dict[str, Any]:
    """A results dictionary with what schema 1.6 added, for an older one: ``ties`` null and
    the note saying why."""
    if "ties" in results:
        return results
    note = words.ties_note("no_predictions", results["quality_metric"])
    return results | {"ties": None, "ties_note": note}


def with_quality(results: dict[str, Any]) -> dict[str, Any]:
    """A results dictionary with what schema 1.5 added, for one of 1.0 to 1.4 (classification
    only, so macro-F1 was its quality): ``quality_metric``, ``estimators_skipped`` and
    ``candidates[].beats`` against the baselines that ran."""
    if "quality_metric" in results:
        return results
    quality = metrics.quality_metric(results.get("task") or "classification")
    baselines = {
        c["id"]: c["metrics"][quality]["value"]
        for c in results["candidates"]
        if c["source"] == BASELINE_SOURCE
        and c["status"] != "failed"
        and (c["metrics"].get(quality) or {}).get("value") is not None
    }
    candidates = []
    for c in results["candidates"]:
        value = (c["metrics"].get(quality) or {}).get("value")
        compared = {k: v for k, v in baselines.items() if k != c["id"]}
        found = beats_values(value, compared, quality) if c["status"] == "ranked" else {}
        candidates.append(c | {"beats": found})
    return results | {
        "quality_metric": quality,
        "estimators_skipped": {},
        "candidates": candidates,
    }


def with_sentences(results: dict[str, Any]) -> dict[str, Any]:
    """A results dictionary with the sentences schema 1.3 added, written by decide's own
    functions for a results.json of an older version (1.0 to 1.2) that lacks them."""
    if "what_would_change" in results:
        return results
    results = dict(results)
    sensitivity = [
        entry | {"sentence": entry.get("sentence") or words.sensitivity_sentence(entry)}
        for entry in results.get("sensitivity", [])
    ]
    candidates = results["candidates"]
    ranked = sum(c["status"] == "ranked" for c in candidates)
    flags = {c["id"]: c["flags"] for c in candidates if c.get("flags")}
    sizes = {c["name"]: c["rows"] for c in results["data"]["classes"]}
    return results | {
        "sensitivity": sensitivity,
        "what_would_change": words.what_would_change(sensitivity, ranked),
        "alerts": words.alerts(results.get("warnings") or [], flags),
        "long_tail": asdict(words.long_tail(sizes)),
    }
