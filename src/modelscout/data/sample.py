"""The stratified sample a run measures on, and nested subsamples of it (learning curves)."""

from __future__ import annotations

import numpy as np

from modelscout.data.task import TaskData
from modelscout.errors import UserError

# What the groups of ``Targets.stratify_key()`` are, by task, in messages.
GROUPS = {
    "classification": "classes",
    "regression": "quantile bins of the target",
    "multilabel": "label groups (rows grouped by their rarest label)",
}


def stratified_sample(data: TaskData, max_samples: int, seed: int, min_per_class: int) -> TaskData:
    """At most ``max_samples`` rows, group proportions kept, each group at least
    ``min_per_class``.

    Sampling is within each group of ``data.targets.stratify_key()`` (the class, the quantile
    bin of a number, a row's rarest label), with a seeded generator, so the same (data,
    max_samples, seed) always gives the same rows, in file order. Multi-label data then keeps
    at least ``min_per_class`` rows of every label that has them (``_keep_every_label``). A
    ``max_samples`` too small to hold ``min_per_class`` rows of every group is a
    ``UserError``; a sample of all the data, fewer rows than asked, carries a note saying so.
    """
    if len(data) <= max_samples:
        if len(data) < max_samples:
            data = data.subset(np.arange(len(data)))  # notes of its own, the data's untouched
            data.notes.append(
                f"the data has {len(data):,} usable rows, fewer than max_samples "
                f"{max_samples:,}: all of them are used"
            )
        return data
    key = data.targets.stratify_key()
    counts = np.bincount(key)
    groups = int(np.count_nonzero(counts))
    needed = groups * min_per_class
    if needed > max_samples:
        # Every class needs min_per_class (the folds) rows in the sample: taking fewer would
        # break the cross-validation, taking more would break the cap the user set.
        raise UserError(
            f"max_samples {max_samples:,} is below the {needed:,} rows that {min_per_class}-fold "
            f"cross-validation on {groups:,} {GROUPS[data.task]} needs; raise --max-samples to "
            f"{needed} or lower --folds"
        )
    rng = np.random.default_rng(seed)
    chosen = stratified_rows(key, max_samples, rng, min_per_class)
    rows = _keep_every_label(data.targets.fit_targets(), chosen, min_per_class, rng)
    return data.subset(np.sort(rows))


def stratified_rows(
    key: np.ndarray, max_rows: int, rng: np.random.Generator, min_per_group: int
) -> np.ndarray:
    """At most ``max_rows`` row indices, drawn within each group of ``key`` by ``_quota``
    (proportional, at least ``min_per_group``), with ``rng``; grouped, not sorted.

    Shape: key: (N,) int group of each row (``Targets.stratify_key()``). Returns (R,) int."""
    counts = np.bincount(key)
    quota = _quota(counts, max_rows, min_per_group)
    order = np.argsort(key, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    chosen = [
        rng.choice(order[start : start + count], size=take, replace=False)
        for start, count, take in zip(starts, counts, quota, strict=True)
    ]
    return np.concatenate(chosen)


def _keep_every_label(
    fitted: np.ndarray, rows: np.ndarray, min_per_label: int, rng: np.random.Generator
) -> np.ndarray:
    """``rows`` with, for (N, L) label indicators ``fitted``, at least ``min_per_label`` rows
    of every label (or all of a rarer one); other targets' rows unchanged.

    Grouping by the rarest label gives most labels their rows; a label that is never a row's
    rarest (each of its rows has a rarer one) may still fall short. Rarest first, such a
    label gets rows it lacks from outside the sample, each one swapped for a sampled row
    whose removal leaves every label at its floor (a spare row; none left: the sample grows).
    """
    if fitted.ndim != 2:
        return rows
    chosen = np.zeros(len(fitted), dtype=bool)
    chosen[rows] = True
    labelled = fitted > 0
    floor = np.minimum(min_per_label, labelled.sum(axis=0))
    for label in np.argsort(labelled.sum(axis=0), kind="stable"):
        short = int(floor[label] - labelled[chosen, label].sum())
        if short <= 0:
            continue
        outside = np.flatnonzero(~chosen & labelled[:, label])
        chosen[rng.choice(outside, size=short, replace=False)] = True
        for _ in range(short):
            surplus = labelled[chosen].sum(axis=0) > floor
            spare = np.flatnonzero(chosen & ~(labelled & ~surplus).any(axis=1))
            if len(spare):
                chosen[rng.choice(spare)] = False
    return np.flatnonzero(chosen)


def _quota(counts: np.ndarray, max_samples: int, min_per_class: int) -> np.ndarray:
    """(G,) int rows to take of each group: proportional, at least ``min_per_class`` (or all
    of a smaller group), ``max_samples`` in all."""
    total = counts.sum()
    quota = np.minimum(
        counts, np.maximum(min_per_class, np.floor(counts * max_samples / total))
    ).astype(int)
    # Trim the rounding surplus from the largest classes, never below the per-class floor.
    while quota.sum() > max_samples and (quota > min_per_class).any():
        quota[np.argmax(np.where(quota > min_per_class, quota, -1))] -= 1
    # Hand out what floor() left over to the classes with the most rows to spare.
    while quota.sum() < max_samples and (quota < counts).any():
        quota[np.argmax(counts - quota)] += 1
    return quota


def nested_subsamples(
    labels: np.ndarray, fractions: tuple[float, ...], seed: int, min_per_class: int = 2
) -> list[np.ndarray]:
    """Row indices of nested stratified subsamples, one per fraction (ascending).

    ``labels``: (N,) int, the group of each row (``TaskData.targets.stratify_key()``). Each
    group is shuffled once; a fraction f takes the first max(min_per_class, ceil(f * n_c))
    rows of every group, so a smaller subsample is inside every larger one.
    """
    rng = np.random.default_rng(seed)
    shuffled = [rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    return [
        np.sort(
            np.concatenate(
                [
                    rows[: min(len(rows), max(min_per_class, int(np.ceil(f * len(rows)))))]
                    for rows in shuffled
                ]
            )
        )
        for f in sorted(fractions)
    ]
