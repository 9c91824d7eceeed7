"""What is checked before any model is touched: the data, the sample and the candidates.

Kept apart from the run (run.py) so that checking them imports no more than pandas and the
catalog: bad input is told within a second or two, before scikit-learn, SciPy or torch
have been imported (they take seconds).
"""

from __future__ import annotations

from dataclasses import dataclass

from modelscout import metrics
from modelscout.catalog.candidate import Candidate, resolve_candidate
from modelscout.data import TaskData, load_task_data, stratified_sample
from modelscout.errors import UserError, require_writable_folder
from modelscout.spec import PERTURBATIONS, Spec


@dataclass
class Prepared:
    """Everything checked before any model is touched: bad input fails here, fast."""

    data: TaskData
    sample: TaskData
    candidates: list[Candidate]


def prepare(spec: Spec) -> Prepared:
    """Load and check the data, draw the sample, resolve every candidate."""
    data = load_task_data(
        spec.data,
        spec.text_column,
        spec.label_column,
        spec.slice_columns,
        min_rows_per_class=spec.folds,
        modality=spec.modality,
        image_column=spec.image_column,
        task=spec.task,
        label_delimiter=spec.label_delimiter,
        target_transform=spec.target_transform,
        baseline_columns=spec.baseline_columns,
    )
    try:
        metrics.quality_metric(data.task, spec.quality_metric)
    except ValueError as error:
        raise UserError(
            f"{error} (the data's task is {data.task}; set task: to change it)"
        ) from None
    check_stress(spec, data.modality)
    sample = stratified_sample(data, spec.max_samples, spec.seed, min_per_class=spec.folds)
    candidates = [
        resolve_candidate(
            c,
            allow_pickle=spec.allow_pickle,
            trust_remote_code=spec.trust_remote_code,
            columns=data.columns,
        )
        for c in spec.all_candidates(data.modality)
    ]
    if not candidates:
        raise UserError("no candidates: pass --candidate, or keep the TF-IDF baseline")
    if spec.keep_artifacts is not None:
        require_writable_folder(spec.keep_artifacts, "--keep-artifacts (spec: keep_artifacts)")
    return Prepared(data, sample, candidates)


def check_stress(spec: Spec, modality: str) -> None:
    """A stress perturbation of another modality than the data's is a ``UserError`` before
    anything is measured (blur on text)."""
    if spec.stress is None:
        return
    usable = ", ".join(PERTURBATIONS.get(modality, ())) or "none (remove stress:)"
    for p in spec.stress.perturbations:
        if p.modality != modality:
            article = "an" if p.modality[0] in "aeiou" else "a"
            raise UserError(
                f"stress: {p.kind} is {article} {p.modality} perturbation; the data is "
                f"{modality}; use one of {usable}"
            )
