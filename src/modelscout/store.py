"""SQLite cache of measurements and features: the only persistence.

Each row's key is a hash of everything that determines its value: the
candidate (revision and variants), the data sample's fingerprint, the
measurement's name and version, and its settings. Rows are committed as soon
as they are computed, so an interrupted run loses at most the measurement in
flight, and a rerun recomputes only what is missing.

A store that cannot be used (not SQLite, damaged, a folder, not writable) raises
``StoreError``, a ``UserError``: one line naming the file and the way out, never a failed
candidate or a value read wrong.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from modelscout.errors import UserError, one_line
from modelscout.records import Measurement

SCHEMA = """
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


def default_store_path() -> Path:
    """``$MODELSCOUT_STORE``, else ``$XDG_CACHE_HOME/modelscout/store.sqlite``."""
    if os.environ.get("MODELSCOUT_STORE"):
        return Path(os.environ["MODELSCOUT_STORE"])
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "modelscout" / "store.sqlite"


class StoreError(UserError):
    """The store file cannot be opened, read or written."""


def _key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


class Store:
    """Measurements and feature arrays keyed by what determines them."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise StoreError(
                f"the measurement store {self.path} is a folder; pass --store a file path, "
                f"such as {self.path / 'store.sqlite'}"
            )
        # One connection shared by the run's threads (model passes handed to a Ray cluster
        # from several at once): every use of it holds this lock.
        self._lock = threading.RLock()
        with self._guard():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(SCHEMA)
            # Damage in the measurements table shows now rather than mid-run; the check reads
            # that table only (milliseconds), not the feature arrays, which are checked as read.
            problems = self._db.execute("PRAGMA quick_check(measurements)").fetchall()
        if problems != [("ok",)]:
            self.close()
            raise self._damaged(problems[0][0])

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """SQLite's and the file system's errors as a ``StoreError`` that says what to do; the
        connection is this thread's alone meanwhile."""
        try:
            with self._lock:
                yield
        except sqlite3.OperationalError as error:  # cannot open, read-only, locked, disk full
            raise StoreError(
                f"cannot use the measurement store {self.path} ({one_line(error)}); "
                "check that you can write there, or pass --store another path"
            ) from None
        except sqlite3.DatabaseError as error:  # not a database, or a damaged one
            raise self._damaged(str(error)) from None
        except OSError as error:  # its folder cannot be made (a file is in the way, say)
            raise StoreError(
                f"cannot create the measurement store {self.path} ({one_line(error)}); "
                "pass --store a file in a folder you can write to"
            ) from None

    def _damaged(self, why: str) -> StoreError:
        return StoreError(
            f"the measurement store {self.path} is damaged ({why}); move it aside "
            "(the next run starts an empty one) or pass --store another path"
        )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(
        self, candidate: str, data: str, name: str, version: str, settings: dict[str, Any]
    ) -> Measurement | None:
        with self._guard():
            row = self._db.execute(
                "SELECT value, spread, unit, seconds, detail FROM measurements WHERE key = ?",
                (_key(candidate, data, name, version, settings),),
            ).fetchone()
        if row is None:
            return None
        value, spread, unit, seconds, detail = row
        try:
            decoded = json.loads(detail) if detail else None
        except (ValueError, TypeError) as error:
            raise self._damaged(f"the detail of {name} is not JSON: {one_line(error)}") from None
        return Measurement(
            name,
            value,
            unit,
            spread,
            settings,
            seconds,
            version,
            decoded,
            reused=True,
        )

    def put(self, candidate: str, data: str, *measurements: Measurement) -> None:
        """Persist measurements in one transaction."""
        with self._guard(), self._db:
            self._insert(candidate, data, measurements)

    def _insert(self, candidate: str, data: str, measurements: tuple[Measurement, ...]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO measurements VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    _key(candidate, data, m.name, m.version, m.settings),
                    candidate,
                    data,
                    m.name,
                    m.version,
                    json.dumps(m.settings, sort_keys=True),
                    m.value,
                    m.spread,
                    m.unit,
                    m.seconds,
                    json.dumps(m.detail) if m.detail is not None else None,
                    time.time(),
                )
                for m in measurements
            ],
        )

    def get_features(self, candidate: str, data: str, version: str) -> np.ndarray | None:
        with self._guard():
            row = self._db.execute(
                "SELECT array FROM features WHERE key = ?", (_key(candidate, data, version),)
            ).fetchone()
        if row is None:
            return None
        try:
            return np.load(io.BytesIO(row[0]), allow_pickle=False)
        except (ValueError, TypeError, OSError, EOFError) as error:  # not an .npy any more
            raise self._damaged(f"a stored array cannot be read: {one_line(error)}") from None

    def put_features(
        self, candidate: str, data: str, version: str, array: np.ndarray, *measurements: Measurement
    ) -> None:
        """Persist features together with the measurements taken on the same pass."""
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        with self._guard(), self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO features VALUES (?,?,?,?,?)",
                (_key(candidate, data, version), candidate, data, buffer.getvalue(), time.time()),
            )
            self._insert(candidate, data, measurements)
