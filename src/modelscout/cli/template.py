"""The commented spec ``modelscout init`` writes, generated from the Spec model itself: every
setting with its default and its description, so the template cannot drift from the code."""

from __future__ import annotations

import json

from pydantic import BaseModel

from modelscout.spec import Spec

HEADER = """\
# modelscout spec: every setting with its default. Flags of 'modelscout rank' override it.
# Relative paths are read relative to this file. Check it with: modelscout rank --spec FILE

"""


def _lines(model: type[BaseModel], indent: str = "") -> list[str]:
    lines = []
    for name, field in model.model_fields.items():
        lines.append(f"{indent}# {field.description}")
        default = field.get_default(call_default_factory=True)
        if isinstance(default, BaseModel):
            lines += [f"{indent}{name}:", *_lines(type(default), indent + "  ")]
        elif field.is_required():
            lines.append(f"{indent}{name}:  # required")
        else:
            # JSON is YAML's flow style: strings quoted, lists in brackets, null, true/false.
            lines.append(f"{indent}{name}: {json.dumps(default, default=str)}")
    return lines


def spec_template() -> str:
    """A YAML spec with every setting of ``Spec`` at its default, each under a comment."""
    return HEADER + "\n".join(_lines(Spec)) + "\n"
