"""Live progress: the run process's events reach the driver while the run runs, the driver
shows them (plain lines when not on a terminal), and ``--quiet`` prints nothing on stdout."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from odebench import progress
from odebench.isolate import run_isolated
from odebench.progress import Emitter, Plain, Tail
from odebench.suite import load_suite

from .conftest import FAST_HEAD

FAULTS = Path(__file__).parent / "fault_plugins"

pytestmark = pytest.mark.usefixtures("core_plugins_only")


def test_emitted_events_are_read_back_whole_and_only_once(tmp_path):
    path = str(tmp_path / progress.EVENTS)
    tail = Tail(path)
    assert tail.read() == []  # no file yet
    events = Emitter(path, "k")
    events.start(3, 10)
    assert events.due()
    events.batch(1, 3, 4, 10, 2.0, loss=0.5, accuracy=0.25, nfe=26)
    assert not events.due()  # throttled until BATCH_SECONDS have passed
    got = tail.read()
    assert [e["event"] for e in got] == ["start", "batch"]
    assert got[1]["rate"] == 2.0 and got[1]["eta"] == 3.0 and got[1]["nfe"] == 26
    assert {e["key"] for e in got} == {"k"}
    events.epoch(1, 3, {"train_loss": 0.4, "epoch_seconds": 5.0, "samples": 99})
    with open(path, "a") as fh:
        fh.write('{"key": "k", "event": "ba')  # a line being written
    [epoch] = tail.read()
    assert epoch["event"] == "epoch" and epoch["train_loss"] == 0.4 and "samples" not in epoch
    assert events.due()  # the next epoch's first batch is shown at once
    assert tail.read() == []


def test_plain_display_throttles_batch_lines_but_not_epochs():
    lines: list[str] = []
    display = Plain(lines.append, batch_seconds=3600)
    display.begin(2, {"a": "[1/2] model-a"})
    display.event({"key": "a", "event": "start", "epochs": 2, "batches": 5})
    for batch in (1, 2, 3):
        display.event({"key": "a", "event": "batch", "epoch": 1, "epochs": 2, "batch": batch, "batches": 5,
                       "rate": 2.0, "eta": 1.0, "loss": 0.5})
    display.event({"key": "a", "event": "epoch", "epoch": 1, "epochs": 2, "train_loss": 0.5,
                   "train_accuracy": 0.5, "test_accuracy": 0.5, "epoch_seconds": 2.5})
    display.finished("a", "[1/2] done        model-a")
    assert len(lines) == 3, lines  # start, epoch, finished: the batches fell inside the hour
    assert lines[0] == "[1/2] model-a started: 2 epochs of 5 batches"
    assert "epoch 1/2 done in 2.5 s" in lines[1] and "test_acc 0.500" in lines[1]
    assert lines[2].startswith("[1/2] done        model-a  [1/2 runs,")


def test_events_reach_the_driver_while_the_run_runs(write_suite, tmp_path):
    """The run trains its first epoch, then waits for a gate that this test opens only after
    it received the run's batch and epoch events: without live events it would never end."""
    gate = tmp_path / "gate"
    suite = load_suite(write_suite(f"""\
name: gated
dataset: {{name: synthetic, train_size: 64, test_size: 32}}
train: {{epochs: 3, batch_size: 16}}
plugins: [{FAULTS / "gated.py"}]
runs:
  - model: gated
    gate: {gate}
    after: 4
"""))
    [config] = suite.runs
    seen: list[dict] = []
    opened = threading.Event()

    def listen(event: dict) -> None:
        seen.append(event)
        kinds = {e["event"] for e in seen}
        if {"start", "batch", "epoch"} <= kinds and not opened.is_set():
            gate.touch()
            opened.set()

    result: dict = {}
    with progress.listening(listen):
        worker = threading.Thread(target=lambda: result.update(run_isolated(
            {"key": "gated-run", "config": config, "plugin_files": list(suite.plugin_files), "timeout": 300})))
        worker.start()
        assert opened.wait(240), f"no batch and epoch events while the run ran: {seen}"
        worker.join(300)
    assert result["status"] == "done", result.get("reason")
    epochs = [e for e in seen if e["event"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2, 3] and {e["epochs"] for e in epochs} == {3}
    batches = [e for e in seen if e["event"] == "batch"]
    assert {e["epoch"] for e in batches} == {1, 2, 3}  # each epoch's first batch at least
    first = batches[0]
    assert first["batches"] == 4 and first["key"] == "gated-run" and "loss" in first and "accuracy" in first


def test_quiet_prints_nothing_on_stdout_and_plain_progress_shows_epochs(cli, write_suite, tmp_path):
    suite = write_suite(f"name: quiet\n{FAST_HEAD}runs:\n  - model: resnet\n    blocks: 0\n")
    code, out, err = cli("run", suite, "--results", tmp_path / "results", "--quiet")
    assert (code, out) == (0, ""), err
    code, out, err = cli("run", suite, "--results", tmp_path / "results", "--force")
    assert code == 0, err
    assert "[1/1] resnet blocks=0 seed=0 cpu started: 1 epochs of 1 batches" in out
    assert "[1/1] resnet blocks=0 seed=0 cpu epoch 1/1 done in" in out
    assert "[1/1 runs," in out and "ETA" in out


def test_run_process_forked_from_the_zygote_or_fresh_gives_the_same_result(write_suite, tmp_path, monkeypatch):
    suite = load_suite(write_suite(f"name: z\n{FAST_HEAD}threads: 2\nruns:\n  - model: resnet\n    blocks: 0\n"))
    [config] = suite.runs
    task = {"key": "z", "config": config, "plugin_files": [], "timeout": 300}
    forked = run_isolated(dict(task))
    monkeypatch.setenv("ODEBENCH_ZYGOTE", "0")
    fresh = run_isolated(dict(task))
    for result in (forked, fresh):
        assert result["status"] == "done", result.get("reason")
        assert result["metrics"]["threads"] == 2  # the suite's threads apply in a forked run too
    assert forked["metrics"]["train_loss"] == fresh["metrics"]["train_loss"]  # same seed, same numbers
    assert forked["pid"] != fresh["pid"]
