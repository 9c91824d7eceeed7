"""The columns baseline (``baseline:columns``): a linear model on other columns of the table,
the floor a pre-trained model must beat where those columns already say much (room type and
price)."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold, cross_val_predict

from modelscout import metrics
from modelscout.backends import get_backend
from modelscout.backends.base import LoadOptions
from modelscout.backends.columns import ColumnsEncoder, read_rows, row_items
from modelscout.catalog.candidate import describe, resolve_candidate
from modelscout.catalog.constraints import check_meta
from modelscout.data.inputs import LabelSetTargets, NumberTargets, TextInputs
from modelscout.data.task import TaskData
from modelscout.errors import UserError
from modelscout.measure.probe import ProbeJob, cross_validate_many, probe_measurements
from modelscout.spec import BASELINE_COLUMNS, BASELINE_TFIDF, Constraints, build_spec

ROOM_PRICES = {"Entire home/apt": 200.0, "Private room": 70.0, "Shared room": 40.0}


def listings(rows: int = 300, seed: int = 0) -> TaskData:
    """Prices set by the room type (times up to 20% noise), a numeric column of noise, and
    texts that say nothing about the price."""
    rng = np.random.default_rng(seed)
    rooms = rng.choice(list(ROOM_PRICES), rows)
    prices = np.array([ROOM_PRICES[r] for r in rooms]) * rng.uniform(0.8, 1.2, rows)
    columns = {
        "room_type": rooms.astype(object),
        "reviews": rng.integers(0, 50, rows).astype(float).astype(object),
    }
    return TaskData(TextInputs(["a listing"] * rows), NumberTargets(prices, "log"), columns=columns)


def test_a_price_set_by_a_category_is_predicted_from_that_category() -> None:
    data = listings()
    encoder = ColumnsEncoder(0, "regression")
    table = encoder.probe_inputs(row_items(data))
    fitted = data.targets.fit_targets()
    predicted = cross_val_predict(
        encoder.probe_model(0), table, fitted, cv=KFold(5, shuffle=True, random_state=0)
    )
    assert r2_score(fitted, predicted) > 0.9


def test_the_regression_probe_of_the_columns_baseline_finds_the_category() -> None:
    data = listings()
    encoder = ColumnsEncoder(0, "regression")
    job = ProbeJob(
        partial(encoder.probe_model, 0), encoder.probe_inputs(row_items(data)), data.targets
    )
    result = cross_validate_many([job], n_jobs=1)[0]
    found = {m.name: m for m in probe_measurements(result, "regression", {})}
    assert found[metrics.R2].value > 0.9


def test_rows_are_json_objects_that_read_back_as_the_columns() -> None:
    columns = {
        "room_type": np.array(["Private room", None, "Shared room"], dtype=object),
        "beds": np.array([2.0, np.nan, 1.0], dtype=object),
    }
    data = TaskData(TextInputs(["a", "b", "c"]), NumberTargets(np.ones(3)), columns=columns)
    items = row_items(data)
    assert items[0] == '{"beds": 2.0, "room_type": "Private room"}'  # keys sorted
    names, table = read_rows(items)
    assert names == ["beds", "room_type"]
    assert table.tolist() == [[2.0, "Private room"], [None, None], [1.0, "Shared room"]]


def test_a_category_never_seen_in_fitting_predicts_without_failing() -> None:
    data = listings(60)
    items = row_items(data)
    encoder = ColumnsEncoder(0, "regression").fit(items, data.targets.fit_targets())
    unseen = ['{"reviews": 3.0, "room_type": "Hotel room"}', '{"reviews": null, "room_type": null}']
    out = encoder.forward(encoder.preprocess(unseen))
    assert out.shape == (2, 1) and out.dtype == np.float32 and np.isfinite(out).all()


def test_each_task_has_its_model_on_the_columns() -> None:
    rng = np.random.default_rng(1)
    rooms = rng.choice(["a", "b", "c"], 90)
    items = [f'{{"room_type": "{room}"}}' for room in rooms]
    labels = (rooms == "b").astype(int) + 2 * (rooms == "c")
    classes = ColumnsEncoder(0, "classification").fit(items, labels)
    assert classes.forward(classes.preprocess(items)).argmax(axis=1).tolist() == labels.tolist()
    indicators = np.stack([rooms == "a", rooms != "a"], axis=1).astype(np.uint8)
    tags = ColumnsEncoder(0, "multilabel").fit(items, indicators)
    assert ((tags.forward(tags.preprocess(items)) > 0) == indicators).all()
    names = {ColumnsEncoder(0, task).probe_name for task in ("classification", "regression")}
    assert len(names | {ColumnsEncoder(0, "multilabel").probe_name}) == 3


def test_the_multilabel_probe_of_the_columns_baseline_runs() -> None:
    rng = np.random.default_rng(2)
    rooms = rng.choice(["a", "b", "c"], 120)
    items = [f'{{"room_type": "{room}"}}' for room in rooms]
    indicators = np.stack([rooms == "a", rooms != "a"], axis=1).astype(np.uint8)
    encoder = ColumnsEncoder(0, "multilabel")
    targets = LabelSetTargets(indicators, ["home", "room"])
    job = ProbeJob(partial(encoder.probe_model, 0), encoder.probe_inputs(items), targets)
    result = cross_validate_many([job], n_jobs=1)[0]
    found = {m.name: m for m in probe_measurements(result, "multilabel", {})}
    assert found[metrics.MICRO_F1].value > 0.95


def test_the_candidate_resolves_with_its_columns_in_its_key() -> None:
    data = listings(20)
    candidate = resolve_candidate(BASELINE_COLUMNS, columns=data.columns)
    assert candidate.backend == "columns" and candidate.source == "baseline"
    assert "reviews,room_type" in candidate.key
    fewer = resolve_candidate(BASELINE_COLUMNS, columns={"room_type": data.columns["room_type"]})
    edited = dict(data.columns, room_type=data.columns["room_type"][::-1])
    assert (
        len({candidate.key, fewer.key, resolve_candidate(BASELINE_COLUMNS, columns=edited).key})
        == 3
    )
    assert get_backend("columns").items(data) == row_items(data)


def test_the_candidate_without_columns_says_to_name_them() -> None:
    with pytest.raises(UserError, match="baseline_columns"):
        resolve_candidate(BASELINE_COLUMNS)


def test_the_spec_adds_the_columns_baseline_when_it_names_columns() -> None:
    spec = build_spec(data="d.csv", candidates=["a"], baseline_columns=["room_type"])
    assert spec.all_candidates() == ["a", BASELINE_TFIDF, BASELINE_COLUMNS]
    without = build_spec(data="d.csv", candidates=["a"], baseline=False, baseline_columns=["x"])
    assert without.all_candidates() == ["a", BASELINE_COLUMNS]
    assert BASELINE_COLUMNS not in build_spec(data="d.csv", candidates=["a"]).all_candidates()


def test_the_columns_baseline_is_not_rejected_for_the_data_modality() -> None:
    meta = describe(resolve_candidate(BASELINE_COLUMNS, columns=listings(10).columns))
    assert meta.modality is None and meta.params is None
    for modality in ("text", "image"):
        assert check_meta(meta, Constraints(), is_baseline=True, modality=modality) is None


def test_the_loaded_encoder_learns_the_run_task() -> None:
    candidate = resolve_candidate(BASELINE_COLUMNS, columns=listings(10).columns)
    backend = get_backend(candidate.backend)
    encoder = backend.load(candidate, describe(candidate), LoadOptions(task="regression"))
    assert encoder.task == "regression" and not backend.dense_features and not backend.torch
