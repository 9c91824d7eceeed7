"""The verification fine-tune: in a candidate's own process, train its encoder with a new head
on the training rows of one or more of the probe's folds and predict their held-out rows.

Modes: ``head`` (a new head on the frozen encoder), ``full`` (every weight), ``lora`` (low-rank
adapters from peft on the architecture's attention projections). Early stopping on an inner
validation split of the training rows, a wall-clock budget, seeds fixed; on a CUDA device,
mixed precision (bf16 where supported, else fp16 with a gradient scaler).

The run (modelscout/verification.py) scores the predictions against the same rows' frozen
probe predictions with the paired bootstrap (measure/paired.py) and stores everything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelscout.records import Candidate, ModelMeta, Task

VERIFY_VERSION = "1"
MODES = ("head", "full", "lora")
LEARNING_RATES = {"head": 1e-3, "full": 3e-5, "lora": 5e-4}  # when the spec names none
VALIDATION_SHARE = 0.1  # of each fold's training rows, for early stopping


class NotVerifiable(Exception):
    """The mode cannot be applied to this candidate (LoRA on an architecture with no known
    target modules, any fine-tune of a model with no torch weights); the message says why in
    one line. The run notes it and keeps the frozen figures."""


@dataclass
class VerifyJob:
    """What a candidate's own process needs for its fine-tune."""

    candidate: Candidate
    meta: ModelMeta
    items: list[Any]  # the sample's inputs: texts, or image file paths
    # Targets.fit_targets(): (N,) class ids, (N,) numbers in the fitted space (log for
    # target_transform: log), or (N, L) 0/1 indicators
    targets: np.ndarray
    task: Task
    classes: int  # classes (classification) or labels (multilabel); 1 for regression
    train_rows: list[np.ndarray]  # per fold: the rows it trains on (indices into items)
    test_rows: list[np.ndarray]  # per fold: the rows it holds out and predicts
    mode: str = "full"
    epochs: int = 3
    patience: int = 1
    budget_s: float = 300.0  # for all of this candidate's folds together
    learning_rate: float | None = None  # None: LEARNING_RATES[mode]
    batch_size: int = 16
    seed: int = 0
    allow_pickle: bool = False
    trust_remote_code: bool = False
    device: str = "cpu"  # "cuda" (or "cuda:N") when a GPU was found: mixed precision there
    threads: int | None = None


@dataclass
class VerifyResult:
    """A finished (or budget-cut) fine-tune.

    Shape:
        rows: (M,) the held-out rows of every fold, concatenated in fold order.
        predictions: aligned with ``rows``: (M,) class ids, (M,) numbers in the fitted space,
            or (M, L) 0/1 (thresholds chosen on the inner validation split).
    """

    rows: np.ndarray
    predictions: np.ndarray
    seconds: float  # wall seconds, loading and every fold included
    peak_mb: float | None  # peak resident memory above the runtime's
    mode: str
    device: str  # where it trained: "cpu", or the CUDA device's name
    precision: str  # fp32 | bf16 | fp16
    trainable_params: int
    total_params: int
    # per fold: {"epochs": run, "stopped": "early" | "epochs" | "budget",
    #            "validation_loss": [per epoch], "train_loss": [per epoch], "best_epoch": k}
    folds: list[dict[str, Any]] = field(default_factory=list)
    budget_hit: bool = False  # a fold stopped on the budget (its best epoch so far predicts)


def run_verify(job: VerifyJob) -> VerifyResult:
    """Fine-tune ``job.candidate`` on each fold's training rows and predict its held-out rows.

    Raises ``NotVerifiable`` when the mode does not apply to the candidate.
    """
    raise NotImplementedError("measure/verify.py: the trainer is being written")
