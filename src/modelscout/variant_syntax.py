"""How a variant is written: ``int8``, ``layers:K``, ``max_length:L``, ``image_size:S``,
after the parent id with ``+`` (``my-model+layers:3``, several may be chained).

A low module: the spec and the catalog parse variants with it; backends/variants.py applies
them to a loaded model.
"""

from __future__ import annotations

import re
from importlib.util import find_spec

from modelscout.errors import UserError
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


def require_int8_support() -> None:
    """The int8 variant runs in ONNX Runtime (backends/onnx.py): without the ``onnx`` extra it
    is refused before anything is measured, with the command that installs it."""
    missing = [name for name in ("onnx", "onnxscript", "onnxruntime") if find_spec(name) is None]
    if missing:
        raise UserError(
            f"the int8 variant needs {', '.join(missing)}: pip install 'modelscout[onnx]'"
        )
