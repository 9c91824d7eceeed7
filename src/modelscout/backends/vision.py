"""Image encoders from transformers folders: ViT, DeiT, BEiT, Swin, ConvNeXt, ResNet,
EfficientNet, MobileNet, DINOv2, the vision towers of CLIP and SigLIP, SAM's image encoder.

``preprocess`` decodes the image files (``data.images.load_image``) and runs the folder's
image processor (resize, crop, normalize) into one pixel tensor; ``forward`` runs the model
and pools its output into one vector per image, the pooling chosen per architecture in
``POOLING`` and reported as the encoder's ``pooling``. A folder with an image-classification
head also gives ``source_probs``.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from modelscout.backends.base import Backend, LoadOptions, register
from modelscout.backends.variants import keep_first_layers
from modelscout.data.images import load_image
from modelscout.errors import CandidateError
from modelscout.records import Candidate, ModelMeta

# How one vector per image is made from the model's output, per config model_type:
# pooler_output where the model's own pooler is a global pool (or CLIP's post-layernorm CLS,
# SigLIP's attention-pooling head); "cls" where the ViT family is read at its CLS token; "mean"
# (over tokens, or over the spatial map) for everything else.
POOLING: dict[str, str] = {
    "vit": "cls",
    "deit": "cls",
    "beit": "cls",
    "dinov2": "cls",
    "dinov2_with_registers": "cls",
    "resnet": "pooler_output",
    "convnext": "pooler_output",
    "convnextv2": "pooler_output",
    "efficientnet": "pooler_output",
    "mobilenet_v1": "pooler_output",
    "mobilenet_v2": "pooler_output",
    "swin": "pooler_output",
    "swinv2": "pooler_output",
    "clip": "pooler_output",
    "clip_vision_model": "pooler_output",
    "siglip": "pooler_output",
    "siglip_vision_model": "pooler_output",
    "sam": "mean",
}

# Folders whose config is a dual (or prompt-driven) model: only the image tower is loaded, under
# the class that reads it from the full folder's ``vision_config`` and ``vision_*`` weights.
TOWERS: dict[str, str] = {
    "clip": "CLIPVisionModel",
    "siglip": "SiglipVisionModel",
    "siglip2": "Siglip2VisionModel",
    "sam": "SamVisionModel",
}

# Where first-K-layers is a plain cut of a list of identical transformer blocks; hierarchical
# models (Swin, ConvNeXt, ResNet) change width between stages, so a cut breaks their pooler.
LAYER_CUT = {"vit", "deit", "beit", "dinov2", "clip", "clip_vision_model", "siglip"}
LAYER_CUT |= {"siglip_vision_model"}


def pool(output: Any, pooling: str) -> Any:
    """A model output -> (B, D) tensor: ``pooler_output`` flattened (ResNet's is (B, C, 1, 1)),
    the CLS token of ``last_hidden_state`` (B, T, D), or its mean over tokens (B, T, D) or over
    the spatial map (B, C, H, W)."""
    if pooling == "pooler_output":
        pooled = getattr(output, "pooler_output", None)
        if pooled is None:
            raise CandidateError("the model has no pooler output to read its features from")
        return pooled.flatten(1)
    hidden = output.last_hidden_state
    if pooling == "cls":
        return hidden[:, 0]
    return hidden.mean(dim=(2, 3)) if hidden.ndim == 4 else hidden.mean(dim=1)


def _pooled_module(model: Any, pooling: str, interpolate: bool) -> Any:
    """The model as a torch module pixel_values (B, 3, H, W) -> (B, D) features: what
    ``forward`` runs, and what an ONNX export exports."""
    import torch

    class PooledVision(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model
            self.kwargs = {"interpolate_pos_encoding": True} if interpolate else {}

        def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
            return pool(self.model(pixel_values=pixel_values, **self.kwargs), pooling)

    return PooledVision().eval()


class VisionEncoder:
    """A loaded transformers vision model: image paths in, (B, D) float32 features out."""

    modality = "image"

    def __init__(self, model: Any, processor: Any, pooling: str, overrides: dict[str, Any]):
        self.model = model
        self.processor = processor
        self.pooling = pooling
        self.overrides = overrides  # image processor settings of an image_size variant
        self.interpolate = bool(overrides) and _accepts(model, "interpolate_pos_encoding")
        self.torch_module = _pooled_module(model, pooling, self.interpolate)
        self.device, self.dtype = "cpu", None
        self.image_size = int(self.preprocess([Image.new("RGB", (64, 64))]).shape[-1])

    def preprocess(self, items: Sequence[str | Path | Image.Image]) -> Any:
        """(B,) image paths (or PIL images) -> (B, 3, S, S) float32 pixel tensor."""
        images = [item if isinstance(item, Image.Image) else load_image(item) for item in items]
        return self.processor(images=images, return_tensors="pt", **self.overrides)["pixel_values"]

    def example_batch(self, items: Sequence[str | Path]) -> Any:
        return self.preprocess(items)

    def trainable(self) -> Any:
        """``torch_module`` as a ``backends.trainable.Trainable``: pixels -> (B, D) pooled
        features with gradients; LoRA adapts the transformers model inside it."""
        from modelscout.backends.trainable import Trainable, pixel_features

        return Trainable(self.torch_module, pixel_features, self.model)

    def forward(self, batch: Any) -> np.ndarray:
        """(B, 3, S, S) pixels -> (B, D) float32 features in host memory."""
        import torch

        with torch.inference_mode():
            features = self.torch_module(self._on_device(batch))
        return features.float().cpu().numpy()

    def _on_device(self, batch: Any) -> Any:
        return batch.to(self.device, dtype=self.dtype or batch.dtype)

    def to(self, device: Any, dtype: Any) -> VisionEncoder:
        """Move the model to ``device`` at ``dtype``, in place; features stay float32 numpy."""
        self.model.to(device=device, dtype=dtype)
        self.device, self.dtype = device, dtype
        return self


class HeadVisionEncoder(VisionEncoder):
    """A model with an image-classification head (its *source* task, not the user's).

    Features are the pooled backbone output, as for a model without a head; the head's softmax
    over its own labels is kept as ``source_probs`` (LEEP, NCE). Both come from one forward: a
    hook catches the backbone's output on its way into the head.
    """

    def __init__(self, model: Any, processor: Any, pooling: str, overrides: dict[str, Any]):
        super().__init__(model.base_model, processor, pooling, overrides)
        self.head_model = model
        self.source_probs: np.ndarray | None = None

    def reset_source_probs(self) -> None:
        """Forget the source probabilities of earlier batches (call before a new ``encode``)."""
        self.source_probs = None

    def forward(self, batch: Any) -> np.ndarray:
        """(B, 3, S, S) pixels -> (B, D) features; appends the batch's (B, K) source
        probabilities to ``source_probs``: the forward has only the batch, not the ``encode``
        call it belongs to, so the probabilities of every batch since the last
        ``reset_source_probs`` are kept, in order."""
        import torch

        caught: list[Any] = []
        hook = self.model.register_forward_hook(lambda _m, _i, out: caught.append(out))
        kwargs = {"interpolate_pos_encoding": True} if self.interpolate else {}
        try:
            with torch.inference_mode():
                logits = self.head_model(pixel_values=self._on_device(batch), **kwargs).logits
                features = pool(caught[0], self.pooling)
        finally:
            hook.remove()
        probs = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        previous = self.source_probs
        self.source_probs = probs if previous is None else np.concatenate([previous, probs])
        return features.float().cpu().numpy()

    def to(self, device: Any, dtype: Any) -> HeadVisionEncoder:
        self.head_model.to(device=device, dtype=dtype)
        self.device, self.dtype = device, dtype
        return self


def _accepts(model: Any, argument: str) -> bool:
    return argument in inspect.signature(model.forward).parameters


def _quiet_libraries() -> None:
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    # Without torchvision every image processor announces its PIL fallback, once per class.
    logging.getLogger("transformers").setLevel(logging.ERROR)


def check_image_loadable(meta: ModelMeta, options: LoadOptions) -> None:
    """Refuse, before any file is opened, what is unsafe to load without the user's opt-in."""
    if meta.needs_remote_code and not options.trust_remote_code:
        raise CandidateError(
            "needs trust_remote_code (its config maps to custom Python code); "
            "rerun with --trust-remote-code if you trust its author"
        )
    if meta.weight_format is None:
        raise CandidateError("no weight file (.safetensors or .bin) in the folder")
    if meta.weight_format == "pickle" and not options.allow_pickle:
        raise CandidateError(
            f"ships only pickle weights ({', '.join(meta.weight_files[:2])}), which can run "
            "arbitrary code when loaded; rerun with --allow-pickle if you trust it"
        )


def has_image_head(meta: ModelMeta) -> bool:
    return bool(meta.architecture) and meta.architecture.endswith("ForImageClassification")


def _load_model(path: str, model_type: str, head: bool, options: LoadOptions) -> Any:
    import transformers

    kwargs = {
        "local_files_only": True,
        "trust_remote_code": options.trust_remote_code,
        "use_safetensors": not options.allow_pickle or None,
    }
    if head:
        return transformers.AutoModelForImageClassification.from_pretrained(path, **kwargs)
    tower = TOWERS.get(model_type)
    loader = getattr(transformers, tower) if tower else transformers.AutoModel
    return loader.from_pretrained(path, **kwargs)


def size_overrides(processor: Any, side: int) -> dict[str, Any]:
    """Image processor settings that make its output ``side`` x ``side`` pixels (the
    ``image_size:S`` variant). Where the processor resizes then center-crops, the resize is
    scaled by the same factor as the crop, so the crop keeps the parent's field of view."""
    size = processor.size
    crop = getattr(processor, "crop_size", None)
    cropped = bool(getattr(processor, "do_center_crop", False)) and crop is not None
    scale = side / crop.height if cropped and crop.height else 1.0
    if size.height and size.width:
        resize = (size.height, size.width) if cropped else (side, side)
        overrides: dict[str, Any] = {
            "size": {"height": round(resize[0] * scale), "width": round(resize[1] * scale)}
        }
    elif size.shortest_edge:
        edge = round(size.shortest_edge * scale) if cropped else side
        overrides = {"size": {"shortest_edge": edge}}
    else:
        raise CandidateError(
            f"image_size:{side} is not supported for {type(processor).__name__} "
            "(it neither resizes to a height and width nor to a shortest edge)"
        )
    if cropped:
        overrides["crop_size"] = {"height": side, "width": side}
    return overrides


def _variant_settings(candidate: Candidate, model_type: str, processor: Any) -> tuple:
    """(layers to keep or None, image processor overrides) from the candidate's variants."""
    layers, overrides = None, {}
    for variant in candidate.variants:
        if variant.kind == "layers":
            if model_type not in LAYER_CUT:
                raise CandidateError(
                    f"layers:{variant.value} is not supported for {model_type} image models "
                    f"(only {', '.join(sorted(LAYER_CUT))})"
                )
            layers = int(variant.value)
        elif variant.kind == "image_size":
            if model_type == "sam":
                raise CandidateError(
                    "image_size is not supported for SAM: its position embeddings are fixed "
                    "to its input size"
                )
            overrides = size_overrides(processor, int(variant.value))
        elif variant.kind == "max_length":
            raise CandidateError("max_length applies to text models, not to image models")
    return layers, overrides


def load_vision_encoder(
    candidate: Candidate, meta: ModelMeta, options: LoadOptions
) -> VisionEncoder:
    """A candidate folder as a VisionEncoder (a HeadVisionEncoder when it has an
    image-classification head), its layers and image_size variants applied; an int8 variant
    runs in ONNX Runtime, on the encoder this returns."""
    check_image_loadable(meta, options)
    _quiet_libraries()
    from transformers import AutoImageProcessor

    path = str(Path(candidate.path))
    if not (Path(path) / "preprocessor_config.json").is_file():
        raise CandidateError(
            "no preprocessor_config.json in the folder: the image processor (input size, "
            "normalization) the model was trained with is unknown"
        )
    model_type = meta.model_type or ""  # the catalog read it from config.json
    head = has_image_head(meta)
    try:
        processor = AutoImageProcessor.from_pretrained(
            path, local_files_only=True, trust_remote_code=options.trust_remote_code
        )
        model = _load_model(path, model_type, head, options).eval()
    except Exception as error:
        raise CandidateError(f"could not load: {_loading_reason(error)}") from error
    layers, overrides = _variant_settings(candidate, model_type, processor)
    if layers is not None:
        keep_first_layers(model.base_model if head else model, layers)
    pooling = POOLING.get(model_type, "mean")
    encoder_class = HeadVisionEncoder if head else VisionEncoder
    return encoder_class(model, processor, pooling, overrides)


def _loading_reason(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    lowered = text.lower()
    if "preprocessor_config" in lowered or "image processor" in lowered:
        return f"image processor missing or unreadable ({text[:160]})"
    if "safetensors" in lowered or "header" in lowered or "deserializ" in lowered:
        return f"weights are corrupt or truncated ({text[:160]})"
    return f"{type(error).__name__}: {text[:200]}"


register(Backend("transformers-image", "image", load_vision_encoder))
