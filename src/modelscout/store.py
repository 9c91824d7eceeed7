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
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelscout.errors import UserError, one_line
from modelscout.records import Measurement

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 2  # kept in the file's header (``PRAGMA user_version``)
# MIGRATIONS[i] brings a store of version i to i + 1, each a list of statements. A store written
# before versions were kept has user_version 0 and the tables of version 1, which the first
# migration creates only where they are missing: an empty file and such a store take one path.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE IF NOT EXISTS measurements (
            key TEXT PRIMARY KEY, candidate TEXT NOT NULL, data TEXT NOT NULL, name TEXT NOT NULL,
            version TEXT NOT NULL, settings TEXT NOT NULL, value REAL, spread REAL, unit TEXT,
            seconds REAL, detail TEXT, created REAL NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS features (
            key TEXT PRIMARY KEY, candidate TEXT NOT NULL, data TEXT NOT NULL,
            array BLOB NOT NULL, created REAL NOT NULL
        )""",
    ),
    (  # 2: when each row was last read or written (``cache prune --older-than``), by candidate
        "ALTER TABLE measurements ADD COLUMN used REAL",
        "UPDATE measurements SET used = created",
        "ALTER TABLE features ADD COLUMN used REAL",
        "UPDATE features SET used = created",
        "CREATE INDEX IF NOT EXISTS measurements_candidate ON measurements (candidate, data)",
        "CREATE INDEX IF NOT EXISTS features_candidate ON features (candidate, data)",
    ),
)
assert len(MIGRATIONS) == SCHEMA_VERSION
TABLES = ("measurements", "features")
V1_COLUMNS = (  # the measurements table before versions were kept (version 1)
    "key",
    "candidate",
    "data",
    "name",
    "version",
    "settings",
    "value",
    "spread",
    "unit",
    "seconds",
    "detail",
    "created",
)
MEASUREMENT_COLUMNS = (
    "key, candidate, data, name, version, settings, value, spread, unit, seconds, detail, "
    "created, used"
)


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
    """Measurements and feature arrays keyed by what determines them.

    ``fresh_after`` (a ``time.time()``): rows created before it are not read, as if missing,
    so that a forced run measures everything again while what it wrote itself still counts.
    Several processes may use one file at once: every write is one ``BEGIN IMMEDIATE``
    transaction, which waits (up to ``BUSY_SECONDS``) for the others' instead of failing.
    """

    BUSY_SECONDS = 60.0

    def __init__(self, path: str | Path, *, fresh_after: float | None = None) -> None:
        self.path = Path(path)
        self.fresh_after = fresh_after or 0.0
        if self.path.is_dir():
            raise StoreError(
                f"the measurement store {self.path} is a folder; pass --store a file path, "
                f"such as {self.path / 'store.sqlite'}"
            )
        # One connection shared by the run's threads (model passes handed to a Ray cluster
        # from several at once): every use of it holds this lock.
        self._lock = threading.RLock()
        # keys read since the last ``touch``, by table: their ``used`` is written in one go
        self._touched: dict[str, set[str]] = {table: set() for table in TABLES}
        self._db: sqlite3.Connection | None = None
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        with self._guard():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: transactions are begun here, IMMEDIATE for every write
            self._db = sqlite3.connect(
                self.path, timeout=self.BUSY_SECONDS, check_same_thread=False, isolation_level=None
            )
            self._use_wal()
            self._migrate()
            # Damage in the measurements table shows now rather than mid-run; the check reads
            # that table only (milliseconds), not the feature arrays, which are checked as read.
            problems = self._db.execute("PRAGMA quick_check(measurements)").fetchall()
        if problems != [("ok",)]:
            raise self._damaged(problems[0][0])

    def _use_wal(self) -> None:
        """WAL mode (readers never wait for the writer), kept in the file once set. Setting it
        on a new file can fail at once with SQLITE_BUSY, without waiting, when another process
        sets it in the same instant (two runs starting on a new store): tried again meanwhile."""
        db = self._db
        assert db is not None
        deadline = time.monotonic() + self.BUSY_SECONDS
        while db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            try:
                db.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError as error:
                busy = "database is locked" in str(error)  # SQLITE_BUSY (3.10: no error code)
                if not busy or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _migrate(self) -> None:
        """Bring an older store to ``SCHEMA_VERSION`` in one transaction. Under the write
        lock the version is read again: of two processes opening an old store at once, one
        migrates and the other, waiting on the lock, then finds it done."""
        if self._version() == SCHEMA_VERSION:
            return
        with self._write():
            version = self._version()
            if version == 0:
                self._check_ours()
            for statements in MIGRATIONS[version:]:
                for statement in statements:
                    self._db.execute(statement)  # type: ignore[union-attr]
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")  # type: ignore[union-attr]

    def _check_ours(self) -> None:
        """A file without a version is a new store or one from before versions were kept;
        another program's database with a ``measurements`` table of its own is neither, and
        is left untouched."""
        found = self._db.execute("PRAGMA table_info(measurements)").fetchall()  # type: ignore[union-attr]
        columns = tuple(row[1] for row in found)
        if columns and columns != V1_COLUMNS:
            raise StoreError(
                f"{self.path} is not a modelscout measurement store (its measurements table "
                "has other columns); pass --store another path"
            )

    def _version(self) -> int:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]  # type: ignore[union-attr]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the measurement store {self.path} was written by a newer modelscout (store "
                f"version {version}; this one reads up to {SCHEMA_VERSION}); upgrade modelscout "
                "(pip install -U modelscout) or pass --store another path"
            )
        return version

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, begun IMMEDIATE: it takes the file's write lock first (waiting
        for another process's), so it never fails half-way as a deferred one that read before
        writing can under WAL (SQLITE_BUSY without waiting)."""
        db = self._db
        assert db is not None
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            if db.in_transaction:
                db.rollback()
            raise
        db.commit()

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
        """Write the ``used`` time of what was read (a failure there loses only that), close."""
        if self._db is None:
            return
        try:
            self.touch()
        except StoreError as error:
            logger.warning("%s", error)
        with self._lock:
            self._db.close()
            self._db = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def touch(self) -> None:
        """Mark the rows read since the last call as used now: one UPDATE per table in one
        transaction (``Ledger.reuse`` calls it per job), so reads stay plain SELECTs."""
        with self._guard():
            pending = {table: keys for table, keys in self._touched.items() if keys}
            if not pending:
                return
            now = time.time()
            with self._write() as db:
                for table, keys in pending.items():
                    db.executemany(
                        f"UPDATE {table} SET used = ? WHERE key = ?", [(now, k) for k in keys]
                    )
            for keys in pending.values():
                keys.clear()

    def _read(self, table: str, columns: str, key: str) -> tuple | None:
        """The row of ``key`` in ``table`` unless it was created before ``fresh_after``."""
        with self._guard():
            row = self._db.execute(  # type: ignore[union-attr]
                f"SELECT {columns} FROM {table} WHERE key = ? AND created >= ?",
                (key, self.fresh_after),
            ).fetchone()
            if row is not None:
                self._touched[table].add(key)
        return row

    def get(
        self, candidate: str, data: str, name: str, version: str, settings: dict[str, Any]
    ) -> Measurement | None:
        key = _key(candidate, data, name, version, settings)
        row = self._read("measurements", "value, spread, unit, seconds, detail", key)
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
        with self._guard(), self._write():
            self._insert(candidate, data, measurements)

    def _insert(self, candidate: str, data: str, measurements: tuple[Measurement, ...]) -> None:
        now = time.time()
        self._db.executemany(  # type: ignore[union-attr]
            f"INSERT OR REPLACE INTO measurements ({MEASUREMENT_COLUMNS}) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
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
                    now,
                    now,
                )
                for m in measurements
            ],
        )

    def get_features(self, candidate: str, data: str, version: str) -> np.ndarray | None:
        row = self._read("features", "array", _key(candidate, data, version))
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
        now = time.time()
        with self._guard(), self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO features (key, candidate, data, array, created, used) "
                "VALUES (?,?,?,?,?,?)",
                (_key(candidate, data, version), candidate, data, buffer.getvalue(), now, now),
            )
            self._insert(candidate, data, measurements)

    # -- what ``modelscout cache`` shows and removes ---------------------------------------------
    def usage(self) -> list[CandidateUsage]:
        """Per candidate key (most recently used first): its measurement rows, feature arrays,
        their bytes, data samples and last use."""
        return self._usage("1", ())

    def _usage(self, where: str, params: tuple) -> list[CandidateUsage]:
        with self._guard():
            rows = self._db.execute(  # type: ignore[union-attr]
                f"""SELECT candidate, SUM(measurement), SUM(1 - measurement), SUM(bytes),
                           COUNT(DISTINCT data), MAX(used)
                    FROM (SELECT candidate, data, used, 1 AS measurement,
                                 length(key) + length(settings) + IFNULL(length(detail), 0)
                                 + length(name) + 40 AS bytes
                          FROM measurements WHERE {where}
                          UNION ALL
                          SELECT candidate, data, used, 0, length(array) FROM features
                          WHERE {where})
                    GROUP BY candidate ORDER BY MAX(used) DESC, candidate""",
                params + params,
            ).fetchall()
        return [CandidateUsage(*row) for row in rows]

    def prune(self, selection: Selection, *, dry_run: bool = False) -> Pruned:
        """Remove the rows ``selection`` names (counted and deleted in one transaction, so a run
        writing meanwhile loses nothing it is not told of), then VACUUM so the file shrinks."""
        where, params = selection.sql()
        before = self.disk_bytes()
        if dry_run:
            return Pruned(self._usage(where, params), before, before)
        with self._guard(), self._write() as db:
            removed = self._usage(where, params)
            for table in TABLES:
                db.execute(f"DELETE FROM {table} WHERE {where}", params)
        blocked = False
        if removed:
            with self._guard():
                self._db.execute("VACUUM")  # type: ignore[union-attr]
                # the file shrinks once the log is copied back, which a reader in another
                # process can hold up: then it shrinks at a later checkpoint
                checkpoint = "PRAGMA wal_checkpoint(TRUNCATE)"
                blocked = self._db.execute(checkpoint).fetchone()[0] == 1  # type: ignore[union-attr]
        return Pruned(removed, before, self.disk_bytes(), blocked)

    def disk_bytes(self) -> int:
        """The store's size on disk: the file and its write-ahead log."""
        wal = self.path.with_name(self.path.name + "-wal")
        return sum(p.stat().st_size for p in (self.path, wal) if p.exists())


@dataclass
class CandidateUsage:
    """What the store holds for one candidate key (``modelscout cache ls``)."""

    candidate: str
    measurements: int
    features: int
    bytes: int  # of its arrays and measurement rows, before SQLite's page overhead
    samples: int  # distinct data samples (fingerprints) it was measured on
    used: float | None  # the last time a row of it was read or written (time.time())


@dataclass
class Selection:
    """Which rows ``cache prune`` removes: all of them, or those matching every filter given."""

    older_than: float | None = None  # seconds: rows no run has used for that long
    candidate: str | None = None  # candidate keys containing this text
    everything: bool = False

    def sql(self, now: float | None = None) -> tuple[str, tuple]:
        """The WHERE clause and its parameters."""
        if self.everything:
            return "1", ()
        clauses, params = [], []
        if self.older_than is not None:
            clauses.append("IFNULL(used, created) < ?")
            params.append((now or time.time()) - self.older_than)
        if self.candidate is not None:
            clauses.append("instr(candidate, ?) > 0")  # a substring, no LIKE wildcards
            params.append(self.candidate)
        if not clauses:
            raise UserError("say what to prune: --older-than (30d, 12h), --candidate TEXT or --all")
        return " AND ".join(clauses), tuple(params)


@dataclass
class Pruned:
    """What ``Store.prune`` removed (or, dry, would remove), and the file's size around it."""

    removed: list[CandidateUsage]
    bytes_before: int
    bytes_after: int
    blocked: bool = False  # another process was reading: the file shrinks later


def open_existing(path: str | Path) -> Store:
    """The store at ``path`` for ``modelscout cache``, which never creates one."""
    path = Path(path)
    if not path.is_file():
        raise StoreError(
            f"there is no measurement store at {path}; pass --store the path that "
            "'modelscout rank' used (default: $MODELSCOUT_STORE or ~/.cache/modelscout)"
        )
    return Store(path)
