"""Faults inside runs: each is injected by a small plugin from tests/fault_plugins and must
end as the right status while the other runs of the suite finish.

Every run is a fresh Python process that imports torch, so the suites are tiny (64 training
beats, one batch) and the number of runs per test is kept small.
"""

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

from .conftest import FAST_HEAD as HEAD
from .conftest import wait_for

FAULTS = Path(__file__).parent / "fault_plugins"


pytestmark = pytest.mark.usefixtures("core_plugins_only")


def suite_text(name: str, runs: str, plugins: list[str] = (), extra: str = "") -> str:
    files = ", ".join(str(FAULTS / p) for p in plugins)
    return (f"name: {name}\n{HEAD}" + (f"plugins: [{files}]\n" if plugins else "") + extra
            + "runs:\n" + runs)


def rows(results: Path, suite: str | None = None) -> list[dict]:
    """Every stored attempt (oldest first), read straight from the SQLite file."""
    conn = sqlite3.connect(results / "odebench.sqlite")
    conn.row_factory = sqlite3.Row
    where, args = ("WHERE suite = ?", (suite,)) if suite else ("", ())
    out = []
    for r in conn.execute(f"SELECT * FROM runs {where} ORDER BY id", args):
        item = dict(r)
        item["config"] = json.loads(item["config"])
        item["metrics"] = json.loads(item["metrics"])
        item["n_epochs"] = conn.execute("SELECT COUNT(*) FROM epochs WHERE run_id = ?",
                                        (r["id"],)).fetchone()[0]
        out.append(item)
    conn.close()
    return out


def by_model(stored: list[dict]) -> dict[str, dict]:
    return {r["config"]["model"]: r for r in stored}


def odebench(*args, **kwargs) -> subprocess.CompletedProcess:
    """The CLI in a process of its own (the driver), output captured."""
    return subprocess.run([sys.executable, "-m", "odebench.cli", *map(str, args)],
                          capture_output=True, text=True, **kwargs)


def test_fault_matrix_every_fault_gets_its_status_and_the_rest_finish(cli, write_suite, tmp_path):
    suite = write_suite(suite_text("faults", """\
  - model: fault-raise
  - model: fault-exit
  - model: fault-segfault
  - model: fault-killed
  - model: fault-nan
  - model: fault-stiff
  - model: node
    solver: noadjoint-euler
    gradient: adjoint
  - model: resnet
    blocks: 0
""", ["raises.py", "exits.py", "segfault.py", "killed.py", "nan.py", "stiff.py", "noadjoint.py"]))
    results = tmp_path / "results"

    code, out, err = cli("run", suite, "--results", results)
    assert code == 1
    stored = by_model(rows(results))
    assert len(stored) == 8
    expected = {
        "fault-raise": ("failed", "RuntimeError: boom from the fault-raise test plugin"),
        "fault-exit": ("failed", "run process exited with code 3 before reporting a result"),
        "fault-segfault": ("failed", "run process was killed by SIGSEGV"),
        "fault-killed": ("failed", "killed by SIGKILL (out of memory?"),
        "fault-nan": ("diverged", "loss became nan"),
        "fault-stiff": ("diverged", "underflow in dt"),
        "node": ("skipped", "has no adjoint"),
        "resnet": ("done", None),
    }
    for model, (status, reason) in expected.items():
        row = stored[model]
        assert row["status"] == status, (model, row["reason"])
        if reason:
            assert reason in row["reason"] and "\n" not in row["reason"], row["reason"]
    # The traceback is stored: the Python one for an exception, faulthandler's for a crash.
    assert "boom from the fault-raise" in stored["fault-raise"]["traceback"]
    assert "segfault.py" in stored["fault-segfault"]["traceback"]
    assert "Diverged: loss became nan" in stored["fault-nan"]["traceback"]
    # The good run finished completely despite its neighbours.
    assert stored["resnet"]["n_epochs"] == 1 and stored["resnet"]["metrics"]["test_accuracy"] >= 0
    # The exit status names every run that did not finish well (skipped is fine).
    listed = err[err.index("did not finish well"):]
    assert "6 run(s) did not finish well" in err
    for model in ("fault-raise", "fault-exit", "fault-segfault", "fault-killed", "fault-nan",
                  "fault-stiff"):
        assert model in listed
    assert "resnet" not in listed and "noadjoint" not in listed

    # Rerun: done/diverged/skipped are finished and kept; the 4 failed ones run again.
    code, out, err = cli("run", suite, "--results", results)
    assert code == 1
    assert "skipping 4 already finished" in out
    assert "4 to run, 4 of them again after failed/timeout/interrupted" in out
    again = rows(results)
    assert len(again) == 12
    assert sorted(r["config"]["model"] for r in again[8:]) == [
        "fault-exit", "fault-killed", "fault-raise", "fault-segfault"]


def test_cli_timeout_wins_over_the_suite_and_kills_a_hang(cli, write_suite, tmp_path):
    suite = write_suite(suite_text("hang", "  - model: fault-hang\n", ["hangs.py"],
                                   "timeout: 1h\n"))
    results = tmp_path / "results"
    started = time.monotonic()
    code, out, err = cli("run", suite, "--results", results, "--timeout", "4")
    assert time.monotonic() - started < 120  # not the suite's hour
    assert code == 1
    [row] = rows(results)
    assert row["status"] == "timeout"
    assert row["reason"] == "killed after the 4 s timeout"
    assert "timeout: fault-hang" in err
    # Where it hung, dumped by the run just before the kill (when it got that far).
    if row["traceback"]:
        assert "Thread" in row["traceback"] or "File" in row["traceback"]


def test_suite_timeout_applies_without_the_cli_option(cli, write_suite, tmp_path):
    suite = write_suite(suite_text("hang", "  - model: fault-hang\n", ["hangs.py"],
                                   "timeout: 3s\n"))
    results = tmp_path / "results"
    code, out, err = cli("run", suite, "--results", results)
    assert code == 1
    [row] = rows(results)
    assert (row["status"], row["reason"]) == ("timeout", "killed after the 3 s timeout")
    # A timed-out run is not finished: a rerun tries it again.
    code, out, err = cli("run", suite, "--results", results, "--timeout", "3")
    assert "skipping 0 already finished" in out and "1 to run, 1 of them again" in out


def test_grandchildren_holding_pipes_neither_hang_the_driver_nor_survive(write_suite, tmp_path):
    """A run leaves a grandchild holding the driver's stdout/stderr pipes. The driver must
    still finish (capture_output waits for EOF on the pipes), with exit 0 because every run
    is done or skipped, and the grandchild must be gone."""
    pidfile = tmp_path / "grandchild.pid"
    suite = write_suite(suite_text("orphans", f"""\
  - model: fault-orphan
    pidfile: {pidfile}
  - model: node
    solver: noadjoint-euler
    gradient: adjoint
""", ["orphan.py", "noadjoint.py"]))
    results = tmp_path / "results"
    done = odebench("run", suite, "--results", results, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "did not finish well" not in done.stderr
    statuses = {r["config"]["model"]: r["status"] for r in rows(results)}
    assert statuses == {"fault-orphan": "done", "node": "skipped"}
    pid = int(pidfile.read_text())
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE




def _count(results: Path, status: str) -> int:
    path = results / "odebench.sqlite"
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(path, timeout=5) as conn:
            return conn.execute("SELECT COUNT(*) FROM runs WHERE status = ?", (status,)).fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _run_processes(driver: psutil.Process) -> list[psutil.Process]:
    try:
        return [p for p in driver.children(recursive=True)
                if "odebench.isolate" in " ".join(p.cmdline())]
    except psutil.Error:
        return []


@pytest.mark.parametrize("sig, code, why", [(signal.SIGINT, 130, "Ctrl-C"),
                                            (signal.SIGTERM, 143, "SIGTERM")])
def test_interrupt_records_the_current_run_and_keeps_finished_ones(write_suite, tmp_path, sig,
                                                                   code, why):
    """Ctrl-C (or SIGTERM, e.g. a batch system's time limit) while the second run hangs: the
    finished run stays, the current one is stored as interrupted, the run process is killed
    and the driver exits 130 (143)."""
    suite = write_suite(suite_text("stop", """\
  - model: resnet
    blocks: 0
  - model: fault-hang
""", ["hangs.py"]))
    results = tmp_path / "results"
    log = open(tmp_path / "driver.log", "w")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "odebench.cli", "run", str(suite),
                             "--results", str(results), "--progress", "plain"],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"},
                            # As from a terminal: a background job of a non-interactive shell
                            # (CI's `cmd &`) starts with SIGINT ignored, and Python would keep it so.
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        driver = psutil.Process(proc.pid)
        wait_for(lambda: _count(results, "done") >= 1, 300, "the first run to finish")
        # Started, by its own progress event (a process named odebench.isolate may also be
        # the zygote, or the finished run's process on its way out).
        wait_for(lambda: any("fault-hang" in line and "started" in line
                             for line in (tmp_path / "driver.log").read_text().splitlines()),
                 120, "the hanging run to start")
        runs = _run_processes(driver)
        os.kill(proc.pid, sig)
        assert proc.wait(timeout=60) == code
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
    gone, alive = psutil.wait_procs(runs, timeout=10)
    assert not alive, "the interrupted run process outlived the driver"
    stored = by_model(rows(results))
    assert stored["resnet"]["status"] == "done"
    assert stored["fault-hang"]["status"] == "interrupted"
    assert why in stored["fault-hang"]["reason"]
    assert "rerun the same command to resume" in (tmp_path / "driver.log").read_text()
