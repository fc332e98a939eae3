"""Durability of the results store: a SIGKILLed driver resumes without losing or repeating
finished runs, concurrent drivers share one store, and attempts are all-or-nothing."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from odebench.store import Store

from .conftest import FAST_HEAD as HEAD
from .conftest import wait_for

pytestmark = pytest.mark.usefixtures("core_plugins_only")


def odebench_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "odebench.cli", *map(str, args)]


def query(results: Path, sql: str, *args):
    with sqlite3.connect(results / "odebench.sqlite", timeout=10) as conn:
        return conn.execute(sql, args).fetchall()


def count_done(results: Path) -> int:
    if not (results / "odebench.sqlite").exists():
        return 0
    try:
        return query(results, "SELECT COUNT(*) FROM runs WHERE status = 'done'")[0][0]
    except sqlite3.OperationalError:  # the tables are being created
        return 0




def test_sigkill_of_the_driver_then_rerun_loses_nothing_and_repeats_nothing(write_suite, tmp_path):
    suite = write_suite(f"name: killed\n{HEAD}seeds: [0, 1, 2]\nruns:\n  - model: resnet\n    blocks: 0\n")
    results = tmp_path / "results"
    log = open(tmp_path / "first.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(odebench_cmd("run", suite, "--results", results), stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        driver = psutil.Process(proc.pid)
        wait_for(lambda: count_done(results) >= 1, 300, "a finished run")
        running = driver.children(recursive=True)  # the run in progress, if any
        os.killpg(proc.pid, signal.SIGKILL)  # the driver's group; runs live in their own
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
    # The orphaned run notices its driver is gone and kills itself.
    gone, alive = psutil.wait_procs(running, timeout=10)
    assert not alive, f"run processes outlived the SIGKILLed driver: {alive}"

    before = query(results, "SELECT run_key, status FROM runs ORDER BY id")
    assert 1 <= len(before) < 3 and all(status == "done" for _, status in before)

    again = subprocess.run(odebench_cmd("run", suite, "--results", results),
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert f"skipping {len(before)} already finished" in again.stdout
    assert f"{3 - len(before)} to run" in again.stdout

    after = query(results, "SELECT run_key, status FROM runs ORDER BY id")
    assert after[:len(before)] == before  # nothing lost or rewritten
    assert len(after) == 3 and {s for _, s in after} == {"done"}
    assert len({k for k, _ in after}) == 3  # none ran twice
    assert query(results, "PRAGMA integrity_check") == [("ok",)]
    epochs = query(results, "SELECT run_id, COUNT(*) FROM epochs GROUP BY run_id")
    assert sorted(n for _, n in epochs) == [1, 1, 1]


def test_two_drivers_write_one_store_at_the_same_time(write_suite, tmp_path):
    results = tmp_path / "results"
    suites = []
    for name in ("left", "right"):
        suites.append(write_suite(f"name: {name}\n{HEAD}seeds: [0, 1]\n"
                                  "runs:\n  - model: resnet\n    blocks: 0\n", f"{name}.yaml"))
    procs = [subprocess.Popen(odebench_cmd("run", s, "--results", results),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for s in suites]
    outputs = [p.communicate(timeout=600) for p in procs]
    for p, (_out, err) in zip(procs, outputs):
        assert p.returncode == 0, err
    got = query(results, "SELECT suite, status, COUNT(*) FROM runs GROUP BY suite, status")
    assert sorted(got) == [("left", "done", 2), ("right", "done", 2)]
    assert query(results, "PRAGMA integrity_check") == [("ok",)]
    assert query(results, "PRAGMA journal_mode") == [("wal",)]


WRITER = """
import sys, time
from odebench.store import Store
store, who, n = Store(sys.argv[1]), sys.argv[2], int(sys.argv[3])
while time.time() < float(sys.argv[4]):
    time.sleep(0.01)  # start together: the first writers race to create the file
for i in range(n):
    config = {"suite": "stress", "model": who, "i": i}
    outcome = {"status": "done", "metrics": {"i": i},
               "epochs": [{"epoch": e, "loss": 0.1} for e in range(1, 6)]}
    store.add(config, f"{who}-{i}", outcome, "test")
"""


def test_store_survives_concurrent_writers_racing_from_an_empty_directory(tmp_path):
    results = tmp_path / "results"
    start = time.time() + 3
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(results), f"w{i}", "40", str(start)],
                              stderr=subprocess.PIPE, text=True) for i in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    assert query(results, "SELECT COUNT(*) FROM runs") == [(160,)]
    assert query(results, "SELECT COUNT(*) FROM epochs") == [(800,)]
    assert query(results, "SELECT COUNT(DISTINCT run_key) FROM runs") == [(160,)]
    assert query(results, "PRAGMA integrity_check") == [("ok",)]


def test_latest_finished_attempt_decides_and_epochs_of_an_unfinished_run_do_not_count(tmp_path):
    store = Store(tmp_path / "results")
    config = {"suite": "s", "model": "m"}
    epochs = [{"epoch": 1, "train_loss": 0.5}, {"epoch": 2, "train_loss": 0.4}]
    store.add(config, "k1", {"status": "failed", "reason": "boom", "epochs": epochs}, "v")
    store.add(config, "k2", {"status": "timeout", "reason": "killed", "epochs": epochs[:1]}, "v")
    store.add(config, "k3", {"status": "interrupted", "reason": "Ctrl-C"}, "v")
    assert store.finished_keys("s") == set()  # epochs were stored, the runs still are not done
    store.add(config, "k1", {"status": "done", "epochs": epochs}, "v")
    store.add(config, "k2", {"status": "diverged", "reason": "nan"}, "v")
    assert store.finished_keys("s") == {"k1", "k2"}
    store.add(config, "k1", {"status": "failed", "reason": "forced rerun broke"}, "v")
    # A failed (forced) rerun does not hide the earlier finished attempt, in the report neither.
    assert store.finished_keys("s") == {"k1", "k2"}
    assert store.statuses("s") == {"k1": "done", "k2": "diverged", "k3": "interrupted"}


def test_a_failed_write_leaves_no_half_attempt(tmp_path):
    store = Store(tmp_path / "results")
    bad_epochs = [{"epoch": 1}, {"epoch": 1}]  # duplicate primary key: the insert fails midway
    with pytest.raises(sqlite3.IntegrityError):
        store.add({"suite": "s"}, "k", {"status": "done", "epochs": bad_epochs}, "v")
    assert query(tmp_path / "results", "SELECT COUNT(*) FROM runs") == [(0,)]
    assert query(tmp_path / "results", "SELECT COUNT(*) FROM epochs") == [(0,)]
    assert json.loads(json.dumps(store.statuses("s"))) == {}
