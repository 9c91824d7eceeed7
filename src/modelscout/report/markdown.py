"""results.md: the summary and evaluation matrix, for pull requests and tickets."""

from __future__ import annotations

from typing import Any

from modelscout.report.matrix import HEADERS, matrix_rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(results: dict[str, Any]) -> str:
    data = results["data"]
    lines = [
        "# modelscout results",
        "",
        f"**Recommendation:** {_cell(results['recommendation'] or 'none')}",
        "",
        results["rationale"],
        "",
        f"Data: {data['rows_used']} rows used of {data['rows_in_file']} "
        f"({len(data['classes'])} classes), fingerprint `{data['fingerprint'][:12]}`. "
        f"Pareto set (macro-F1, p95 latency, memory): "
        f"{', '.join(results['pareto']) or 'none'}.",
        "",
        "## Evaluation matrix",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|" + "---|" * len(HEADERS),
    ]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in matrix_rows(results)]
    weights = ", ".join(f"{k} {v:g}" for k, v in results["weights"].items())
    lines += [
        "",
        f"Weights: {weights}. Spreads are the standard deviation over "
        f"{results['settings']['folds']} cross-validation folds.",
        "",
    ]
    return "\n".join(lines)
