"""Write every report format into the output folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from modelscout.errors import UserError, require_writable_folder
from modelscout.report.csv import render_csv
from modelscout.report.html import render_html
from modelscout.report.json import dumps_results
from modelscout.report.markdown import render_markdown
from modelscout.run import LOG_FOLDER

REPORT_NAMES = ("results.json", "results.md", "matrix.csv", "report.html")
PREVIOUS_FOLDER = "previous"
PREVIOUS_MARKER = ".modelscout-previous"  # in a previous/ that modelscout made, and may replace


def prepare_output(output: str | Path) -> Path:
    """Check that ``output`` can be written, before anything is measured, and move an older
    run's reports and logs into ``output/previous/``, so that a run that fails leaves nothing
    beside it that looks current. ``UserError`` when not writable.

    Only what an older modelscout run wrote is moved (its results.json says so), and only a
    ``previous/`` that modelscout made is replaced: the folder may hold the user's own files."""
    folder = require_writable_folder(output)
    if not _older_run(folder):
        return folder
    older = [folder / name for name in (*REPORT_NAMES, LOG_FOLDER) if (folder / name).exists()]
    previous = folder / PREVIOUS_FOLDER
    if previous.exists() and not (previous / PREVIOUS_MARKER).is_file():
        raise UserError(
            f"{previous} was not made by modelscout, and the older run's reports in {folder} "
            "would be moved there; move it aside or give --output another folder"
        )
    try:
        shutil.rmtree(previous, ignore_errors=True)
        previous.mkdir()
        (previous / PREVIOUS_MARKER).write_text("moved here by the next modelscout run\n")
        for path in older:
            path.replace(previous / path.name)
    except OSError as error:
        raise UserError(
            f"cannot move the older run's reports into {previous} ({error.strerror or error}); "
            "move them aside or give --output another folder"
        ) from None
    return folder


def _older_run(folder: Path) -> bool:
    """Whether ``folder`` holds the reports of an earlier modelscout run."""
    try:
        results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(results, dict) and (results.get("tool") or {}).get("name") == "modelscout"


def write_reports(results: dict[str, Any], output: str | Path) -> list[Path]:
    """results.json, results.md, matrix.csv and report.html in ``output``; returns the paths."""
    folder = Path(output)
    folder.mkdir(parents=True, exist_ok=True)
    # Each written as soon as it is rendered, results.json first: a renderer that fails
    # loses its own file, never the measurements the others hold.
    files = {
        "results.json": lambda: dumps_results(results) + "\n",
        "results.md": lambda: render_markdown(results),
        "matrix.csv": lambda: render_csv(results),
        "report.html": lambda: render_html(results),
    }
    written = []
    for name, render in files.items():
        text = render()
        path = folder / name
        temporary = path.with_suffix(path.suffix + ".tmp")
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(path)
        written.append(path)
    return written
