"""Image classification end to end: a folder of real handwritten digits (scikit-learn's bundled
set, written as PNG files), a tiny ViT built from a config and the pixel baseline, through the
CLI and the Python API, with the store, the reports' data notes and the one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import rewrite_timings
from typer.testing import CliRunner

import modelscout
from modelscout import metrics
from modelscout.catalog.candidate import resolve_candidate
from modelscout.cli import app
from modelscout.cli.demo import write_digits
from modelscout.spec import build_spec

PER_CLASS = 6  # 60 images: 3 folds keep 2 per class


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> Path:
    """60 real digit images (10 classes x 6, 32 x 32 PNG) and one corrupt file among them."""
    folder = write_digits(tmp_path_factory.mktemp("data") / "digits", PER_CLASS, 32)
    (folder / "3" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really an image")
    return folder


def _spec_file(folder: Path, **settings) -> Path:
    settings = {"folds": 3, "batch_size": 8, "batch_sizes": [1, 4], "latency_budget_s": 0.1}
    settings |= {"estimators": ["logme", "knn"]}
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


@pytest.fixture(scope="module")
def ranked(tmp_path_factory, digits, tiny_vit, tiny_bert):
    """One CLI run (ViT, its image_size:16 variant, a text model, the pixel baseline), then a
    rerun on the same store, its timings marked settled (a busy machine's unsettled timing is
    timed again by design): (first results, rerun results)."""
    work = tmp_path_factory.mktemp("run")
    spec = _spec_file(work)
    common = ["rank", "--data", str(digits), "--spec", str(spec), "--store", str(work / "s.db")]
    common += [
        "-c",
        str(tiny_vit),
        "-c",
        f"{tiny_vit}+image_size:16",
        "-c",
        str(tiny_bert),
        "--quiet",
    ]
    out = []
    for name in ("first", "again"):
        result = CliRunner().invoke(app, [*common, "--output", str(work / name)])
        assert result.exit_code == 0, result.output
        out.append(json.loads((work / name / "results.json").read_text()))
        rewrite_timings(work / "s.db", reliable=True, p50_ci_relative=0.0)
    return out


def _rows(results: dict) -> dict[str, dict]:
    return {Path(c["id"]).name: c for c in results["candidates"]}


def test_ranks_a_vit_and_the_pixel_baseline_on_a_folder_of_digit_images(ranked):
    rows = _rows(ranked[0])
    for name in ("tiny-vit", "baseline:pixels"):
        assert rows[name]["status"] == "ranked", rows[name]
        found = rows[name]["metrics"]
        assert 0.0 <= found[metrics.MACRO_F1]["value"] <= 1.0
        assert found[metrics.MACRO_F1]["spread"] is not None
        assert found[metrics.LOGME]["value"] is not None
        assert found["knn"]["value"] is not None
        assert found[metrics.BREAKDOWN]["detail"]["per_class_f1"]
    # The pixels separate real digits well: a linear model on them is far above chance (0.1).
    assert rows["baseline:pixels"]["metrics"][metrics.MACRO_F1]["value"] > 0.5
    # How the ViT's outputs became one vector is said in the results (its CLS token).
    assert rows["tiny-vit"]["metrics"][metrics.LOAD_SECONDS]["detail"]["pooling"] == "cls"


def test_times_preprocessing_apart_from_the_forward_pass(ranked):
    for row in _rows(ranked[0]).values():
        if row["status"] != "ranked":
            continue
        found = row["metrics"]
        for batch in (1, 4):
            preprocess = found[metrics.preprocess_ms(batch)]["value"]
            forward = found[metrics.forward_ms(batch)]["value"]
            assert preprocess > 0 and forward > 0, row["id"]
            assert found[metrics.latency_p50(batch)]["value"] > 0
        assert found[metrics.preprocess_ms(1)]["detail"]["runs"] >= 5


def test_text_model_on_image_data_is_rejected_with_the_reason(ranked):
    row = _rows(ranked[0])["tiny-bert"]
    assert row["status"] == "rejected"
    assert row["reason"] == "reads text; the data is images"


def test_image_size_variant_ranks_with_its_own_measurements(ranked):
    rows = _rows(ranked[0])
    variant, parent = rows["tiny-vit+image_size:16"], rows["tiny-vit"]
    assert variant["status"] == "ranked", variant
    assert variant["metrics"][metrics.LOGME]["value"] != parent["metrics"][metrics.LOGME]["value"]


def test_corrupt_image_is_listed_in_the_data_notes_and_left_out(ranked):
    data = ranked[0]["data"]
    assert data["rows_in_file"] == 10 * PER_CLASS + 1
    assert data["rows_used"] == 10 * PER_CLASS
    assert any("3/broken.png" in note for note in data["notes"]), data["notes"]


def test_rerun_on_the_same_images_reuses_every_measurement(ranked):
    first, again = ranked
    assert again["data"]["fingerprint"] == first["data"]["fingerprint"]
    assert again["run"]["measured"] == 0
    assert again["run"]["reused"] == first["run"]["measured"]


def test_mostly_corrupt_folder_is_one_line_exit_2(tmp_path):
    folder = write_digits(tmp_path / "digits", 3, 16)
    for path in sorted(folder.rglob("*.png"))[::2]:
        path.write_bytes(b"garbage")
    result = CliRunner().invoke(app, ["rank", "--data", str(folder), "--output", str(tmp_path)])
    assert result.exit_code == 2
    message = result.output.strip()
    assert "cannot be read" in message and "fix or remove them" in message
    assert len(message.replace("\n", " ").split("Error: ")) <= 2


def test_missing_folder_is_one_line_exit_2(tmp_path):
    result = CliRunner().invoke(app, ["rank", "--data", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "data folder" in result.output and "does not exist" in result.output


def test_python_api_ranks_an_image_folder_and_rejects_the_text_baseline(digits, tmp_path):
    spec = build_spec(
        data=digits,
        candidates=["baseline:tfidf"],
        folds=3,
        batch_sizes=[1],
        latency_budget_s=0.1,
        estimators=["logme"],
        output=tmp_path,
    )
    decision = modelscout.rank(spec)
    rows = {row.id: row for row in decision.rows}
    assert rows["baseline:pixels"].status == "ranked"  # the image data's baseline, added
    assert rows["baseline:tfidf"].status == "rejected"
    assert rows["baseline:tfidf"].reason == "reads text; the data is images"


def test_baseline_follows_the_data_modality():
    spec = build_spec(data="x.csv", candidates=["m"])
    assert spec.all_candidates("text") == ["m", "baseline:tfidf"]
    assert spec.all_candidates("image") == ["m", "baseline:pixels"]


def test_each_factory_of_one_module_is_its_own_candidate():
    keys = {
        resolve_candidate(f"python:modelscout.backends.efficientnet_lite:{name}").key
        for name in ("lite0", "lite1", "lite2")
    }
    assert len(keys) == 3


def test_image_model_folder_resolves_to_the_image_backend(tiny_vit, tiny_bert):
    assert resolve_candidate(str(tiny_vit)).backend == "transformers-image"
    assert resolve_candidate(str(tiny_bert)).backend == "text"
    assert resolve_candidate("baseline:pixels").backend == "pixels"


@pytest.mark.slow
def test_image_demo_ranks_three_efficientnet_lite_sizes_and_the_pixel_baseline(tmp_path):
    pytest.importorskip("efficientnet_lite_pytorch")
    result = CliRunner().invoke(
        app, ["demo", "--modality", "image", "--output", str(tmp_path), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    rows = {c["id"]: c for c in json.loads((tmp_path / "results.json").read_text())["candidates"]}
    lites = [f"python:modelscout.backends.efficientnet_lite:lite{n}" for n in range(3)]
    assert set(rows) == {*lites, "baseline:pixels"}
    for row in rows.values():
        assert row["status"] == "ranked", row
    # Three networks, three sets of features: none stands in for another in the store.
    scores = {rows[lite]["metrics"][metrics.LOGME]["value"] for lite in lites}
    assert len(scores) == 3
    assert all(rows[lite]["metrics"]["leep"]["value"] is not None for lite in lites)
