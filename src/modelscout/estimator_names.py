"""The names a spec may give as estimators, known without importing any estimator.

A low module (the spec checks names with it); ``measure/transferability/names.py`` re-exports
it for the registry.

Checking a spec must not import SciPy and scikit-learn, so the built-in names are written
here (tests check they are the registry's, in the same order) and third-party names are read
from the entry points of :data:`ENTRY_POINT_GROUP` without loading the objects they point to.
"""

from __future__ import annotations

from importlib.metadata import entry_points

__all__ = [
    "BUILTIN_ESTIMATORS",
    "DEFAULT_ESTIMATORS",
    "ENTRY_POINT_GROUP",
    "FEATURE_ESTIMATORS",
    "HEAD_ESTIMATORS",
    "check_estimator_names",
    "known_estimator_names",
    "plugin_estimator_names",
]

ENTRY_POINT_GROUP = "modelscout.estimators"
"""The entry-point group third-party packages register estimators in."""

FEATURE_ESTIMATORS: tuple[str, ...] = (
    "logme",
    "logme_icml",
    "h_score",
    "regularized_h_score",
    "transrate",
    "gbc",
    "sfda",
    "parc",
    "nleep",
    "knn",
)
"""Built-in estimators of ``(features, labels)``."""

HEAD_ESTIMATORS: tuple[str, ...] = ("leep", "nce")
"""Built-in estimators of ``(source_probs, labels)``: they need a source classification head."""

BUILTIN_ESTIMATORS: tuple[str, ...] = FEATURE_ESTIMATORS + HEAD_ESTIMATORS

DEFAULT_ESTIMATORS: tuple[str, ...] = ("logme", "regularized_h_score", "sfda", "knn", "leep", "nce")
"""The estimators a spec runs when it names none."""


def plugin_estimator_names() -> list[str]:
    """Sorted names of the installed ``modelscout.estimators`` entry points.

    A name that is also a built-in is left out: the registry refuses such a plugin, so the
    name means the built-in estimator.
    """
    names = {entry.name for entry in entry_points(group=ENTRY_POINT_GROUP)}
    return sorted(names - set(BUILTIN_ESTIMATORS))


def known_estimator_names() -> list[str]:
    """Every name a spec may use: the built-ins, then the installed plugins."""
    return [*BUILTIN_ESTIMATORS, *plugin_estimator_names()]


def check_estimator_names(names: list[str]) -> list[str]:
    """``names`` without repeats, in order; ``ValueError`` (one line) for an unknown one.

    The entry points are read only when some name is not a built-in.
    """
    unknown = [name for name in names if name not in BUILTIN_ESTIMATORS]
    if unknown:
        known = known_estimator_names()
        missing = [name for name in unknown if name not in known]
        if missing:
            raise ValueError(
                f"unknown estimator {missing[0]!r}; use any of {', '.join(known)} "
                f"(or install a package that registers it under {ENTRY_POINT_GROUP!r})"
            )
    return list(dict.fromkeys(names))
