"""Cheaper candidates derived from a parent: int8, first-K layers, shorter inputs, smaller
images.

A variant is written after the parent id with ``+``: ``my-model+layers:3``,
``my-model+int8``, ``my-model+max_length:128``,
``my-vit+image_size:160`` (several may be chained).
"""

from __future__ import annotations

import re
from importlib.util import find_spec
from typing import Any

from modelscout.errors import CandidateError, UserError
from modelscout.records import Variant

_SYNTAX = re.compile(r"^(int8|layers:(\d+)|max_length:(\d+)|image_size:(\d+))$")


def parse_variant(text: str) -> Variant:
    """``"layers:3"`` -> Variant("layers", 3); a malformed variant is a UserError."""
    match = _SYNTAX.match(text.strip())
    if not match or (match.group(2) or match.group(3) or match.group(4) or "1") == "0":
        raise UserError(
            f"unknown variant '{text}'; use int8, layers:K, max_length:L or image_size:S "
            "(K, L, S positive integers)"
        )
    if match.group(1) == "int8":
        require_int8_support()
        return Variant("int8")
    kind, value = match.group(1).split(":")
    return Variant(kind, int(value))


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


def require_int8_support() -> None:
    """The int8 variant runs in ONNX Runtime (backends/onnx.py): without the ``onnx`` extra it
    is refused before anything is measured, with the command that installs it."""
    missing = [name for name in ("onnx", "onnxscript", "onnxruntime") if find_spec(name) is None]
    if missing:
        raise UserError(
            f"the int8 variant needs {', '.join(missing)}: pip install 'modelscout[onnx]'"
        )
