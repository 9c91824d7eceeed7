"""Does preprocessing (decode, resize, normalize) keep up with the forward pass on images?

On N real images (scikit-learn's handwritten digits, upscaled to 256 x 256 and written as JPEG
files), for each encoder and batch size: images/s of ``preprocess`` alone, of ``forward`` alone
(on batches preprocessed beforehand) and of ``encode`` end to end; then ``encode`` against a
hand-written loop (Pillow + numpy + the same torch model) over the same files. Encoders:
EfficientNet-Lite0 with its ImageNet weights, a ViT-Tiny-sized transformers ViT (random weights,
224 x 224, its image processor; the timing does not depend on the weights) and the pixel
baseline.

    python benchmarks/image_throughput.py [--images 256] [--batch-sizes 1 8 32]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from sklearn.datasets import load_digits

from modelscout.backends.base import LoadOptions, encode
from modelscout.backends.efficientnet_lite import MEAN, STD, center_square, lite0
from modelscout.backends.pixels import PixelEncoder
from modelscout.backends.vision import load_vision_encoder
from modelscout.catalog.meta import read_folder_meta
from modelscout.records import Candidate


def write_images(folder: Path, count: int) -> list[Path]:
    """``count`` digits as 256 x 256 RGB JPEG files (quality 90)."""
    digits = load_digits().images
    paths = []
    for index in range(count):
        pixels = (digits[index % len(digits)] * 255 / 16).astype(np.uint8)
        path = folder / f"{index}.jpg"
        Image.fromarray(pixels).convert("RGB").resize((256, 256), Image.BILINEAR).save(
            path, quality=90
        )
        paths.append(path)
    return paths


def vit_tiny(folder: Path):
    """A ViT-Tiny-sized ViT (12 layers, width 192, 224 x 224, patch 16) as a transformers
    folder, loaded back as an Encoder."""
    from transformers import ViTConfig, ViTImageProcessor, ViTModel

    torch.manual_seed(0)
    config = ViTConfig(hidden_size=192, num_attention_heads=3, intermediate_size=768)
    ViTModel(config, add_pooling_layer=False).save_pretrained(folder)
    ViTImageProcessor(size={"height": 224, "width": 224}).save_pretrained(folder)
    candidate = Candidate(id="vit-tiny", source="folder", path=folder)
    return load_vision_encoder(candidate, read_folder_meta(folder), LoadOptions())


def images_per_second(run: Callable[[], object], count: int) -> float:
    start = time.perf_counter()
    run()
    return count / (time.perf_counter() - start)


def batches(paths: list[Path], size: int) -> list[list[Path]]:
    return [paths[first : first + size] for first in range(0, len(paths), size)]


def split_timing(encoder, paths: list[Path], size: int) -> tuple[float, float, float]:
    """(preprocess, forward, encode) images/s at batch ``size``."""
    groups = batches(paths, size)
    encoder.forward(encoder.preprocess(groups[0]))  # warm-up: first-call allocations
    prepared = []
    preprocess = images_per_second(
        lambda: prepared.extend(encoder.preprocess(g) for g in groups), len(paths)
    )
    forward = images_per_second(lambda: [encoder.forward(b) for b in prepared], len(paths))
    end_to_end = images_per_second(lambda: encode(encoder, paths, size), len(paths))
    return preprocess, forward, end_to_end


def lite0_by_hand(network, paths: list[Path], size: int) -> None:
    """What a user would write: Pillow decode, resize, crop; numpy normalize; torch forward."""
    with torch.inference_mode():
        for group in batches(paths, size):
            pixels = np.stack([center_square(Image.open(p).convert("RGB"), 224) for p in group])
            tensor = torch.from_numpy(
                ((pixels / np.float32(255) - MEAN) / STD).transpose(0, 3, 1, 2).copy()
            )
            network._avg_pooling(network.extract_features(tensor)).flatten(1).numpy()


def vit_by_hand(model, paths: list[Path], size: int) -> None:
    with torch.inference_mode():
        for group in batches(paths, size):
            pixels = np.stack(
                [np.asarray(Image.open(p).convert("RGB").resize((224, 224))) for p in group]
            )
            tensor = torch.from_numpy(((pixels / np.float32(127.5)) - 1).transpose(0, 3, 1, 2))
            model(pixel_values=tensor.contiguous()).last_hidden_state[:, 0].numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32])
    args = parser.parse_args()
    print(f"torch threads: {torch.get_num_threads()}; {args.images} JPEG images, 256 x 256")
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_images(Path(tmp), args.images)
        vit_folder = Path(tmp) / "vit-tiny"
        lite = lite0()
        vit = vit_tiny(vit_folder)
        encoders = {"EfficientNet-Lite0": lite, "ViT-Tiny (random)": vit, "pixels": PixelEncoder()}
        by_hand = {
            "EfficientNet-Lite0": lambda s: lite0_by_hand(lite.network, paths, s),
            "ViT-Tiny (random)": lambda s: vit_by_hand(vit.model, paths, s),
        }
        header = f"{'encoder':<20} {'batch':>5} {'preprocess/s':>13} {'forward/s':>10} "
        print(header + f"{'encode/s':>9} {'by hand/s':>10} {'encode/hand':>12}")
        for name, encoder in encoders.items():
            for size in args.batch_sizes:
                preprocess, forward, end_to_end = split_timing(encoder, paths, size)
                hand = float("nan")
                if name in by_hand:
                    hand = images_per_second(partial(by_hand[name], size), len(paths))
                print(
                    f"{name:<20} {size:>5} {preprocess:>13.0f} {forward:>10.0f} "
                    f"{end_to_end:>9.0f} {hand:>10.0f} {end_to_end / hand:>12.2f}"
                )


if __name__ == "__main__":
    main()
