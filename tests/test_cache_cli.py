"""``modelscout cache ls`` and ``modelscout cache prune`` on real store files."""

import json
import sqlite3
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from modelscout.cli import app
from modelscout.records import Measurement
from modelscout.store import Store

DAY = 86400.0
OLD, NEW, ODD = "folder:sha256:0ld", "hub:0123abcd+layers:3", "python:evil\x1b[31mred"


def cache(*args):
    return CliRunner().invoke(app, ["cache", *map(str, args)])


@pytest.fixture
def store(tmp_path):
    """Three candidate keys: OLD (two data samples, last used 40 days ago), NEW and ODD (a
    name with a terminal control sequence); each with 1 MB feature arrays."""
    path = tmp_path / "store.sqlite"
    with Store(path) as opened:
        for key, samples in ((OLD, 2), (NEW, 1), (ODD, 1)):
            for sample in range(samples):
                array = np.random.default_rng(sample).random((512, 256))  # 1 MB, incompressible
                opened.put_features(key, f"data{sample}", "1", array, Measurement("load_s", 1.0))
                opened.put(key, f"data{sample}", Measurement("probe.macro_f1", 0.5))
    db = sqlite3.connect(path)
    with db:
        for table in ("measurements", "features"):
            query = f"UPDATE {table} SET used = ? WHERE candidate = ?"
            db.execute(query, (time.time() - 40 * DAY, OLD))
    db.close()
    return path


def listed(path):
    result = cache("ls", "--store", path, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_ls_shows_each_candidate_key_with_rows_arrays_size_samples_and_last_use(store):
    found = listed(store)
    rows = {row["candidate"]: row for row in found["candidates"]}
    assert set(rows) == {OLD, NEW, ODD}
    assert (rows[OLD]["measurements"], rows[OLD]["features"], rows[OLD]["samples"]) == (4, 2, 2)
    assert rows[OLD]["bytes"] > 2 * 2**20 and 2**20 < rows[NEW]["bytes"] < 1.1 * 2**20
    assert rows[OLD]["last_used"] < rows[NEW]["last_used"]  # ISO 8601, UTC: they sort
    assert found["totals"]["measurements"] == 8 and found["totals"]["features"] == 4
    assert found["file_bytes"] > 4 * 2**20
    table = cache("ls", "--store", store)
    assert table.exit_code == 0 and "\x1b" not in table.stdout
    assert OLD in table.stdout and "3 candidate key(s), 8 measurement(s)" in table.stdout


def test_prune_older_than_removes_what_no_run_used_since_and_the_file_shrinks(store):
    dry = cache("prune", "--older-than", "30d", "--dry-run", "--store", store)
    assert dry.exit_code == 0 and "Would remove 4 measurement(s) and 2 feature" in dry.stdout
    assert len(listed(store)["candidates"]) == 3
    before = store.stat().st_size
    result = cache("prune", "--older-than", "30d", "--store", store, "--json")
    assert result.exit_code == 0, result.output
    pruned = json.loads(result.stdout)
    assert [row["candidate"] for row in pruned["removed"]] == [OLD]
    assert pruned["file_bytes_before"] >= before
    assert pruned["file_bytes_after"] < before - 2 * 2**20  # VACUUMed, the log truncated
    assert store.stat().st_size == pruned["file_bytes_after"]
    assert {row["candidate"] for row in listed(store)["candidates"]} == {NEW, ODD}
    db = sqlite3.connect(store)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()


def test_a_row_read_by_a_run_counts_as_used(store):
    with Store(store) as opened:  # as a rerun reads it (Ledger.reuse touches, close too)
        assert opened.get(OLD, "data0", "probe.macro_f1", "1", {}).value == 0.5
    result = cache("prune", "--older-than", "30d", "--store", store, "--json")
    removed = json.loads(result.stdout)["removed"]
    # only what was not read: the other sample's rows and the first one's features
    assert [(r["candidate"], r["measurements"], r["features"]) for r in removed] == [(OLD, 3, 2)]


def test_prune_by_candidate_text_and_all(store):
    result = cache("prune", "--candidate", "layers:3", "--store", store)
    assert result.exit_code == 0 and "Removed 2 measurement(s) and 1 feature" in result.stdout
    assert {row["candidate"] for row in listed(store)["candidates"]} == {OLD, ODD}
    assert "\x1b" not in cache("prune", "--candidate", "python:", "--store", store).stdout
    assert cache("prune", "--candidate", "%", "--store", store).stdout.startswith("Nothing")
    assert cache("prune", "--all", "--store", store).exit_code == 0
    assert listed(store)["candidates"] == []


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "say what to prune: --older-than"),
        (["--all", "--candidate", "x"], "--all removes every row: pass it alone"),
        (["--older-than", "30 days"], "is not a duration; write a number and a unit"),
        (["--candidate", " "], "--candidate is empty, which would match every row"),
    ],
)
def test_prune_without_a_clear_selection_is_one_line_and_removes_nothing(store, args, message):
    result = cache("prune", *args, "--store", store)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert len(listed(store)["candidates"]) == 3


@pytest.mark.parametrize("command", [["ls"], ["prune", "--all"]])
def test_a_missing_store_is_one_line_and_not_created(tmp_path, command):
    path = tmp_path / "missing.sqlite"
    result = cache(*command, "--store", path)
    assert result.exit_code == 2 and "there is no measurement store at" in result.stderr
    assert not path.exists()


def test_ls_defaults_to_the_store_rank_uses(store, monkeypatch):
    monkeypatch.setenv("MODELSCOUT_STORE", str(store))
    result = CliRunner().invoke(app, ["cache", "ls", "--json"])
    assert result.exit_code == 0 and len(json.loads(result.stdout)["candidates"]) == 3
