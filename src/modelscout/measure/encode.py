"""A features-only pass: load a candidate's encoder and encode a list of items, nothing timed.

What the stress slices (each candidate's perturbed rows, measure/stress.py) and the monitor
(the chosen model's features of the reference and current data, monitor/) need from a model:
the same features its model pass gives, on other rows. It runs where model passes run (the
executor's ``encode``: a process of its own locally, a task under Ray).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from modelscout.backends import backend_of
from modelscout.backends.base import LoadOptions
from modelscout.measure.layers import LAST, MEAN, layer_features
from modelscout.records import Candidate, ModelMeta, Task


@dataclass
class EncodeJob:
    """What a candidate's own process needs to encode ``items``."""

    candidate: Candidate
    meta: ModelMeta
    items: list[Any]  # texts, or image file paths
    batch_size: int = 32
    # an encoder that is trained (``fit``: a fitted baseline) is fitted on these first: the
    # rows its model pass was fitted on, with their fit targets
    fit_items: list[Any] | None = None
    fit_labels: np.ndarray | None = None
    task: Task = "classification"
    seed: int = 0
    allow_pickle: bool = False
    trust_remote_code: bool = False
    threads: int | None = None
    # measure/layers.py: "last", "mean", or the index of the hidden layer "best" chose in
    # the model pass (a layer chosen again on other rows would be another model)
    feature_layer: str | int = LAST


@dataclass
class EncodeResult:
    features: np.ndarray  # (N, D)
    source_probs: np.ndarray | None = None  # (N, K) of a source classification head


def run_encode(job: EncodeJob) -> EncodeResult:
    """``job.items`` encoded by the candidate, torch and BLAS held to ``job.threads``."""
    import torch
    from threadpoolctl import threadpool_limits

    if job.threads is not None:
        torch.set_num_threads(job.threads)
    with threadpool_limits(job.threads):
        return _encode(job)


def _encode(job: EncodeJob) -> EncodeResult:
    backend = backend_of(job.candidate)
    if not backend.dense_features:
        raise ValueError(f"{job.candidate.id} has no dense features to encode")
    options = LoadOptions(job.allow_pickle, job.trust_remote_code, job.seed, job.threads, job.task)
    encoder = backend.load(job.candidate, job.meta, options)
    if hasattr(encoder, "fit"):
        if job.fit_items is None:
            raise ValueError(
                f"{job.candidate.id} is fitted on the data it reads: no features of its own"
            )
        encoder.fit(job.fit_items, job.fit_labels)
    if isinstance(job.feature_layer, int):
        layers = np.asarray(encoder.encode_layers(job.items, job.batch_size), dtype=np.float32)
        return EncodeResult(layers[:, job.feature_layer])
    if job.feature_layer == MEAN:
        features, _ = layer_features(encoder, job.items, job.batch_size, MEAN, None, job.task)
        if features is not None:
            return EncodeResult(np.asarray(features, dtype=np.float32))
    getattr(encoder, "reset_source_probs", lambda: None)()
    parts = [
        np.asarray(encoder.forward(encoder.preprocess(job.items[i : i + job.batch_size])))
        for i in range(0, len(job.items), job.batch_size)
    ]
    features = np.concatenate(parts).astype(np.float32, copy=False)
    return EncodeResult(features, getattr(encoder, "source_probs", None))
