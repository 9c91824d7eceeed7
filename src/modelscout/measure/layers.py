"""Which hidden layer the features come from (``spec.feature_layer``).

``last``: the model's own output (its pooling of the last layer), as always. ``mean``: the mean
over every transformer layer's pooled output (the embedding layer excluded), which often
transfers better than the last layer alone for frozen probes (Tenney et al., "BERT Rediscovers
the Classical NLP Pipeline", ACL 2019, on how layers specialise; the scalar mix of ELMo,
Peters et al., NAACL 2018, with equal weights). ``best``: the single layer whose pooled
features score highest by LogME on the sample's targets (You et al., JMLR 2022) — the
estimator the layer is chosen by is the one whose figure is cheapest and settles earliest
(docs/benchmarks.md, issue #3).

An encoder offers its layers through ``encode_layers(items, batch_size) -> (N, L, D)``; one
that does not keeps its own output, and the measurement says why.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelscout import metrics
from modelscout.measure.transferability import ESTIMATORS
from modelscout.records import Measurement, Task

LAST, MEAN, BEST = "last", "mean", "best"
CHOOSER = metrics.LOGME  # the estimator ``best`` picks the layer by


def layer_features(
    encoder: Any,
    items: list[Any],
    batch_size: int,
    choice: str,
    targets: np.ndarray,
    task: Task,
) -> tuple[np.ndarray | None, dict[str, Any]]:
    """The features of ``choice`` and what to say about them (the detail of
    ``metrics.FEATURE_LAYER``); None features when the model's own output stays: the encoder
    has no layers to choose from, or ``best`` chose the last layer.

    Shape:
        targets: (N,) class ids or numbers, or (N, L) label indicators (``fit_targets``)
        returns: (N, D) float32 features
    """
    encode_layers = getattr(encoder, "encode_layers", None)
    if encode_layers is None:
        why = "the encoder does not expose its hidden layers: its own output is used"
        return None, {"choice": LAST, "requested": choice, "why": why}
    layers = np.asarray(encode_layers(items, batch_size), dtype=np.float32)
    count = layers.shape[1]
    if choice == MEAN:
        return layers.mean(axis=1), {"choice": MEAN, "layers": count}
    scores = layer_scores(layers, targets, task)
    best = max(scores, key=scores.get)
    detail = {"choice": BEST, "layers": count, "layer": best, "estimator": CHOOSER}
    detail["scores"] = {str(k): v for k, v in scores.items()}
    if best == count:  # the last layer: the model's own output (its pooling, its normalizing)
        return None, detail
    return layers[:, best - 1], detail


def layer_scores(layers: np.ndarray, targets: np.ndarray, task: Task) -> dict[int, float]:
    """Layer number (1 = the first transformer layer) -> LogME of its pooled features.

    Shape:
        layers: (N, L, D); targets as ``layer_features``
    """
    score = ESTIMATORS[CHOOSER].form(task)
    return {
        index + 1: float(score(layers[:, index].astype(np.float64), targets))
        for index in range(layers.shape[1])
    }


def layer_measurement(detail: dict[str, Any], settings: dict[str, Any]) -> Measurement:
    """``metrics.FEATURE_LAYER``: the layer number for ``best``, None otherwise (the detail
    says which features were used, and why)."""
    value = detail.get("layer") if detail.get("choice") == BEST else None
    return Measurement(metrics.FEATURE_LAYER, value, "layer", None, settings, detail=detail)
