"""The results store: one SQLite file (WAL mode) under the results directory.

Each finished attempt of a run is written in one transaction (its ``runs`` row and all its
``epochs`` rows together), so a killed driver leaves either the whole attempt or nothing, and
several drivers can write to the same store at once. Config, metrics and machine are JSON
columns, so the schema does not change when a plugin adds a metric.

``Database`` is the file (where it is, whether it can be written, connections, the schema);
``Store`` adds the writes and the queries on top of it.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .types import FINISHED, OdebenchError, Outcome

FILENAME = "odebench.sqlite"
BUSY_SECONDS = 120  # how long a writer waits for another driver's transaction
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
"""


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
        if write:
            self.directory.mkdir(parents=True, exist_ok=True)
        elif not self.path.exists():
            raise OdebenchError(f"no results store at {str(self.path)!r}; run a suite first or pass --results DIR")
        try:
            conn = sqlite3.connect(self.path, timeout=BUSY_SECONDS, isolation_level=None)
        except sqlite3.Error as exc:
            raise OdebenchError(f"cannot open results store {str(self.path)!r}: {exc}") from None
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_SECONDS * 1000}")
            if write and not self._ready:
                self._initialise(conn)
            yield conn
        except sqlite3.IntegrityError:  # a bug in what was written, not a broken store
            raise
        except sqlite3.DatabaseError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise OdebenchError(f"results store {str(self.path)!r} stayed locked by another "
                                    f"process for {BUSY_SECONDS} s; retry when it is done") from None
            raise OdebenchError(f"results store {str(self.path)!r} is unreadable ({exc}); "
                                "move it away and rerun") from None
        finally:
            conn.close()

    def _initialise(self, conn: sqlite3.Connection) -> None:
        """Switch to WAL and create the tables, retrying while another driver holds the lock
        (switching the journal mode gives up at once instead of waiting on busy_timeout)."""
        deadline = time.monotonic() + BUSY_SECONDS
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for statement in SCHEMA.split(";"):
                        if statement.strip():
                            conn.execute(statement)
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


def _insert_attempt(conn: sqlite3.Connection, config: dict[str, Any], key: str, outcome: Outcome,
                    code_version: str, executor: str) -> int:
    """Insert one attempt and its epochs in one transaction; returns the row id."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        cur = conn.execute(
            "INSERT INTO runs (suite, run_key, status, reason, traceback, config, metrics,"
            " machine, code_version, executor, started_at, finished_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (config["suite"], key, outcome["status"], outcome.get("reason"),
             outcome.get("traceback"), _json(config), _json(outcome.get("metrics", {})),
             _json(outcome.get("machine", {})), code_version, executor,
             outcome.get("started_at"), outcome.get("finished_at", time.time())),
        )
        run_id = cur.lastrowid
        conn.executemany(
            "INSERT INTO epochs (run_id, epoch, metrics) VALUES (?, ?, ?)",
            [(run_id, e["epoch"], _json(e)) for e in outcome.get("epochs", [])],
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return run_id


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
    """The results store: attempts written whole, the latest attempt of each run read back."""

    def add(self, config: dict[str, Any], key: str, outcome: Outcome, code_version: str,
            executor: str = "local") -> int:
        """Write one attempt of a run and its epochs atomically; returns the row id."""
        with self.connect(write=True) as conn:
            return _insert_attempt(conn, config, key, outcome, code_version, executor)

    def statuses(self, suite: str) -> dict[str, str]:
        """The status of the latest attempt of each run of ``suite``, by run key."""
        if not self.path.exists():
            return {}
        with self.connect() as conn:
            try:
                rows = conn.execute(
                    "SELECT run_key, status FROM runs WHERE id IN"
                    " (SELECT MAX(id) FROM runs WHERE suite = ? GROUP BY run_key)", (suite,),
                ).fetchall()
            except sqlite3.OperationalError:  # an empty file: no tables yet
                return {}
        return dict(rows)

    def finished_keys(self, suite: str) -> set[str]:
        """Runs whose latest attempt is finished (done, diverged, skipped): not rerun."""
        return {k for k, status in self.statuses(suite).items() if status in FINISHED}

    def latest(self, suite: str | None = None) -> list[dict[str, Any]]:
        """The latest attempt of every run (of one suite, or all), with its epochs."""
        with self.connect() as conn:
            conn.row_factory = sqlite3.Row
            where = "WHERE suite = ?" if suite else ""
            try:
                rows = conn.execute(
                    "SELECT * FROM runs WHERE id IN (SELECT MAX(id) FROM runs "
                    f"{where} GROUP BY suite, run_key) ORDER BY id",
                    (suite,) if suite else (),
                ).fetchall()
                epochs = _epochs_of(conn, [r["id"] for r in rows])
            except sqlite3.OperationalError:
                return []
        return [_decode(r, epochs) for r in rows]

    def suites(self) -> list[str]:
        with self.connect() as conn:
            try:
                return [r[0] for r in conn.execute("SELECT DISTINCT suite FROM runs ORDER BY suite")]
            except sqlite3.OperationalError:
                return []
