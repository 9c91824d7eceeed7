"""The chosen model's features of the reference and current rows, from the store when they are
there: a daily monitor encodes its reference once.

Features are stored under the model's key (``Candidate.key``), the set's fingerprint and the
features version of the spec's layer choice (``plan.features_version``), as ``rank`` stores
its own; an encoder fitted on the data (a baseline) is fitted on the reference rows, so its
features of either set are stored under the reference's fingerprint too. The sets missing
from the store are encoded in one pass of the executor (one process start, not two).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modelscout.errors import CandidateError, UserError, one_line
from modelscout.executors import Executor
from modelscout.measure.encode import EncodeJob
from modelscout.monitor.data import MonitorData
from modelscout.records import Candidate, ModelMeta
from modelscout.store import Store


@dataclass(frozen=True)
class EncodeSettings:
    """What besides the model and the rows determines its features."""

    version: str  # plan.features_version(spec)
    feature_layer: str = "last"
    batch_size: int = 32
    seed: int = 0
    allow_pickle: bool = False
    trust_remote_code: bool = False
    threads: int | None = None


def data_key(data: MonitorData, candidate: Candidate, reference: MonitorData) -> str:
    """The store's data key of ``data``'s features: its fingerprint, and the reference's for
    an encoder fitted on it."""
    if candidate.is_baseline:
        return f"{data.fingerprint}+fit:{reference.fingerprint}"
    return data.fingerprint


def features_of(
    candidate: Candidate,
    meta: ModelMeta,
    sets: tuple[MonitorData, MonitorData],
    store: Store,
    executor: Executor,
    settings: EncodeSettings,
) -> tuple[tuple[np.ndarray, np.ndarray], list[str]]:
    """((reference features, current features), the roles read from the store).

    Shape:
        each (N_set, D) float32.
    """
    reference = sets[0]
    keys = [data_key(data, candidate, reference) for data in sets]
    found = [store.get_features(candidate.key, key, settings.version) for key in keys]
    missing = [i for i, f in enumerate(found) if f is None]
    if missing:
        items = [item for i in missing for item in sets[i].inputs.items]
        encoded = _encode(candidate, meta, items, reference, executor, settings)
        start = 0
        for i in missing:
            found[i] = encoded[start : start + len(sets[i])]
            start += len(sets[i])
            store.put_features(candidate.key, keys[i], settings.version, found[i])
    reused = [role for i, role in enumerate(("reference", "current")) if i not in missing]
    return (found[0], found[1]), reused


def _encode(
    candidate: Candidate,
    meta: ModelMeta,
    items: list[str],
    reference: MonitorData,
    executor: Executor,
    settings: EncodeSettings,
) -> np.ndarray:
    fitted = candidate.is_baseline
    job = EncodeJob(
        candidate,
        meta,
        items,
        batch_size=settings.batch_size,
        fit_items=reference.inputs.items if fitted else None,
        fit_labels=reference.targets.fit_targets() if fitted and reference.targets else None,
        task=reference.targets.task if reference.targets is not None else "classification",
        seed=settings.seed,
        allow_pickle=settings.allow_pickle,
        trust_remote_code=settings.trust_remote_code,
        threads=settings.threads,
        feature_layer=settings.feature_layer,
    )
    try:
        result = executor.encode(job)
    except (CandidateError, ValueError, OSError, RuntimeError) as error:
        raise UserError(
            f"model {candidate.id} could not encode the data ({one_line(error)}); check --model"
        ) from None
    return np.asarray(result.features, dtype=np.float32)
