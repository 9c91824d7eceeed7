"""The ranking's quality made of several signals (``quality_evidence``): each min-max scaled,
averaged over those a candidate has, and said in the results."""

import numpy as np
import pytest
from conftest import ENVIRONMENT
from pydantic import ValidationError

from modelscout import build_spec, metrics
from modelscout.data import TaskData
from modelscout.decide import decide
from modelscout.errors import UserError
from modelscout.records import Candidate, Measurement, ModelMeta, Outcome
from modelscout.report import build_results
from modelscout.results import Results
from modelscout.run import RunResult
from modelscout.spec import Spec

PREDICTED = metrics.predicted(metrics.MACRO_F1)


def _outcome(cid: str, **values: float) -> Outcome:
    names = {"f1": metrics.MACRO_F1, "predicted": PREDICTED, "knn": "knn"}
    found = {
        names[k]: Measurement(names[k], v, "fraction", 0.01)
        for k, v in values.items()
        if v is not None
    }
    found[metrics.latency_p95(1)] = Measurement(metrics.latency_p95(1), 10.0, "ms")
    return Outcome(Candidate(cid, "folder"), ModelMeta(), "measured", None, found)


def _decided(evidence, outcomes):
    data = TaskData.of_texts([f"t{i}" for i in range(40)], np.arange(40) % 2, ["a", "b"])
    spec = build_spec(
        data="d.csv",
        weights={"quality": 1.0, "latency": 0.0, "memory": 0.0, "size": 0.0},
        estimators=["knn"],
        quality_evidence=evidence,
    )
    return decide(RunResult(spec, data, data, outcomes, ENVIRONMENT))


OUTCOMES = [
    # best on the sample, worst at full size and on kNN
    ("small-wins", {"f1": 0.80, "predicted": 0.84, "knn": 0.70}),
    ("grows", {"f1": 0.78, "predicted": 0.90, "knn": 0.74}),
    ("middle", {"f1": 0.79, "predicted": 0.86, "knn": 0.72}),
]


def test_the_sample_alone_ranks_as_before_and_says_so():
    decision = _decided(["sample"], [_outcome(c, **v) for c, v in OUTCOMES])
    assert decision.recommendation == "small-wins"
    assert decision.quality_evidence["sentence"] == (
        "Quality in the ranking is the probe's macro-F1 on the sample."
    )


def test_full_size_and_knn_outvote_the_sample_and_the_results_say_what_quality_is():
    decision = _decided(["sample", "full_size", "knn"], [_outcome(c, **v) for c, v in OUTCOMES])
    assert decision.recommendation == "grows"
    row = next(r for r in decision.rows if r.id == "grows")
    # sample 0 (worst), full size 1, kNN 1: mean 2/3
    assert row.normalized["quality"] == pytest.approx(2 / 3)
    results = build_results(decision)
    Results.model_validate(results)
    assert results["quality_evidence"]["used"] == ["sample", "full_size", "knn"]
    assert (
        "the mean of the probe's macro-F1 on the sample, its macro-F1 predicted at the "
        in (results["quality_evidence"]["sentence"])
    )


def test_a_candidate_without_a_signal_is_scaled_on_the_others():
    outcomes = [_outcome(c, **v) for c, v in OUTCOMES]
    outcomes.append(_outcome("tfidf", f1=0.81, predicted=0.95, knn=None))
    decision = _decided(["full_size", "knn"], outcomes)
    row = next(r for r in decision.rows if r.id == "tfidf")
    assert row.normalized["quality"] == 1.0  # the best at full size; no kNN to average in
    assert decision.recommendation == "tfidf"


def test_an_unknown_signal_is_a_one_line_error():
    with pytest.raises(UserError, match="quality_evidence: unknown estimator 'bogus'.*full_size"):
        build_spec(data="d.csv", quality_evidence=["sample", "bogus"])
    with pytest.raises(ValidationError, match="name at least one signal"):
        Spec.model_validate({"data": "d.csv", "quality_evidence": []})
