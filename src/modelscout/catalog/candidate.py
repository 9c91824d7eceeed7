"""Candidate: what the user named, and where it resolves.

``resolve_candidate`` turns an id from the command line or spec into a
Candidate: ``baseline:tfidf``, ``baseline:pixels`` or ``baseline:columns``, a Python entry point
``python:package.module:factory``, a local folder, an installed model package, or a Hugging
Face Hub id ``org/name[@revision]`` (cache first, else described from the Hub's metadata and
downloaded by ``download`` once its requirements are met), optionally followed by
``+variant`` parts. Each names the backend that loads it (``Candidate.backend``): a model
folder that reads images the ``transformers-image`` backend, any other the ``text`` one.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import replace
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np

from modelscout.backends.python import find_factory, meta_of, split_entry_point
from modelscout.backends.variants import parse_variant
from modelscout.catalog import hub, local
from modelscout.catalog.meta import (
    config_layers,
    count_params,
    read_config,
    read_folder_meta,
)
from modelscout.catalog.modality import folder_modality
from modelscout.errors import UserError
from modelscout.records import Candidate, HubModel, ModelMeta, Variant
from modelscout.spec import BASELINE_COLUMNS, BASELINE_PIXELS, BASELINE_TFIDF

# baseline id -> (revision, backend, module whose ``baseline_meta`` describes it, what it reads)
BASELINES = {
    BASELINE_TFIDF: ("tfidf-v1", "baseline", "modelscout.backends.baseline", "text"),
    BASELINE_PIXELS: ("pixels-v1", "pixels", "modelscout.backends.pixels", "images"),
    # its revision also names the columns and digests their values (``columns_revision``)
    BASELINE_COLUMNS: ("columns-v1", "columns", "modelscout.backends.columns", "other columns"),
}
# what a model folder reads -> the backend that loads it (text: the default)
FOLDER_BACKENDS = {"image": "transformers-image"}

logger = logging.getLogger(__name__)


def resolve_candidate(
    text: str,
    *,
    allow_pickle: bool = False,
    trust_remote_code: bool = False,
    columns: Mapping[str, np.ndarray] | None = None,
) -> Candidate:
    """Find a candidate from its id; an id that resolves to nothing is a ``UserError``.

    ``columns``: the data's baseline columns (``TaskData.columns``), which the columns
    baseline is fitted on."""
    text = text.strip()
    if not text:
        raise UserError("an empty --candidate was given; name a folder, package or Hub id")
    if text.startswith("baseline:"):
        return baseline_candidate(text, columns or {})
    if text.startswith("python:"):
        return python_candidate(text)
    base, *variant_texts = text.split("+")
    variants = tuple(parse_variant(v) for v in variant_texts)
    found = local.find_folder(base) or local.find_package(base)
    hub_model = None if found else hub.find(base, allow_pickle, trust_remote_code)
    if hub_model:
        found = ("hub", hub_model.folder, hub_model.commit)
    if found is None:
        raise UserError(
            f"unknown candidate '{base}': not a model folder, not an installed model package, "
            "and not a Hub id in the local Hugging Face cache (the Hub is not asked while "
            "HF_HUB_OFFLINE=1)"
        )
    source, path, revision = found
    logger.info("%s: %s at %s (revision %s)", text, source, path, revision)
    if path is not None:
        check_variants(text, read_config(Path(path)), variants)
    elif variants:  # a Hub model not downloaded yet: its config.json alone, before the weights
        check_variants(text, hub.fetch_config(hub_model), variants)
    return Candidate(
        id=text,
        source=source,
        path=path,
        revision=revision,
        parent=base if variants else None,
        variants=variants,
        hub_model=hub_model,
        backend=folder_backend(path, hub_model),
    )


def baseline_candidate(text: str, columns: Mapping[str, np.ndarray]) -> Candidate:
    """A ``baseline:`` candidate; the columns baseline's revision names its columns."""
    if text not in BASELINES:
        known = ", ".join(f"{name} ({reads})" for name, (*_, reads) in BASELINES.items())
        raise UserError(f"unknown baseline '{text}'; the baselines are {known}")
    revision, backend, *_ = BASELINES[text]
    if backend == "columns":
        if not columns:
            raise UserError(
                f"{text} is fitted on other columns of the table: name them with "
                "baseline_columns (e.g. baseline_columns: [room_type])"
            )
        revision = columns_revision(revision, columns)
    return Candidate(id=text, source="baseline", revision=revision, backend=backend)


def columns_revision(version: str, columns: Mapping[str, np.ndarray]) -> str:
    """``version:name,name@digest``: the columns (sorted) and a sha256 of their values, so
    that another choice of columns, or an edit to their values, is measured afresh (the data
    fingerprint covers the inputs and targets only)."""
    digest = hashlib.sha256()
    for name in sorted(columns):
        values = "\x1f".join(str(value) for value in columns[name])
        digest.update(name.encode("utf-8") + b"\x1e" + values.encode("utf-8") + b"\x1d")
    return f"{version}:{','.join(sorted(columns))}@{digest.hexdigest()[:12]}"


def folder_backend(path: Path | None, hub_model: HubModel | None) -> str:
    """The backend of a model folder (or of a Hub model known so far by its metadata), by what
    its files say it reads."""
    if path is not None:
        modality = folder_modality(Path(path), read_config(Path(path)), has_tokenizer=False)
    else:
        modality = hub_model.meta.modality if hub_model and hub_model.meta else None
    return FOLDER_BACKENDS.get(modality or "text", "text")


def python_candidate(text: str) -> Candidate:
    """A ``python:package.module:factory`` candidate; its revision is the hash of the module's
    file, its package's version and the factory's name (one module may hold several models),
    so that editing either measures it afresh."""
    try:
        module, _ = split_entry_point(text)
        spec = find_spec(module)
    except (ValueError, ImportError) as error:
        raise UserError(f"candidate '{text}': {error}; use python:package.module:factory") from None
    if spec is None or not spec.origin or not Path(spec.origin).is_file():
        raise UserError(f"candidate '{text}': no module {module} on the Python path")
    try:
        package = version(module.split(".")[0])
    except PackageNotFoundError:
        package = None
    digest = hashlib.sha256(Path(spec.origin).read_bytes())
    digest.update(str(package).encode())
    digest.update(text.encode())
    return Candidate(
        id=text,
        source="python",
        path=Path(spec.origin),
        revision=digest.hexdigest()[:16],
        backend="python",
    )


def download(candidate: Candidate, *, allow_pickle: bool, trust_remote_code: bool) -> Candidate:
    """The candidate with its files on disk: a Hub model not in the cache is downloaded."""
    if candidate.downloaded or candidate.hub_model is None:
        return candidate
    folder = hub.download(candidate.hub_model, allow_pickle, trust_remote_code)
    check_variants(candidate.id, read_config(folder), candidate.variants)
    backend = folder_backend(folder, None)
    return replace(candidate, path=folder, revision=folder.name, backend=backend)


def check_variants(text: str, config: dict[str, Any], variants: tuple[Variant, ...]) -> None:
    """Refuse a layers:K or max_length:L that the model's config.json rules out, so that it is
    bad input told at once rather than a failure after the model has loaded. What config.json
    does not say is left for the load to find out."""
    for variant in variants:
        if variant.kind == "layers" and (found := config_layers(config)):
            count, key = found
            if variant.value >= count:
                raise UserError(
                    f"candidate '{text}': {variant} keeps every layer: config.json gives "
                    f"{count} ({key}); use layers:K with K below {count}"
                )
        limit = config.get("max_position_embeddings")
        if variant.kind == "max_length" and isinstance(limit, int) and variant.value > limit:
            raise UserError(
                f"candidate '{text}': {variant} is beyond the model's {limit} positions "
                f"(max_position_embeddings in config.json); use max_length:{limit} or less"
            )


def _baseline_meta(candidate: Candidate) -> ModelMeta:
    # Imported on use: the TF-IDF module imports scikit-learn (1.5 s), which resolving
    # candidates, part of checking the user's input (``inputs.prepare``), must not wait for.
    return import_module(BASELINES[candidate.id][2]).baseline_meta()


# Backends whose candidates are described by code rather than by model files.
WITHOUT_FILES = {
    "baseline": _baseline_meta,
    "pixels": _baseline_meta,
    "columns": _baseline_meta,
    "python": lambda candidate: meta_of(find_factory(candidate.id, candidate.path)),
}


def describe(candidate: Candidate) -> ModelMeta:
    """ModelMeta of a candidate, its variants taken into account (known without loading)."""
    if candidate.backend in WITHOUT_FILES:
        return WITHOUT_FILES[candidate.backend](candidate)
    author = (
        candidate.id.split("/")[0] if candidate.source == "hub" and "/" in candidate.id else None
    )
    if candidate.path is None:  # a Hub model known so far from its metadata only
        meta = candidate.hub_model.meta.model_copy(deep=True)
    else:
        meta = read_folder_meta(Path(candidate.path), author=author)
    for variant in candidate.variants:
        if variant.kind == "layers" and candidate.path is None:
            meta.params = meta.layers = None  # counted from the weight files once downloaded
        elif variant.kind == "layers" and meta.layers and variant.value < meta.layers:
            weights = [Path(candidate.path) / name for name in meta.weight_files]
            meta.layers = variant.value
            meta.params = count_params(weights, keep_layers=variant.value) if meta.params else None
        elif variant.kind == "max_length":
            meta.max_input_tokens = min(meta.max_input_tokens or variant.value, variant.value)
    return meta
