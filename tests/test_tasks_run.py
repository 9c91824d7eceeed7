"""Regression and multi-label end to end, for text and images: synthetic tables whose targets
the inputs really carry, real tiny models built from configs, the baselines (TF-IDF, pixels,
columns), through the CLI, with the store, the reports and the one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from modelscout import metrics
from modelscout.cli import app
from modelscout.cli.demo import write_digits

SIZES = {"studio": 70.0, "loft": 110.0, "apartment": 150.0, "house": 260.0, "villa": 480.0}
PLACES = ["harbour", "park", "station", "market", "campus", "riverside"]
TOPICS = {
    "billing": ["invoice", "refund", "charged", "payment"],
    "delivery": ["parcel", "courier", "shipping", "arrived"],
    "account": ["password", "login", "profile", "locked"],
}


def text_regression_frame(rows: int = 150, seed: int = 0) -> pd.DataFrame:
    """Listings whose price follows the kind of home named in the text (log-normal noise) and
    doubles for an entire home: the TF-IDF baseline can learn it, so can the room type."""
    rng = np.random.default_rng(seed)
    kinds = rng.choice(list(SIZES), rows)
    rooms = rng.choice(["Entire home", "Private room"], rows)
    places = rng.choice(PLACES, rows)
    texts = [
        f"A bright {k} near the {p}, {rng.integers(1, 9)} minutes walk."
        for k, p in zip(kinds, places, strict=True)
    ]
    price = np.array([SIZES[k] for k in kinds]) * np.where(rooms == "Entire home", 2.0, 1.0)
    price = np.round(price * np.exp(rng.normal(0, 0.15, rows)), 1)
    return pd.DataFrame({"text": texts, "target": price, "room_type": rooms})


def text_multilabel_frame(rows: int = 150, seed: int = 0) -> pd.DataFrame:
    """Support messages naming words of one or two topics (some none): labels as JSON lists."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(rows):
        count = rng.choice([0, 1, 1, 1, 2])
        chosen = sorted(rng.choice(list(TOPICS), count, replace=False).tolist())
        words = [rng.choice(TOPICS[t]) for t in chosen] + ["hello", "thanks", "please"]
        texts.append(" ".join(rng.permutation(words)))
        labels.append(json.dumps(chosen))
    return pd.DataFrame({"text": texts, "label": labels})


def _spec(folder: Path, **settings) -> Path:
    base = {"folds": 3, "batch_size": 8, "batch_sizes": [1], "latency_budget_s": 0.1}
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(base | settings))
    return path


def _rank(work: Path, data: Path, *flags: str, name: str = "out") -> dict:
    spec = _spec(work, estimators=["logme", "knn", "sfda"])
    args = ["rank", "--data", str(data), "--spec", str(spec), "--store", str(work / "s.db")]
    result = CliRunner().invoke(app, [*args, *flags, "--output", str(work / name), "--quiet"])
    assert result.exit_code in (0, 3), result.output
    return json.loads((work / name / "results.json").read_text())


def _rows(results: dict) -> dict[str, dict]:
    return {Path(c["id"]).name: c for c in results["candidates"]}


def _value(row: dict, name: str) -> float:
    return row["metrics"][name]["value"]


@pytest.fixture(scope="module")
def regression(tmp_path_factory, tiny_bert):
    """A text regression ranked twice on one store: (first results, rerun results, folder)."""
    work = tmp_path_factory.mktemp("regression")
    data = work / "listings.csv"
    text_regression_frame().to_csv(data, index=False)
    flags = ["-c", str(tiny_bert), "--label-column", "target", "--target-transform", "log"]
    flags += ["--baseline-column", "room_type"]
    first = _rank(work, data, *flags)
    again = _rank(work, data, *flags, name="again")
    return first, again, work


def test_a_numeric_target_is_ranked_as_regression_by_r2_in_original_units(regression):
    results = regression[0]
    assert results["task"] == "regression"
    assert results["quality_metric"] == metrics.R2
    rows = _rows(results)
    tfidf = rows["baseline:tfidf"]
    assert tfidf["status"] == "ranked", tfidf
    for name in (metrics.R2, metrics.MAE, metrics.RMSE, metrics.SPEARMAN):
        assert tfidf["metrics"][name]["spread"] is not None
    assert _value(tfidf, metrics.R2) > 0.5  # the kind of home is in the text
    # MAE in the listing's own units (tens of currency units), not on the log scale (~0.2)
    assert 5 < _value(tfidf, metrics.MAE) < 150
    residuals = tfidf["metrics"][metrics.RESIDUALS]["detail"]
    assert residuals["target_transform"] == "log"
    assert residuals["floor"]["r2"] <= 0.05 < _value(tfidf, metrics.R2)


def test_the_columns_baseline_is_ranked_and_every_candidate_says_if_it_beats_it(regression):
    rows = _rows(regression[0])
    columns = rows["baseline:columns"]
    assert columns["status"] == "ranked", columns
    # room type doubles the price: about a sixth of its variance in the original units
    assert 0.03 < _value(columns, metrics.R2) < _value(rows["baseline:tfidf"], metrics.R2)
    beats = rows["baseline:tfidf"]["beats"]
    assert beats["baseline:columns"] is True and beats["mean predictor"] is True


def test_a_random_model_that_does_not_beat_the_mean_is_rejected_with_the_floor(regression):
    bert = next(c for c in regression[0]["candidates"] if c["source"] == "folder")
    if bert["status"] == "rejected":
        assert "mean predictor" in bert["reason"]
    else:  # a random encoder may still carry the words; then it beats the floor
        assert bert["beats"]["mean predictor"] is True


def test_only_estimators_with_a_regression_form_run_the_others_are_said(regression):
    results = regression[0]
    assert "sfda" in results["estimators_skipped"]
    bert = next(c for c in results["candidates"] if c["source"] == "folder")
    assert metrics.LOGME in bert["metrics"] and "sfda" not in bert["metrics"]


def test_a_rerun_reuses_the_regression_measurements(regression):
    first, again, _ = regression
    assert again["run"]["reused"] > 0
    for name, row in _rows(first).items():
        if row["status"] == "ranked":
            assert _value(_rows(again)[name], metrics.R2) == _value(row, metrics.R2)


def test_regression_reports_are_written(regression):
    out = regression[2] / "out"
    markdown = (out / "results.md").read_text()
    assert "R²" in markdown and "macro-F1" not in markdown
    assert (out / "report.html").is_file()


@pytest.fixture(scope="module")
def multilabel(tmp_path_factory, tiny_bert):
    work = tmp_path_factory.mktemp("multilabel")
    data = work / "messages.csv"
    text_multilabel_frame().to_csv(data, index=False)
    return _rank(work, data, "-c", str(tiny_bert))


def test_json_lists_are_ranked_as_multilabel_by_macro_f1(multilabel):
    assert multilabel["task"] == "multilabel"
    assert multilabel["quality_metric"] == metrics.MACRO_F1
    tfidf = _rows(multilabel)["baseline:tfidf"]
    assert tfidf["status"] == "ranked", tfidf
    for name in (metrics.MICRO_F1, metrics.MACRO_F1, metrics.SAMPLES_F1, metrics.SUBSET_ACCURACY):
        assert tfidf["metrics"][name]["spread"] is not None
    assert _value(tfidf, metrics.MICRO_F1) > 0.8  # the topic words are in the text
    detail = tfidf["metrics"][metrics.BREAKDOWN]["detail"]
    assert set(detail["per_class_f1"]) == set(TOPICS)
    assert sum(detail["support"].values()) > 0
    assert "sfda" in multilabel["estimators_skipped"]


def test_an_ambiguous_target_says_which_task_to_set(tmp_path):
    frame = pd.DataFrame(
        {"text": [f"review {i}" for i in range(60)], "label": [1, 2, 3, 4, 5] * 12}
    )
    frame.to_csv(tmp_path / "stars.csv", index=False)
    result = CliRunner().invoke(app, ["rank", "--data", str(tmp_path / "stars.csv"), "--quiet"])
    assert result.exit_code == 2
    assert "task: classification or task: regression" in result.output


@pytest.fixture(scope="module")
def digit_table(tmp_path_factory) -> Path:
    """60 real digit images and a table: the digit as a number and its label set."""
    folder = write_digits(tmp_path_factory.mktemp("digits") / "digits", 6, 32)
    rows = []
    for path in sorted(folder.glob("*/*.png")):
        digit = int(path.parent.name)
        tags = ["even" if digit % 2 == 0 else "odd"] + (["big"] if digit >= 5 else [])
        rows.append(
            {"image": str(path.relative_to(folder)), "digit": digit, "tags": ";".join(tags)}
        )
    pd.DataFrame(rows).to_csv(folder / "digits.csv", index=False)
    return folder / "digits.csv"


def test_images_rank_for_regression_and_multilabel(tmp_path, digit_table, tiny_vit):
    flags = ["-c", str(tiny_vit), "--label-column", "digit", "--task", "regression"]
    results = _rank(tmp_path, digit_table, *flags, name="regression")
    rows = _rows(results)
    assert results["task"] == "regression"
    assert rows["baseline:pixels"]["status"] in ("ranked", "rejected")
    assert metrics.R2 in rows["baseline:pixels"]["metrics"]
    assert metrics.R2 in rows["tiny-vit"]["metrics"], rows["tiny-vit"]

    flags = ["-c", str(tiny_vit), "--label-column", "tags", "--label-delimiter", ";"]
    results = _rank(tmp_path, digit_table, *flags, name="multilabel")
    rows = _rows(results)
    assert results["task"] == "multilabel"
    assert rows["baseline:pixels"]["status"] == "ranked", rows["baseline:pixels"]
    assert set(rows["baseline:pixels"]["metrics"][metrics.BREAKDOWN]["detail"]["support"]) == {
        "big",
        "even",
        "odd",
    }


def test_a_candidate_that_does_not_beat_the_mean_predictor_is_rejected(tmp_path):
    frame = text_regression_frame()
    # a colour drawn at random: no model of it can predict the price better than its mean
    frame["colour"] = np.random.default_rng(1).choice(["red", "green", "blue"], len(frame))
    frame.to_csv(tmp_path / "listings.csv", index=False)
    spec = _spec(tmp_path, estimators=["logme"])
    args = ["rank", "--data", str(tmp_path / "listings.csv"), "--spec", str(spec)]
    args += ["--label-column", "target", "--baseline-column", "colour", "--no-baseline"]
    args += ["--output", str(tmp_path / "out"), "--store", str(tmp_path / "s.db"), "--quiet"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 4, result.output  # nothing ranked
    row = _rows(json.loads((tmp_path / "out" / "results.json").read_text()))["baseline:columns"]
    assert row["status"] == "rejected"
    assert row["reason"].startswith("does not beat the mean predictor: R² ")
