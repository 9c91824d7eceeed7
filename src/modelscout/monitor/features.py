"""The chosen model's features of the reference and current rows, from the store when they are
there: a daily monitor encodes its reference once.

Features are stored under the model's key (``Candidate.key``), the set's fingerprint and the
features version of the spec's layer choice (``plan.features_version``), as ``rank`` stores
its own. The sets missing from the store are encoded in one pass of the executor (one process
start, not two).
"""

from __future__ import annotations

import numpy as np

from modelscout.errors import CandidateError, UserError, one_line
from modelscout.executors import Executor
from modelscout.measure.encode import EncodeJob
from modelscout.monitor.data import MonitorData
from modelscout.plan import features_version
from modelscout.records import Candidate, ModelMeta
from modelscout.spec import Spec
from modelscout.store import Store


def features_of(
    candidate: Candidate,
    meta: ModelMeta,
    sets: tuple[MonitorData, MonitorData],
    store: Store,
    executor: Executor,
    spec: Spec,
    threads: int | None,
) -> tuple[tuple[np.ndarray, np.ndarray], list[str]]:
    """((reference features, current features), the roles read from the store), encoded with
    the spec's layer choice, batch size and loading permissions, ``threads`` torch threads.

    Shape:
        each (N_set, D) float32.
    """
    version = features_version(spec)
    keys = [data.fingerprint for data in sets]
    found = [store.get_features(candidate.key, key, version) for key in keys]
    missing = [i for i, f in enumerate(found) if f is None]
    if missing:
        items = [item for i in missing for item in sets[i].inputs.items]
        encoded = _encode(candidate, meta, items, executor, spec, threads)
        start = 0
        for i in missing:
            found[i] = encoded[start : start + len(sets[i])]
            start += len(sets[i])
            store.put_features(candidate.key, keys[i], version, found[i])
    reused = [role for i, role in enumerate(("reference", "current")) if i not in missing]
    return (found[0], found[1]), reused


def _encode(
    candidate: Candidate,
    meta: ModelMeta,
    items: list[str],
    executor: Executor,
    spec: Spec,
    threads: int | None,
) -> np.ndarray:
    """``items`` encoded by the model in its own process; an encoder that is fitted on the data
    is refused there (``run_encode``: it has no features of its own to watch)."""
    job = EncodeJob(
        candidate,
        meta,
        items,
        batch_size=spec.batch_size,
        seed=spec.seed,
        allow_pickle=spec.allow_pickle,
        trust_remote_code=spec.trust_remote_code,
        threads=threads,
        feature_layer=spec.feature_layer,
    )
    try:
        result = executor.encode(job)
    except (CandidateError, ValueError, OSError, RuntimeError) as error:
        raise UserError(
            f"model {candidate.id} could not encode the data ({one_line(error)}); check --model"
        ) from None
    return np.asarray(result.features, dtype=np.float32)
