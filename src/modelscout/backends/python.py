"""``python:package.module:factory`` candidates: any object with the Encoder interface.

The factory is called with no arguments, or with the ``LoadOptions`` when it takes one. What
it returns must have ``modality``, ``preprocess`` and ``forward`` (backends/base.py); optional
abilities (``max_length``/``input_lengths``, ``to``, ``torch_module``...) are used where present.
An optional ``meta`` (a dict of ModelMeta fields, or a ModelMeta) on the factory or on the
encoder says what is known about it without running it.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import Any

from modelscout.backends.base import Backend, Encoder, LoadOptions, register
from modelscout.errors import CandidateError
from modelscout.records import Candidate, ModelMeta

PREFIX = "python:"


def split_entry_point(text: str) -> tuple[str, str]:
    """``"python:pkg.mod:make"`` -> ``("pkg.mod", "make")``; ValueError when malformed."""
    module, _, factory = text.removeprefix(PREFIX).partition(":")
    if not module or not factory.isidentifier():
        raise ValueError(f"'{text}' is not python:package.module:factory")
    return module, factory


def find_factory(text: str, origin: Path | None = None) -> Callable[..., Any]:
    """The factory a ``python:`` id names, its module imported; CandidateError when either is
    missing or the factory cannot be called. ``origin``: the module's file where the catalog
    found it; its folder on ``sys.path`` is added when the module is not found otherwise (a
    measuring process started before the user's path was set)."""
    module_name, name = split_entry_point(text)
    try:
        module = _import(module_name, origin)
    except Exception as error:
        raise CandidateError(f"cannot import {module_name}: {error}") from error
    factory = getattr(module, name, None)
    if not callable(factory):
        raise CandidateError(f"{module_name} has no callable {name}")
    return factory


def _import(module_name: str, origin: Path | None) -> ModuleType:
    try:
        return import_module(module_name)
    except ModuleNotFoundError:
        if origin is None:
            raise
    depth = len(module_name.split(".")) - (0 if origin.name == "__init__.py" else 1)
    sys.path.append(str(origin.parents[depth]))
    return import_module(module_name)


def meta_of(source: Any) -> ModelMeta:
    """ModelMeta from ``source.meta`` (a dict of its fields, or a ModelMeta); empty if none."""
    found = getattr(source, "meta", None)
    if isinstance(found, ModelMeta):
        return found.model_copy(deep=True)
    if isinstance(found, dict):
        return ModelMeta.model_validate(found)
    return ModelMeta()


def check_encoder(encoder: Any, text: str) -> Encoder:
    """``encoder`` if it has the Encoder interface, else CandidateError naming what it lacks."""
    missing = [
        name
        for name in ("modality", "preprocess", "forward")
        if not hasattr(encoder, name)
        or (name != "modality" and not callable(getattr(encoder, name)))
    ]
    if missing or not isinstance(encoder, Encoder):
        kind = type(encoder).__name__
        raise CandidateError(f"{text} returned a {kind} without {', '.join(missing)} (an Encoder)")
    return encoder


def _load(candidate: Candidate, meta: ModelMeta, options: LoadOptions) -> Encoder:
    """Call the candidate's factory (with ``options`` when it takes an argument)."""
    factory = find_factory(candidate.id, candidate.path)
    takes_options = bool(inspect.signature(factory).parameters)
    encoder = factory(options) if takes_options else factory()
    return check_encoder(encoder, candidate.id)


# No modality of its own: each factory's ``meta`` says what it reads (``meta_of``), and the
# catalog checks that against the data's.
PYTHON = register(Backend("python", None, _load))
