import sqlite3
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from modelscout.cli import app
from modelscout.records import Measurement
from modelscout.store import Store, StoreError


def test_measurements_and_features_round_trip_and_are_keyed_by_settings(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        store.put_features(
            "cand",
            "data",
            "1",
            np.arange(6, dtype=np.float32).reshape(2, 3),
            Measurement("latency.p95_ms@1", 4.2, "ms", settings={"batch": 1}),
        )
        store.put(
            "cand",
            "data",
            Measurement(
                "probe.macro_f1",
                0.8,
                "fraction",
                0.01,
                {"folds": 5},
                detail={"per_class_f1": {"a": 1.0}},
            ),
        )
    with Store(tmp_path / "s.sqlite") as store:
        found = store.get("cand", "data", "probe.macro_f1", "1", {"folds": 5})
        assert (found.value, found.spread, found.reused) == (0.8, 0.01, True)
        assert found.detail == {"per_class_f1": {"a": 1.0}}
        assert store.get("cand", "data", "probe.macro_f1", "1", {"folds": 3}) is None
        assert store.get("cand", "other-data", "probe.macro_f1", "1", {"folds": 5}) is None
        assert store.get("cand", "data", "latency.p95_ms@1", "1", {"batch": 1}).value == 4.2
        assert store.get_features("cand", "data", "1").tolist() == [[0, 1, 2], [3, 4, 5]]
        assert store.get_features("cand", "data", "2") is None


def write_real_store(path, candidates=200):
    """A store with enough rows to span many pages, as a real run leaves it."""
    with Store(path) as store:
        for index in range(candidates):
            store.put_features(
                f"cand-{index}",
                "data",
                "1",
                np.full((4, 8), index, dtype=np.float32),
                Measurement("probe.macro_f1", index / candidates, detail={"per_class_f1": {}}),
            )
    return path


def test_garbage_store_file_says_it_is_damaged_and_how_to_get_past_it(tmp_path):
    path = tmp_path / "store.sqlite"
    path.write_bytes(b"this is not SQLite, " * 400)
    with pytest.raises(StoreError, match="is damaged .*move it aside.*--store") as error:
        Store(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_truncated_store_says_it_is_damaged(tmp_path):
    path = write_real_store(tmp_path / "store.sqlite")
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size // 2)
    with pytest.raises(StoreError, match="is damaged"):
        Store(path)


def test_store_path_that_is_a_folder_asks_for_a_file_path(tmp_path):
    with pytest.raises(StoreError, match=r"is a folder; pass --store a file path"):
        Store(tmp_path)


def test_store_under_a_file_that_is_not_a_folder_cannot_be_created(tmp_path):
    (tmp_path / "somefile").write_text("x")
    # a regular file where a folder should be: not even root can write there
    with pytest.raises(StoreError, match=r"cannot create the measurement store .*--store"):
        Store(tmp_path / "somefile" / "store.sqlite")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux's /proc")
def test_store_in_a_read_only_location_asks_for_a_writable_one():
    with pytest.raises(StoreError, match=r"cannot use the measurement store .*another path"):
        Store("/proc/self/store.sqlite")  # procfs takes no new files, not even from root


def test_row_that_cannot_be_decoded_is_a_damaged_store_not_a_crash(tmp_path):
    path = write_real_store(tmp_path / "store.sqlite", candidates=2)
    db = sqlite3.connect(path)
    with db:
        db.execute("UPDATE measurements SET detail = '{\"cut off'")
        db.execute("UPDATE features SET array = ?", (b"\x93NUMPY garbage",))
    db.close()
    with Store(path) as store:
        with pytest.raises(StoreError, match="is damaged .*not JSON"):
            store.get("cand-0", "data", "probe.macro_f1", "1", {})
        with pytest.raises(StoreError, match="is damaged .*array cannot be read"):
            store.get_features("cand-0", "data", "1")


def assert_one_line_store_error(result, path, fragment):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("error: ") and fragment in " ".join(lines), result.stderr
    assert str(path) in result.stderr


@pytest.mark.parametrize("kind", ["garbage", "folder", "under-a-file"])
def test_rank_with_an_unusable_store_is_one_line_and_exit_code_2(tmp_path, small_csv, kind):
    if kind == "garbage":
        store = tmp_path / "store.sqlite"
        store.write_bytes(b"\x00garbage" * 1000)
    elif kind == "folder":
        store = tmp_path
    else:
        (tmp_path / "somefile").write_text("x")
        store = tmp_path / "somefile" / "store.sqlite"
    args = ["rank", "--data", small_csv, "--store", store, "--output", tmp_path / "out", "-q"]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert_one_line_store_error(result, store, "--store")


def test_rerun_on_a_store_damaged_since_is_one_line_not_a_failed_candidate(tmp_path, small_csv):
    store, out = tmp_path / "store.sqlite", tmp_path / "out"
    args = [str(a) for a in ("rank", "--data", small_csv, "--store", store, "--output", out, "-q")]
    assert CliRunner().invoke(app, args).exit_code == 0
    db = sqlite3.connect(store)
    with db:  # every stored detail, as a disk error or a partial write might leave it
        db.execute("UPDATE measurements SET detail = 'not json' WHERE detail IS NOT NULL")
    db.close()
    (out / "results.json").unlink()
    result = CliRunner().invoke(app, args)
    assert_one_line_store_error(result, store, "is damaged")
    assert not (out / "results.json").exists(), "a run on a damaged store wrote results"
