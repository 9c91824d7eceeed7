"""Cheaper candidates derived from a parent: int8, first-K layers, shorter inputs, smaller
images.

A variant is written after the parent id with ``+``: ``my-model+layers:3``,
``my-model+int8``, ``my-model+max_length:128``,
``my-vit+image_size:160`` (several may be chained).
"""

from __future__ import annotations

from typing import Any

from modelscout.errors import CandidateError

# How a variant is written is parsed in a low module (the spec checks it); re-exported here.
from modelscout.variant_syntax import parse_variant, require_int8_support

__all__ = ["keep_first_layers", "parse_variant", "require_int8_support", "transformer_layers"]


def transformer_layers(model: Any) -> Any:
    """The ``nn.ModuleList`` holding a transformer's blocks (BERT, RoBERTa, GPT-2, T5, ...)."""
    import torch

    expected = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    lists = [m for _, m in model.named_modules() if isinstance(m, torch.nn.ModuleList) and len(m)]
    matching = [m for m in lists if expected is None or len(m) == expected]
    if not matching:
        raise CandidateError("cannot find the transformer layers to cut (layers:K variant)")
    return matching[0]


def keep_first_layers(model: Any, count: int) -> None:
    """Cut a transformers model to its first ``count`` layers, in place."""
    layers = transformer_layers(model)
    if count >= len(layers):
        raise CandidateError(f"layers:{count} keeps every layer: the model has only {len(layers)}")
    del layers[count:]
    if hasattr(model.config, "num_hidden_layers"):
        model.config.num_hidden_layers = count
    if isinstance(getattr(model.config, "layer_types", None), list):
        model.config.layer_types = model.config.layer_types[:count]
