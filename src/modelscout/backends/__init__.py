"""How a candidate turns inputs into features. Library-specific code lives only here.

``backend_of(candidate)`` gives the registered ``Backend`` a candidate names
(``Candidate.backend``). A backend's module is imported on first use, so that naming one
costs nothing until it runs (scikit-learn, torch: seconds); adding a backend is a new module
in this folder plus one line in ``MODULES``.
"""

from __future__ import annotations

from importlib import import_module

from modelscout.backends.base import BACKENDS, Backend
from modelscout.records import Candidate

MODULES = {
    "text": "modelscout.backends.text",
    "baseline": "modelscout.backends.baseline",
    "python": "modelscout.backends.python",
    "transformers-image": "modelscout.backends.vision",
    "pixels": "modelscout.backends.pixels",
    "columns": "modelscout.backends.columns",
}


def get_backend(name: str) -> Backend:
    """The backend registered under ``name``, its module imported on first use."""
    if name not in BACKENDS and name in MODULES:
        import_module(MODULES[name])  # registers it
    if name not in BACKENDS:
        raise ValueError(f"no backend named {name!r}; known: {', '.join(sorted(MODULES))}")
    return BACKENDS[name]


def backend_of(candidate: Candidate) -> Backend:
    """The backend that loads ``candidate``."""
    return get_backend(candidate.backend)
