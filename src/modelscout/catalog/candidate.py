"""Candidate: what the user named, and where it resolves.

``resolve_candidate`` turns an id from the command line or spec into a
Candidate: ``baseline:tfidf``, a local folder, an installed model package, or
a Hugging Face Hub id (cache first, download only when the Hub is allowed),
optionally followed by ``+variant`` parts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from modelscout.backends.baseline import baseline_meta
from modelscout.backends.variants import Variant, parse_variant
from modelscout.catalog import hub, local
from modelscout.catalog.meta import ModelMeta, count_params, read_folder_meta
from modelscout.errors import UserError
from modelscout.spec import BASELINE_TFIDF


@dataclass
class Candidate:
    id: str  # as the user named it
    source: str  # folder | package | hub | baseline
    path: Path | None = None
    revision: str | None = None  # commit sha, or content hash of the folder
    parent: str | None = None  # for variants: the parent's id
    variants: tuple[Variant, ...] = field(default_factory=tuple)

    @property
    def key(self) -> str:
        """What determines this candidate's measurements: revision plus variants."""
        suffix = "".join(f"+{v.key}" for v in self.variants)
        return f"{self.source}:{self.revision}{suffix}"


def resolve_candidate(text: str, *, allow_pickle: bool = False) -> Candidate:
    """Find a candidate from its id; an id that resolves to nothing is a ``UserError``."""
    text = text.strip()
    if not text:
        raise UserError("an empty --candidate was given; name a folder, package or Hub id")
    if text.startswith("baseline:"):
        if text != BASELINE_TFIDF:
            raise UserError(f"unknown baseline '{text}'; the baseline is {BASELINE_TFIDF}")
        return Candidate(id=text, source="baseline", revision="tfidf-v1")
    base, *variant_texts = text.split("+")
    variants = tuple(parse_variant(v) for v in variant_texts)
    found = local.find_folder(base) or local.find_package(base) or hub.find(base, allow_pickle)
    if found is None:
        raise UserError(
            f"unknown candidate '{base}': not a model folder, not an installed model package, "
            "and not a Hub id in the local Hugging Face cache (downloads are off when "
            "HF_HUB_OFFLINE=1 or there is no network)"
        )
    source, path, revision = found
    return Candidate(
        id=text,
        source=source,
        path=path,
        revision=revision,
        parent=base if variants else None,
        variants=variants,
    )


def describe(candidate: Candidate) -> ModelMeta:
    """ModelMeta of a candidate, its variants taken into account (known without loading)."""
    if candidate.source == "baseline":
        return baseline_meta()
    author = (
        candidate.id.split("/")[0] if candidate.source == "hub" and "/" in candidate.id else None
    )
    meta = read_folder_meta(Path(candidate.path), author=author)
    for variant in candidate.variants:
        if variant.kind == "layers" and meta.layers and variant.value < meta.layers:
            weights = [Path(candidate.path) / name for name in meta.weight_files]
            meta.layers = variant.value
            meta.params = count_params(weights, keep_layers=variant.value) if meta.params else None
        elif variant.kind == "max_length":
            meta.max_input_tokens = min(meta.max_input_tokens or variant.value, variant.value)
    return meta
