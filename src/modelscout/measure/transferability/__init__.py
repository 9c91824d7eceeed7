r"""Transferability estimators: score how well frozen features suit a labelled target task.

Every estimator is one function of ``(features, labels)`` (or, for those that read a
source classifier's head, ``(source_probs, labels)``) returning a Python ``float``.
All of them are higher-is-better: a larger score predicts a better fine-tuned model.
Scores of one estimator are comparable across candidate models on the same data; scores
of different estimators are not comparable with each other.

One module per estimator family (``logme``, ``hscore``, ``transrate``, ``gbc``, ``sfda``,
``parc``, ``knn``, ``leep`` for LEEP, NCE and N-LEEP), their shared array helpers in
``common``, ``ranking`` to judge an estimator against fine-tuned results, ``registry`` for
the :class:`~registry.Estimator` records by spec name (plugins included) and ``names`` for
the names alone, which a spec check reads without importing SciPy.

Inputs are validated once by :mod:`modelscout.measure.validation`: labels may be any
sortable values (strings, non-contiguous integers) and are recoded to ``0..C-1``;
computation is pure NumPy/SciPy/scikit-learn, in float64 except kNN's distances
(see :func:`knn.knn_accuracy`).

Each function reproduces the published reference implementation named in its docstring
on the vectors in ``shared/reference/transferability`` (relative error <= 1e-6), except
where the docstring says why the reference itself is not reproducible.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# The registry is imported on first use: importing this package (as a spec check does, for
# ``names``) must not import SciPy and scikit-learn, which every estimator module needs.
_REGISTRY_NAMES = ("ESTIMATORS", "HEAD_ESTIMATORS", "Estimator", "get_estimator")
__all__ = list(_REGISTRY_NAMES)


def __getattr__(name: str) -> Any:
    if name in _REGISTRY_NAMES:
        return getattr(import_module(f"{__name__}.registry"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
