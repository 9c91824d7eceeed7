"""Options that several commands share, declared once: their flag, metavar and help."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, get_args

import typer

from modelscout.measure.cost import instance_presets
from modelscout.records import TASKS
from modelscout.records import Modality as ModalityName
from modelscout.spec import Spec, Verify

# Choices named in --help, read from where they are defined so they never drift.
Task = Enum("Task", {name: name for name in TASKS})
Instance = Enum("Instance", {name: name for name in instance_presets()})
Modality = Enum("Modality", {name: name for name in get_args(ModalityName)})
TransformChoice = Enum(
    "TransformChoice",
    {
        name: name
        for name in get_args(get_args(Spec.model_fields["target_transform"].annotation)[0])
    },
)
VerifyMode = Enum(
    "VerifyMode",
    {name: name for name in get_args(Verify.model_fields["mode"].annotation)},
)
ExecutorName = Enum(
    "ExecutorName",
    {name: name for name in get_args(Spec.model_fields["executor"].annotation)},
)
LayerChoice = Enum(
    "LayerChoice", {name: name for name in get_args(Spec.model_fields["feature_layer"].annotation)}
)


def spec_help(field: str) -> str:
    """A Spec field's description as a flag's help, capitalized, its default in brackets."""
    text = Spec.model_fields[field].description or ""
    return text[:1].upper() + text[1:] + "."


def spec_default(field: str) -> str:
    """'[default: X]' for a Spec field: the spec's default is the one shown."""
    return f"[default: {Spec.model_fields[field].default}]"


# The opt-ins that rank and profile share: on/off pairs, None meaning "as the spec says".
AllowPickle = Annotated[
    bool | None,
    typer.Option(
        "--allow-pickle/--no-allow-pickle",
        help="Load pickle (.bin) checkpoints; they can run code [default: no].",
    ),
]
TrustRemoteCode = Annotated[
    bool | None,
    typer.Option(
        "--trust-remote-code/--no-trust-remote-code", help="Run models' own code [default: no]."
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
Store = Annotated[Path | None, typer.Option(metavar="PATH", help="SQLite measurement cache.")]
