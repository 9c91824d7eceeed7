"""Layer choice in the feature pass (``feature_layer``): the last layer, the mean of every
layer, or the layer LogME scores best, on real tiny models; what was used is in the results."""

from __future__ import annotations

import numpy as np
import pytest

from modelscout import build_spec, metrics, rank
from modelscout.api import rank_and_report
from modelscout.backends import get_backend
from modelscout.backends.base import LoadOptions, encode
from modelscout.catalog.candidate import describe, resolve_candidate
from modelscout.data import load_task_data
from modelscout.measure.layers import layer_features, layer_scores
from modelscout.measure.transferability.logme import logme


def _encoder(path):
    candidate = resolve_candidate(str(path), allow_pickle=False, trust_remote_code=False)
    return get_backend(candidate.backend).load(candidate, describe(candidate), LoadOptions())


def test_every_layer_is_pooled_as_the_model_pools_its_last(tiny_bert, small_csv):
    texts = load_task_data(small_csv).texts[:40]
    encoder = _encoder(tiny_bert)
    layers = encoder.encode_layers(texts, batch_size=16)
    assert layers.shape == (40, 2, 32)  # two transformer layers, the embeddings left out
    # the model's own features are the mean-pooled last layer: the same numbers
    np.testing.assert_allclose(layers[:, -1], encode(encoder, texts, 16), atol=1e-5)
    assert not np.allclose(layers[:, 0], layers[:, 1])


def test_mean_and_best_are_what_they_say(tiny_bert, small_csv):
    data = load_task_data(small_csv)
    texts, labels = data.texts[:60], data.labels[:60]
    encoder = _encoder(tiny_bert)
    layers = encoder.encode_layers(texts, 16)
    mean, said = layer_features(encoder, texts, 16, "mean", labels, "classification")
    np.testing.assert_allclose(mean, layers.mean(axis=1), atol=1e-6)
    assert said == {"choice": "mean", "layers": 2}
    best, said = layer_features(encoder, texts, 16, "best", labels, "classification")
    scores = [logme(layers[:, i].astype(np.float64), labels) for i in range(2)]
    assert said["layer"] == int(np.argmax(scores)) + 1
    assert said["scores"] == pytest.approx({"1": scores[0], "2": scores[1]})
    if said["layer"] == 2:  # the last layer: the model's own output is kept
        assert best is None
    else:
        np.testing.assert_allclose(best, layers[:, said["layer"] - 1])


def test_best_layer_for_regression_uses_logme_s_regression_form():
    rng = np.random.default_rng(0)
    target = rng.normal(size=200)
    noise = rng.normal(size=(200, 8))
    carries = np.column_stack([target, rng.normal(size=(200, 7))])
    scores = layer_scores(np.stack([noise, carries], axis=1), target, "regression")
    assert scores[2] > scores[1]


def test_an_encoder_without_layers_keeps_its_own_features_and_says_why():
    class Plain:
        modality = "text"

    features, said = layer_features(Plain(), ["a"], 1, "best", np.array([0]), "classification")
    assert features is None and said["choice"] == "last" and "hidden layers" in said["why"]


def test_a_run_says_which_layer_was_used_keeps_it_apart_in_the_store_and_reports_it(
    tiny_bert, small_csv, tmp_path
):
    common = {"data": small_csv, "candidates": [str(tiny_bert)], "baseline": False}
    common |= {"folds": 3, "batch_sizes": [1], "latency_budget_s": 0.1}
    last = rank(build_spec(**common)).rows[0].outcome.measurements
    assert metrics.FEATURE_LAYER not in last  # the default says nothing new
    # the best layer's run writes the reports too: they say which layer
    decision = rank_and_report(build_spec(**common, feature_layer="best", output=tmp_path))[0]
    best = decision.rows[0].outcome.measurements
    layer = best[metrics.FEATURE_LAYER]
    assert layer.value in (1, 2) and layer.detail["estimator"] == metrics.LOGME
    # nothing measured on the last layer's features stands in for the best one's
    for name in (metrics.FEATURE_LAYER, metrics.MACRO_F1, metrics.LOGME):
        assert not best[name].reused, name
    markdown = (tmp_path / "results.md").read_text()
    assert "the best by LogME" in markdown and "of 2" in markdown
    assert "the best by LogME" in (tmp_path / "report.html").read_text()
    mean = rank(build_spec(**common, feature_layer="mean")).rows[0].outcome.measurements
    assert not mean[metrics.MACRO_F1].reused and not mean[metrics.LOGME].reused
    assert mean[metrics.FEATURE_LAYER].value is None
    assert mean[metrics.FEATURE_LAYER].detail == {"choice": "mean", "layers": 2}
    again = rank(build_spec(**common, feature_layer="mean")).rows[0].outcome.measurements
    assert again[metrics.MACRO_F1].reused and again[metrics.MACRO_F1].value == pytest.approx(
        mean[metrics.MACRO_F1].value
    )


def test_best_takes_an_earlier_layer_when_it_carries_the_classes_and_the_last_does_not():
    rng = np.random.default_rng(0)
    labels = np.arange(120) % 3
    telling = rng.normal(size=(120, 6)) + 3 * np.eye(3, 6)[labels]
    stacked = np.stack([telling, rng.normal(size=(120, 6))], axis=1).astype(np.float32)

    class Layered:  # an encoder's layers given as numbers: the choice is what is tested
        modality = "text"

        def encode_layers(self, items, batch_size):
            return stacked

    chosen, said = layer_features(Layered(), [""] * 120, 8, "best", labels, "classification")
    assert said["layer"] == 1 and said["scores"]["1"] > said["scores"]["2"]
    np.testing.assert_array_equal(chosen, stacked[:, 0])
