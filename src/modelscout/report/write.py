"""Write every report format into the output folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modelscout.report.csv import render_csv
from modelscout.report.html import render_html
from modelscout.report.markdown import render_markdown


def write_reports(results: dict[str, Any], output: str | Path) -> list[Path]:
    """results.json, results.md, matrix.csv and report.html in ``output``; returns the paths."""
    folder = Path(output)
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "results.json": json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n",
        "results.md": render_markdown(results),
        "matrix.csv": render_csv(results),
        "report.html": render_html(results),
    }
    written = []
    for name, text in files.items():
        path = folder / name
        temporary = path.with_suffix(path.suffix + ".tmp")
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(path)
        written.append(path)
    return written
