"""The store's schema version and migrations, and many processes and threads writing to one
store file at once: real SQLite files, real processes."""

import hashlib
import io
import json
import multiprocessing
import sqlite3
import threading

import numpy as np
import pytest
from typer.testing import CliRunner

from modelscout.cli import app
from modelscout.records import Measurement
from modelscout.store import SCHEMA_VERSION, Selection, Store, StoreError

# The schema modelscout wrote before the store kept a version (version 1), as it was.
SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS measurements (
    key TEXT PRIMARY KEY, candidate TEXT NOT NULL, data TEXT NOT NULL, name TEXT NOT NULL,
    version TEXT NOT NULL, settings TEXT NOT NULL, value REAL, spread REAL, unit TEXT,
    seconds REAL, detail TEXT, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS features (
    key TEXT PRIMARY KEY, candidate TEXT NOT NULL, data TEXT NOT NULL,
    array BLOB NOT NULL, created REAL NOT NULL
);
"""


def v1_key(*parts):
    """The row key as version 1 computed it: a store migrated keeps finding its rows."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def write_v1_store(path, candidates=3):
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(SCHEMA_V1)
    with db:
        for index in range(candidates):
            cand = f"folder:sha{index}"
            db.execute(
                "INSERT INTO measurements VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    v1_key(cand, "data", "probe.macro_f1", "1", {"folds": 5}),
                    *(cand, "data", "probe.macro_f1", "1", json.dumps({"folds": 5})),
                    *(0.5 + index / 10, 0.01, "fraction", 1.5, json.dumps({"n": index})),
                    1000.0 + index,
                ),
            )
            buffer = io.BytesIO()
            np.save(buffer, np.full((2, 3), index, dtype=np.float32))
            db.execute(
                "INSERT INTO features VALUES (?,?,?,?,?)",
                (v1_key(cand, "data", "1"), cand, "data", buffer.getvalue(), 1000.0 + index),
            )
    db.close()
    return path


def test_a_version_1_store_is_migrated_and_keeps_every_row(tmp_path):
    path = write_v1_store(tmp_path / "old.sqlite")
    with Store(path) as store:
        for index in range(3):
            found = store.get(f"folder:sha{index}", "data", "probe.macro_f1", "1", {"folds": 5})
            assert (found.value, found.detail) == (0.5 + index / 10, {"n": index})
            features = store.get_features(f"folder:sha{index}", "data", "1")
            assert features.tolist() == [[index] * 3] * 2
        usage = {u.candidate: u for u in store.usage()}
    assert usage["folder:sha1"].measurements == usage["folder:sha1"].features == 1
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    indexes = {row[1] for row in db.execute("SELECT * FROM sqlite_master WHERE type = 'index'")}
    assert {"measurements_candidate", "features_candidate"} <= indexes
    # the migration starts ``used`` at ``created``; reading the rows above used them now
    used = dict(db.execute("SELECT candidate, used FROM measurements"))
    assert all(value > 1e9 for value in used.values())
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()


def _open_and_report(path, barrier, results):
    barrier.wait(timeout=60)
    try:
        with Store(path) as store:
            results.put(store.get("folder:sha0", "data", "probe.macro_f1", "1", {"folds": 5}).value)
    except Exception as error:  # reported to the test, which fails on it
        results.put(repr(error))


def test_processes_opening_an_old_store_at_once_migrate_it_once(tmp_path):
    path = write_v1_store(tmp_path / "old.sqlite")
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(4), context.Queue()
    processes = [
        context.Process(target=_open_and_report, args=(path, barrier, results)) for _ in range(4)
    ]
    for process in processes:
        process.start()
    found = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=30)
        if process.exitcode is None:
            process.kill()
    assert found == [0.5] * 4, found  # a second migration would fail: duplicate column
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.close()


def test_a_store_of_a_newer_modelscout_asks_to_upgrade_and_is_left_alone(tmp_path, small_csv):
    path = tmp_path / "new.sqlite"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer modelscout .*upgrade modelscout.*--store") as error:
        Store(path)
    assert "\n" not in str(error.value)
    args = ["rank", "--data", small_csv, "--store", path, "--output", tmp_path / "out", "-q"]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.startswith("error: ") and "newer modelscout" in result.stderr
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    db.close()


def test_another_programs_database_is_not_taken_for_a_store_nor_changed(tmp_path):
    path = tmp_path / "theirs.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE measurements (id INTEGER PRIMARY KEY, reading REAL)")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="is not a modelscout measurement store") as error:
        Store(path)
    assert "\n" not in str(error.value)
    db = sqlite3.connect(path)
    columns = [row[1] for row in db.execute("PRAGMA table_info(measurements)")]
    assert columns == ["id", "reading"]
    assert db.execute("PRAGMA user_version").fetchone()[0] == 0
    db.close()


WRITERS, THREADS, ROWS = 4, 3, 25


def _write_rows(path, writer, barrier):
    """``THREADS`` threads of this process, each writing ``ROWS`` candidates' features with
    their measurements and then one more measurement, all on one Store (its shared connection)
    while the other processes write theirs."""
    barrier.wait(timeout=60)  # all open the new file at once
    store, errors = Store(path), []

    def work(thread):
        try:
            write(thread)
        except Exception as error:  # "database is locked", say: the process fails with it
            errors.append(error)

    def write(thread):
        for row in range(ROWS):
            cand, array = f"w{writer}-t{thread}-r{row}", np.full((16, 8), row, dtype=np.float32)
            store.put_features(cand, "data", "1", array, Measurement("load_s", row))
            assert store.get_features(cand, "data", "1") is not None  # read, then write again
            store.put(cand, "data", Measurement("probe.macro_f1", row / ROWS))
            store.touch()

    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store.close()
    if errors:
        raise SystemExit(f"writer {writer}: {errors[0]!r}")


def _prune_nothing(path, barrier):
    """Meanwhile, ``cache prune`` reading then deleting (here: no row) in one transaction."""
    barrier.wait(timeout=60)
    with Store(path) as store:
        for _ in range(ROWS):
            store.prune(Selection(candidate="no such key"))


def test_processes_and_threads_writing_one_store_lose_nothing(tmp_path):
    path = tmp_path / "shared.sqlite"  # created by the writers themselves, all at once
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WRITERS + 1)
    processes = [
        context.Process(target=_write_rows, args=(path, w, barrier)) for w in range(WRITERS)
    ] + [context.Process(target=_prune_nothing, args=(path, barrier))]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
        if process.exitcode is None:  # stuck: ended, and the test fails below
            process.kill()
    assert [p.exitcode for p in processes] == [0] * (WRITERS + 1)  # errors are on stderr
    db = sqlite3.connect(path)
    expected = WRITERS * THREADS * ROWS
    assert db.execute("SELECT COUNT(*) FROM features").fetchone()[0] == expected
    assert db.execute("SELECT COUNT(*) FROM measurements").fetchone()[0] == 2 * expected
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
    with Store(path) as store:
        assert store.get("w3-t2-r24", "data", "probe.macro_f1", "1", {}).value == 24 / ROWS
