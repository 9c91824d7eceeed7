"""Transferability estimators: rank pre-trained models for a labelled task without fine-tuning.

The public entry point for the estimators in :mod:`modelscout.measure.transferability`;
every score is higher-is-better. ``ESTIMATORS`` maps the names a spec uses (built-ins and
installed plugins) to :class:`Estimator` records, which are called like their function:
``ESTIMATORS["logme"](features, labels)``; ``HEAD_ESTIMATORS`` holds those of them that take
``(source_probs, labels)`` instead of ``(features, labels)``.
"""

from modelscout.measure.transferability.gbc import gbc
from modelscout.measure.transferability.hscore import h_score, regularized_h_score
from modelscout.measure.transferability.knn import knn_accuracy
from modelscout.measure.transferability.leep import leep, nce, nleep
from modelscout.measure.transferability.logme import logme
from modelscout.measure.transferability.parc import parc
from modelscout.measure.transferability.ranking import evaluate_ranking
from modelscout.measure.transferability.registry import (
    ESTIMATORS,
    HEAD_ESTIMATORS,
    Estimator,
    get_estimator,
)
from modelscout.measure.transferability.sfda import sfda
from modelscout.measure.transferability.transrate import transrate
from modelscout.measure.validation import InputError

__all__ = [
    "ESTIMATORS",
    "HEAD_ESTIMATORS",
    "Estimator",
    "InputError",
    "evaluate_ranking",
    "gbc",
    "get_estimator",
    "h_score",
    "knn_accuracy",
    "leep",
    "logme",
    "nce",
    "nleep",
    "parc",
    "regularized_h_score",
    "sfda",
    "transrate",
]
