"""The features-only pass (measure/encode.py): the model pass's features, on other rows."""

from __future__ import annotations

import numpy as np
import pytest

from modelscout.catalog.candidate import describe, resolve_candidate
from modelscout.measure.encode import EncodeJob, run_encode
from modelscout.measure.model_pass import PassJob, run_model_pass

TEXTS = ["my card was lost", "how do i top up", "refund please", "where is my transfer"] * 3


@pytest.fixture(scope="module")
def model(tiny_st):
    candidate = resolve_candidate(str(tiny_st))
    return candidate, describe(candidate)


def test_encode_gives_the_model_pass_features(model):
    candidate, meta = model
    passed = run_model_pass(
        PassJob(candidate, meta, TEXTS, np.zeros(len(TEXTS)), (1,), 4, latency_budget_s=0.05)
    )
    encoded = run_encode(EncodeJob(candidate, meta, TEXTS, batch_size=4, threads=1))
    assert encoded.features.shape == passed.features.shape
    np.testing.assert_allclose(encoded.features, passed.features, atol=1e-5)


def test_encode_takes_the_mean_or_a_chosen_layer(model):
    candidate, meta = model
    mean = run_encode(EncodeJob(candidate, meta, TEXTS, feature_layer="mean")).features
    first = run_encode(EncodeJob(candidate, meta, TEXTS, feature_layer=1)).features
    last = run_encode(EncodeJob(candidate, meta, TEXTS)).features
    assert mean.shape == first.shape == (len(TEXTS), last.shape[1])
    assert not np.allclose(mean, first) and not np.allclose(first, last)


def test_a_backend_without_features_is_refused(model):
    _, meta = model
    baseline = resolve_candidate("baseline:tfidf")
    with pytest.raises(ValueError, match="no dense features"):
        run_encode(EncodeJob(baseline, meta, TEXTS))
