"""Transferability estimators: rank pre-trained models for a labelled task without fine-tuning.

The public entry point for the estimators in :mod:`modelscout.measure.transferability`;
every score is higher-is-better. ``ESTIMATORS`` maps the names used in a spec to
functions of ``(features, labels)``, ``HEAD_ESTIMATORS`` to functions of
``(source_probs, labels)``.
"""

from modelscout.measure.transferability import (
    ESTIMATORS,
    HEAD_ESTIMATORS,
    evaluate_ranking,
    gbc,
    h_score,
    knn_accuracy,
    leep,
    logme,
    nce,
    nleep,
    parc,
    regularized_h_score,
    sfda,
    transrate,
)
from modelscout.measure.validation import InputError

__all__ = [
    "ESTIMATORS",
    "HEAD_ESTIMATORS",
    "InputError",
    "evaluate_ranking",
    "gbc",
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
