"""The Dask executor: a LocalCluster with 2 workers runs a tiny smoke-like suite, each run
isolated on its worker with its share of the cores; an existing scheduler works the same."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import FAST_HEAD as HEAD

pytest.importorskip("dask.distributed")

FAULTS = Path(__file__).parent / "fault_plugins"


pytestmark = pytest.mark.usefixtures("core_plugins_only")


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def stored(results: Path) -> list[dict]:
    with sqlite3.connect(results / "odebench.sqlite") as conn:
        conn.row_factory = sqlite3.Row
        out = []
        for r in conn.execute("SELECT * FROM runs ORDER BY id"):
            item = dict(r)
            for column in ("config", "metrics", "machine"):
                item[column] = json.loads(item[column])
            out.append(item)
        return out


def odebench(*args, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "odebench.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


def test_local_cluster_with_two_workers_runs_the_suite(write_suite, tmp_path):
    suite = write_suite(f"""\
name: dask-smoke
{HEAD}plugins: [{FAULTS / "exits.py"}]
runs:
  - model: resnet
    blocks: 0
  - model: node
    solver: {{name: rk4, steps: 1}}
    gradient: backprop
  - model: fault-exit
""")
    results = tmp_path / "results"
    done = odebench("run", suite, "--results", results, "--executor", "dask", "--workers", 2)
    assert done.returncode == 1, done.stderr  # the crashing run, and only it
    assert "1 run(s) did not finish well" in done.stderr and "fault-exit" in done.stderr
    rows = {r["config"]["model"]: r for r in stored(results)}
    assert {m: r["status"] for m, r in rows.items()} == {
        "resnet": "done", "node": "done", "fault-exit": "failed"}
    assert {r["executor"] for r in rows.values()} == {"dask"}
    # Each run got its share of the cores, and the parallelism is recorded with it.
    for model in ("resnet", "node"):
        metrics = rows[model]["metrics"]
        assert metrics["threads"] == max(1, cores() // 2)
        assert metrics["parallel_runs"] == 2
    # The worker survived the run that crashed: it ran in its own process.
    assert "exited with code 3" in rows["fault-exit"]["reason"]
    # The runs' progress came from the workers to the driver (plain lines: not a terminal).
    assert "resnet blocks=0 seed=0 cpu started: 1 epochs of 1 batches" in done.stdout, done.stdout
    assert "resnet blocks=0 seed=0 cpu epoch 1/1 done in" in done.stdout

    again = odebench("run", suite, "--results", results, "--executor", "dask", "--workers", 2)
    assert "skipping 2 already finished" in again.stdout


def test_existing_scheduler(write_suite, tmp_path):
    from dask.distributed import LocalCluster

    suite = write_suite(f"name: dask-remote\n{HEAD}runs:\n  - model: resnet\n    blocks: 0\n")
    results = tmp_path / "results"
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        done = odebench("run", suite, "--results", results, "--executor", "dask",
                        "--scheduler", cluster.scheduler_address)
    assert done.returncode == 0, done.stderr
    [row] = stored(results)
    assert (row["status"], row["executor"]) == ("done", "dask")
    # One run at a time on this host: it may use every core, despite the worker's
    # OMP_NUM_THREADS=1.
    assert row["metrics"]["threads"] == cores()
    assert row["metrics"]["parallel_runs"] == 1


def test_unreachable_scheduler_is_bad_input(write_suite, tmp_path, monkeypatch):
    monkeypatch.setenv("DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT", "2s")
    suite = write_suite(f"name: nowhere\n{HEAD}runs:\n  - model: resnet\n    blocks: 0\n")
    results = tmp_path / "results"
    done = odebench("run", suite, "--results", results, "--executor", "dask",
                    "--scheduler", "tcp://127.0.0.1:9", timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().startswith("odebench: error: cannot reach the Dask scheduler")
    assert not results.exists()
