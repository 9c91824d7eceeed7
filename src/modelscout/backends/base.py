"""What every backend gives the measuring steps: an Encoder, and a registry entry.

A backend turns a Candidate into an ``Encoder``: ``preprocess`` makes a model-ready batch from
raw inputs (tokenize texts; decode, resize and normalize images) and ``forward`` maps that
batch to one feature vector per input. The two are separate so that preprocessing and the
forward pass are timed apart; ``encode`` is the two in a row, over batches.

Optional abilities are attributes an encoder has or lacks (checked with ``getattr``), never a
test of which backend it is:

- ``max_length`` and ``input_lengths(items)``: inputs are cut (tokens for text); the
  truncation rate is measured.
- ``source_probs``: (N, K) softmax of a source classification head over the last ``encode``
  call's inputs (LEEP and NCE use it).
- ``to(device, dtype)``: the model moves to a torch device (the GPU path).
- ``torch_module`` and ``example_batch(items)``: the model can be exported to ONNX.
- ``fit(items, targets)``: the encoder is trained on the sample before it predicts (the TF-IDF
  baseline); ``targets`` is ``Targets.fit_targets()`` of ``LoadOptions.task``; the model pass
  times it as part of loading.
- ``probe_inputs(items)``, ``probe_model(seed)`` and ``probe_name``: the encoder's own
  cross-validated probe, a scikit-learn estimator on its own inputs, that replaces the linear
  probe (the TF-IDF baseline fits its model on term counts counted once for all folds).
- ``trainable()``: a ``backends.trainable.Trainable``, the encoder's own weights (shared, not
  copied) as a torch module mapping ``preprocess(items)`` to (B, D) features with gradients,
  pooled as ``forward`` pools them, its variants (``+layers``, ``+max_length``) applied; its
  ``transformer`` is the transformers model inside, where LoRA goes (None when there is none).
  The verification fine-tune (measure/verify.py) trains it; an encoder without it (the
  baselines, an int8 model in ONNX Runtime) has no torch weights to fine-tune.
- ``encode_timed(items, batch_size)``: its own timed feature pass (text encoders batch
  longest first); otherwise ``preprocess`` and ``forward`` run on consecutive batches.

The registry maps a backend name (``Candidate.backend``) to a ``Backend``; adding one is a new
file in this folder plus one ``register`` call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from modelscout.records import Candidate, Modality, ModelMeta, Task


@runtime_checkable
class Encoder(Protocol):
    """A loaded candidate: raw inputs in, one feature vector each out."""

    modality: Modality

    def preprocess(self, items: Sequence[Any]) -> Any:
        """Raw inputs (texts; image file paths) -> one model-ready batch."""

    def forward(self, batch: Any) -> np.ndarray:
        """A preprocessed batch -> (B, D) float32 features in host memory."""


def encode(encoder: Encoder, items: Sequence[Any], batch_size: int = 32) -> np.ndarray:
    """(N,) inputs -> (N, D) float32 features, ``batch_size`` at a time, in order."""
    parts = [
        encoder.forward(encoder.preprocess(items[first : first + batch_size]))
        for first in range(0, len(items), batch_size)
    ]
    return np.concatenate(parts).astype(np.float32, copy=False)


@dataclass(frozen=True)
class LoadOptions:
    """What the user allowed and asked for when loading a candidate."""

    allow_pickle: bool = False
    trust_remote_code: bool = False
    seed: int = 0
    threads: int | None = None
    task: Task = "classification"  # what an encoder that is fitted (``fit``) learns to predict


Loader = Callable[[Candidate, ModelMeta, LoadOptions], Encoder]


@dataclass(frozen=True)
class Backend:
    """One library x modality: how its candidates are loaded, and what their features are."""

    name: str
    modality: Modality | None  # None: it varies by candidate (python: entry points)
    load: Loader
    dense_features: bool = True  # False: no features for the estimators (a fitted baseline)
    torch: bool = True  # a torch model: the GPU path and ONNX export apply
    # What its encoder reads from a TaskData (``items(data) -> list[str]``); None: the data's
    # inputs (``data.inputs.items``). The columns baseline reads other columns of the table.
    items: Callable[[Any], list[str]] | None = None


BACKENDS: dict[str, Backend] = {}


def register(backend: Backend) -> Backend:
    """Add ``backend`` to the registry under its name (a second one of that name is a bug)."""
    if backend.name in BACKENDS:
        raise ValueError(f"backend {backend.name!r} is registered twice")
    BACKENDS[backend.name] = backend
    return backend
