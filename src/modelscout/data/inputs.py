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

from modelscout.records import Modality


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

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, rows: np.ndarray) -> ClassTargets:
        return ClassTargets(self.labels[rows], self.classes)

    def fingerprint_parts(self) -> list[bytes]:
        names = [name.encode("utf-8") for name in self.classes]
        return [names[label] for label in self.labels]

    def stratify_key(self) -> np.ndarray:
        return self.labels
