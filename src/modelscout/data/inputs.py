"""What a model reads (Inputs) and what it should predict (Targets), one row each.

Every kind of Inputs shares one interface (``modality``, ``len``, ``take``, ``items``,
``fingerprint_parts``), every kind of Targets another (``len``, ``take``,
``fingerprint_parts``, ``stratify_key``), so that sampling, fingerprints and the steps work
on any of them. A new modality or task is one more class here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from modelscout.records import Modality, Task

# Regression rows are sampled and split within quantile bins of the target: at most this many
# bins, and at least ROWS_PER_BIN rows per bin, so that every fold sees every bin.
QUANTILE_BINS = 10
ROWS_PER_BIN = 10


class Inputs(Protocol):
    """N inputs of one modality."""

    modality: Modality

    def __len__(self) -> int: ...

    def take(self, rows: np.ndarray) -> Inputs:
        """The inputs at ``rows`` (indices), in that order, as the same type."""
        ...

    @property
    def items(self) -> list[str]:
        """What an encoder's ``preprocess`` receives: the texts, or the file paths as str."""
        ...

    def fingerprint_parts(self) -> list[bytes]:
        """One byte string per input that changes whenever the input does."""
        ...


class Targets(Protocol):
    """N targets of one task."""

    task: Task

    def __len__(self) -> int: ...

    def take(self, rows: np.ndarray) -> Targets:
        """The targets at ``rows`` (indices), in that order, as the same type."""
        ...

    def fingerprint_parts(self) -> list[bytes]:
        """One byte string per target that changes whenever the target does."""
        ...

    def stratify_key(self) -> np.ndarray:
        """(N,) int: the group each row is sampled within (its class, for classification)."""
        ...

    def fit_targets(self) -> np.ndarray:
        """What a model is fitted on: (N,) int class ids, (N,) float numbers (on the scale
        of the transform, if any), or (N, L) 0/1 label indicators."""
        ...

    def counts(self) -> dict[str, int]:
        """Rows per class or label, in name order ({} for numbers)."""
        ...


@dataclass
class TextInputs:
    """N texts."""

    texts: list[str]
    modality: Modality = field(default="text", init=False)

    def __len__(self) -> int:
        return len(self.texts)

    def take(self, rows: np.ndarray) -> TextInputs:
        return TextInputs([self.texts[i] for i in rows])

    @property
    def items(self) -> list[str]:
        return self.texts

    def fingerprint_parts(self) -> list[bytes]:
        return [text.encode("utf-8") for text in self.texts]


@dataclass
class ImageInputs:
    """N image files; ``digests`` (sha256 of each file's bytes) are computed when first needed
    unless the loader, which read the files anyway, passes them."""

    paths: list[Path]
    digests: list[str] | None = None
    modality: Modality = field(default="image", init=False)

    def __len__(self) -> int:
        return len(self.paths)

    def take(self, rows: np.ndarray) -> ImageInputs:
        digests = None if self.digests is None else [self.digests[i] for i in rows]
        return ImageInputs([self.paths[i] for i in rows], digests)

    @property
    def items(self) -> list[str]:
        return [str(path) for path in self.paths]

    def fingerprint_parts(self) -> list[bytes]:
        # The content, not the path: a file edited in place is other data, a folder moved is not.
        if self.digests is None:
            self.digests = [hashlib.sha256(path.read_bytes()).hexdigest() for path in self.paths]
        return [b"image " + digest.encode("ascii") for digest in self.digests]


@dataclass
class ClassTargets:
    """One class per row: ``labels`` (N,) int indices into ``classes``."""

    labels: np.ndarray
    classes: list[str]
    task: Task = field(default="classification", init=False)

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, rows: np.ndarray) -> ClassTargets:
        return ClassTargets(self.labels[rows], self.classes)

    def fingerprint_parts(self) -> list[bytes]:
        names = [name.encode("utf-8") for name in self.classes]
        return [names[label] for label in self.labels]

    def stratify_key(self) -> np.ndarray:
        return self.labels

    def fit_targets(self) -> np.ndarray:
        return self.labels

    def counts(self) -> dict[str, int]:
        found = np.bincount(self.labels, minlength=len(self.classes))
        return {name: int(n) for name, n in zip(self.classes, found, strict=True)}


@dataclass
class NumberTargets:
    """One number per row: ``values`` (N,) float64 in the target's original units.

    ``transform`` "log": models are fitted on log(values) (``fit_targets``) and their
    predictions mapped back (``invert``), so that every figure is in the original units.
    """

    values: np.ndarray
    transform: str | None = None  # None | "log"
    task: Task = field(default="regression", init=False)

    def __len__(self) -> int:
        return len(self.values)

    def take(self, rows: np.ndarray) -> NumberTargets:
        return NumberTargets(self.values[rows], self.transform)

    def fingerprint_parts(self) -> list[bytes]:
        # repr round-trips a float exactly; the transform changes what is fitted
        prefix = b"log " if self.transform == "log" else b""
        return [prefix + repr(float(v)).encode("ascii") for v in self.values]

    def fit_targets(self) -> np.ndarray:
        return np.log(self.values) if self.transform == "log" else self.values

    def invert(self, fitted: np.ndarray) -> np.ndarray:
        """Predictions on the ``fit_targets`` scale -> the original units."""
        return np.exp(fitted) if self.transform == "log" else fitted

    def stratify_key(self) -> np.ndarray:
        """(N,) int quantile bin of each row's target (of ``fit_targets``): at most
        QUANTILE_BINS bins of at least ROWS_PER_BIN rows each (ties may merge bins)."""
        fitted = self.fit_targets()
        bins = max(1, min(QUANTILE_BINS, len(fitted) // ROWS_PER_BIN))
        edges = np.quantile(fitted, np.linspace(0, 1, bins + 1)[1:-1])
        _, key = np.unique(np.searchsorted(edges, fitted, side="right"), return_inverse=True)
        return key.astype(np.int64)

    def counts(self) -> dict[str, int]:
        return {}


@dataclass
class LabelSetTargets:
    """Any number of labels per row (none allowed): ``indicators`` (N, L) uint8, column j
    is 1 where the row has label ``names[j]``."""

    indicators: np.ndarray
    names: list[str]
    task: Task = field(default="multilabel", init=False)

    def __len__(self) -> int:
        return len(self.indicators)

    def take(self, rows: np.ndarray) -> LabelSetTargets:
        return LabelSetTargets(self.indicators[rows], self.names)

    def fingerprint_parts(self) -> list[bytes]:
        names = [name.encode("utf-8") for name in self.names]
        return [b"\x1d".join(names[j] for j in np.flatnonzero(row)) for row in self.indicators]

    def fit_targets(self) -> np.ndarray:
        return self.indicators

    def stratify_key(self) -> np.ndarray:
        """(N,) int: each row's rarest label (L for rows without a label), so that a sample
        keeps the rare labels."""
        return rarest_label(self.indicators)

    def counts(self) -> dict[str, int]:
        support = self.indicators.sum(axis=0)
        return {name: int(n) for name, n in zip(self.names, support, strict=True)}


def rarest_label(indicators: np.ndarray) -> np.ndarray:
    """(N,) int: each row's rarest label (the column with the fewest rows among the row's
    labels; L for a row with none): the group that keeps rare labels in a sample or a fold.

    Shape:
        indicators: (N, L) 0/1 or bool
    """
    has = np.asarray(indicators) > 0
    rarity = np.where(has, has.sum(axis=0)[None, :], np.iinfo(np.int64).max)
    return np.where(has.any(axis=1), rarity.argmin(axis=1), has.shape[1]).astype(np.int64)
