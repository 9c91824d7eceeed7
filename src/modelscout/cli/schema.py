"""``modelscout schema``: the JSON Schemas of the spec and of results.json."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from modelscout.results import Results
from modelscout.spec import Spec

SpecOnly = Annotated[bool, typer.Option("--spec", help="Only the spec's JSON Schema.")]
ResultsOnly = Annotated[bool, typer.Option("--results", help="Only results.json's JSON Schema.")]


def schema(spec: SpecOnly = False, results: ResultsOnly = False) -> None:
    """Print the JSON Schemas of the spec and of results.json.

    Without --spec or --results: one object {"spec": ..., "results": ...}.

    Example:

        modelscout schema --results > results.schema.json
    """
    schemas = {"spec": Spec.model_json_schema(), "results": Results.model_json_schema()}
    chosen = [name for name, wanted in (("spec", spec), ("results", results)) if wanted]
    shown = schemas[chosen[0]] if len(chosen) == 1 else schemas
    print(json.dumps(shown, indent=2, ensure_ascii=False))
