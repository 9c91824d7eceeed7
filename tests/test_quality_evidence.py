"""The quality-evidence benchmark's combining and scoring helpers, on hand-made numbers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "quality_evidence.py"
_SPEC = importlib.util.spec_from_file_location("quality_evidence", _PATH)
qe = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(qe)

TRUTH = {"a": 0.90, "b": 0.85, "c": 0.80, "d": 0.70}


def test_a_signal_in_the_true_order_has_tau_one_and_no_regret():
    scored = qe.score_signal({"a": 4.0, "b": 3.0, "c": 2.0, "d": 1.0}, TRUTH)
    assert scored["tau"] == pytest.approx(1.0)
    assert scored["weighted_tau"] == pytest.approx(1.0)
    assert scored["regret"] == pytest.approx(0.0)
    assert scored["pick"] == "a"


def test_picking_the_runner_up_costs_the_gap_in_points():
    # b first, then a, c, d: one discordant pair of six -> tau (5 - 1) / 6
    scored = qe.score_signal({"a": 3.0, "b": 4.0, "c": 2.0, "d": 1.0}, TRUTH)
    assert scored["tau"] == pytest.approx(4 / 6)
    assert scored["regret"] == pytest.approx(5.0)
    assert scored["pick"] == "b"
    # a swap at the top weighs more than the same swap at the bottom
    bottom = qe.score_signal({"a": 4.0, "b": 3.0, "c": 1.0, "d": 2.0}, TRUTH)
    assert bottom["tau"] == pytest.approx(scored["tau"])
    assert bottom["weighted_tau"] > scored["weighted_tau"]


def test_minmax_combination_is_the_mean_of_scaled_signals_over_those_present():
    probe = {"a": 0.5, "b": 0.7, "c": 0.9}
    knn = {"a": 10.0, "b": 0.0}  # c has no kNN: its probe alone counts
    combined = qe.combine([probe, knn])
    assert combined == pytest.approx({"a": (0.0 + 1.0) / 2, "b": (0.5 + 0.0) / 2, "c": 1.0})


def test_rank_combination_averages_scaled_ranks():
    combined = qe.combine(
        [{"a": 1.0, "b": 2.0, "c": 3.0}, {"a": 30.0, "b": 10.0, "c": 20.0}], qe.rank_scale
    )
    assert combined == pytest.approx({"a": 0.5, "b": 0.25, "c": 0.75})


def test_a_scope_is_scored_only_by_signals_that_rank_all_of_it():
    signals = {
        qe.QUALITY: {"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.6},
        "knn": {"a": 1.0, "b": 0.5, "c": 0.2},
    }
    scores = qe.evaluate(signals, TRUTH, {"all": ["a", "b", "c", "d"], "some": ["a", "b", "c"]})
    assert "probe" in scores["all"] and "knn" not in scores["all"]
    assert scores["some"]["knn"]["tau"] == pytest.approx(1.0)
    assert "minmax(probe, knn)" in scores["some"]
