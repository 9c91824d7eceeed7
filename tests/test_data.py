import json

import numpy as np
import pandas as pd
import pytest

from modelscout.data import load_task_data, stratified_sample
from modelscout.errors import UserError


def csv(tmp_path, rows, name="d.csv"):
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


ROWS = {"text": [f"message {i}" for i in range(12)], "label": ["a", "b", "c"] * 4}


def test_reads_csv_jsonl_and_parquet_alike(tmp_path):
    frame = pd.DataFrame(ROWS)
    frame.to_json(tmp_path / "d.jsonl", orient="records", lines=True)
    frame.to_parquet(tmp_path / "d.parquet")
    loaded = [
        load_task_data(p)
        for p in (csv(tmp_path, ROWS), tmp_path / "d.jsonl", tmp_path / "d.parquet")
    ]
    assert {d.fingerprint for d in loaded} == {loaded[0].fingerprint}
    assert loaded[0].classes == ["a", "b", "c"] and len(loaded[0]) == 12


def test_missing_file_says_to_check_the_path(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_task_data(tmp_path / "nope.csv")


def test_missing_column_lists_the_columns_and_the_flag(tmp_path):
    with pytest.raises(
        UserError, match=r"no text column 'body' \(columns: text, label\); pass --text-column"
    ):
        load_task_data(csv(tmp_path, ROWS), text_column="body")


def test_a_single_class_is_refused(tmp_path):
    with pytest.raises(UserError, match="only one class"):
        load_task_data(csv(tmp_path, {"text": ["x", "y"], "label": ["a", "a"]}))


def test_a_class_too_small_for_cross_validation_is_named(tmp_path):
    rows = {"text": [f"t{i}" for i in range(12)], "label": ["a"] * 10 + ["rare"] * 2}
    with pytest.raises(UserError, match="class 'rare' has 2 row.*5-fold"):
        load_task_data(csv(tmp_path, rows), min_rows_per_class=5)


def test_empty_texts_are_reported_with_their_lines(tmp_path):
    rows = {"text": ["ok", "", "fine", "   "], "label": ["a", "b", "a", "b"]}
    with pytest.raises(UserError, match=r"2 row\(s\) have an empty 'text' \(file lines 3, 5"):
        load_task_data(csv(tmp_path, rows))


def test_non_utf8_bytes_are_reported(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("text,label\ncafé,a\nthé,b\n".encode("latin-1"))
    with pytest.raises(UserError, match="not valid UTF-8"):
        load_task_data(path)


def test_all_missing_labels_are_refused(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(json.dumps({"text": "x", "label": None}) for _ in range(3)))
    with pytest.raises(UserError, match="every row's 'label' is empty"):
        load_task_data(path)


def test_rows_without_a_label_are_dropped_and_counted(tmp_path):
    rows = {"text": ["a1", "a2", "b1", "b2", "x"], "label": ["a", "a", "b", "b", None]}
    data = load_task_data(csv(tmp_path, rows))
    assert (len(data), data.rows_in_file, data.rows_dropped) == (4, 5, 1)


def test_unsupported_extension_names_the_supported_ones(tmp_path):
    path = tmp_path / "d.xlsx"
    path.write_bytes(b"PK")
    with pytest.raises(UserError, match="use .csv, .tsv, .jsonl or .parquet"):
        load_task_data(path)


def test_language_column_becomes_a_slice_by_default(tmp_path):
    rows = dict(ROWS, language=["en", "de"] * 6)
    assert list(load_task_data(csv(tmp_path, rows)).slices) == ["language"]


def test_stratified_sample_keeps_proportions_a_floor_per_class_and_is_repeatable(tmp_path):
    labels = ["big"] * 900 + ["mid"] * 90 + ["tiny"] * 10
    data = load_task_data(csv(tmp_path, {"text": [f"t{i}" for i in range(1000)], "label": labels}))
    sample = stratified_sample(data, max_samples=100, seed=1, min_per_class=5)
    counts = dict(zip(sample.classes, np.bincount(sample.labels), strict=True))
    assert len(sample) == 100
    assert counts["tiny"] >= 5 and 80 <= counts["big"] <= 90 and 8 <= counts["mid"] <= 10
    again = stratified_sample(data, max_samples=100, seed=1, min_per_class=5)
    assert again.texts == sample.texts
    assert stratified_sample(data, max_samples=100, seed=2, min_per_class=5).texts != sample.texts
