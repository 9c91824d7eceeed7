"""results.py's model of results.json matches what build_results writes and what older
versions wrote (a fresh run's output is validated in tests/test_cli_options.py)."""

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from modelscout import metrics
from modelscout.report import read_results
from modelscout.results import Results

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("name", ["demo_results.json", "demo_results_ranked.json"])
def test_results_of_earlier_versions_validate(name):
    results = Results.model_validate(json.loads((DATA / name).read_text()))
    assert results.candidates and results.schema_version.startswith("1.")


def test_a_key_the_model_does_not_know_is_caught():
    results = json.loads((DATA / "demo_results.json").read_text())
    results["candidates"][0]["metrics"]["probe.macro_f1"]["undocumented"] = 1
    with pytest.raises(ValidationError, match="undocumented"):
        Results.model_validate(results)


@pytest.mark.parametrize("name", ["demo_results.json", "demo_results_ranked.json"])
def test_reading_an_older_results_json_adds_decides_sentences(tmp_path, name):
    path = tmp_path / "results.json"
    path.write_text((DATA / name).read_text())
    results = read_results(path)
    Results.model_validate(results)
    assert results["what_would_change"] and results["long_tail"]["sentence"]
    assert all(entry["sentence"] for entry in results["sensitivity"])
    assert results["long_tail"]["classes"] == [
        "data_deletion",
        "invoice_copy",
        "account_locked",
        "change_address",
    ]


@pytest.mark.parametrize("name", ["demo_results.json", "demo_results_ranked.json"])
def test_reading_an_older_results_json_adds_the_quality_metric_and_beats(tmp_path, name):
    path = tmp_path / "results.json"
    path.write_text((DATA / name).read_text())
    results = read_results(path)
    Results.model_validate(results)
    assert results["quality_metric"] == metrics.MACRO_F1 and results["estimators_skipped"] == {}
    rows = {c["id"]: c for c in results["candidates"]}
    baseline = rows["baseline:tfidf"]["metrics"][metrics.MACRO_F1]["value"]
    for candidate in results["candidates"]:
        if candidate["status"] != "ranked" or candidate["id"] == "baseline:tfidf":
            assert candidate["beats"] == {}
            continue
        value = candidate["metrics"][metrics.MACRO_F1]["value"]
        assert candidate["beats"] == {"baseline:tfidf": value > baseline}
