"""The most confused class pairs: recorded by the probe, written as sentences by decide, carried
in results.json, and shown in the reports (thumbnails of the example images in report.html).

The image run is real from the files on: handwritten digits saved as PNG files, loaded as a
table of image paths with a slice column, featurized by the raw-pixel baseline, cross-validated
by the linear probe, decided and rendered. Only the run's wiring is left out (the records are
put together here), so these tests do not depend on run.py.
"""

from __future__ import annotations

import base64
import json
import re
from html import unescape
from io import BytesIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from markdown_it import MarkdownIt
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.metrics import confusion_matrix

from modelscout.backends.base import encode
from modelscout.backends.pixels import PixelEncoder
from modelscout.data import TaskData
from modelscout.data.task import load_task_data
from modelscout.decide import decide
from modelscout.measure.probe import (
    PROBE_VERSION,
    cross_validate,
    linear_probe,
    probe_measurements,
)
from modelscout.measure.probe.classification import confused_pairs
from modelscout.records import Candidate, Measurement, ModelMeta, Outcome
from modelscout.report import build_results
from modelscout.report.html import render_html
from modelscout.report.json import read_results
from modelscout.report.markdown import render_markdown
from modelscout.run import RunResult, environment
from modelscout.spec import build_spec

HOSTILE_CLASS = "<img src=x onerror=alert(1)>"
# digit -> class name; 10 images of a 5 are labelled "three" on purpose: the probe, reading
# them as the 5s they are, takes "three" for the hostile class.
NAMES = {3: "three", 5: HOSTILE_CLASS, 8: "eight", 9: "nine"}
MISLABELLED = 10
PER_CLASS = 40
SIZE = (160, 120)  # width, height of every PNG: a thumbnail is 96 x 72


def mixed_features(seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Four well-apart classes of 30 rows, 12 of class 2's rows drawn at class 1's centre."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(4), 30)
    centres = np.eye(4, 16) * 6.0
    features = centres[labels] + rng.normal(scale=0.5, size=(len(labels), 16))
    mixed = np.flatnonzero(labels == 2)[:12]
    features[mixed] = centres[1] + rng.normal(scale=0.5, size=(12, 16))
    return features, labels, ["a", "b", "c", "d"]


def test_the_deliberately_mixed_pair_is_the_most_confused():
    features, labels, classes = mixed_features()
    result = cross_validate(linear_probe, features, labels, classes=classes, folds=5)
    top = result.confusions[0]
    assert (top["true"], top["predicted"]) == ("c", "b")
    assert top["count"] == int(np.sum((labels == 2) & (result.predictions == 1)))
    assert top["count"] >= 10
    for row in top["rows"]:
        assert labels[row] == 2 and result.predictions[row] == 1
    assert len(top["rows"]) == 3 and top["rows"] == sorted(top["rows"])


def test_confused_pairs_count_as_the_confusion_matrix_and_come_most_rows_first():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 6, size=400)
    predictions = np.where(rng.random(400) < 0.4, rng.integers(0, 6, size=400), labels)
    classes = [f"class {i}" for i in range(6)]
    pairs = confused_pairs(labels, predictions, classes)
    matrix = confusion_matrix(labels, predictions, labels=range(6))
    off_diagonal = sorted(
        (matrix[t, p] for t in range(6) for p in range(6) if t != p), reverse=True
    )
    assert [pair["count"] for pair in pairs] == off_diagonal[:5]
    for pair in pairs:
        true, predicted = classes.index(pair["true"]), classes.index(pair["predicted"])
        assert true != predicted and pair["count"] == matrix[true, predicted]
        wrong = np.flatnonzero((labels == true) & (predictions == predicted))
        assert pair["rows"] == [int(i) for i in wrong[:3]]


def test_a_probe_without_mistakes_has_no_confused_pairs():
    labels = np.array([0, 0, 1, 1, 2])
    assert confused_pairs(labels, labels.copy(), ["a", "b", "c"]) == []


def test_the_breakdown_carries_the_confusions_under_a_new_store_version():
    features, labels, classes = mixed_features()
    result = cross_validate(linear_probe, features, labels, classes=classes, folds=5)
    breakdown = {m.name: m for m in probe_measurements(result, "classification", {})}[
        "probe.breakdown"
    ]
    assert breakdown.detail["confusions"] == result.confusions
    # 3: probes stored before lack confusions (4 added the calibration error)
    assert breakdown.version == PROBE_VERSION and int(PROBE_VERSION) >= 3
    json.dumps(breakdown.detail)  # plain JSON types, as the store and results.json need


def _digit_table(folder: Path) -> tuple[Path, set[str]]:
    """A CSV of PNG files (hostile names), labels and a camera slice; and the mislabelled files."""
    digits = load_digits()
    rows, mislabelled = [], set()
    for digit, name in NAMES.items():
        for count, index in enumerate(np.flatnonzero(digits.target == digit)[:PER_CLASS]):
            path = folder / f"<script>{digit}-{count}.png"
            pixels = (digits.images[index] * 255 / 16).astype(np.uint8)
            Image.fromarray(pixels).resize(SIZE, Image.BILINEAR).save(path)
            label = name
            if digit == 5 and count < MISLABELLED:
                label = "three"
                mislabelled.add(str(path))
            rows.append({"image": path.name, "label": label, "camera": f"cam {count % 2}"})
    table = folder / "images.csv"
    pd.DataFrame(rows).to_csv(table, index=False)
    return table, mislabelled


def _outcome(cid: str, sample: TaskData, features: np.ndarray, p95: float) -> Outcome:
    result = cross_validate(
        linear_probe, features, sample.labels, classes=sample.classes, slices=sample.slices
    )
    measured = {m.name: m for m in probe_measurements(result, "classification", {})}
    measured["latency.p95_ms@1"] = Measurement("latency.p95_ms@1", p95, "ms")
    measured["memory.peak_mb"] = Measurement("memory.peak_mb", 50.0, "MB")
    return Outcome(
        Candidate(cid, "baseline"), ModelMeta(modality="image"), "measured", None, measured
    )


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    """A decided image run: the raw-pixel baseline and a noisier copy of its features, on
    digits with 10 images of a 5 labelled "three"; and the mislabelled files."""
    folder = tmp_path_factory.mktemp("images")
    table, mislabelled = _digit_table(folder)
    sample = load_task_data(table, slice_columns=["camera"])
    features = encode(PixelEncoder(), sample.inputs.items)
    noisy = features + np.random.default_rng(0).normal(scale=2.0, size=features.shape)
    outcomes = [
        _outcome("baseline:pixels", sample, features, 1.0),
        _outcome("noisy-pixels", sample, noisy.astype(np.float32), 2.0),
    ]
    spec = build_spec(data=str(table), modality="image")
    return decide(RunResult(spec, sample, sample, outcomes, environment())), mislabelled


@pytest.fixture(scope="module")
def image_results(image_run, tmp_path_factory):
    """results.json of the image run, written and read back as ``modelscout report`` does."""
    path = tmp_path_factory.mktemp("out") / "results.json"
    path.write_text(json.dumps(build_results(image_run[0])), encoding="utf-8")
    return read_results(path)


def test_results_json_carries_the_picks_confusions_with_sentences_and_image_paths(
    image_run, image_results
):
    decision, mislabelled = image_run
    assert image_results["schema_version"] == "1.9"
    assert image_results["data"]["modality"] == "image"
    pick = image_results["candidates"][0]
    assert pick["id"] == image_results["recommendation"] == "baseline:pixels"
    assert image_results["confusions"] == pick["confusions"]
    top = pick["confusions"][0]
    assert (top["true"], top["predicted"]) == ("three", HOSTILE_CLASS)
    assert top["count"] >= MISLABELLED // 2 and top["class_rows"] == PER_CLASS + MISLABELLED
    assert top["sentence"] == (
        f"three is taken for {HOSTILE_CLASS} in {top['count']} of its {PER_CLASS + MISLABELLED} "
        "rows (out-of-fold probe predictions)."
    )
    assert len(top["examples"]) == 3 and set(top["examples"]) <= mislabelled
    breakdown = pick["metrics"]["probe.breakdown"]["detail"]["confusions"][0]
    items = decision.run.sample.inputs.items
    assert [items[i] for i in breakdown["rows"]] == top["examples"]
    assert all(c["confusions"] for c in image_results["candidates"])


def _thumbnails(page: str) -> list[tuple[str, bytes]]:
    found = re.findall(r'<img src="data:image/jpeg;base64,([^"]+)" alt="([^"]*)"', page)
    return [(alt, base64.b64decode(data)) for data, alt in found]


def test_html_embeds_jpeg_thumbnails_of_the_example_images(image_results):
    page = render_html(image_results)
    thumbnails = _thumbnails(page)
    examples = [e for pair in image_results["confusions"] for e in pair["examples"]]
    assert len(thumbnails) == len(examples) >= 3
    for _, data in thumbnails:
        with Image.open(BytesIO(data)) as image:
            assert image.format == "JPEG" and image.size == (96, 72)
    assert "img-src data:" in page  # the page's own Content-Security-Policy lets them show


def test_chromium_shows_every_thumbnail_and_runs_no_script(browser, image_results, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(render_html(image_results), encoding="utf-8")
    shown = "[...document.querySelectorAll('#breakdowns img')].map(i => i.naturalWidth)"
    visit = browser.visit(
        page,
        screenshot=tmp_path / "report.png",
        evaluate={"widths": shown, "scripts": "document.querySelectorAll('script').length"},
    )
    assert visit.errors == [] and visit.dialogs == []  # a CSP refusal would be an error
    fetched = [r for r in visit.requests if not r.startswith("data:image/jpeg;base64,")]
    assert fetched == [page.resolve().as_uri()], "the page must fetch nothing"
    assert visit.values["widths"] == [96] * len(_thumbnails(page.read_text(encoding="utf-8")))
    assert visit.values["scripts"] == 0


def test_html_escapes_hostile_file_and_class_names(image_results):
    page = render_html(image_results)
    assert "<script>" not in page and "<img src=x" not in page
    assert "&lt;script&gt;5-" in page
    assert html_text(page).count(f"three is taken for {HOSTILE_CLASS}") >= 1
    assert all(alt.startswith("&lt;script&gt;") for alt, _ in _thumbnails(page))


def html_text(page: str) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", page))


def test_a_missing_or_unreadable_image_degrades_to_its_file_name(image_results):
    top = image_results["confusions"][0]
    gone, broken = Path(top["examples"][0]), Path(top["examples"][1])
    kept = gone.read_bytes(), broken.read_bytes()
    gone.unlink()
    broken.write_bytes(b"not an image")
    try:
        page = render_html(image_results)
    finally:
        gone.write_bytes(kept[0])
        broken.write_bytes(kept[1])
    examples = [e for pair in image_results["confusions"] for e in pair["examples"]]
    assert len(_thumbnails(page)) == len(examples) - 2
    section = page[page.index('id="confusions"') : page.index("<h3>Per slice</h3>")]
    assert section.count("image not readable now") == 2
    for path in (gone, broken):
        assert path.name.replace("<", "&lt;").replace(">", "&gt;") in section


def test_per_class_and_per_slice_tables_show_the_image_run(image_results):
    page = render_html(image_results)
    classes = page[page.index('<table class="breakdown classes">') :]
    classes = classes[: classes.index("</table>")]
    for name in ("three", "eight", "nine", "&lt;img src=x onerror=alert(1)&gt;"):
        assert f"<td>{name}" in classes
    slices = page[page.index('<table class="breakdown slices">') :]
    assert "<td>cam 0</td>" in slices and "<td>cam 1</td>" in slices
    f1 = image_results["candidates"][0]["metrics"]["probe.breakdown"]["detail"]["per_slice_f1"]
    assert set(f1["camera"]) == {"cam 0", "cam 1"}


def test_a_folder_of_images_has_no_slices_and_the_report_says_so(image_results, tmp_path):
    for name in ("cats", "dogs"):
        (tmp_path / name).mkdir()
        for i in range(3):
            Image.new("RGB", (20, 20), (i * 40, 0, 0)).save(tmp_path / name / f"{i}.png")
    assert load_task_data(tmp_path).slices == {}
    results = image_results | {"data": image_results["data"] | {"slices": {}}}
    results["candidates"] = [
        c | {"metrics": c["metrics"] | {"probe.breakdown": _without_slices(c)}}
        for c in image_results["candidates"]
    ]
    assert "No slice column was given" in render_html(results)


def _without_slices(candidate: dict) -> dict:
    breakdown = candidate["metrics"]["probe.breakdown"]
    return breakdown | {"detail": breakdown["detail"] | {"per_slice_f1": {}}}


def test_markdown_lists_the_sentences_and_example_paths_escaped(image_results):
    text = render_markdown(image_results)
    assert "## Most confused classes" in text
    rendered = MarkdownIt("commonmark").render(text)
    assert "<script>" not in rendered and "<img src=x" not in rendered
    assert "three is taken for &lt;img src=x onerror=alert(1)&gt;" in rendered
    example = image_results["confusions"][0]["examples"][0]
    assert f"<code>{example.replace('<', '&lt;').replace('>', '&gt;')}</code>" in rendered


def _text_run() -> RunResult:
    long = "refund please " * 30  # 420 characters, cut to 200 in the examples
    texts = ["where is my parcel", long, "reset my password", "cancel my order", "hi"]
    sample = TaskData.of_texts(texts, np.array([0, 0, 1, 1, 1]), ["billing", "<b>account</b>"])
    confusions = [{"true": "billing", "predicted": "<b>account</b>", "count": 2, "rows": [1, 0]}]
    measured = {
        "probe.macro_f1": Measurement("probe.macro_f1", 0.6, "fraction", 0.1),
        "probe.breakdown": Measurement(
            "probe.breakdown", 0.5, "fraction", detail={"confusions": confusions}
        ),
    }
    outcome = Outcome(Candidate("m", "folder"), ModelMeta(), "measured", None, measured)
    return RunResult(build_spec(data="d.csv"), sample, sample, [outcome], {})


def test_text_examples_are_the_texts_cut_to_200_characters_and_shown_as_quotes():
    results = build_results(decide(_text_run()))
    pair = results["confusions"][0]
    assert pair["sentence"] == (
        "billing is taken for <b>account</b> in 2 of its 2 rows (out-of-fold probe predictions)."
    )
    assert pair["examples"][1] == "where is my parcel"
    assert len(pair["examples"][0]) == 200 and pair["examples"][0].endswith("…")
    page = render_html(results)
    section = page[page.index('id="confusions"') : page.index("<h3>Per slice</h3>")]
    assert "<img" not in section and "<b>" not in section
    assert "<q>where is my parcel</q>" in section
    assert "&lt;b&gt;account&lt;/b&gt;" in section
    assert "“where is my parcel”" in render_markdown(results)


def test_results_of_an_older_schema_render_without_confusions(image_results):
    older = {k: v for k, v in image_results.items() if k != "confusions"}
    older["candidates"] = [
        {k: v for k, v in c.items() if k != "confusions"} for c in image_results["candidates"]
    ]
    older["data"] = {k: v for k, v in older["data"].items() if k != "modality"}
    assert "No confused class pairs were recorded" in render_html(older)
    assert "Most confused classes" not in render_markdown(older)
