"""Live progress of a suite: events from the runs, and how the driver shows them.

How an event travels: the run process appends JSON lines to ``progress.jsonl`` in its work
directory (``Emitter``: one line per run start, per epoch, and at most one per
``BATCH_SECONDS`` for batches, so the timed loop pays a clock read per batch and nothing
else); ``run_isolated`` tails that file while it waits for the run (``Tail``) and hands each
event to ``publish``, which calls whoever listens in this process: the driver's display, or
on a Dask worker a forwarder that logs the event to the scheduler, to which the driver's
client subscribes (see ``odebench_plugins.executors``).

An event is a dict with ``key`` (the run key), ``event`` (``start``/``batch``/``epoch``) and
the numbers of that event; see ``Emitter``. The display is ``Live`` (a rich live view on a
terminal), ``Plain`` (a line per event, throttled, for logs and pipes) or nothing.

No torch here: the driver imports this module.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

EVENTS = "progress.jsonl"
BATCH_SECONDS = 0.5  # a run writes at most one batch event per this many seconds
PLAIN_BATCH_SECONDS = 20.0  # plain output: at most one batch line per run per this many seconds

Event = dict[str, Any]


# ---------------------------------------------------------------- the run's side

class Emitter:
    """Writes a run's events as JSON lines to ``path`` (nothing when ``path`` is None).
    ``due()`` says whether a batch event would be written now: call it per batch, and
    compute a batch event's numbers only when it is True."""

    def __init__(self, path: str | None, key: str = ""):
        self.key = key
        self._fh = open(path, "a", buffering=1) if path else None  # noqa: SIM115 - lives with the run
        self._next = 0.0

    def _write(self, event: str, **fields: Any) -> None:
        if self._fh is None:
            return
        line = json.dumps({"key": self.key, "event": event, "t": time.time(), **fields}, default=float)
        try:
            self._fh.write(line + "\n")  # one write of one line: a reader never sees half of it twice
        except OSError:
            self._fh = None  # progress is a courtesy: a full disk must not fail the run

    def start(self, epochs: int, batches: int) -> None:
        self._write("start", epochs=epochs, batches=batches)

    def due(self) -> bool:
        return self._fh is not None and time.monotonic() >= self._next

    def batch(self, epoch: int, epochs: int, batch: int, batches: int, seconds: float, **numbers: Any) -> None:
        """``seconds`` since the epoch's first batch; ``numbers``: running ``loss``/``accuracy``,
        ``nfe`` of the last batch (forward + backward), when known."""
        self._next = time.monotonic() + BATCH_SECONDS
        rate = batch / seconds if seconds > 0 else None
        eta = (batches - batch) / rate if rate else None
        self._write("batch", epoch=epoch, epochs=epochs, batch=batch, batches=batches, rate=rate,
                    eta=eta, **{k: v for k, v in numbers.items() if v is not None})

    def epoch(self, epoch: int, epochs: int, row: dict[str, Any]) -> None:
        keep = ("train_loss", "train_accuracy", "test_accuracy", "epoch_seconds", "eval_seconds",
                "nfe_forward", "nfe_backward")
        self._write("epoch", epoch=epoch, epochs=epochs, **{k: row[k] for k in keep if row.get(k) is not None})
        self._next = 0.0  # the next epoch's first batch event comes at once


# ---------------------------------------------------------------- crossing the process boundary

class Tail:
    """The complete lines appended to a file since the last read, parsed as events."""

    def __init__(self, path: str):
        self.path = path
        self._offset = 0
        self._rest = b""

    def read(self) -> list[Event]:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
        except OSError:
            return []
        self._offset += len(data)
        *lines, self._rest = (self._rest + data).split(b"\n")
        events = []
        for line in lines:
            try:
                events.append(json.loads(line))
            except ValueError:
                continue  # a torn line (the run was killed mid-write) is skipped
        return events


_listeners: list[Callable[[Event], None]] = []
_lock = threading.Lock()


def publish(event: Event) -> None:
    """Hand a run's event to every listener of this process (none: dropped)."""
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        try:
            listener(event)
        except Exception:  # noqa: BLE001 - a broken display must not break the run
            pass


def add_listener(listener: Callable[[Event], None]) -> None:
    """Listen for good (a no-op when ``listener`` already listens)."""
    with _lock:
        if listener not in _listeners:
            _listeners.append(listener)


@contextmanager
def listening(listener: Callable[[Event], None]) -> Iterator[None]:
    add_listener(listener)
    try:
        yield
    finally:
        with _lock:
            if listener in _listeners:
                _listeners.remove(listener)


# ---------------------------------------------------------------- the driver's side

def duration(seconds: float | None) -> str:
    """``75`` -> ``1m15s``; ``3700`` -> ``1h01m``."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "?"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _fmt(value: Any, spec: str) -> str:
    return format(value, spec) if isinstance(value, (int, float)) else "?"


def describe_event(event: Event) -> str:
    """One line of what a run is doing, from its latest event."""
    kind = event.get("event")
    if kind == "start":
        return f"started: {event.get('epochs')} epochs of {event.get('batches')} batches"
    parts = [f"epoch {event.get('epoch')}/{event.get('epochs')}"]
    if kind == "batch":
        parts.append(f"batch {event.get('batch')}/{event.get('batches')}")
        if event.get("rate"):
            parts.append(f"{event['rate']:.1f} batch/s ETA {duration(event.get('eta'))}")
        if "loss" in event:
            parts.append(f"loss {_fmt(event['loss'], '.4f')}")
        if "accuracy" in event:
            parts.append(f"acc {_fmt(event['accuracy'], '.3f')}")
        if "nfe" in event:
            parts.append(f"nfe {event['nfe']}")
    elif kind == "epoch":
        parts[0] += f" done in {_fmt(event.get('epoch_seconds'), '.1f')} s:"
        parts.append(f"train_loss {_fmt(event.get('train_loss'), '.4f')}")
        parts.append(f"train_acc {_fmt(event.get('train_accuracy'), '.3f')}")
        parts.append(f"test_acc {_fmt(event.get('test_accuracy'), '.3f')}")
        if "nfe_forward" in event:
            parts.append(f"nfe/batch {_fmt(event['nfe_forward'], '.1f')}+{_fmt(event.get('nfe_backward'), '.1f')}")
    return " ".join(parts)


class Display:
    """What the driver shows while a suite runs. This base shows nothing (``--quiet``).

    ``begin(total, labels)`` with each run's label by key; ``event(e)`` for each run's event
    (from any thread); ``finished(line)`` when a run ended; ``end()``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.total = 0
        self.done = 0
        self.started = time.monotonic()
        self.labels: dict[str, str] = {}
        self.ended: set[str] = set()  # a Dask worker's last events may arrive after the outcome

    def begin(self, total: int, labels: dict[str, str]) -> None:
        self.total, self.labels, self.started = total, labels, time.monotonic()

    def event(self, event: Event) -> None:
        pass

    def finished(self, key: str, line: str) -> None:
        with self.lock:
            self.done += 1
            self.ended.add(key)

    def end(self) -> None:
        pass

    def suite_line(self) -> str:
        elapsed = time.monotonic() - self.started
        eta = elapsed / self.done * (self.total - self.done) if self.done else None
        return f"{self.done}/{self.total} runs, {duration(elapsed)} elapsed, ETA {duration(eta)}"


class Finished(Display):
    """Only a line per finished run, through ``echo`` (``progress="off"``)."""

    def __init__(self, echo: Callable[[str], None] = print):
        super().__init__()
        self.echo = echo

    def finished(self, key: str, line: str) -> None:
        super().finished(key, line)
        self.echo(line)


class Plain(Display):
    """A line per event through ``echo``: every run start and epoch, a batch line at most
    every ``PLAIN_BATCH_SECONDS`` per run, and each finished run with the suite's progress."""

    def __init__(self, echo: Callable[[str], None] = print, batch_seconds: float = PLAIN_BATCH_SECONDS):
        super().__init__()
        self.echo = echo
        self.batch_seconds = batch_seconds
        self._last: dict[str, float] = {}

    def event(self, event: Event) -> None:
        key = event.get("key", "")
        now = time.monotonic()
        with self.lock:
            if key in self.ended:
                return
            kind = event.get("event")
            if kind == "batch" and now - self._last.get(key, -1e9) < self.batch_seconds:
                return
            if kind != "epoch":  # the batch clock: from the run's start or its last batch line
                self._last[key] = now
            self.echo(f"{self.labels.get(key, key)} {describe_event(event)}")

    def finished(self, key: str, line: str) -> None:
        super().finished(key, line)
        with self.lock:
            self._last.pop(key, None)
            self.echo(f"{line}  [{self.suite_line()}]")


class Live(Display):
    """A rich live view on a terminal: the suite's runs done/total, elapsed and ETA, and a
    line per running run; finished runs are printed above it."""

    def __init__(self) -> None:
        super().__init__()
        from rich.console import Console

        self.console = Console()
        self.running: dict[str, Event] = {}
        self._live = None

    def begin(self, total: int, labels: dict[str, str]) -> None:
        from rich.live import Live as RichLive

        super().begin(total, labels)
        self._live = RichLive(console=self.console, get_renderable=self._render, refresh_per_second=4,
                              transient=True)
        self._live.start()

    def _render(self):
        from rich.text import Text

        with self.lock:
            lines = [Text(f"suite: {self.suite_line()}", style="bold")]
            for key, event in list(self.running.items()):
                lines.append(Text(f"  {self.labels.get(key, key)}  {describe_event(event)}"))
        return Text("\n").join(lines)

    def event(self, event: Event) -> None:
        with self.lock:
            if event.get("key", "") not in self.ended:
                self.running[event.get("key", "")] = event

    def finished(self, key: str, line: str) -> None:
        super().finished(key, line)
        with self.lock:
            self.running.pop(key, None)
        self.console.print(line, markup=False, highlight=False)

    def end(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


MODES = ("auto", "live", "plain", "off")


def display_for(mode: str = "auto", echo: Callable[[str], None] = print) -> Display:
    """``auto``: ``live`` on a terminal, else ``plain``; ``off``: finished runs only."""
    if mode not in MODES:
        from .types import OdebenchError

        raise OdebenchError(f"unknown progress mode {mode!r}; use one of {', '.join(MODES)}")
    if mode == "auto":
        mode = "live" if sys.stdout.isatty() and os.environ.get("TERM") != "dumb" else "plain"
    if mode == "live":
        return Live()
    if mode == "plain":
        return Plain(echo)
    return Finished(echo)
