"""monitor.json and monitor.html: one monitor call's report (docs/monitor.md).

The HTML is rendered by Jinja2 with autoescape on, so slice values, file names and model ids
from the user's data reach the page as text, never as markup.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from modelscout.monitor.contract import TEST_ORDER, MonitorReport


def render_monitor_html(report: MonitorReport) -> str:
    """The monitor's HTML page: the verdict, then every section's tests."""
    environment = Environment(
        loader=PackageLoader("modelscout.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
    )
    css = resources.files("modelscout.report").joinpath("templates/report.css").read_text()
    sections = [report.overall, *report.slices]
    present = {name for part in sections for name in part.tests}
    return environment.get_template("monitor.html.j2").render(
        report=report,
        sections=sections,
        names=[n for n in TEST_ORDER if n in present],
        css=Markup(css),  # the package's own stylesheet: escaped, its quoted fonts would break
    )


def write_monitor(report: MonitorReport, output: Path) -> list[Path]:
    """monitor.json and monitor.html in ``output``; their paths."""
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    json_path, html_path = output / "monitor.json", output / "monitor.html"
    json_path.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    html_path.write_text(render_monitor_html(report), encoding="utf-8")
    return [json_path, html_path]
