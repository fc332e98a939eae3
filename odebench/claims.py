"""Claims: which driver is running which run, so that two drivers on one store never run the
same run twice, and runs that shared their machine with another driver's run are flagged.

A driver claims a run in the store's ``claims`` table (holder, host, pid, heartbeat) inside
one ``BEGIN IMMEDIATE`` transaction, just before running it, and only when no live holder
has it and no finished attempt arrived meanwhile. A holder is dead when it is on this host
and its pid is gone, or, on any host, when its heartbeat is older than ``STALE_SECONDS``;
its claims are then taken over. A thread renews this driver's heartbeat every
``HEARTBEAT_SECONDS`` and notes the other live claims on this host while each run runs:
their number is stored with the run as ``metrics["shared_machine"]``.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
import uuid
from typing import Any

from .store import REPRESENTATIVE, Store, StoreError, _transaction
from .types import FINISHED

HEARTBEAT_SECONDS = 5.0
STALE_SECONDS = 90.0  # a heartbeat this old: its holder is presumed dead, on any host


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True


class Claims:
    """This driver's claims on the runs of one suite in one store."""

    def __init__(self, store: Store, suite: str, finished_after: float | None = None):
        """``finished_after``: with ``--force``, only attempts that finished after this time
        count as finished (another forced driver's); None: any finished attempt does."""
        self.store, self.suite, self.finished_after = store, suite, finished_after
        self.holder = uuid.uuid4().hex
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.held: dict[str, set[tuple[str, str]]] = {}  # run key -> other live claims seen
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ claiming

    def _alive(self, host: str, pid: int, heartbeat: float, now: float) -> bool:
        if now - heartbeat > STALE_SECONDS:
            return False
        return pid_alive(pid) if host == self.host else True

    def claim(self, key: str) -> str | None:
        """Claim a run; None when this driver now holds it, else why not (one line)."""
        now = time.time()
        with self.store.connect(write=True) as conn, _transaction(conn):
            row = conn.execute(
                "SELECT status, finished_at FROM runs WHERE id IN ("
                + REPRESENTATIVE.format(where="WHERE suite = ? AND run_key = ?") + ")",
                (self.suite, key)).fetchone()
            if row and row[0] in FINISHED and (self.finished_after is None
                                               or (row[1] or 0) >= self.finished_after):
                return f"another driver finished it meanwhile ({row[0]})"
            other = conn.execute("SELECT holder, host, pid, heartbeat FROM claims WHERE suite = ?"
                                 " AND run_key = ?", (self.suite, key)).fetchone()
            if other and other[0] != self.holder and self._alive(other[1], other[2], other[3], now):
                return f"another driver is running it (pid {other[2]} on {other[1]})"
            conn.execute("INSERT OR REPLACE INTO claims (suite, run_key, holder, host, pid,"
                         " claimed_at, heartbeat) VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (self.suite, key, self.holder, self.host, self.pid, now, now))
            self._note_others(conn, now, extra={key})
        with self._lock:
            self.held.setdefault(key, set())
        return None

    def release(self, key: str) -> None:
        """Give a run back after its outcome was stored (or not)."""
        try:
            with self.store.connect(write=True) as conn:
                conn.execute("DELETE FROM claims WHERE suite = ? AND run_key = ? AND holder = ?",
                              (self.suite, key, self.holder))
        except (StoreError, sqlite3.Error):
            pass  # a claim left behind is taken over once this driver is gone
        with self._lock:
            self.held.pop(key, None)

    def shared(self, key: str) -> int:
        """Other drivers' runs seen live on this host while ``key`` ran (looks once more)."""
        self._note()
        with self._lock:
            return len(self.held.get(key, set()))

    # ------------------------------------------------------------ heartbeat

    def _note_others(self, conn: sqlite3.Connection, now: float, extra: set[str] = frozenset()) -> None:
        """Add the other holders' live claims on this host to each run this driver holds."""
        others = {(suite, key) for suite, key, host, pid, beat in conn.execute(
            "SELECT suite, run_key, host, pid, heartbeat FROM claims WHERE host = ? AND holder != ?",
            (self.host, self.holder)) if self._alive(host, pid, beat, now)}
        if not others:
            return
        with self._lock:
            for key in set(self.held) | set(extra):
                self.held.setdefault(key, set()).update(others)

    def _note(self) -> None:
        try:
            with self.store.connect(write=True) as conn:
                now = time.time()
                conn.execute("UPDATE claims SET heartbeat = ? WHERE holder = ?", (now, self.holder))
                self._note_others(conn, now)
        except (StoreError, sqlite3.Error):
            pass  # a busy or failing store: the next beat tries again; the write path reports

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            self._note()

    def __enter__(self) -> Claims:
        self._thread = threading.Thread(target=self._beat, name="odebench-claims", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        """Stop the heartbeat and release every claim still held (interrupt, store error)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=HEARTBEAT_SECONDS + 1)
        for key in list(self.held):
            self.release(key)
