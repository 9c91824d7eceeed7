"""The TF-IDF baseline's cross-validation shortcut: count once, then per fold build exactly
what the plain pipeline would have built from that fold's texts."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pytest

from modelscout.backends.baseline import fold_model, term_counts, tfidf_classifier
from modelscout.data import load_task_data
from modelscout.measure.probe import cross_validate


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
