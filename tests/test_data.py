import json

import numpy as np
import pandas as pd
import pytest

from modelscout import build_spec
from modelscout.data import (
    MAX_TEXT_CHARS,
    ClassTargets,
    TaskData,
    TextInputs,
    load_task_data,
    nested_subsamples,
    stratified_sample,
)
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
    with pytest.raises(UserError, match="use .csv, .tsv, .jsonl, .json or .parquet"):
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


def test_a_json_array_of_objects_reads_like_the_same_rows_as_jsonl(tmp_path):
    frame = pd.DataFrame(ROWS)
    (tmp_path / "d.json").write_text(json.dumps(frame.to_dict(orient="records"), indent=2))
    frame.to_json(tmp_path / "lines.json", orient="records", lines=True)
    array, lines = load_task_data(tmp_path / "d.json"), load_task_data(tmp_path / "lines.json")
    assert array.fingerprint == lines.fingerprint == load_task_data(csv(tmp_path, ROWS)).fingerprint
    assert len(array) == 12


def test_a_dataframe_and_a_dataset_are_data_with_the_file_s_fingerprint(tmp_path):
    datasets = pytest.importorskip("datasets")
    frame = pd.DataFrame(ROWS, index=range(100, 112))  # a filtered frame's index is no row number
    from_file = load_task_data(csv(tmp_path, ROWS))
    from_frame = load_task_data(frame)
    from_dataset = load_task_data(datasets.Dataset.from_pandas(frame, preserve_index=False))
    assert from_frame.fingerprint == from_dataset.fingerprint == from_file.fingerprint
    assert from_frame.source == "pandas.DataFrame (12 rows)"
    assert from_dataset.source == "datasets.Dataset (12 rows)"
    frame.iloc[3, 0] = " "
    with pytest.raises(
        UserError, match=r"^the DataFrame: 1 row\(s\) have an empty 'text' \(rows 3\)"
    ):
        load_task_data(frame)


def test_a_spec_takes_a_dataframe_and_records_what_it_was(tmp_path):
    spec = build_spec(data=pd.DataFrame(ROWS), output=tmp_path)
    assert spec.model_dump(mode="json")["data"] == "<DataFrame of 12 rows>"
    with pytest.raises(UserError, match="data: a dict is not data; give a file path"):
        build_spec(data={"text": ["x"]})


def test_nested_values_in_the_text_column_are_refused_with_the_type_found(tmp_path):
    frame = pd.DataFrame({"text": [["a", "b"], ["c"]] * 6, "label": ["a", "b", "c"] * 4})
    frame.to_parquet(tmp_path / "nested.parquet")
    with pytest.raises(
        UserError,
        match=r"^nested.parquet: text column 'text' holds numpy.ndarray values, not text "
        r"\(first at row 1\)",
    ):
        load_task_data(tmp_path / "nested.parquet")
    rows = [{"text": "fine", "label": "a"}, {"text": {"title": "x"}, "label": "b"}]
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    with pytest.raises(UserError, match=r"'text' holds dict values, not text \(first at row 2\)"):
        load_task_data(tmp_path / "d.jsonl")
    with pytest.raises(UserError, match="holds bytes values"):
        load_task_data(pd.DataFrame({"text": [b"x", b"y"], "label": ["a", "b"]}))


def test_texts_longer_than_the_cap_are_cut_counted_and_noted(tmp_path):
    texts = ["x" * (MAX_TEXT_CHARS + 5), "y" * MAX_TEXT_CHARS, "short", "z" * 10**6]
    data = load_task_data(csv(tmp_path, {"text": texts, "label": ["a", "b"] * 2}))
    assert [len(t) for t in data.texts] == [MAX_TEXT_CHARS, MAX_TEXT_CHARS, 5, MAX_TEXT_CHARS]
    assert data.rows_cut == 2
    assert data.notes == ["2 text(s) longer than 20,000 characters were cut to that length"]
    assert stratified_sample(data, 2000, 0, 2).notes[0] == data.notes[0]


def test_a_sample_cap_below_folds_rows_per_class_is_refused_with_the_minimum(tmp_path):
    rows = {"text": [f"t{i}" for i in range(4000)], "label": [f"c{i % 1000}" for i in range(4000)]}
    data = load_task_data(csv(tmp_path, rows), min_rows_per_class=3)
    with pytest.raises(
        UserError,
        match=r"^max_samples 300 is below the 3,000 rows that 3-fold cross-validation on "
        r"1,000 classes needs; raise --max-samples to 3000 or lower --folds$",
    ):
        stratified_sample(data, max_samples=300, seed=0, min_per_class=3)
    assert len(stratified_sample(data, max_samples=3000, seed=0, min_per_class=3)) == 3000


def test_a_sample_smaller_than_asked_says_so(tmp_path):
    data = load_task_data(csv(tmp_path, ROWS))
    assert data.notes == [] and stratified_sample(data, 12, 0, 2).notes == []
    assert stratified_sample(data, 100, 0, 2).notes == [
        "the data has 12 usable rows, fewer than max_samples 100: all of them are used"
    ]
    assert data.notes == []


def test_nested_labels_and_slices_are_refused_and_numbers_are_kept(tmp_path):
    nested = {"text": [f"t{i}" for i in range(6)], "label": [["x"], ["y"]] * 3}
    with pytest.raises(
        UserError,
        match=r"^the DataFrame: label column 'label' holds list values, not one value per row "
        r"\(first at row 0\); give a string or number in each row$",
    ):
        load_task_data(pd.DataFrame(nested), task="classification")
    # without a task, lists in every row are read as multi-label data (tests/test_targets.py)
    assert load_task_data(pd.DataFrame(nested)).task == "multilabel"
    sliced = {**ROWS, "language": [["en"], ["fr"]] * 6}
    with pytest.raises(UserError, match=r"slice column 'language' holds list values"):
        load_task_data(pd.DataFrame(sliced))
    with pytest.raises(UserError, match=r"slice column 'meta' holds dict values"):
        load_task_data(pd.DataFrame({**ROWS, "meta": [{"a": 1}] * 12}), slice_columns=["meta"])
    with pytest.raises(UserError, match=r"slice column 'lang' holds bytes values"):
        load_task_data(pd.DataFrame({**ROWS, "lang": [b"en"] * 12}))
    # Parquet gives a list column back as numpy arrays: found in any row, not only the first.
    languages = [["en"]] * 12
    languages[0] = None
    pd.DataFrame({**ROWS, "language": languages}).to_parquet(tmp_path / "nested.parquet")
    with pytest.raises(
        UserError,
        match=r"^nested.parquet: slice column 'language' holds numpy.ndarray values, "
        r"not one value per row \(first at row 2\)",
    ):
        load_task_data(tmp_path / "nested.parquet")

    numbers = {**ROWS, "label": [0, 1] * 6, "year": [2024.0, 2025.0, None] * 4}
    pd.DataFrame(numbers).to_parquet(tmp_path / "numbers.parquet")
    data = load_task_data(tmp_path / "numbers.parquet", slice_columns=["year"])
    assert data.classes == ["0", "1"]
    assert sorted(set(data.slices["year"])) == ["(missing)", "2024.0", "2025.0"]
    flags = load_task_data(pd.DataFrame({**ROWS, "label": [True, False] * 6}))
    assert flags.classes == ["False", "True"]


def test_a_text_fingerprint_is_the_one_stored_measurements_were_keyed_by():
    # The value data.py computed before the data/ package: a changed formula would orphan
    # every measurement in the users' stores.
    data = TaskData.of_texts(
        ["héllo", "world", "again"],
        np.array([1, 0, 1]),
        ["neg", "pos"],
        slices={"language": np.array(["en", "fr", "en"])},
    )
    assert data.fingerprint == "823cc643a3d3363cc12c5a864a6a03efb310e4159c4859b126bc277ceea53e99"


def test_text_data_is_typed_inputs_and_class_targets_with_the_old_names_kept(tmp_path):
    data = load_task_data(csv(tmp_path, ROWS))
    assert isinstance(data.inputs, TextInputs) and isinstance(data.targets, ClassTargets)
    assert data.modality == "text" and data.inputs.items is data.texts
    assert data.labels is data.targets.labels and data.classes == data.targets.classes
    part = data.subset(np.array([4, 0]))
    assert part.texts == ["message 4", "message 0"] and part.labels.tolist() == [1, 0]
    assert part.targets.stratify_key().tolist() == [1, 0]


def test_nested_subsamples_are_stratified_and_each_inside_the_next():
    labels = np.repeat([0, 1, 2], [50, 30, 20])
    small, large = nested_subsamples(labels, (0.5, 0.2), seed=3)
    assert np.bincount(labels[small]).tolist() == [10, 6, 4]
    assert np.bincount(labels[large]).tolist() == [25, 15, 10]
    assert set(small) <= set(large)
