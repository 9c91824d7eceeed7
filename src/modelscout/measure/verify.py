"""The verification fine-tune: in a candidate's own process, train its encoder with a new head
on the training rows of one or more of the probe's folds and predict their held-out rows.

Every mode first trains the new head alone on the frozen encoder's features until its
validation loss stops falling (linear probing). ``head`` stops there; ``full`` (every weight)
and ``lora`` (low-rank adapters from peft on the architecture's attention projections) then
fine-tune from that head at a small rate: linear probing then fine-tuning (LP-FT, Kumar et al.
2022, "Fine-Tuning can Distort Pretrained Features and Underperform Out-of-Distribution",
ICLR), so that a few epochs fine-tune a fitted head rather than chase a random one (with a
random head, three epochs of MiniLM on 720 BANKING77 rows reached macro-F1 0.57, far below the
frozen probe). The fine-tune's epochs start from the probed head's validation loss: an epoch
that does not beat it is not kept. Early stopping on an inner validation split of the training
rows, a wall-clock budget, seeds fixed; on a CUDA device, mixed precision (bf16 where
supported, else fp16 with a gradient scaler).

The run (modelscout/verification.py) scores the predictions against the same rows' frozen
probe predictions with the paired bootstrap (measure/paired.py) and stores everything.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelscout.backends import backend_of
from modelscout.backends.base import LoadOptions
from modelscout.errors import CandidateError
from modelscout.measure.calibration import expected_calibration_error, reliability
from modelscout.measure.memory import DeviceMemory
from modelscout.records import Candidate, ModelMeta, Task

VERIFY_VERSION = "4"  # 2: the head probed first (LP-FT); 3: calibration; 4: standardized
MODES = ("head", "full", "lora")
# when the spec names none: head, the linear probing's rate; full and lora, the fine-tune's
LEARNING_RATES = {"head": 1e-2, "full": 3e-5, "lora": 5e-4}
VALIDATION_SHARE = 0.1  # of each fold's training rows, for early stopping
PROBE_EPOCHS = 300  # at most, for the head alone on frozen features (milliseconds each)
PROBE_PATIENCE = 10
PROBE_BATCH = 64
WARMUP_SHARE = 0.1  # of a fold's steps: the rate rises linearly, then decays linearly to 0
WEIGHT_DECAY = 0.01
MAX_GRAD_NORM = 1.0


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
    # classification: {"ece": float, "reliability": bins} on the held-out rows; else None
    calibration: dict[str, Any] | None = None


def run_verify(job: VerifyJob) -> VerifyResult:
    """Fine-tune ``job.candidate`` on each fold's training rows and predict its held-out rows.

    torch and the BLAS libraries are held to ``job.threads`` threads where given; the seeds
    (Python, numpy, torch) are ``job.seed``, so the same job twice on the CPU predicts the same.
    Raises ``NotVerifiable`` when the mode does not apply to the candidate.
    """
    import torch
    from threadpoolctl import threadpool_limits

    if job.mode not in MODES:
        raise ValueError(f"verify mode {job.mode!r} is none of {', '.join(MODES)}")
    if job.threads is not None:
        torch.set_num_threads(job.threads)
    random.seed(job.seed)
    np.random.seed(job.seed)
    torch.manual_seed(job.seed)
    with threadpool_limits(job.threads):  # None limits nothing
        return _verify(job)


def _verify(job: VerifyJob) -> VerifyResult:
    import torch

    start = time.perf_counter()
    deadline = start + job.budget_s
    device = torch.device(job.device)
    with DeviceMemory(device) as memory:
        session = _Session.open(job, device)
        outcomes = [session.fold(k, deadline) for k in range(len(job.train_rows))]
    calibration = _calibration(job, outcomes)
    return VerifyResult(
        calibration=calibration,
        rows=np.concatenate([np.asarray(rows, dtype=np.int64) for rows in job.test_rows]),
        predictions=np.concatenate([predictions for predictions, _ in outcomes]),
        seconds=time.perf_counter() - start,
        peak_mb=memory.peak_mb,
        mode=job.mode,
        device=torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        precision=session.precision,
        trainable_params=session.params(trainable=True),
        total_params=session.params(trainable=False),
        folds=[record for _, record in outcomes],
        budget_hit=any(record["stopped"] == "budget" for _, record in outcomes),
    )


def load_trainable(job: VerifyJob) -> tuple[Any, Any]:
    """(the loaded encoder, its ``Trainable``) with the mode applied: ``head`` freezes every
    weight, ``lora`` adds adapters and freezes the rest, ``full`` leaves every weight to train.
    ``NotVerifiable`` for a candidate without torch weights, or LoRA without targets."""
    from modelscout.backends.trainable import add_lora

    candidate = job.candidate
    backend = backend_of(candidate)
    no_weights = f"{candidate.id} has no torch weights to fine-tune; its probe figures stand"
    if not backend.torch or any(variant.kind == "int8" for variant in candidate.variants):
        raise NotVerifiable(no_weights)
    options = LoadOptions(job.allow_pickle, job.trust_remote_code, job.seed, job.threads, job.task)
    encoder = backend.load(candidate, job.meta, options)
    if not hasattr(encoder, "trainable"):
        raise NotVerifiable(no_weights)
    module = encoder.trainable()
    if job.mode == "lora":
        try:
            add_lora(module)
        except CandidateError as error:
            raise NotVerifiable(str(error)) from None
    elif job.mode == "head":
        module.requires_grad_(False)
    else:
        module.requires_grad_(True)
    return encoder, module


def _precision(device: Any) -> str:
    """fp32 on the CPU; on a CUDA device bf16 where it computes in it, else fp16."""
    import torch

    if device.type != "cuda":
        return "fp32"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


class _Session:
    """One candidate's fine-tune: the loaded encoder and its trainable module on the device,
    the weights every fold starts from, and (mode ``head``) every row's frozen features."""

    def __init__(self, job: VerifyJob, encoder: Any, module: Any, device: Any) -> None:
        import torch

        self.job, self.encoder, self.device = job, encoder, device
        self.module = module.to(device)
        self.precision = _precision(device)
        self.autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)
        # what training changes: its trainable weights and its buffers (batch-norm statistics)
        trained = {name for name, p in module.named_parameters() if p.requires_grad}
        self.changing = trained | {name for name, _ in module.named_buffers()}
        self.head: Any = None  # each fold's new linear head
        self.initial = self.snapshot()
        self.features: Any = None
        if job.mode == "head":  # computed once: the frozen encoder gives the same every epoch
            self.features = self.encode(np.arange(len(job.items)), train=False)
        self.dim = int(self.encode(np.arange(1), train=False).shape[1])

    @classmethod
    def open(cls, job: VerifyJob, device: Any) -> _Session:
        encoder, module = load_trainable(job)
        return cls(job, encoder, module, device)

    def snapshot(self) -> dict[str, Any]:
        """A copy of what training changes, in memory (the best epoch's weights)."""
        state = self.module.state_dict()
        kept = {name: state[name].detach().clone() for name in self.changing if name in state}
        if self.head is not None:
            kept["\0head"] = {k: v.detach().clone() for k, v in self.head.state_dict().items()}
        return kept

    def restore(self, kept: dict[str, Any]) -> None:
        body = {name: value for name, value in kept.items() if name != "\0head"}
        self.module.load_state_dict(body, strict=False)
        if "\0head" in kept and self.head is not None:
            self.head.load_state_dict(kept["\0head"])

    def params(self, trainable: bool) -> int:
        """Parameters of the module and the head: those that train, or all of them."""
        parts = [*self.module.parameters(), *(self.head.parameters() if self.head else [])]
        if trainable:
            body = [p for p in self.module.parameters() if p.requires_grad]
            parts = body + list(self.head.parameters() if self.head else [])
        return int(sum(p.numel() for p in parts))

    def encode(self, rows: np.ndarray, train: bool) -> Any:
        """(B,) rows -> (B, D) float32 features on the device: the frozen ones (mode head), or
        the module's, with gradients when ``train``."""
        import torch

        from modelscout.backends.trainable import to_device

        if self.features is not None:
            return self.features[torch.as_tensor(rows, device=self.device)]
        size = self.job.batch_size
        if not train and len(rows) > size:  # an evaluation pass, in batches
            parts = [self.encode(rows[i : i + size], False) for i in range(0, len(rows), size)]
            return torch.cat(parts)
        self.module.train(train and self.job.mode != "head")
        items = [self.job.items[i] for i in rows]
        batch = to_device(self.encoder.preprocess(items), self.device)
        with torch.set_grad_enabled(train), self._autocast():
            return self.module(batch).float()

    def _autocast(self) -> Any:
        import torch

        enabled = self.autocast_dtype is not None
        return torch.autocast(self.device.type, dtype=self.autocast_dtype, enabled=enabled)

    def fold(self, fold: int, deadline: float) -> tuple[np.ndarray, dict[str, Any]]:
        """Train fold ``fold`` from the starting weights; its held-out predictions and record."""
        return _Fold(self, fold, deadline).run()


class _Fold:
    """One fold's fine-tune: an inner validation split of its training rows, a new head, the
    epochs (early stopping on the validation loss, the budget checked between batches), then
    its held-out rows predicted with the best epoch's weights."""

    def __init__(self, session: _Session, fold: int, deadline: float) -> None:
        import torch

        job = session.job
        self.session, self.job, self.deadline = session, job, deadline
        self.fit_rows, self.validation_rows = inner_split(job, fold)
        fitted = job.targets[self.fit_rows].astype(np.float64)
        # regression learns standardized targets (the training rows' mean and deviation)
        self.mean = float(fitted.mean()) if job.task == "regression" else 0.0
        spread = float(fitted.std()) if job.task == "regression" else 1.0
        self.std = spread if spread > 0 else 1.0
        session.restore(session.initial)
        torch.manual_seed(job.seed + fold)
        outputs = job.classes if job.task != "regression" else 1
        session.head = torch.nn.Linear(session.dim, outputs).to(session.device)
        self.rng = np.random.default_rng(job.seed + fold)
        self.steps_per_epoch = max(1, math.ceil(len(self.fit_rows) / job.batch_size))
        self.optimizer, self.scheduler = self._optimizer()
        enabled = session.precision == "fp16"  # bf16 and fp32 need no loss scaling
        self.scaler = torch.amp.GradScaler(session.device.type, enabled=enabled)
        self.record: dict[str, Any] = {
            "fold": fold,
            "fit_rows": len(self.fit_rows),
            "validation_rows": len(self.validation_rows),
            "epochs": 0,
            "batches": 0,
            "stopped": "epochs",
            "train_loss": [],
            "validation_loss": [],
            "epoch_seconds": [],  # each finished epoch, its validation pass included
            "best_epoch": None,
        }

    def _optimizer(self) -> tuple[Any, Any]:
        """AdamW over the body and the probed head at one rate (LP-FT); a linear warmup then
        linear decay."""
        import torch

        job, session = self.job, self.session
        rate = job.learning_rate or LEARNING_RATES[job.mode]
        body = [p for p in session.module.parameters() if p.requires_grad]
        groups = [{"params": list(session.head.parameters()), "lr": rate}]
        if body:
            groups.append({"params": body, "lr": rate})
        optimizer = torch.optim.AdamW(groups, weight_decay=WEIGHT_DECAY)
        total = self.steps_per_epoch * job.epochs
        warmup = max(1, int(WARMUP_SHARE * total))

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            return max(0.0, (total - step) / max(1, total - warmup))

        return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)

    def run(self) -> tuple[np.ndarray, dict[str, Any]]:
        best_loss = self._probe_head()
        best, waited = self.session.snapshot(), 0
        self.record["best_epoch"] = 0  # the probed head, before any fine-tuning epoch
        epochs = 0 if self.job.mode == "head" else self.job.epochs
        for epoch in range(1, epochs + 1):
            began = time.perf_counter()
            finished = self._epoch()
            if not finished:
                self.record["stopped"] = "budget"
                break
            loss = self._validation_loss()
            self.record["epoch_seconds"].append(time.perf_counter() - began)
            self.record["epochs"] = epoch
            self.record["validation_loss"].append(loss)
            if loss < best_loss:
                best_loss, best, waited = loss, self.session.snapshot(), 0
                self.record["best_epoch"] = epoch
            else:
                waited += 1
                if waited >= self.job.patience:
                    self.record["stopped"] = "early"
                    break
        self.session.restore(best)
        if self.record["stopped"] == "budget" and not self.record["epochs"] and epochs:
            self.record["note"] = (
                "the budget ran out before the first fine-tuning epoch ended: the probed head "
                "on the frozen encoder predicts"
            )
        thresholds = self._thresholds()
        if thresholds is not None:
            self.record["thresholds"] = [float(t) for t in thresholds]
        return self._predict(self.job.test_rows[self.record["fold"]], thresholds), self.record

    def _probe_head(self) -> float:
        """Train the new head alone on the frozen encoder's standardized features of the fit
        rows, in shuffled batches, until the validation loss has not fallen for PROBE_PATIENCE
        epochs; keep its best state (the standardization folded into its weights) and return
        that validation loss."""
        import torch

        session, job = self.session, self.job
        fit = session.encode(self.fit_rows, train=False).detach()
        held = session.encode(self.validation_rows, train=False).detach()
        # standardized, as the frozen probe's features are (its StandardScaler): a sentence
        # encoder's unit-norm features are too small for the head to learn in time otherwise
        mean, std = fit.mean(dim=0), fit.std(dim=0).clamp_min(1e-6)
        fit, held = (fit - mean) / std, (held - mean) / std
        fit_targets, held_targets = (
            self._targets(self.fit_rows),
            self._targets(self.validation_rows),
        )
        rate = job.learning_rate if job.mode == "head" and job.learning_rate else None
        optimizer = torch.optim.AdamW(
            session.head.parameters(), lr=rate or LEARNING_RATES["head"], weight_decay=WEIGHT_DECAY
        )
        best, kept, waited, epochs = math.inf, None, 0, 0
        while epochs < PROBE_EPOCHS:
            epochs += 1
            order = torch.as_tensor(self.rng.permutation(len(fit)), device=session.device)
            for first in range(0, len(fit), PROBE_BATCH):
                rows = order[first : first + PROBE_BATCH]
                loss = self._loss_of(session.head(fit[rows]), fit_targets[rows])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            with torch.no_grad():
                loss = float(self._loss_of(session.head(held), held_targets))
            if loss < best - 1e-6:
                best, waited = loss, 0
                kept = {k: v.detach().clone() for k, v in session.head.state_dict().items()}
            else:
                waited += 1
                if waited >= PROBE_PATIENCE:
                    break
        session.head.load_state_dict(kept)
        with torch.no_grad():  # fold the standardization into the head: it reads raw features
            session.head.weight.div_(std)
            session.head.bias.sub_(session.head.weight @ mean)
        self.record.update(probe_epochs=epochs, probe_validation_loss=best)
        return best

    def _epoch(self) -> bool:
        """One pass over the shuffled training rows; False when the budget ran out in it."""
        import torch

        session, size = self.session, self.job.batch_size
        order = self.rng.permutation(self.fit_rows)
        losses = []
        for first in range(0, len(order), size):
            if time.perf_counter() >= self.deadline:
                self._log_train_loss(losses)
                return False
            rows = order[first : first + size]
            if len(rows) == 1 and first > 0:
                continue  # a last batch of one row: batch normalization cannot train on it
            loss = self._loss(session.head(session.encode(rows, train=True)), rows)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
            params = [p for group in self.optimizer.param_groups for p in group["params"]]
            torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            losses.append(float(loss.detach()))
            self.record["batches"] += 1
        self._log_train_loss(losses)
        return True

    def _log_train_loss(self, losses: list[float]) -> None:
        if losses:
            self.record["train_loss"].append(float(np.mean(losses)))

    def _targets(self, rows: np.ndarray) -> Any:
        import torch

        values = self.job.targets[rows]
        device = self.session.device
        if self.job.task == "classification":
            return torch.as_tensor(values, dtype=torch.long, device=device)
        if self.job.task == "regression":
            values = (values.astype(np.float64) - self.mean) / self.std
        return torch.as_tensor(values, dtype=torch.float32, device=device)

    def _loss(self, logits: Any, rows: np.ndarray) -> Any:
        return self._loss_of(logits, self._targets(rows))

    def _loss_of(self, logits: Any, targets: Any) -> Any:
        """Cross-entropy (classification), BCE with logits (multilabel), or the squared error
        on standardized targets (regression)."""
        import torch.nn.functional as F

        logits = logits.float()
        if self.job.task == "classification":
            return F.cross_entropy(logits, targets)
        if self.job.task == "multilabel":
            return F.binary_cross_entropy_with_logits(logits, targets)
        return F.mse_loss(logits.squeeze(-1), targets)

    def _logits(self, rows: np.ndarray) -> Any:
        """(B, outputs) head outputs for ``rows``, evaluation mode, no gradients."""
        import torch

        self.session.head.eval()
        with torch.no_grad():
            logits = self.session.head(self.session.encode(rows, train=False)).float()
        self.session.head.train()
        return logits

    def _validation_loss(self) -> float:
        import torch

        with torch.no_grad():
            return float(self._loss(self._logits(self.validation_rows), self.validation_rows))

    def _thresholds(self) -> np.ndarray | None:
        """Multilabel: per label, the F1-optimal threshold on the validation rows' probabilities
        (0.5 where the label has no positive row there); None for the other tasks."""
        if self.job.task != "multilabel":
            return None
        import torch

        probs = torch.sigmoid(self._logits(self.validation_rows)).cpu().numpy()
        return f1_thresholds(self.job.targets[self.validation_rows], probs)

    def _predict(self, rows: np.ndarray, thresholds: np.ndarray | None) -> np.ndarray:
        """Predictions for ``rows``: class ids, numbers in the fitted space, or 0/1 labels."""
        import torch

        rows = np.asarray(rows, dtype=np.int64)
        logits = self._logits(rows)
        if self.job.task == "classification":
            probs = torch.softmax(logits, dim=1)
            self.record["confidence"] = probs.max(dim=1).values.cpu().numpy()  # for the ECE
            return logits.argmax(dim=1).cpu().numpy().astype(np.int64)
        if self.job.task == "regression":
            return logits.squeeze(-1).double().cpu().numpy() * self.std + self.mean
        probs = torch.sigmoid(logits).cpu().numpy()
        return (probs >= thresholds).astype(np.uint8)


def _calibration(job: VerifyJob, outcomes: list) -> dict[str, Any] | None:
    """Classification: the expected calibration error of the fine-tuned model's predicted-class
    probabilities on the held-out rows, with its reliability bins (measure/calibration.py);
    None for the other tasks."""
    if job.task != "classification":
        return None
    confidence = np.concatenate([record.pop("confidence") for _, record in outcomes])
    predicted = np.concatenate([predictions for predictions, _ in outcomes])
    truth = np.asarray(job.targets)[np.concatenate(job.test_rows)]
    correct = predicted == truth
    return {
        "ece": expected_calibration_error(confidence, correct),
        "reliability": reliability(confidence, correct),
    }


def inner_split(job: VerifyJob, fold: int) -> tuple[np.ndarray, np.ndarray]:
    """A fold's training rows -> (rows it trains on, rows that judge its epochs):
    VALIDATION_SHARE of them (at least one), stratified by class where every class has two
    rows and the split has room for each."""
    from sklearn.model_selection import train_test_split

    train = np.asarray(job.train_rows[fold], dtype=np.int64)
    if len(train) < 2:
        raise CandidateError(f"fold {fold} has {len(train)} training rows: too few to fine-tune")
    size = max(1, int(round(VALIDATION_SHARE * len(train))))
    stratify = None
    if job.task == "classification":
        labels = job.targets[train]
        counts = np.unique(labels, return_counts=True)[1]
        if counts.min() >= 2 and len(counts) <= size <= len(train) - len(counts):
            stratify = labels
    fit, validation = train_test_split(
        train, test_size=size, random_state=job.seed + fold, stratify=stratify
    )
    return np.sort(fit), np.sort(validation)


def f1_thresholds(truth: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """(L,) thresholds, per label the one of highest F1 on (V, L) 0/1 ``truth`` and (V, L)
    ``probs`` (scikit-learn's precision-recall curve); 0.5 for a label with no positive row."""
    from sklearn.metrics import precision_recall_curve

    thresholds = np.full(truth.shape[1], 0.5)
    for label in range(truth.shape[1]):
        if not truth[:, label].any():
            continue
        precision, recall, cuts = precision_recall_curve(truth[:, label], probs[:, label])
        f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
        thresholds[label] = cuts[int(np.argmax(f1))]
    return thresholds
