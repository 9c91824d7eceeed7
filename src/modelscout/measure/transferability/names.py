"""The estimator names, re-exported from their low-layer home ``modelscout.estimator_names``
(the spec checks names there without importing measure/)."""

from modelscout.estimator_names import (
    BUILTIN_ESTIMATORS,
    DEFAULT_ESTIMATORS,
    ENTRY_POINT_GROUP,
    FEATURE_ESTIMATORS,
    HEAD_ESTIMATORS,
    check_estimator_names,
    known_estimator_names,
    plugin_estimator_names,
)

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
