"""The TF-IDF baseline: its cross-validation shortcut (count once, then per fold build exactly
what the plain pipeline would have built from that fold's texts), and its model by task."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score, r2_score
from sklearn.model_selection import KFold, cross_val_predict

from modelscout import metrics
from modelscout.backends.base import LoadOptions
from modelscout.backends.baseline import (
    BASELINE,
    HEADS,
    BaselineEncoder,
    baseline_meta,
    fold_model,
    term_counts,
    tfidf_classifier,
)
from modelscout.data import load_task_data
from modelscout.data.inputs import LabelSetTargets, NumberTargets
from modelscout.measure.probe import (
    ProbeJob,
    cross_validate,
    cross_validate_many,
    probe_measurements,
)


@pytest.fixture(scope="module")
def tickets():
    path = Path(__file__).parent / "data" / "support_tickets.csv"
    return load_task_data(path, text_column="text", label_column="label")


def test_fold_features_equal_the_plain_vectorizers_on_the_same_rows(tickets) -> None:
    counts, widths = term_counts(tickets.texts)
    rows = np.random.default_rng(0).permutation(len(tickets.texts))[:400]
    rest = np.setdiff1d(np.arange(len(tickets.texts)), rows)
    plain = tfidf_classifier()[0].fit([tickets.texts[i] for i in rows])
    shared = fold_model(widths)[0].fit(counts[rows])
    for subset in (rows, rest):  # fitted rows, and rows it never saw (unknown n-grams dropped)
        expected = plain.transform([tickets.texts[i] for i in subset])
        got = shared.transform(counts[subset])
        assert got.shape == expected.shape
        assert abs(got - expected).max() == 0.0


def test_cross_validation_predicts_exactly_as_the_plain_pipeline(tickets) -> None:
    kwargs = {"classes": tickets.classes, "folds": 5, "seed": 3}
    plain = cross_validate(partial(tfidf_classifier, 3), tickets.texts, tickets.labels, **kwargs)
    counts, widths = term_counts(tickets.texts)
    shared = cross_validate(partial(fold_model, widths, 3), counts, tickets.labels, **kwargs)
    np.testing.assert_array_equal(shared.predictions, plain.predictions)
    assert shared.macro_f1 == plain.macro_f1
    assert 0.3 < plain.macro_f1 < 1.0  # a real classifier on real text, not a constant


# -- the other tasks -------------------------------------------------------------------------

SIZES = {"tiny": 10.0, "small": 20.0, "large": 80.0, "huge": 160.0}
FILLER = ["flat", "with", "a", "view", "near", "the", "park", "and", "quiet", "street"]
LABEL_WORDS = {"billing": "invoice", "login": "password", "refund": "refund"}


def priced_texts(rows: int = 200, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Listings whose size word sets the price (times up to 10% noise); the rest is filler."""
    rng = np.random.default_rng(seed)
    words = rng.choice(list(SIZES), rows)
    texts = [" ".join([*rng.choice(FILLER, 6), word, *rng.choice(FILLER, 3)]) for word in words]
    prices = np.array([SIZES[w] for w in words]) * rng.uniform(0.9, 1.1, rows)
    return texts, prices


def tagged_texts(rows: int = 240, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Tickets that carry each label's word when they carry the label (some carry none)."""
    rng = np.random.default_rng(seed)
    indicators = (rng.random((rows, len(LABEL_WORDS))) < 0.3).astype(np.uint8)
    texts = []
    for row in indicators:
        words = [w for w, on in zip(LABEL_WORDS.values(), row, strict=True) if on]
        texts.append(" ".join([*rng.choice(FILLER, 5), *words, *rng.choice(FILLER, 2)]))
    return texts, indicators


def test_each_task_has_its_own_probe_name_and_the_classification_one_is_unchanged() -> None:
    names = {task: BaselineEncoder(0, task).probe_name for task in HEADS}
    assert names["classification"] == "tfidf-linear-svm"  # stored figures stay valid
    assert len(set(names.values())) == len(names)
    encoder = BASELINE.load(None, baseline_meta(), LoadOptions(task="regression"))
    assert encoder.probe_name == names["regression"]


def test_tfidf_ridge_beats_the_mean_when_words_carry_the_number() -> None:
    texts, prices = priced_texts()
    counts, widths = term_counts(texts)
    folds = KFold(5, shuffle=True, random_state=0)
    predicted = cross_val_predict(fold_model(widths, 0, "regression"), counts, prices, cv=folds)
    mean_error = np.zeros(len(prices))  # the mean predictor: each fold's training mean
    for train, test in folds.split(counts):
        mean_error[test] = prices[test] - prices[train].mean()
    assert r2_score(prices, predicted) > 0.8
    assert np.abs(prices - predicted).mean() < 0.5 * np.abs(mean_error).mean()


def test_regression_encoder_serves_one_prediction_per_text() -> None:
    texts, prices = priced_texts()
    encoder = BaselineEncoder(0, "regression").fit(texts, np.log(prices))
    out = encoder.forward(encoder.preprocess(["a huge flat", "a tiny flat"]))
    assert out.shape == (2, 1) and out.dtype == np.float32
    assert out[0, 0] > out[1, 0]  # on the fitted (log) scale


def test_regression_probe_of_the_baseline_beats_the_mean() -> None:
    texts, prices = priced_texts()
    encoder = BaselineEncoder(0, "regression")
    job = ProbeJob(
        partial(encoder.probe_model, 0), encoder.probe_inputs(texts), NumberTargets(prices, "log")
    )
    result = cross_validate_many([job], n_jobs=1)[0]
    found = {m.name: m for m in probe_measurements(result, "regression", {})}
    assert found[metrics.R2].value > 0.8


def test_one_svm_per_label_finds_the_label_words() -> None:
    texts, indicators = tagged_texts()
    counts, widths = term_counts(texts)
    folds = KFold(5, shuffle=True, random_state=0)
    model = fold_model(widths, 0, "multilabel")
    scores = cross_val_predict(model, counts, indicators, cv=folds, method="decision_function")
    assert scores.shape == indicators.shape
    assert f1_score(indicators, scores > 0, average=None).min() > 0.9


def test_multilabel_encoder_serves_one_score_per_label() -> None:
    texts, indicators = tagged_texts()
    encoder = BaselineEncoder(0, "multilabel").fit(texts, indicators)
    out = encoder.forward(encoder.preprocess(["my invoice", "reset password please", "hello"]))
    assert out.shape == (3, len(LABEL_WORDS)) and out.dtype == np.float32
    assert (out > 0).tolist() == [[True, False, False], [False, True, False], [False] * 3]


def test_multilabel_probe_of_the_baseline_finds_the_label_words() -> None:
    texts, indicators = tagged_texts()
    encoder = BaselineEncoder(0, "multilabel")
    targets = LabelSetTargets(indicators, list(LABEL_WORDS))
    job = ProbeJob(partial(encoder.probe_model, 0), encoder.probe_inputs(texts), targets)
    result = cross_validate_many([job], n_jobs=1)[0]
    found = {m.name: m for m in probe_measurements(result, "multilabel", {})}
    assert found[metrics.MICRO_F1].value > 0.9
