"""Reading regression and multi-label targets: detection, parsing, baseline columns, sampling."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelscout.data import (
    ClassTargets,
    LabelSetTargets,
    NumberTargets,
    load_task_data,
    stratified_sample,
)
from modelscout.data.targets import detect_task
from modelscout.errors import UserError

DATASETS = Path(__file__).parents[1].parent / "shared" / "datasets"
needs_datasets = pytest.mark.skipif(
    not DATASETS.is_dir(), reason=f"the shared real datasets are not at {DATASETS}"
)


def texts(n):
    return [f"listing number {i}" for i in range(n)]


def write_csv(tmp_path, rows, name="data.csv"):
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


# detection ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "delimiter", "task"),
    [
        (["a;b", "c"], ";", "multilabel"),
        ([["a", "b"], ["c"], []], None, "multilabel"),
        (['["a", "b"]', "[]", '["c"]'], None, "multilabel"),
        ([1.5, 2.0, 3.25], None, "regression"),
        ([str(i) for i in range(21)], None, "regression"),
        (["0", "1", "1", None], None, "classification"),
        ([0.0, 1.0], None, "classification"),
        (["cat", "dog", "7"], None, "classification"),
        ([True, False, True], None, "classification"),
        (["[x] tagged", "plain"], None, "classification"),
    ],
)
def test_the_task_is_detected_from_the_target_column(values, delimiter, task):
    assert detect_task(pd.Series(values, name="label"), delimiter) == task


def test_three_to_twenty_whole_numbers_ask_which_task_is_meant(tmp_path):
    path = write_csv(tmp_path, {"text": texts(10), "stars": [1, 2, 3, 4, 5] * 2})
    with pytest.raises(
        UserError,
        match=r"^data.csv: 'stars' holds 5 distinct whole numbers \(1 to 5\): classes or a "
        r"score\? set task: classification or task: regression$",
    ):
        load_task_data(path, label_column="stars")
    assert load_task_data(path, label_column="stars", task="classification").classes == [
        "1", "2", "3", "4", "5",
    ]  # fmt: skip
    assert load_task_data(path, label_column="stars", task="regression").task == "regression"
    # a log transform says the user means a number
    assert load_task_data(path, label_column="stars", target_transform="log").task == ("regression")


def test_a_folder_of_images_is_only_classification(tmp_path):
    (tmp_path / "photos" / "a").mkdir(parents=True)
    with pytest.raises(UserError, match=r"folder of class sub-folders.*give regression data"):
        load_task_data(tmp_path / "photos", task="regression")
    with pytest.raises(UserError, match=r"give multilabel data as a table"):
        load_task_data(tmp_path / "photos", label_delimiter=";")


# regression --------------------------------------------------------------------------


def test_numbers_that_are_not_finite_are_listed_and_left_out(tmp_path):
    prices = [str(10 + i) for i in range(40)]
    prices[3], prices[7], prices[20] = "$120", "n/a", "inf"
    prices[30] = ""  # a missing target: dropped and counted, not listed
    path = write_csv(tmp_path, {"text": texts(40), "price": prices})
    data = load_task_data(path, label_column="price")
    assert isinstance(data.targets, NumberTargets) and data.task == "regression"
    assert len(data) == 36 and data.rows_dropped == 4 and data.rows_in_file == 40
    assert data.notes == [
        "3 row(s) whose 'price' is not a finite number were left out: "
        "row 5 '$120', row 9 'n/a', row 22 'inf'"
    ]
    assert data.targets.values[:4].tolist() == [10.0, 11.0, 12.0, 14.0]
    assert data.texts[3] == "listing number 4"  # inputs and targets stay aligned


def test_too_many_unusable_numbers_are_refused_naming_the_first(tmp_path):
    prices = [str(10 + i) for i in range(20)]
    for row in (2, 5, 6):
        prices[row] = "call us"
    path = write_csv(tmp_path, {"text": texts(20), "price": prices})
    with pytest.raises(
        UserError,
        match=r"^data.csv: 3 of 20 rows \(15%\) of 'price' are not finite numbers "
        r"\(first: row 4, 'call us'\); fix them or give a numeric target column$",
    ):
        load_task_data(path, label_column="price", task="regression")


def test_a_log_target_is_fitted_on_logs_and_kept_in_the_original_units(tmp_path):
    prices = [50.0, 125.0, 400.0, 90.0, 1000.0, 60.0]
    data = load_task_data(pd.DataFrame({"text": texts(6), "label": prices}), target_transform="log")
    assert data.targets.values.tolist() == prices and data.targets.transform == "log"
    assert np.allclose(data.targets.fit_targets(), np.log(prices))


def test_a_log_target_with_values_at_or_below_zero_is_refused(tmp_path):
    prices = [50.0, 125.0, 400.0, 0.0, 1000.0, -3.0, 60.0, 0.0]
    with pytest.raises(
        UserError,
        match=r"^the DataFrame: target_transform log needs every 'label' > 0, but 3 row\(s\) "
        r"are <= 0 \(first: row 3, value 0\); drop them or leave target_transform unset$",
    ):
        load_task_data(pd.DataFrame({"text": texts(8), "label": prices}), target_transform="log")


def test_a_constant_number_target_is_refused(tmp_path):
    with pytest.raises(UserError, match=r"every row's 'label' is 3; regression needs"):
        load_task_data(pd.DataFrame({"text": texts(5), "label": [3.0] * 5}), task="regression")


def test_the_same_column_as_classes_and_as_numbers_has_two_fingerprints(tmp_path):
    path = write_csv(tmp_path, {"text": texts(12), "score": [1, 2, 3] * 4})
    classes = load_task_data(path, label_column="score", task="classification")
    numbers = load_task_data(path, label_column="score", task="regression")
    logs = load_task_data(path, label_column="score", target_transform="log")
    assert isinstance(classes.targets, ClassTargets)
    assert len({classes.fingerprint, numbers.fingerprint, logs.fingerprint}) == 3


# multi-label -------------------------------------------------------------------------


def _tags(rows):
    return pd.DataFrame({"text": texts(len(rows)), "tags": rows})


def test_label_sets_read_alike_from_json_delimiters_and_python_lists(tmp_path):
    sets = [["billing", "urgent"], ["login"], [], ["billing"], ["login", "urgent"], ["urgent"]]
    as_json = write_csv(
        tmp_path, {"text": texts(6), "tags": [str(s).replace("'", '"') for s in sets]}
    )
    joined = write_csv(tmp_path, {"text": texts(6), "tags": [" ; ".join(s) for s in sets]}, "j.csv")
    loaded = [
        load_task_data(as_json, label_column="tags"),
        load_task_data(joined, label_column="tags", label_delimiter=";"),
        load_task_data(_tags(sets), label_column="tags"),
    ]
    for data in loaded:
        assert isinstance(data.targets, LabelSetTargets) and data.task == "multilabel"
        assert data.targets.names == ["billing", "login", "urgent"]
        assert data.targets.indicators.tolist()[:3] == [[1, 0, 1], [0, 1, 0], [0, 0, 0]]
        assert data.targets.counts() == {"billing": 2, "login": 2, "urgent": 3}
        assert len(data) == 6 and data.rows_dropped == 0
    assert len({d.fingerprint for d in loaded}) == 1


def test_rows_without_a_label_are_kept_and_labels_per_row_noted():
    sets = [["a"]] * 10 + [["a", "b"]] * 4 + [["a", "b", "c"]] * 2 + [[]] * 4
    data = load_task_data(_tags(sets), label_column="tags")
    assert len(data) == 20
    assert data.notes == [
        "4 rows (20%) have no label",
        "labels per row: 50% one label, 20% two, 10% three or more",
    ]


def test_a_label_too_rare_for_the_folds_is_named():
    sets = [["joy"], ["anger"]] * 5 + [["joy", "grief"]] * 3
    with pytest.raises(
        UserError,
        match=r"^the DataFrame: label 'grief' has 3 row\(s\); 5-fold cross-validation needs at "
        r"least 5 per label: add rows, drop the label, or lower --folds$",
    ):
        load_task_data(_tags(sets), label_column="tags", min_rows_per_class=5)


def test_fewer_than_two_labels_are_refused():
    with pytest.raises(UserError, match=r"labels in 'tags' are only 'joy'; multi-label data"):
        load_task_data(_tags([["joy"], []] * 3), label_column="tags")


def test_a_list_inside_a_row_s_labels_is_refused():
    with pytest.raises(UserError, match=r"holds a list inside a row's labels \(row 1\)"):
        load_task_data(_tags([["a"], [["b"]], ["a", "b"]]), label_column="tags")


# baseline columns --------------------------------------------------------------------


def test_baseline_columns_are_read_as_numbers_or_strings_for_the_kept_rows(tmp_path):
    rows = {
        "text": texts(6),
        "label": ["10", "20", None, "40", "50", "60"],
        "room": ["entire", "private", "shared", None, "entire", "private"],
        "beds": [1, 2, 3, None, 5, 1],
    }
    data = load_task_data(
        write_csv(tmp_path, rows), task="regression", baseline_columns=["room", "beds"]
    )
    assert data.columns["room"].tolist() == ["entire", "private", "", "entire", "private"]
    assert data.columns["beds"].tolist() == [1.0, 2.0, 1.5, 5.0, 1.0]
    assert data.columns["beds"].dtype == object
    assert "1 missing value(s) of baseline column 'beds' were set to its median, 1.5" in data.notes
    assert data.subset(np.array([1])).columns["room"].tolist() == ["private"]
    with pytest.raises(UserError, match=r"has no baseline column 'rooms' \(columns: text,"):
        load_task_data(write_csv(tmp_path, rows), task="regression", baseline_columns=["rooms"])


# sampling ----------------------------------------------------------------------------


def test_a_multilabel_sample_keeps_a_label_that_is_never_the_rarest():
    # 'often' (10 rows) always comes with a rarer label (9 rows each), so no row's group is
    # 'often': grouping alone samples 5 of each rarer label and so about 5.6 of 'often', often
    # fewer; the sample must still hold 5 of every label.
    sets = [["x", "often"]] * 5 + [["x"]] * 4 + [["y", "often"]] * 5 + [["y"]] * 4
    sets += [["z"]] * 400 + [["w"]] * 400
    data = load_task_data(_tags(sets), label_column="tags", min_rows_per_class=5)
    for seed in range(10):
        sample = stratified_sample(data, max_samples=40, seed=seed, min_per_class=5)
        assert len(sample) == 40 and min(sample.targets.counts().values()) >= 5


def test_sample_messages_name_the_task_s_groups():
    sets = [[f"l{i}"] for i in range(30)] * 5
    data = load_task_data(_tags(sets), label_column="tags")
    with pytest.raises(UserError, match=r"on 30 label groups \(rows grouped by their rarest"):
        stratified_sample(data, max_samples=100, seed=0, min_per_class=5)
    numbers = load_task_data(pd.DataFrame({"text": texts(200), "label": np.arange(200) * 1.5}))
    with pytest.raises(UserError, match=r"on 10 quantile bins of the target needs"):
        stratified_sample(numbers, max_samples=30, seed=0, min_per_class=5)
    assert len(stratified_sample(numbers, max_samples=50, seed=0, min_per_class=5)) == 50


# the real files ------------------------------------------------------------------------


@needs_datasets
def test_goemotions_reads_as_28_labels_and_a_sample_keeps_each_rare_one():
    data = load_task_data(
        DATASETS / "goemotions_dev.tsv",
        label_column="labels",
        label_delimiter=";",
        min_rows_per_class=5,
    )
    assert data.task == "multilabel" and len(data.targets.names) == 28 and len(data) == 5426
    assert data.notes == ["labels per row: 84% one label, 15% two, 1% three or more"]
    sample = stratified_sample(data, max_samples=2000, seed=0, min_per_class=5)
    assert len(sample) == 2000 and min(sample.targets.counts().values()) >= 5


@needs_datasets
def test_airbnb_prices_read_as_a_log_regression_with_the_room_type_column():
    data = load_task_data(
        DATASETS / "airbnb_boston_price.csv",
        label_column="target",
        target_transform="log",
        baseline_columns=["room_type"],
        min_rows_per_class=5,
    )
    assert data.task == "regression" and len(data) == 2875 and data.notes == []
    assert data.targets.values.min() == 10 and np.median(data.targets.values) == 125
    assert "Private room" in set(data.columns["room_type"])
    assert load_task_data(DATASETS / "airbnb_boston_price.csv", label_column="target").task == (
        "regression"
    )
