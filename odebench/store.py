"""The results store: one SQLite file (WAL mode) under the results directory.

Each finished attempt of a run is written in one transaction (its ``runs`` row and all its
``epochs`` rows together), so a killed driver leaves either the whole attempt or nothing, and
several drivers can write to the same store at once. Config, metrics and machine are JSON
columns, so the schema does not change when a plugin adds a metric.

``Database`` is the file (where it is, whether it can be written, connections, the schema
and its version); ``Store`` adds the writes and the queries on top of it.

A store that cannot be read is never taken for an empty one: every SQLite or file-system
error becomes a one-line ``StoreError`` naming the file and the cause (disk full, read-only,
locked, not a database, newer schema). A run is represented by its latest *finished* attempt
(done, diverged, skipped) when it has one, else by its latest attempt, so a forced rerun that
failed or was interrupted does not hide the earlier result.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .types import FINISHED, OdebenchError, Outcome

FILENAME = "odebench.sqlite"
BUSY_SECONDS = 120  # how long a writer waits for another driver's transaction
# PRAGMA user_version of the store. 0: the unversioned store of odebench <= 0.1 (runs and
# epochs; readable as it is, migrated on the first write); 1: adds the claims table.
SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    suite TEXT NOT NULL,
    run_key TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    traceback TEXT,
    config TEXT NOT NULL,
    metrics TEXT NOT NULL,
    machine TEXT NOT NULL,
    code_version TEXT,
    executor TEXT,
    started_at REAL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS runs_by_key ON runs (suite, run_key);
CREATE TABLE IF NOT EXISTS epochs (
    run_id INTEGER NOT NULL REFERENCES runs (id),
    epoch INTEGER NOT NULL,
    metrics TEXT NOT NULL,
    PRIMARY KEY (run_id, epoch)
);
CREATE TABLE IF NOT EXISTS claims (
    suite TEXT NOT NULL,
    run_key TEXT NOT NULL,
    holder TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    claimed_at REAL NOT NULL,
    heartbeat REAL NOT NULL,
    PRIMARY KEY (suite, run_key)
);
CREATE INDEX IF NOT EXISTS runs_by_time ON runs (suite, run_key, started_at);
"""
# The id of the attempt that stands for each run (see the module docstring).
_FINISHED_SQL = ", ".join(f"'{s}'" for s in sorted(FINISHED))
REPRESENTATIVE = (f"SELECT COALESCE(MAX(CASE WHEN status IN ({_FINISHED_SQL}) THEN id END), MAX(id))"
                  " FROM runs {where} GROUP BY suite, run_key")


class StoreError(OdebenchError):
    """The results store cannot be read or written (message: the file, the cause, the fix)."""


def _filesystem_cause(directory: Path) -> str | None:
    """What the file system says is wrong with a folder: full, read-only, missing."""
    try:
        stats = os.statvfs(directory)
    except OSError:
        return "its folder is missing"
    if stats.f_flag & getattr(os, "ST_RDONLY", 1):
        return "read-only file system"
    if stats.f_bavail == 0 or (stats.f_files and stats.f_favail == 0):
        return "disk full"
    return None


FIXES = {
    "disk full": "free space on its disk, then rerun",
    "read-only": "make it writable, or copy the results folder elsewhere and pass --results DIR",
    "locked": "another process holds it; retry when that is done",
    "not a database": "it is not an odebench store: move it away (or restore it from a backup) and rerun",
    "corrupt": "move it away (or restore it from a backup) and rerun",
    "it is a folder, not a file": "move it away and rerun",
}


def store_error(path: Path, exc: BaseException, doing: str = "read") -> StoreError:
    """A one-line error for an SQLite/OS error on the store at ``path``: the file, the real
    cause (asking the file system when SQLite only says "disk I/O error" or "unable to open")
    and what to do."""
    text = str(exc) if not isinstance(exc, OSError) else (exc.strerror or str(exc))
    name = getattr(exc, "sqlite_errorname", "") or ""
    errno_ = getattr(exc, "errno", None)
    if name.startswith("SQLITE_FULL") or "disk is full" in text or errno_ == 28:
        cause = "disk full"
    elif name.startswith("SQLITE_READONLY") or "readonly" in text or errno_ == 30:
        cause = "read-only"
    elif name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
        cause = "locked"
    elif name == "SQLITE_NOTADB" or "not a database" in text:
        cause = "not a database"
    elif name.startswith("SQLITE_CORRUPT") or "malformed" in text:
        cause = "corrupt"
    elif path.is_dir():
        cause = "it is a folder, not a file"
    else:
        found = _filesystem_cause(path.parent)
        cause = {"read-only file system": "read-only"}.get(found or "", found or "")
    label = {"read-only": "read-only", "locked": f"locked by another process for {BUSY_SECONDS} s",
             "not a database": "not an SQLite database", "corrupt": "corrupt"}.get(cause, cause)
    detail = f"{label} ({text})" if label and label not in text else text
    fix = FIXES.get(cause, "check the file and its folder, then rerun")
    return StoreError(f"results store {str(path)!r} cannot be {doing}: {detail}; {fix}")


def _json(value: Any) -> str:
    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(value), sort_keys=True)


class Database:
    """The SQLite file of a results directory: connections, the schema, write access."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self.path = self.directory / FILENAME
        self._ready = False  # schema created by this object already
        self._file_id: tuple[int, int] | None = None  # the file ``open`` found

    def check_writable(self) -> None:
        """Raise a one-line OdebenchError when results cannot be written here. Probes by
        creating (and removing) a file, which also holds for root and read-only mounts;
        creates nothing that stays."""
        d = self.directory
        existing = d
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        fix = "pass --results DIR with a writable folder"
        if not existing.is_dir():
            raise OdebenchError(f"results directory {str(d)!r} cannot be created: {str(existing)!r} "
                                f"is not a directory; {fix}")
        try:
            fd, probe = tempfile.mkstemp(prefix=".odebench-probe-", dir=existing)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise OdebenchError(f"results directory {str(d)!r} is not writable "
                                f"({exc.strerror or exc}); {fix}") from None
        if self.path.exists():
            try:
                with open(self.path, "r+b"):
                    pass
            except OSError as exc:
                raise OdebenchError(f"results store {str(self.path)!r} is not writable "
                                    f"({exc.strerror or exc}); fix its permissions or {fix}") from None

    @contextmanager
    def connect(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        """A connection (autocommit; BEGIN explicitly). With ``write``, the schema is created
        or migrated first. Every SQLite error but IntegrityError (a bug in what was written)
        becomes a StoreError naming the file and its cause."""
        if write:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise store_error(self.path, exc, "written") from None
        elif not self.path.exists():
            raise StoreError(f"no results store at {str(self.path)!r}; run a suite first or pass --results DIR")
        doing = "written" if write else "read"
        try:
            conn = sqlite3.connect(self._address(write), timeout=BUSY_SECONDS, isolation_level=None,
                                   uri=True)
        except sqlite3.Error as exc:
            raise store_error(self.path, exc, doing) from None
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_SECONDS * 1000}")
            if write and not self._ready:
                self._initialise(conn)
            else:
                self._check_version(conn)
            yield conn
        except sqlite3.IntegrityError:  # a bug in what was written, not a broken store
            raise
        except sqlite3.DatabaseError as exc:
            raise store_error(self.path, exc, doing) from None
        finally:
            conn.close()

    def _address(self, write: bool) -> str:
        """The SQLite URI of the file. A store on a read-only file system is opened immutable
        for reading (WAL mode would need to create its -shm file there), unless a -wal file
        holds writes not yet in the main file: those would be missed, so it is opened as
        usual and fails with its cause. Once ``open`` found the file, writes never create one."""
        uri = "file:" + urllib.parse.quote(str(self.path.absolute()))
        if write and self._file_id is not None:
            return uri + "?mode=rw"  # opened already: never create a new file if it was deleted
        if not write and _filesystem_cause(self.directory) == "read-only file system":
            wal = self.path.with_name(self.path.name + "-wal")
            if not wal.exists() or wal.stat().st_size == 0:
                return uri + "?immutable=1"
        return uri

    def _check_version(self, conn: sqlite3.Connection) -> int:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(f"results store {str(self.path)!r} has schema version {version}, newer than "
                             f"this odebench understands ({SCHEMA_VERSION}); upgrade odebench, or pass "
                             "--results DIR for a store of its own")
        return version

    def _initialise(self, conn: sqlite3.Connection) -> None:
        """Switch to WAL, then create the tables or migrate an older store to SCHEMA_VERSION,
        in one transaction, retrying while another driver holds the lock (switching the
        journal mode gives up at once instead of waiting on busy_timeout)."""
        deadline = time.monotonic() + BUSY_SECONDS
        while True:
            try:
                self._check_version(conn)  # refuse a newer store before changing anything
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("BEGIN IMMEDIATE")
                try:
                    self._check_version(conn)
                    # Version 0 -> 1 only adds tables and an index: the same statements create
                    # a new store and migrate an old one.
                    for statement in SCHEMA.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self._ready = True

    def open(self) -> None:
        """Open the store for a driver before anything runs: check it can be written, create
        or migrate it (a newer schema is refused here), and remember which file it is, so
        that a store deleted or replaced during the suite is noticed (``check_same_file``)."""
        self.check_writable()
        with self.connect(write=True):
            pass
        self._file_id = _identity(self.path)

    def check_same_file(self) -> None:
        """Raise StoreError when the store opened by ``open`` was deleted or replaced since."""
        expected = self._file_id
        if expected is None:
            return
        now = _identity(self.path)
        if now is None:
            raise StoreError(f"results store {str(self.path)!r} was deleted while the suite ran; "
                             "restore it (or rerun to start a new one)")
        if now != expected:
            raise StoreError(f"results store {str(self.path)!r} was replaced by another file while "
                             "the suite ran; put the original back, or rerun to use the new one")


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        stats = path.stat()
    except OSError:
        return None
    return stats.st_dev, stats.st_ino


def attempt_record(config: dict[str, Any], key: str, outcome: Outcome, code_version: str,
                   executor: str = "local") -> dict[str, Any]:
    """One attempt as a plain JSON-able dict, the unit the store, ``attempts.jsonl`` and the
    pending folder share (``finished_at`` filled in, so the record identifies its attempt)."""
    return {
        "suite": config["suite"], "run_key": key, "status": outcome["status"],
        "reason": outcome.get("reason"), "traceback": outcome.get("traceback"), "config": config,
        "metrics": outcome.get("metrics", {}), "machine": outcome.get("machine", {}),
        "code_version": code_version, "executor": executor,
        "started_at": outcome.get("started_at"), "finished_at": outcome.get("finished_at", time.time()),
        "epochs": outcome.get("epochs", []),
    }


def _has_attempt(conn: sqlite3.Connection, record: dict[str, Any]) -> bool:
    """Whether the store holds this attempt already: same run, status, start and end time."""
    return conn.execute(
        "SELECT 1 FROM runs WHERE suite = ? AND run_key = ? AND started_at IS ? AND finished_at IS ?"
        " AND status = ? LIMIT 1",
        (record["suite"], record["run_key"], record.get("started_at"), record.get("finished_at"),
         record["status"]),
    ).fetchone() is not None


def _insert_record(conn: sqlite3.Connection, record: dict[str, Any]) -> int:
    """Insert one attempt and its epochs (the caller holds the transaction); returns the id."""
    cur = conn.execute(
        "INSERT INTO runs (suite, run_key, status, reason, traceback, config, metrics,"
        " machine, code_version, executor, started_at, finished_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (record["suite"], record["run_key"], record["status"], record.get("reason"),
         record.get("traceback"), _json(record["config"]), _json(record.get("metrics") or {}),
         _json(record.get("machine") or {}), record.get("code_version"), record.get("executor"),
         record.get("started_at"), record.get("finished_at")),
    )
    run_id = cur.lastrowid
    conn.executemany(
        "INSERT INTO epochs (run_id, epoch, metrics) VALUES (?, ?, ?)",
        [(run_id, e["epoch"], _json(e)) for e in record.get("epochs") or []],
    )
    return run_id


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _epochs_of(conn: sqlite3.Connection, ids: list[int]) -> dict[int, list]:
    """The epochs of the given runs, by run id, in epoch order."""
    epochs: dict[int, list] = {}
    for chunk in range(0, len(ids), 500):  # SQLite caps the number of ? in one statement
        part = ids[chunk:chunk + 500]
        for e in conn.execute(
            f"SELECT run_id, metrics FROM epochs WHERE run_id IN ({','.join('?' * len(part))})"
            " ORDER BY run_id, epoch", part):
            epochs.setdefault(e[0], []).append(json.loads(e[1]))
    return epochs


def _decode(row: sqlite3.Row, epochs: dict[int, list]) -> dict[str, Any]:
    item = dict(row)
    for column in ("config", "metrics", "machine"):
        item[column] = json.loads(item[column])
    item["epochs"] = epochs.get(item["id"], [])
    return item


class Store(Database):
    """The results store: attempts written whole; each run read back as the attempt that
    stands for it (see ``REPRESENTATIVE``)."""

    def add(self, config: dict[str, Any], key: str, outcome: Outcome, code_version: str,
            executor: str = "local") -> int:
        """Write one attempt of a run and its epochs atomically; returns the row id."""
        return self.add_record(attempt_record(config, key, outcome, code_version, executor))

    def add_record(self, record: dict[str, Any]) -> int:
        """Write one attempt (see ``attempt_record``) atomically; returns the row id. Raises
        StoreError when the store opened by ``open`` was deleted or replaced meanwhile."""
        self.check_same_file()
        with self.connect(write=True) as conn, _transaction(conn):
            return _insert_record(conn, record)

    def add_missing(self, records: list[dict[str, Any]]) -> tuple[int, int]:
        """Write the attempts the store does not hold yet, all in one transaction (an import
        is whole or nothing); returns (added, already present)."""
        added = present = 0
        with self.connect(write=True) as conn, _transaction(conn):
            for record in records:
                if _has_attempt(conn, record):
                    present += 1
                else:
                    _insert_record(conn, record)
                    added += 1
        return added, present

    def _has_runs(self, conn: sqlite3.Connection) -> bool:
        """False for a new, empty SQLite file (no tables yet); errors propagate."""
        return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'"
                            ).fetchone() is not None

    def statuses(self, suite: str) -> dict[str, str]:
        """The status of the attempt that stands for each run of ``suite``, by run key."""
        if not self.path.exists():
            return {}
        with self.connect() as conn:
            if not self._has_runs(conn):
                return {}
            rows = conn.execute(
                "SELECT run_key, status FROM runs WHERE id IN ("
                + REPRESENTATIVE.format(where="WHERE suite = ?") + ")", (suite,),
            ).fetchall()
        return dict(rows)

    def finished_keys(self, suite: str) -> set[str]:
        """Runs with a finished attempt (done, diverged, skipped): not rerun."""
        return {k for k, status in self.statuses(suite).items() if status in FINISHED}

    def latest(self, suite: str | None = None) -> list[dict[str, Any]]:
        """The attempt that stands for every run (of one suite, or all), with its epochs:
        the latest finished one, else the latest."""
        where = "WHERE suite = ?" if suite else ""
        return self._select(f"WHERE id IN ({REPRESENTATIVE.format(where=where)})",
                            (suite,) if suite else ())

    def attempts(self, suite: str) -> list[dict[str, Any]]:
        """Every attempt of a suite, oldest first, with its epochs."""
        return self._select("WHERE suite = ?", (suite,))

    def _select(self, where: str, args: tuple) -> list[dict[str, Any]]:
        with self.connect() as conn:
            if not self._has_runs(conn):
                return []
            conn.row_factory = sqlite3.Row
            rows = conn.execute(f"SELECT * FROM runs {where} ORDER BY id", args).fetchall()
            epochs = _epochs_of(conn, [r["id"] for r in rows])
        return [_decode(r, epochs) for r in rows]

    def suites(self) -> list[str]:
        with self.connect() as conn:
            if not self._has_runs(conn):
                return []
            return [r[0] for r in conn.execute("SELECT DISTINCT suite FROM runs ORDER BY suite")]
