"""Calibration: the expected calibration error (Guo et al. 2017) and its reliability bins, the
classification probe's ECE (or the reason it has none), and the report's reliability diagram."""

from __future__ import annotations

import copy
import json
import re
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.model_selection import StratifiedKFold

from modelscout import metrics
from modelscout.backends.baseline import fold_model, term_counts
from modelscout.data import load_task_data
from modelscout.measure.calibration import expected_calibration_error, reliability
from modelscout.measure.probe import cross_validate, linear_probe, probe_measurements
from modelscout.measure.validation import InputError
from modelscout.report.html import render_html
from modelscout.report.json import with_sentences
from modelscout.report.markdown import render_markdown

DATA = Path(__file__).parent / "data"


# -- the error and its bins -------------------------------------------------------------------


def test_perfectly_calibrated_confidences_have_an_ece_near_zero() -> None:
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.0, 1.0, 200_000)
    correct = rng.uniform(0.0, 1.0, confidence.size) < confidence  # right with that chance
    assert expected_calibration_error(confidence, correct) < 0.005


def test_over_confident_predictions_have_the_hand_computed_ece() -> None:
    # Bin (0.6, 0.667]: 4 rows at 0.65, 1 right -> |0.25 - 0.65| = 0.40, weight 4/10.
    # Bin (0.933, 1]: 6 rows at 0.95, 3 right -> |0.50 - 0.95| = 0.45, weight 6/10.
    confidence = np.array([0.65] * 4 + [0.95] * 6)
    correct = np.array([1, 0, 0, 0] + [1, 1, 1, 0, 0, 0], dtype=bool)
    expected = 0.4 * 0.40 + 0.6 * 0.45
    assert expected_calibration_error(confidence, correct) == pytest.approx(expected)


def test_under_and_over_confident_bins_do_not_cancel_out() -> None:
    # Bin (0.333, 0.4]: 4 rows at 0.35, all right -> |1.00 - 0.35| = 0.65, weight 4/10.
    # Bin (0.933, 1]: 6 rows at 0.95, 3 right -> |0.50 - 0.95| = 0.45, weight 6/10.
    confidence = np.array([0.35] * 4 + [0.95] * 6)
    correct = np.array([1] * 4 + [1, 1, 1, 0, 0, 0], dtype=bool)
    assert expected_calibration_error(confidence, correct) == pytest.approx(0.4 * 0.65 + 0.6 * 0.45)


def test_an_always_sure_classifier_right_seventy_percent_of_the_time_has_ece_point_three() -> None:
    assert expected_calibration_error(np.ones(10), np.arange(10) < 7) == pytest.approx(0.3)


def test_reliability_bins_count_rows_with_right_closed_edges() -> None:
    # 0.25 belongs to (0, 0.25], 0.26 to (0.25, 0.5]; exactly 0 to the first bin.
    bins = reliability([0.0, 0.25, 0.26, 0.9, 1.0], [0, 1, 1, 1, 0], bins=4)
    assert bins["edges"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert bins["count"] == [2, 1, 0, 2]
    assert bins["confidence"] == pytest.approx([0.125, 0.26, None, 0.95])
    assert bins["accuracy"] == [0.5, 1.0, None, 0.5]
    json.dumps(bins)  # it goes into results.json as is


def test_ece_is_the_row_weighted_gap_of_the_reliability_bins() -> None:
    rng = np.random.default_rng(1)
    confidence = rng.beta(5, 2, 1000)
    correct = rng.uniform(size=1000) < confidence**2  # over-confident
    bins = reliability(confidence, correct)
    gap = sum(
        n * abs(a - c)
        for n, a, c in zip(bins["count"], bins["accuracy"], bins["confidence"], strict=True)
        if n
    )
    assert expected_calibration_error(confidence, correct) == pytest.approx(gap / 1000)
    assert expected_calibration_error(confidence, correct) > 0.1


@pytest.mark.parametrize(
    ("confidence", "correct", "words"),
    [
        ([0.5, 1.5], [1, 0], "outside [0, 1]"),
        ([0.5, -2.0], [1, 0], "not decision values"),
        ([0.5, 0.6], [1], "1-D arrays"),
        ([], [], "empty"),
        ([0.5], [2], "0/1 or bool"),
    ],
)
def test_bad_inputs_are_one_sentence_saying_what_to_pass(confidence, correct, words) -> None:
    with pytest.raises(InputError, match=re.escape(words)):
        expected_calibration_error(confidence, correct)


# -- the classification probe -----------------------------------------------------------------


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    features, labels = make_classification(
        n_samples=600, n_features=20, n_informative=8, n_classes=4, random_state=0
    )
    return features, labels


def _ece(result) -> dict:
    found = {m.name: m for m in probe_measurements(result, "classification", {})}
    return found[metrics.ECE]


def test_the_linear_probe_reports_the_ece_of_its_out_of_fold_confidences(blobs) -> None:
    features, labels = blobs
    result = cross_validate(linear_probe, features, labels, classes=list("abcd"), folds=5)
    ece = _ece(result)
    assert ece.unit == "fraction" and ece.version == "4"
    assert 0.0 < ece.value < 0.2
    assert ece.spread > 0.0  # five folds, five different ECEs
    bins = ece.detail
    assert sum(bins["count"]) == len(labels)
    # the accuracy in the bins is the probe's own pooled accuracy
    right = sum(n * a for n, a in zip(bins["count"], bins["accuracy"], strict=True) if n)
    assert right / len(labels) == pytest.approx(np.mean(result.predictions == labels))
    # confidences are the predicted class's probability: never below 1/C for C classes
    assert all(c is None or c >= 0.25 for c in bins["confidence"])


def test_the_ece_spread_is_the_std_over_the_folds_of_each_folds_ece(blobs) -> None:
    features, labels = blobs
    probe = linear_probe(0)
    folds = [(train, test) for train, test in _splits(labels)]
    per_fold = []
    for train, test in folds:
        fitted = probe.fit(features[train], labels[train])
        probabilities = fitted.predict_proba(features[test])
        predicted = probabilities.argmax(axis=1)
        per_fold.append(
            expected_calibration_error(probabilities.max(axis=1), predicted == labels[test])
        )
    result = cross_validate(linear_probe, features, labels, classes=list("abcd"), folds=5)
    assert _ece(result).spread == pytest.approx(np.std(per_fold, ddof=1))


def _splits(labels: np.ndarray):
    return StratifiedKFold(5, shuffle=True, random_state=0).split(np.zeros(len(labels)), labels)


def test_a_probe_without_probabilities_has_no_ece_and_says_why() -> None:
    tickets = load_task_data(DATA / "support_tickets.csv", text_column="text", label_column="label")
    counts, widths = term_counts(tickets.texts)
    result = cross_validate(
        partial(fold_model, widths, 0), counts, tickets.labels, classes=tickets.classes
    )
    ece = _ece(result)
    assert ece.value is None and ece.spread is None
    assert "LinearSVC gives no class probabilities" in ece.detail["skipped"]
    assert 0.3 < result.macro_f1 < 1.0  # the other figures are there as before


def test_ece_is_no_quality_metric_a_run_can_rank_by() -> None:
    assert metrics.ECE not in metrics.quality_choices("classification")
    with pytest.raises(ValueError, match="not a classification metric"):
        metrics.quality_metric("classification", "ece")


# -- the report ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def with_ece(blobs) -> dict:
    """The ranked demo's results with a measured ECE on the recommended candidate and the
    TF-IDF baseline's skipped one on another."""
    features, labels = blobs
    result = cross_validate(linear_probe, features, labels, classes=list("abcd"), folds=5)
    measured = _ece(result).as_dict()
    results = with_sentences(json.loads((DATA / "demo_results_ranked.json").read_text()))
    results = copy.deepcopy(results)
    pick = next(c for c in results["candidates"] if c["id"] == results["recommendation"])
    pick["metrics"][metrics.ECE] = {k: measured[k] for k in ("value", "spread", "unit", "detail")}
    other = next(c for c in results["candidates"] if c["id"] != results["recommendation"])
    skipped = {"skipped": "LinearSVC gives no class probabilities"}
    other["metrics"][metrics.ECE] = {
        "value": None,
        "spread": None,
        "unit": "fraction",
        "detail": skipped,
    }
    return results


def _matrix_cells(markdown: str, column: str) -> dict[str, str]:
    """Candidate id -> its cell in ``column`` of the Markdown evaluation matrix."""
    lines = [line for line in markdown.splitlines() if line.startswith("| rank |")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    start = markdown.splitlines().index(lines[0]) + 2
    cells = {}
    for line in markdown.splitlines()[start:]:
        if not line.startswith("|"):
            break
        row = [cell.strip() for cell in line.strip("|").split("|")]
        cells[row[header.index("candidate")]] = row[header.index(column)]
    return cells


def test_the_report_draws_the_picks_reliability_diagram_and_shows_ece(with_ece) -> None:
    page = render_html(with_ece)
    assert 'data-plot="reliability"' in page
    assert "Reliability diagram" in page
    pick = next(c for c in with_ece["candidates"] if c["id"] == with_ece["recommendation"])
    ece = pick["metrics"][metrics.ECE]
    matrix = page[page.index('<section id="matrix">') :]
    assert "ECE" in matrix[: matrix.index("</thead>")]
    assert f"{ece['value']:.3f}" in matrix
    cells = _matrix_cells(render_markdown(with_ece), metrics.label(metrics.ECE))
    assert cells[pick["id"]] == f"{ece['value']:.3f} ± {ece['spread']:.3f}"
    assert set(cells.values()) == {cells[pick["id"]], "–"}  # the skipped one and the old ones


def test_without_probabilities_the_report_says_why_there_is_no_diagram(with_ece) -> None:
    results = copy.deepcopy(with_ece)
    pick = next(c for c in results["candidates"] if c["id"] == results["recommendation"])
    skipped = {"skipped": "LinearSVC gives no class probabilities"}
    pick["metrics"][metrics.ECE] = {
        "value": None,
        "spread": None,
        "unit": "fraction",
        "detail": skipped,
    }
    page = render_html(results)
    assert 'data-plot="reliability"' not in page
    assert "No calibration was measured for the recommended candidate" in page
