"""What the verification fine-tune (measure/verify.py) trains: an encoder's own weights as a
torch module with gradients, and low-rank adapters (peft's LoRA) added to it.

Each encoder that can be fine-tuned has a ``trainable()`` method (backends/base.py) returning
a ``Trainable``: a torch module that maps a batch of ``preprocess(items)`` to (B, D) pooled
features as the encoder's ``forward`` pools them, but with gradients. It shares its weights with
the encoder (no copy); ``transformer`` is the transformers model inside it, where LoRA goes.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

from modelscout.errors import CandidateError

# peft's own table (TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING) covers the language
# models it was written for; encoders it lacks, by the attention projections' names under the
# installed transformers (5.x renamed the vision transformers' query/value to q_proj/v_proj:
# ``targets_present`` checks the names against the loaded model either way).
EXTRA_LORA_TARGETS: dict[str, list[str]] = {
    "distilbert": ["q_lin", "v_lin"],
    "mpnet": ["q", "v"],
    "vit": ["q_proj", "v_proj"],
    "deit": ["q_proj", "v_proj"],
    "beit": ["q_proj", "v_proj"],
    "dinov2": ["q_proj", "v_proj"],
    "dinov2_with_registers": ["q_proj", "v_proj"],
    "clip_vision_model": ["q_proj", "v_proj"],
    "siglip_vision_model": ["q_proj", "v_proj"],
}
LORA_RANK = 8
LORA_ALPHA = 16
LORA_DROPOUT = 0.1


class Trainable(torch.nn.Module):
    """An encoder's weights as a module: ``features(batch)`` -> (B, D), with gradients.

    ``pool`` maps (the wrapped model, the batch on its device) to the pooled features;
    ``transformer`` is the transformers model LoRA adapts (None: not a transformers model).
    """

    def __init__(self, model: torch.nn.Module, pool: Any, transformer: Any | None) -> None:
        super().__init__()
        self.model = model
        self.pool = pool
        self.transformer = transformer

    def forward(self, batch: Any) -> torch.Tensor:
        return self.pool(self.model, batch)


def to_device(batch: Any, device: torch.device) -> Any:
    """A preprocessed batch (a tensor, or a dict of tensors and other entries) on ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    return {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}


def sentence_transformer_features(model: Any, batch: dict) -> torch.Tensor:
    """A sentence-transformers model's ``sentence_embedding`` (its own pooling, and its
    Normalize module where it has one), as ``TextEncoder.forward`` reads it."""
    return model(dict(batch))["sentence_embedding"]


def mean_pooled_features(model: Any, batch: dict) -> torch.Tensor:
    """A transformers base model's last hidden state (B, T, D), averaged over the real tokens
    (``HeadTextEncoder`` features: its ``hidden_states[-1]`` is this ``last_hidden_state``)."""
    names = ("input_ids", "attention_mask", "token_type_ids")
    hidden = model(**{k: v for k, v in batch.items() if k in names}).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)


def pixel_features(model: Any, pixels: torch.Tensor) -> torch.Tensor:
    """A pixels -> features module (``PooledVision``, EfficientNet-Lite's ``PooledFeatures``)."""
    return model(pixels)


def lora_targets(model_type: str) -> list[str] | None:
    """The attention projections LoRA adapts in a ``model_type`` model; None where unknown."""
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as PEFT

    found = PEFT.get(model_type) or EXTRA_LORA_TARGETS.get(model_type)
    return list(found) if isinstance(found, list) else None


def add_lora(trainable: Trainable) -> None:
    """Low-rank adapters on the attention projections of ``trainable.transformer``, in place:
    every other weight of it frozen. CandidateError (one line) where no targets are known."""
    from peft import LoraConfig, get_peft_model

    model = trainable.transformer
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model is None or model_type is None:
        raise CandidateError("LoRA: not a transformers model; use mode: full or head")
    targets = lora_targets(model_type)
    if not targets or not _targets_present(model, targets):
        raise CandidateError(
            f"LoRA: no known target modules for {model_type}; use mode: full or head"
        )
    config = LoraConfig(
        r=LORA_RANK, lora_alpha=LORA_ALPHA, lora_dropout=LORA_DROPOUT, target_modules=targets
    )
    # get_peft_model injects the adapters into ``model`` itself and freezes its other weights;
    # the module around it keeps calling the same (now adapted) model, so the wrapper it
    # returns is not needed. (peft asks transformers a deprecated question: silenced.)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated")
        get_peft_model(model, config)
    for name, parameter in trainable.named_parameters():
        if "lora_" not in name:
            parameter.requires_grad_(False)


def _targets_present(model: torch.nn.Module, targets: list[str]) -> bool:
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    return all(target in names for target in targets)
