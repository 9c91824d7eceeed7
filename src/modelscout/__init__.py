"""modelscout: choose the right pre-trained model for your task, your data and your machine.

import modelscout

if __name__ == "__main__":
    spec = modelscout.load_spec("spec.yaml")
    decision = modelscout.rank(spec)
    print(decision.recommendation, decision.rationale)
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

# The API is imported on first use: the CLI starts the measuring processes' server (which
# imports torch) before it imports the rest, so the two imports overlap.
_API = {
    "rank": "modelscout.api",
    "rank_and_report": "modelscout.api",
    "Spec": "modelscout.spec",
    "build_spec": "modelscout.spec",
    "load_spec": "modelscout.spec",
}
__all__ = ["Spec", "__version__", "build_spec", "load_spec", "rank", "rank_and_report"]


def __getattr__(name: str) -> Any:
    if name in _API:
        from importlib import import_module

        return getattr(import_module(_API[name]), name)
    raise AttributeError(f"module 'modelscout' has no attribute {name!r}")
