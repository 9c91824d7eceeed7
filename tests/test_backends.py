"""The backend registry: every candidate names a registered backend, whose flags (not its
name) tell the run what applies to it."""

import numpy as np
import pytest

from modelscout.backends import backend_of, get_backend
from modelscout.backends.base import Encoder, LoadOptions, encode
from modelscout.catalog.candidate import describe, resolve_candidate


def test_the_tfidf_baseline_is_a_backend_with_no_dense_features_and_no_torch_model():
    candidate = resolve_candidate("baseline:tfidf")
    backend = backend_of(candidate)
    assert (backend.name, backend.dense_features, backend.torch) == ("baseline", False, False)
    encoder = backend.load(candidate, describe(candidate), LoadOptions(seed=0))
    assert isinstance(encoder, Encoder)
    texts = ["card lost", "card stolen", "refund please", "money back"] * 3
    labels = np.array([0, 0, 1, 1] * 3)
    encoder.fit(texts, labels)
    scores = encode(encoder, texts, batch_size=5)
    assert scores.shape == (12, 1) and scores.dtype == np.float32
    counts = encoder.probe_inputs(texts)
    model = encoder.probe_model(0).fit(counts, labels)
    assert (model.predict(counts) == labels).all()


def test_a_text_model_is_an_encoder_whose_forward_matches_its_encode(tiny_st):
    candidate = resolve_candidate(str(tiny_st))
    assert candidate.backend == "text" and backend_of(candidate).torch
    encoder = backend_of(candidate).load(candidate, describe(candidate), LoadOptions())
    assert isinstance(encoder, Encoder) and encoder.modality == "text"
    texts = ["a short text", "a second, somewhat longer text", "third"]
    np.testing.assert_allclose(encode(encoder, texts, 2), encoder.encode(texts), atol=1e-5)
    assert encoder.input_lengths(texts).shape == (3,)


def test_an_unknown_backend_name_is_refused():
    with pytest.raises(ValueError, match="no backend named 'nope'"):
        get_backend("nope")
