"""rank puts the transferability estimators to work on the features it already extracted."""

import numpy as np
import pytest

from modelscout import build_spec, rank
from modelscout.data import nested_subsamples
from modelscout.errors import UserError
from modelscout.report import build_results


def test_nested_subsamples_are_nested_stratified_and_repeatable():
    labels = np.repeat([0, 1, 2], [40, 20, 4])
    quarter, half, full = nested_subsamples(labels, (0.25, 0.5, 1.0), seed=3)
    assert set(quarter) <= set(half) <= set(full) and len(full) == 64
    assert np.bincount(labels[quarter]).tolist() == [10, 5, 2]  # at least 2 of each class
    again = nested_subsamples(labels, (0.25, 0.5, 1.0), seed=3)
    assert all((a == b).all() for a, b in zip(again, (quarter, half, full), strict=True))


def test_unknown_estimator_is_named_in_a_user_error():
    with pytest.raises(UserError, match="unknown estimator 'logmee'"):
        build_spec(data="d.csv", estimators=["logmee"])


def test_head_models_get_leep_and_nce_and_every_estimator_reports_its_subsamples(
    small_csv, tiny_bert, tiny_classifier
):
    spec = build_spec(
        data=small_csv,
        candidates=[str(tiny_bert), str(tiny_classifier)],
        estimators=["logme", "h_score", "knn", "leep", "nce"],
        batch_sizes=[1],
        latency_budget_s=0.2,
    )
    results = build_results(rank(spec))
    rows = {c["id"]: c["metrics"] for c in results["candidates"]}
    head, plain = rows[str(tiny_classifier)], rows[str(tiny_bert)]
    assert {"leep", "nce"} <= set(head) and not {"leep", "nce"} & set(plain)
    assert head["leep"]["value"] < 0 and head["nce"]["value"] <= 0  # log-likelihoods
    for name in ("logme", "h_score", "knn"):
        subsamples = plain[name]["detail"]["subsamples"]
        assert set(subsamples) == {"0.25", "0.5", "1.0"}
        assert subsamples["1.0"] == plain[name]["value"]
    stability = {s["estimator"]: s for s in results["transferability_stability"]}
    assert set(stability) == {"logme", "h_score", "knn"}  # leep/nce: one candidate only
    assert stability["logme"]["kendall_tau_vs_full"]["1.0"] == pytest.approx(1.0)
    assert isinstance(stability["logme"]["settled"], bool)
    criteria = {c["id"]: c["criteria"] for c in results["candidates"]}
    assert 0 <= criteria[str(tiny_bert)]["transferability"] <= 1
    assert "transferability" not in criteria["baseline:tfidf"]
