"""Transferability estimators: rank pre-trained models for a labelled task without fine-tuning.

The public entry point for the estimators in :mod:`modelscout.measure.transferability`;
every score is higher-is-better. ``ESTIMATORS`` maps the names used in a spec to
functions of ``(features, labels)``, ``HEAD_ESTIMATORS`` to functions of
``(source_probs, labels)``.
"""

from modelscout.measure import transferability as _estimators
from modelscout.measure.transferability import *  # noqa: F403 (its __all__: the names, listed once)
from modelscout.measure.validation import InputError

__all__ = [*_estimators.__all__, "InputError"]
