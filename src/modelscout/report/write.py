"""Write every report format into the output folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from modelscout.errors import require_writable_folder
from modelscout.pipeline import LOG_FOLDER
from modelscout.report.csv import render_csv
from modelscout.report.html import render_html
from modelscout.report.markdown import render_markdown

REPORT_NAMES = ("results.json", "results.md", "matrix.csv", "report.html")
PREVIOUS_FOLDER = "previous"


def prepare_output(output: str | Path) -> Path:
    """Check that ``output`` can be written, before anything is measured, and move an older
    run's reports and logs into ``output/previous/`` (replacing what was there), so that a run
    that fails leaves nothing beside it that looks current. ``UserError`` when not writable."""
    folder = require_writable_folder(output)
    older = [folder / name for name in (*REPORT_NAMES, LOG_FOLDER) if (folder / name).exists()]
    if older:
        previous = folder / PREVIOUS_FOLDER
        shutil.rmtree(previous, ignore_errors=True)
        previous.mkdir()
        for path in older:
            path.replace(previous / path.name)
    return folder


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
