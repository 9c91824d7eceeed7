"""The typed records every stage passes on (../shared/DESIGN.md, "The records").

Candidate and its Variants (what the user named, where it resolves), ModelMeta (what is known
without running it), Measurement (one measured number), Outcome (a candidate after the run);
the Task, Modality and Status literals. Nothing here imports another modelscout module: every
layer may import the records.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

Task = Literal["classification", "multilabel", "regression"]
Modality = Literal["text", "image", "audio"]
Status = Literal["measured", "ranked", "rejected", "failed", "stopped"]
# measured: not yet decided; stopped: left behind by successive halving (halving.py)
TASKS: tuple[Task, ...] = ("classification", "multilabel", "regression")
MODALITIES: tuple[Modality, ...] = ("text", "image", "audio")


@dataclass(frozen=True)
class Variant:
    kind: str  # int8 | layers | max_length
    value: int | None = None

    def __str__(self) -> str:
        return self.kind if self.value is None else f"{self.kind}:{self.value}"

    @property
    def key(self) -> str:
        """This variant in the store key: int8 names its engine, so that measurements of the
        torch.ao int8 of earlier versions are not taken for those of ONNX Runtime's."""
        return "int8:onnxruntime" if self.kind == "int8" else str(self)


class ModelMeta(BaseModel):
    """What the files of a candidate say about it."""

    modality: Modality | None = None  # what its inputs are; None: unknown
    tasks: list[Task] = []  # the tasks its features or head serve
    library: str | None = None  # sentence-transformers | transformers | scikit-learn
    model_type: str | None = None
    architecture: str | None = None
    params: int | None = None
    disk_size_bytes: int | None = None
    embedding_dim: int | None = None
    layers: int | None = None
    max_input_tokens: int | None = None
    image_size: int | None = None  # the side, in pixels, an image model reads its inputs at
    license: str | None = None
    languages: list[str] | None = None
    datasets: list[str] | None = None
    pipeline_tag: str | None = None
    base_model: str | None = None
    author: str | None = None
    weight_format: str | None = None  # safetensors | pickle
    weight_files: list[str] = []
    tokenizer_files: list[str] = []
    needs_remote_code: bool = False
    card_sections: list[str] = []


@dataclass
class HubModel:
    """A Hub model: in the cache (``folder``), or so far known from its metadata (``meta``)."""

    repo_id: str
    revision: str | None  # as the user named it (branch, tag, sha), None for the default branch
    commit: str
    folder: Path | None = None
    meta: ModelMeta | None = None


@dataclass
class Candidate:
    id: str  # as the user named it
    source: str  # folder | package | hub | python | baseline
    path: Path | None = None  # None for a Hub model not downloaded yet
    revision: str | None = None  # commit sha, or content hash of the folder
    parent: str | None = None  # for variants: the parent's id
    variants: tuple[Variant, ...] = field(default_factory=tuple)
    hub_model: HubModel | None = None  # for Hub ids: repo, revision as named, Hub metadata
    backend: str = "text"  # the registered backend that loads it (backends/__init__.py)

    @property
    def is_baseline(self) -> bool:
        """A reference model (TF-IDF, pixels, the table's columns), not a pre-trained one."""
        return self.source == "baseline"

    @property
    def downloaded(self) -> bool:
        """Whether its files are here: only a Hub model not in the cache has none yet."""
        return self.path is not None or self.hub_model is None

    @property
    def key(self) -> str:
        """What determines this candidate's measurements: revision plus variants."""
        suffix = "".join(f"+{v.key}" for v in self.variants)
        return f"{self.source}:{self.revision}{suffix}"


@dataclass
class Measurement:
    """One measured number, with its spread, unit, settings and cost."""

    name: str
    value: float | None
    unit: str = ""
    spread: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    version: str = "1"
    detail: dict[str, Any] | None = None
    reused: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "reused"}


@dataclass
class Outcome:
    """A candidate after the pipeline: measured, rejected on metadata, or failed."""

    candidate: Candidate
    meta: ModelMeta
    status: Status
    reason: str | None = None
    measurements: dict[str, Measurement] = field(default_factory=dict)
    log: Path | None = None  # of a failed candidate: its traceback, relative to spec.output

    def value(self, name: str) -> float | None:
        found = self.measurements.get(name)
        return None if found is None else found.value
