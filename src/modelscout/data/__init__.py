"""What the user gives: tables, Inputs (texts, image files), Targets (classes, label sets,
numbers), the fingerprint, the stratified and nested samples, slices
(../../shared/DESIGN.md, "data/")."""

from modelscout.data.images import MAX_UNREADABLE_SHARE, load_image
from modelscout.data.inputs import (
    ClassTargets,
    ImageInputs,
    Inputs,
    LabelSetTargets,
    NumberTargets,
    Targets,
    TextInputs,
)
from modelscout.data.sample import nested_subsamples, stratified_sample
from modelscout.data.tables import READERS
from modelscout.data.targets import TARGET_READERS, detect_task
from modelscout.data.task import TaskData, detect_modality, load_task_data
from modelscout.data.text import MAX_TEXT_CHARS

__all__ = [
    "MAX_TEXT_CHARS",
    "MAX_UNREADABLE_SHARE",
    "READERS",
    "TARGET_READERS",
    "ClassTargets",
    "ImageInputs",
    "Inputs",
    "LabelSetTargets",
    "NumberTargets",
    "Targets",
    "TaskData",
    "TextInputs",
    "detect_modality",
    "detect_task",
    "load_image",
    "load_task_data",
    "nested_subsamples",
    "stratified_sample",
]
