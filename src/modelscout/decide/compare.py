"""What changed between two runs: candidates, ranks, the pick, and metrics that moved beyond
their noise. ``compare_results`` reads two results dictionaries (results.json) and returns a
structured diff; report/compare.py renders it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelscout import metrics
from modelscout.errors import UserError
from modelscout.measure.paired import (
    CONFIDENCE,
    METHOD,
    RESAMPLES,
    Resamples,
    Scorer,
    paired_bootstrap,
    scorer_for,
)

EPSILON = 1e-9
RELATIVE_CHANGE = 0.10


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, inner in value.items():
            flat.update(_flatten(inner, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): value}


def _changes(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """Every nested key whose value differs, with both values (None where absent)."""
    before, after = _flatten(old), _flatten(new)
    keys = list(before) + [k for k in after if k not in before]
    return [
        {"key": k, "old": before.get(k), "new": after.get(k)}
        for k in keys
        if before.get(k) != after.get(k)
    ]


def metric_moved(
    old: float, new: float, old_spread: float | None, new_spread: float | None
) -> tuple[bool, float, str]:
    """Whether a metric moved beyond its noise: (moved, threshold, rule).

    With a spread on either side (the fold-to-fold std): moved when
    ``|new - old| > max(old_spread, new_spread, 1e-9)``; the threshold is that maximum.
    Without one (single measurements such as latency or memory): moved when the relative
    change ``|new - old| / |old|`` exceeds 10%; the threshold is ``0.1 * |old|`` (from 0, any
    change above 1e-9 counts).
    """
    change = abs(new - old)
    if old_spread is not None or new_spread is not None:
        threshold = max(old_spread or 0.0, new_spread or 0.0, EPSILON)
        return change > threshold, threshold, "spread"
    threshold = max(RELATIVE_CHANGE * abs(old), EPSILON)
    return change > threshold, threshold, "relative"


def _moved_metrics(
    old: dict[str, Any], new: dict[str, Any], tested: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The metrics of one candidate that moved beyond their noise; ``tested``: metric -> the
    bootstrap test of it between the runs, whose interval decides instead of the spread."""
    moved = []
    for name in sorted(set(old["metrics"]) & set(new["metrics"])):
        before, after = old["metrics"][name], new["metrics"][name]
        a, b = before.get("value"), after.get("value")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b)):
            continue
        test = (tested or {}).get(name)
        if test is None:
            beyond, threshold, rule = metric_moved(a, b, before.get("spread"), after.get("spread"))
            interval = {}
        else:
            beyond, threshold, rule = test["changed"], None, test["method"]
            interval = {"low": test["low"], "high": test["high"]}
        if beyond:
            moved.append(
                {
                    "id": new["id"],
                    "metric": name,
                    "unit": after.get("unit") or before.get("unit"),
                    "old": a,
                    "new": b,
                    "old_spread": before.get("spread"),
                    "new_spread": after.get("spread"),
                    "change": b - a,
                    "threshold": threshold,
                    "rule": rule,
                    **interval,
                }
            )
    return moved


def _task(results: dict[str, Any]) -> str:
    """A run's task; classification for a results.json from before the field (schema 1.5)."""
    return results.get("task") or "classification"


def _quality_name(results: dict[str, Any]) -> str:
    return results.get("quality_metric") or metrics.DEFAULT_QUALITY[_task(results)]


def _quality(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Each common candidate's quality in both runs, on the new run's quality metric, and
    whether it got better, worse, or did not change beyond chance (the bootstrap's interval,
    or without predictions the spread heuristic); the two picks against each other."""
    name = _quality_name(new)
    found = metrics.spec(name)
    tester, test = _tester(old, new, name)
    before = {c["id"]: (c.get("metrics") or {}).get(name) or {} for c in old["candidates"]}
    rows = []
    for c in new["candidates"]:
        a, b = before.get(c["id"], {}), (c.get("metrics") or {}).get(name) or {}
        if a.get("value") is None or b.get("value") is None:
            continue
        tested = tester.test(c["id"], c["id"]) if tester else None
        rows.append(_quality_row(c["id"], a, b, tested, found.higher_is_better))
    return {
        "metric": name,
        "label": found.label,
        "unit": found.unit,
        "direction": found.direction,
        "old_metric": _quality_name(old),
        "test": test,
        "rows": rows,
        "picks": _picks(old, new, tester, name),
    }


def _quality_row(
    cid: str,
    a: dict[str, Any],
    b: dict[str, Any],
    tested: dict[str, Any] | None,
    higher_is_better: bool,
) -> dict[str, Any]:
    """One candidate's row of the quality table: its test decides when there is one."""
    if tested is None:
        moved, _, _ = metric_moved(a["value"], b["value"], a.get("spread"), b.get("spread"))
        gain = b["value"] - a["value"]
    else:
        moved, gain = tested["changed"], tested["difference"]
    gained = gain * (1 if higher_is_better else -1)
    still = "within spread" if tested is None else "unchanged"
    return {
        "id": cid,
        "old": a["value"],
        "new": b["value"],
        "old_spread": a.get("spread"),
        "new_spread": b.get("spread"),
        "change": b["value"] - a["value"],
        "verdict": ("better" if gained > 0 else "worse") if moved else still,
        "test": tested,
    }


def _picks(
    old: dict[str, Any], new: dict[str, Any], tester: _Tester | None, metric: str
) -> dict[str, Any] | None:
    """The new run's pick against the old run's on quality, tested; None without a test."""
    a, b = old.get("recommendation"), new.get("recommendation")
    found = tester.test(a, b) if tester is not None and a and b else None
    if found is None:
        return None
    picks = {"old": a, "new": b, **found}
    return picks | {"sentence": pick_sentence(picks, metric)}


def compare_results(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A structured diff of two runs' results (``old`` first, then ``new``); ``UserError``
    (one line) when the runs are of different tasks.

    Returns a dict with:

    - ``task``: the task both runs share
    - ``quality``: ``{"metric", "label", "unit", "direction", "old_metric", "rows"}``: the new
      run's quality metric (``old_metric``: the old run's, when it differs the table says so)
      and per candidate in both runs ``{"id", "old", "new", "old_spread", "new_spread",
      "change", "verdict"}``, verdict ``"better"``, ``"worse"`` or ``"within spread"``

    - ``old`` / ``new``: ``created``, ``tool_version``, ``recommendation``, ``data_fingerprint``
    - ``recommendation``: ``{"old", "new", "changed"}``
    - ``added`` / ``dropped``: candidate ids only in the new / only in the old run
    - ``status_changes``: ``{"id", "old", "new", "old_reason", "new_reason"}``
      (e.g. ranked -> rejected)
    - ``rank_changes``: ``{"id", "old", "new"}`` for candidates in both runs whose rank differs
      (``None`` when not ranked)
    - ``moved_metrics``: metrics measured in both runs that moved beyond their noise (see
      :func:`metric_moved`): ``{"id", "metric", "unit", "old", "new", "old_spread",
      "new_spread", "change", "threshold", "rule"}``; ``rule`` is ``"spread"`` or ``"relative"``
    - ``metrics_added`` / ``metrics_dropped``: ``{"id", "metric"}`` measured in one run only
    - ``data_changed``: the data fingerprints differ
    - ``settings_changes`` / ``environment_changes``: ``{"key", "old", "new"}`` for every nested
      setting, package version or machine field that differs
    """
    if _task(old) != _task(new):
        raise UserError(
            f"cannot compare a {_task(old)} run with a {_task(new)} run: "
            "give two results.json of the same task"
        )
    before = {c["id"]: c for c in old["candidates"]}
    after = {c["id"]: c for c in new["candidates"]}
    quality = _quality(old, new)
    tested = {row["id"]: {quality["metric"]: row["test"]} for row in quality["rows"] if row["test"]}
    return {
        "task": _task(new),
        "quality": quality,
        "old": _summary(old),
        "new": _summary(new),
        "recommendation": {
            "old": old.get("recommendation"),
            "new": new.get("recommendation"),
            "changed": old.get("recommendation") != new.get("recommendation"),
        },
        **_candidate_changes(before, after),
        **_metric_changes(before, after, tested),
        "data_changed": old["data"].get("fingerprint") != new["data"].get("fingerprint"),
        "settings_changes": _changes(old.get("settings", {}), new.get("settings", {})),
        "environment_changes": _changes(old.get("environment", {}), new.get("environment", {})),
    }


def _common(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Candidate ids in both runs, in the new run's order."""
    return [cid for cid in after if cid in before]


def _candidate_changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """``added``, ``dropped``, ``status_changes`` and ``rank_changes`` of
    :func:`compare_results`, from each run's candidates by id."""
    common = _common(before, after)
    return {
        "added": [cid for cid in after if cid not in before],
        "dropped": [cid for cid in before if cid not in after],
        "status_changes": [
            {
                "id": cid,
                "old": before[cid]["status"],
                "new": after[cid]["status"],
                "old_reason": before[cid].get("reason"),
                "new_reason": after[cid].get("reason"),
            }
            for cid in common
            if before[cid]["status"] != after[cid]["status"]
        ],
        "rank_changes": [
            {"id": cid, "old": before[cid].get("rank"), "new": after[cid].get("rank")}
            for cid in common
            if before[cid].get("rank") != after[cid].get("rank")
        ],
    }


def _metric_changes(
    before: dict[str, Any], after: dict[str, Any], tested: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """``moved_metrics``, ``metrics_added`` and ``metrics_dropped`` of :func:`compare_results`,
    for the candidates in both runs (each run's candidates by id); ``tested``: candidate ->
    metric -> its bootstrap test between the runs."""
    common = _common(before, after)
    return {
        "moved_metrics": [
            m for cid in common for m in _moved_metrics(before[cid], after[cid], tested.get(cid))
        ],
        "metrics_added": [
            {"id": cid, "metric": name}
            for cid in common
            for name in sorted(set(after[cid]["metrics"]) - set(before[cid]["metrics"]))
        ],
        "metrics_dropped": [
            {"id": cid, "metric": name}
            for cid in common
            for name in sorted(set(before[cid]["metrics"]) - set(after[cid]["metrics"]))
        ],
    }


def _summary(results: dict[str, Any]) -> dict[str, Any]:
    return {
        "created": results.get("created"),
        "tool_version": results.get("tool", {}).get("version"),
        "recommendation": results.get("recommendation"),
        "data_fingerprint": results["data"].get("fingerprint"),
    }


# -- the test of quality between runs -----------------------------------------------------------
# A paired test needs this many shared rows; with fewer, each run's rows are resampled on their
# own (a percentile interval from a handful of rows says little either way)
MIN_SHARED_ROWS = 20
UNPAIRED = "unpaired bootstrap"
HEURISTIC = "fold spread"


@dataclass
class _Predicted:
    """A run's kept predictions, decoded onto both runs' class (label) list.

    Shape:
        truth: (N,) class ids or numbers, or (N, L) 0/1.
        predictions: candidate id -> the shape of ``truth``.
    """

    keys: list[str]
    truth: np.ndarray
    predictions: dict[str, np.ndarray]


def _names(results: dict[str, Any]) -> list[str]:
    return [c["name"] for c in results["data"].get("classes") or []]


def _decode(values: list[Any], task: str, onto: np.ndarray, width: int) -> np.ndarray:
    """results.json's compact form (report/json.py ``encoded``) as the scorers' arrays, class
    and label ids mapped through ``onto`` (this run's id -> the shared list's id)."""
    if task == "regression":
        return np.asarray(values, dtype=float)
    if task == "multilabel":
        lengths = [len(v) for v in values]
        found = np.zeros((len(values), width), dtype=np.uint8)
        rows = np.repeat(np.arange(len(values)), lengths)
        labels = np.asarray([j for v in values for j in v], dtype=int)
        found[rows, onto[labels]] = 1
        return found
    return onto[np.asarray(values, dtype=int)]


def _predicted(results: dict[str, Any], task: str, union: list[str]) -> _Predicted | None:
    """A run's truth and predictions, or None when its results.json kept none (before 1.7)."""
    data = results["data"]
    if not data.get("row_keys") or data.get("truth") is None:
        return None
    onto = np.asarray([union.index(name) for name in _names(results)], dtype=int)
    return _Predicted(
        data["row_keys"],
        _decode(data["truth"], task, onto, len(union)),
        {
            c["id"]: _decode(c["predictions"], task, onto, len(union))
            for c in results["candidates"]
            if c.get("predictions") is not None
        },
    )


def _numbered(keys: list[str]) -> dict[tuple[str, int], int]:
    """(key, its occurrence) -> row: a key seen twice (the same text with the same label) is
    matched first with first, second with second."""
    seen: Counter[str] = Counter()
    found = {}
    for row, key in enumerate(keys):
        found[(key, seen[key])] = row
        seen[key] += 1
    return found


def aligned(old_keys: list[str], new_keys: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The rows both runs share, matched by row key: (old rows, new rows), in the new run's
    order.

    Shape: both (S,) int, S the shared rows."""
    before, after = _numbered(old_keys), _numbered(new_keys)
    shared = [key for key in after if key in before]
    return (
        np.asarray([before[k] for k in shared], dtype=int),
        np.asarray([after[k] for k in shared], dtype=int),
    )


def unpaired_bootstrap(
    old: tuple[np.ndarray, np.ndarray],
    new: tuple[np.ndarray, np.ndarray],
    scorer: Scorer,
    seed: int = 0,
) -> tuple[float, float, float]:
    """The new − old difference of a metric on two runs' own rows, with its percentile
    interval: each run's rows resampled on their own (independent draws, so no difficulty
    shared by both cancels: wider than the paired interval). (difference, low, high).

    Shape: ``old`` and ``new`` are (truth, predicted) pairs, each (N,) or (N, L)."""
    (old_truth, old_predicted), (new_truth, new_predicted) = old, new
    draws_old = Resamples.draw(len(old_truth), RESAMPLES, seed)
    draws_new = Resamples.draw(len(new_truth), RESAMPLES, seed + 1)
    differences = scorer(new_truth, new_predicted, draws_new) - scorer(
        old_truth, old_predicted, draws_old
    )
    whole_old, whole_new = Resamples.identity(len(old_truth)), Resamples.identity(len(new_truth))
    observed = (
        scorer(new_truth, new_predicted, whole_new)[0]
        - (scorer(old_truth, old_predicted, whole_old)[0])
    )
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.nanpercentile(differences, [tail, 100 - tail])
    return float(observed), float(low), float(high)


@dataclass
class _Tester:
    """How two runs' predictions are tested: paired on the shared rows, or each on its own."""

    old: _Predicted
    new: _Predicted
    scorer: Scorer
    seed: int
    rows: tuple[np.ndarray, np.ndarray] | None  # the shared rows, when paired

    def test(self, old_id: str, new_id: str) -> dict[str, Any] | None:
        """The new − old difference of ``new_id`` in the new run against ``old_id`` in the
        old run, its interval and whether it changed; None when either kept no predictions."""
        before, after = self.old.predictions.get(old_id), self.new.predictions.get(new_id)
        if before is None or after is None:
            return None
        if self.rows is not None:
            at_old, at_new = self.rows
            truth = self.new.truth[at_new]
            predictions = {"old": before[at_old], "new": after[at_new]}
            (pair,) = paired_bootstrap(truth, predictions, "old", self.scorer, seed=self.seed)
            found = (pair.difference, pair.low, pair.high)
            method, rows = METHOD, len(truth)
        else:
            found = unpaired_bootstrap(
                (self.old.truth, before), (self.new.truth, after), self.scorer, self.seed
            )
            method, rows = UNPAIRED, None
        difference, low, high = found
        return {
            "method": method,
            "difference": difference,
            "low": low,
            "high": high,
            "rows": rows,
            "changed": bool(low > 0 or high < 0),
        }


def _tester(
    old: dict[str, Any], new: dict[str, Any], metric: str
) -> tuple[_Tester | None, dict[str, Any]]:
    """How the quality of the two runs is tested, and the ``quality.test`` part of the diff:
    ``method``, ``rows_shared``, ``rows_old``, ``rows_new``, ``resamples``, ``confidence``,
    ``why`` (the reason it is not paired, or None) and ``sentence``."""
    task = _task(new)
    union = _names(old) + [n for n in _names(new) if n not in _names(old)]
    scorer = scorer_for(task, metric)  # type: ignore[arg-type]
    before, after = _predicted(old, task, union), _predicted(new, task, union)
    info: dict[str, Any] = {
        "rows_old": len(before.keys) if before else None,
        "rows_new": len(after.keys) if after else None,
        "rows_shared": None,
        "resamples": RESAMPLES,
        "confidence": CONFIDENCE,
    }
    missing = {"no_scorer": scorer, "old_no_predictions": before, "new_no_predictions": after}
    why = next((reason for reason, found in missing.items() if found is None), None)
    if why is not None or scorer is None or before is None or after is None:
        info |= {"method": HEURISTIC, "why": why}
        return None, info | {"sentence": test_sentence(info, metric)}
    at_old, at_new = aligned(before.keys, after.keys)
    info["rows_shared"] = len(at_new)
    paired = len(at_new) >= MIN_SHARED_ROWS
    info |= {"method": METHOD if paired else UNPAIRED, "why": None if paired else "few_shared"}
    seed = int((new.get("settings") or {}).get("seed") or 0)
    tester = _Tester(before, after, scorer, seed, (at_old, at_new) if paired else None)
    return tester, info | {"sentence": test_sentence(info, metric)}


_NOT_PAIRED = {
    "no_scorer": "{label} has no bootstrap scorer",
    "old_no_predictions": "the results.json of the old run keeps no predictions (written "
    "before schema 1.7, or no candidate was probed)",
    "new_no_predictions": "the results.json of the new run keeps no predictions (written "
    "before schema 1.7, or no candidate was probed)",
    "few_shared": "the runs share {shared} of their rows (a paired test needs "
    f"{MIN_SHARED_ROWS}): other data or another sample",
}


def test_sentence(info: dict[str, Any], metric: str) -> str:
    """What the test of quality between the runs is, and why it is not paired when it is not."""
    label = metrics.label(metric)
    interval = (
        f"({info['resamples']:,} resamples, {info['confidence']:.0%} percentile intervals); a "
        "candidate changed only when the interval excludes 0."
    )
    if info["method"] == METHOD:
        return (
            f"Paired bootstrap of {label} on the {info['rows_shared']:,} rows both runs share "
            f"(of {info['rows_old']:,} old and {info['rows_new']:,} new), matched by row key: "
            f"the new − old difference of each candidate on the same drawn rows {interval}"
        )
    why = _NOT_PAIRED[info["why"]].format(label=label, shared=info["rows_shared"])
    if info["method"] == UNPAIRED:
        return (
            f"Not paired: {why}. Bootstrap of the rows of each run on their own, drawn "
            f"independently, for the new − old difference of {label} {interval}"
        )
    return (
        f"Not tested: {why}. A change counts when it exceeds the larger fold-to-fold spread "
        "of the two runs (a heuristic, not a test)."
    )


def pick_sentence(picks: dict[str, Any], metric: str) -> str:
    """The two runs' picks compared on quality, as the comparison shows it."""
    show = metrics.spec(metric).show
    verdict = "a real change" if picks["changed"] else "not a real change (it holds 0)"
    rows = f"on the {picks['rows']:,} shared rows" if picks["rows"] else "not paired"
    return (
        f"New pick {picks['new']} against old pick {picks['old']} on "
        f"{metrics.label(metric)}: new − old {show(picks['difference'])}, "
        f"{CONFIDENCE:.0%} interval {show(picks['low'])} to {show(picks['high'])} ({rows}): "
        f"{verdict}."
    )
