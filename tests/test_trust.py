"""Results you can trust under store and driver faults (issue #13, items 1-5 and the
attempts.jsonl round trip): an unreadable store is an error, not an empty store; a finished
run survives a failed store write; the store's schema is versioned; concurrent drivers never
run a run twice; a failed forced rerun does not hide the earlier result; a fresh checkout
rebuilds its store from the committed attempts.jsonl files.

Tests marked ``root`` mount real full and read-only file systems (tmpfs) and are skipped
where that is not allowed."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from odebench.attempts import ATTEMPTS, read_attempts
from odebench.claims import STALE_SECONDS, Claims
from odebench.store import SCHEMA_VERSION, Store

from .conftest import CORE_PLUGINS, FAST_HEAD

FIXTURES = Path(__file__).parent / "fixtures"

pytestmark = pytest.mark.usefixtures("core_plugins_only")


def odebench(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "odebench.cli", *map(str, args)],
                          capture_output=True, text=True, **kwargs)


def query(results: Path, sql: str, *args):
    with sqlite3.connect(results / "odebench.sqlite", timeout=30) as conn:
        return conn.execute(sql, args).fetchall()


def v0_store(directory: Path) -> Path:
    """A real store written by odebench before the schema was versioned (user_version 0):
    a tiny suite ``v0`` (one done resnet run, one failed run) run with that code, dumped
    with sqlite3's iterdump."""
    directory.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(directory / "odebench.sqlite")
    conn.executescript((FIXTURES / "store_v0.sql").read_text())
    conn.close()
    return directory


def attempt(status: str, started: float, **extra) -> dict:
    return {"status": status, "started_at": started, "finished_at": started + 1.0,
            "metrics": {"test_accuracy": 0.5, "epoch_seconds": 1.0, **extra.pop("metrics", {})},
            "epochs": [{"epoch": 1, "train_loss": 0.5}], **extra}


CONFIG = {"suite": "s", "model": "resnet", "params": {"blocks": 0}, "dataset": {"name": "synthetic"},
          "device": "cpu", "seed": 0}


# ---------------------------------------------------------------- 1. unreadable is not empty

def test_a_locked_store_is_an_error_for_run_report_and_compare_not_an_empty_store(
        cli, write_suite, tmp_path, monkeypatch):
    """Before: a store another process held locked was read as empty: run said "skipping 0"
    and started the finished run again, report exited 0 with nothing, compare said 0 runs."""
    monkeypatch.setattr("odebench.store.BUSY_SECONDS", 1)
    results = v0_store(tmp_path / "results")  # journal mode, so a writer locks readers out
    other = v0_store(tmp_path / "other")
    suite = write_suite(f"name: v0\n{FAST_HEAD}runs:\n  - model: resnet\n    blocks: 0\n")
    holder = sqlite3.connect(results / "odebench.sqlite", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        for args in (["run", suite, "--results", results], ["report", "--results", results, "--no-files"],
                     ["compare", other, results]):
            code, out, err = cli(*args)
            assert code == 2 and "to run" not in out and "##" not in out, (args, out, err)
            line = err.strip()
            assert "\n" not in line and "odebench.sqlite" in line and "locked by another process" in line
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert query(results, "SELECT COUNT(*) FROM runs") == [(2,)]


def test_not_a_database_is_named_as_such(cli, tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    (results / "odebench.sqlite").write_text("these are my notes, not a database\n" * 100)
    code, out, err = cli("report", "--results", results, "--no-files")
    assert code == 2 and out == ""
    assert "odebench.sqlite" in err and "not an SQLite database" in err and "move it away" in err


# ---------------------------------------------------------------- 3. schema version

def test_a_v0_store_written_by_the_old_code_is_read_and_migrated(cli, tmp_path):
    results = v0_store(tmp_path / "results")
    store = Store(results)
    assert [r["status"] for r in store.latest("v0")] == ["done", "failed"]  # read as it is
    assert query(results, "PRAGMA user_version") == [(0,)]
    store.open()  # what `odebench run` does before anything runs
    assert query(results, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert query(results, "SELECT COUNT(*) FROM claims") == [(0,)]
    assert [r["status"] for r in store.latest("v0")] == ["done", "failed"]
    assert query(results, "SELECT COUNT(*) FROM epochs") == [(2,)]  # the done run's two epochs
    assert len(store.finished_keys("v0")) == 1
    Store(results).open()  # a second open changes nothing
    assert query(results, "PRAGMA integrity_check") == [("ok",)]
    code, out, _err = cli("report", "--results", results, "--no-files")
    assert code == 0 and "resnet" in out and "fault-raise" in out


def test_the_finished_runs_of_a_v0_store_are_not_run_again(cli, write_suite, tmp_path):
    """The v0 store keyed its runs before plugin defaults were filled into configs (and run
    keys); today's odebench finds them by their upgraded key instead of rerunning them."""
    results = v0_store(tmp_path / "results")
    suite = write_suite("name: v0\ndataset: {name: synthetic, train_size: 64, test_size: 32}\n"
                        "train: {epochs: 2, batch_size: 32, max_batches: 1}\nseeds: [0]\n"
                        "runs:\n  - model: resnet\n    blocks: 0\n")
    code, out, err = cli("run", suite, "--results", results, "--no-report")
    assert code == 0, err
    assert "skipping 1 already finished" in out and "0 to run" in out
    assert query(results, "SELECT COUNT(*) FROM runs") == [(2,)]
    assert "resnet" in out  # the old run is in the run's table


def test_a_store_of_a_newer_schema_is_refused_before_anything_runs(cli, write_suite, tmp_path):
    results = v0_store(tmp_path / "results")
    with sqlite3.connect(results / "odebench.sqlite") as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = query(results, "SELECT COUNT(*) FROM runs")
    suite = write_suite(f"name: v0\n{FAST_HEAD}runs:\n  - model: resnet\n    blocks: 0\n")
    for args in (["run", suite, "--results", results], ["report", "--results", results]):
        code, out, err = cli(*args)
        assert code == 2 and "to run" not in out, (args, out)
        assert f"schema version {SCHEMA_VERSION + 1}, newer than" in err and "upgrade odebench" in err
        assert len(err.strip().splitlines()) == 1
    assert query(results, "SELECT COUNT(*) FROM runs") == before
    assert query(results, "PRAGMA user_version") == [(SCHEMA_VERSION + 1,)]


# ---------------------------------------------------------------- 5. --force keeps the result

def test_a_failed_or_interrupted_forced_rerun_does_not_hide_the_done_attempt(cli, tmp_path):
    store = Store(tmp_path / "results")
    store.add(CONFIG, "k", attempt("done", 100.0, metrics={"test_accuracy": 0.9}), "v1")
    store.add(CONFIG, "k", attempt("interrupted", 200.0, reason="interrupted by SIGINT"), "v2")
    store.add(CONFIG, "k", attempt("failed", 300.0, reason="boom"), "v2")
    [shown] = store.latest("s")
    assert shown["status"] == "done" and shown["metrics"]["test_accuracy"] == 0.9
    assert store.finished_keys("s") == {"k"}
    code, out, _ = cli("report", "--results", store.directory, "--no-files", "--format", "csv")
    assert code == 0 and ",done," in out and "boom" not in out
    # A finished rerun does count: the newest finished attempt stands for the run.
    store.add(CONFIG, "k", attempt("done", 400.0, metrics={"test_accuracy": 0.7}), "v3")
    assert store.latest("s")[0]["metrics"]["test_accuracy"] == 0.7


# ---------------------------------------------------------------- 4. claims

def test_a_live_claim_is_respected_and_a_dead_one_taken_over(tmp_path):
    store = Store(tmp_path / "results")
    store.open()
    first, second = Claims(store, "s"), Claims(store, "s")
    assert first.claim("k1") is None
    assert "another driver is running it" in second.claim("k1")
    # Same host, pid gone: dead at once.
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE claims SET pid = ? WHERE run_key = 'k1'", (gone.pid,))
    assert second.claim("k1") is None
    # Another host: alive while its heartbeat is fresh, dead once it is stale.
    with sqlite3.connect(store.path) as conn:
        conn.execute("INSERT INTO claims VALUES ('s', 'k2', 'far', 'elsewhere', 1, ?, ?)",
                     (time.time(), time.time()))
    assert "pid 1 on elsewhere" in second.claim("k2")
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE claims SET heartbeat = ? WHERE run_key = 'k2'", (time.time() - STALE_SECONDS - 1,))
    assert second.claim("k2") is None
    # A run another driver finished meanwhile is not claimed; released claims are gone.
    store.add(CONFIG, "k3", attempt("done", 1.0), "v")
    assert "finished it meanwhile" in first.claim("k3")
    second.release("k1")
    second.release("k2")
    assert query(store.directory, "SELECT COUNT(*) FROM claims") == [(0,)]


def test_runs_of_two_drivers_on_one_host_are_flagged_as_sharing_the_machine(cli, tmp_path):
    store = Store(tmp_path / "results")
    store.open()
    first, second = Claims(store, "s"), Claims(store, "s")
    assert first.claim("k1") is None
    assert second.claim("k2") is None
    assert first.shared("k1") == 1 and second.shared("k2") == 1
    first.release("k1")
    alone = Claims(store, "s")
    second.release("k2")
    assert alone.claim("k3") is None and alone.shared("k3") == 0
    store.add(CONFIG, "k1", attempt("done", 1.0, metrics={"shared_machine": 1}), "v")
    code, out, _ = cli("report", "--results", store.directory, "--no-files")
    assert code == 0 and "[1 of 1 on a shared machine]" in out


def test_two_drivers_on_one_suite_run_each_run_once(write_suite, tmp_path):
    """Before: both drivers ran all four runs (8 attempts), each at half speed."""
    suite = write_suite(f"name: twice\n{FAST_HEAD}seeds: [0, 1, 2, 3]\nruns:\n  - model: resnet\n"
                        "    blocks: 0\n")
    results = tmp_path / "results"
    procs = [subprocess.Popen([sys.executable, "-m", "odebench.cli", "run", str(suite), "--results",
                               str(results)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, out + err
    stored = query(results, "SELECT run_key, status FROM runs")
    assert len(stored) == 4 and {s for _, s in stored} == {"done"}
    assert len({k for k, _ in stored}) == 4
    assert query(results, "SELECT COUNT(*) FROM claims") == [(0,)]
    said = "".join(out for out, _ in outputs)
    ran = said.count("] done ")
    assert ran == 4
    # Each driver either ran a run or said why not.
    assert said.count("not run ") + ran >= 4


# ---------------------------------------------------------------- 2. a failed write keeps the result

DELETER = '''
import os, shutil
from torch import nn
import odebench


def build(shape, how: str = "delete"):
    store = os.environ["ODEBENCH_TEST_STORE"]
    if how == "delete":
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(store + suffix):
                os.remove(store + suffix)
    else:
        os.replace(store, store + ".moved")
        shutil.copy(store + ".moved", store)  # the same content in another file
    return nn.Sequential(nn.Flatten(), nn.Linear(shape.channels * shape.length, shape.n_classes))


@odebench.hookimpl
def register_models(register):
    register("store-vandal", build, params={"how": str})
'''


@pytest.mark.parametrize("how", ["delete", "replace"])
def test_a_store_deleted_or_replaced_mid_suite_keeps_the_finished_run(write_suite, tmp_path, how,
                                                                      monkeypatch):
    plugin = tmp_path / "vandal.py"
    plugin.write_text(DELETER)
    results = tmp_path / "results"
    monkeypatch.setenv("ODEBENCH_TEST_STORE", str(results / "odebench.sqlite"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    suite = write_suite(f"name: vandal\n{FAST_HEAD}plugins: [{plugin}]\nruns:\n"
                        f"  - model: store-vandal\n    how: {how}\n")
    first = odebench("run", suite, "--results", results, timeout=300)
    assert first.returncode == 2, first.stdout + first.stderr
    what = "was deleted" if how == "delete" else "was replaced"
    assert what in first.stderr and "finished done but was not stored" in first.stderr
    assert "the next odebench run imports it" in first.stderr
    assert len(first.stderr.strip().splitlines()) == 1
    pending = list((results / "odebench-pending").glob("*.json"))
    assert len(pending) == 1 and json.loads(pending[0].read_text())["status"] == "done"

    # Whatever store is there now, the next run imports the outcome instead of rerunning.
    (results / "odebench.sqlite.moved").unlink(missing_ok=True)
    monkeypatch.delenv("ODEBENCH_TEST_STORE")  # the run would fail now if it ran again
    again = odebench("run", suite, "--results", results, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "imported 1 finished run(s)" in again.stdout and "0 to run" in again.stdout
    assert [s for (s,) in query(results, "SELECT status FROM runs WHERE suite = 'vandal'")] == ["done"]
    assert not (results / "odebench-pending").exists()


# ---------------------------------------------------------------- attempts.jsonl round trip

def test_report_writes_attempts_jsonl_and_import_rebuilds_the_store(cli, tmp_path):
    source = Store(tmp_path / "source")
    long_traceback = "\n".join(f"line {i}" for i in range(100))
    source.add(CONFIG, "k", attempt("failed", 10.0, reason="boom", traceback=long_traceback), "v1")
    source.add(CONFIG, "k", attempt("done", 20.0, machine={"cpu": "x"}), "v1", executor="dask")
    source.add({**CONFIG, "seed": 1}, "k1", attempt("timeout", 30.0, reason="killed"), "v1")
    source.add({**CONFIG, "suite": "other"}, "o", attempt("done", 40.0), "v1")
    out = tmp_path / "committed"
    code, _, err = cli("report", "--results", source.directory, "--out", out)
    assert code == 0, err
    files = sorted(out.glob(f"*/{ATTEMPTS}"))
    assert [f.parent.name for f in files] == ["other", "s"]
    records = read_attempts(out / "s" / ATTEMPTS)
    assert [(r["run_key"], r["status"]) for r in records] == [("k", "failed"), ("k", "done"), ("k1", "timeout")]
    assert records[0]["traceback"].endswith("line 99") and "lines cut" in records[0]["traceback"]

    # A fresh checkout: no store, only the committed files.
    fresh = tmp_path / "fresh"
    code, _, err = cli("import", *files, "--results", fresh)
    assert code == 0 and "3 attempt(s) imported, 0 already" in err
    code, _, err = cli("import", *files, "--results", fresh)  # idempotent
    assert code == 0 and "0 attempt(s) imported, 3 already" in err
    assert query(fresh, "SELECT COUNT(*) FROM runs") == [(4,)]

    rebuilt = Store(fresh)
    for suite in ("s", "other"):
        def strip(rows):
            return [{k: v for k, v in r.items() if k not in ("id", "traceback")} for r in rows]
        assert strip(rebuilt.attempts(suite)) == strip(source.attempts(suite))
        assert strip(rebuilt.latest(suite)) == strip(source.latest(suite))
    assert rebuilt.finished_keys("s") == source.finished_keys("s") == {"k"}  # run resumes the same
    again = tmp_path / "again"
    code, _, _ = cli("report", "--results", fresh, "--out", again)
    assert code == 0
    for name in ("runs.csv", "summary.csv", ATTEMPTS):
        assert (again / "s" / name).read_text() == (out / "s" / name).read_text(), name


def test_import_refuses_a_bad_file_naming_the_line_and_writes_nothing(cli, tmp_path):
    good = {"suite": "s", "run_key": "k", "status": "done", "config": {"suite": "s"}, "metrics": {},
            "machine": {}, "epochs": [], "reason": None, "traceback": None, "code_version": "v",
            "executor": "local", "started_at": 1.0, "finished_at": 2.0}
    path = tmp_path / ATTEMPTS
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "status": "great"}) + "\n")
    code, _, err = cli("import", path, "--results", tmp_path / "r")
    assert code == 2 and f"{path}:2: unknown status 'great'" in err
    assert not (tmp_path / "r").exists()
    code, _, err = cli("import", tmp_path / "missing.jsonl", "--results", tmp_path / "r")
    assert code == 2 and "cannot read" in err and "missing.jsonl" in err


def test_import_of_a_committed_runs_csv_resumes_the_suite_and_reports_the_same_numbers(cli, tmp_path, monkeypatch):
    """results/ecg/'s seed 0 was written before attempts.jsonl existed: runs.csv is what is
    left of it. Imported, its runs count as finished for suites/ecg.yaml and report the same
    metrics."""
    import pandas as pd

    repo = Path(__file__).resolve().parents[1]
    committed = repo / "results" / "ecg" / "runs.csv"
    fresh = tmp_path / "fresh"
    code, _, err = cli("import", committed, "--results", fresh)
    original = pd.read_csv(committed)
    assert code == 0 and f"{len(original)} attempt(s) imported, 0 already" in err
    code, _, err = cli("import", committed, "--results", fresh)  # idempotent
    assert code == 0 and f"0 attempt(s) imported, {len(original)} already" in err

    monkeypatch.delenv("ODEBENCH_DATA_DIR", raising=False)  # nothing is to run: no data needed
    monkeypatch.setenv("ODEBENCH_LOAD_PLUGINS", CORE_PLUGINS + ",mitbih")
    code, out, err = cli("run", repo / "suites" / "ecg.yaml", "--results", fresh, "--no-report", "--progress", "off")
    assert code == 0, err
    assert f"skipping {len(original)} already finished" in out and "0 to run" in out

    code, _, err = cli("report", "--results", fresh, "--suite", "ecg", "--out", tmp_path / "out")
    assert code == 0, err
    again = pd.read_csv(tmp_path / "out" / "ecg" / "runs.csv")
    columns = ["run_key", "status", "test_accuracy", "epoch_seconds", "nfe_forward", "recall_S", "code_version", "epochs"]
    pd.testing.assert_frame_equal(again[columns], original[columns])
    records = read_attempts(tmp_path / "out" / "ecg" / ATTEMPTS)
    assert {r["machine"]["imported_from"] for r in records} == {"runs.csv"}
    assert all(r["started_at"] is None and "confusion_matrix" not in r["metrics"] for r in records)


def test_import_of_a_runs_csv_keeps_the_busy_and_shared_machine_flags(cli, tmp_path):
    """A run measured on a busy or shared machine stays flagged after its table is imported."""
    source = Store(tmp_path / "source")
    source.add(CONFIG, "k", attempt("done", 20.0, machine={"cpu": "x", "busy": True},
                                    metrics={"test_accuracy": 0.5, "shared_machine": 2}), "v1")
    code, _, err = cli("report", "--results", source.directory, "--out", tmp_path / "out")
    assert code == 0, err
    fresh = tmp_path / "fresh"
    code, _, err = cli("import", tmp_path / "out" / "s" / "runs.csv", "--results", fresh)
    assert code == 0, err
    (run,) = Store(fresh).latest("s")
    assert run["machine"]["busy"] is True and run["metrics"]["shared_machine"] == 2


def test_import_refuses_a_runs_csv_without_configs(cli, tmp_path):
    path = tmp_path / "runs.csv"
    path.write_text("suite,run_key,status\ns,k,done\n")
    code, _, err = cli("import", path, "--results", tmp_path / "r")
    assert code == 2 and "no 'config' column" in err and str(path) in err
    path.write_text("suite,run_key,status,config\ns,k,done,not json\n")
    code, _, err = cli("import", path, "--results", tmp_path / "r")
    assert code == 2 and f"{path}:2: the config cell is not JSON" in err
    assert not (tmp_path / "r").exists()


# ---------------------------------------------------------------- real file systems (root)

def fill(path: Path) -> None:
    """Write zeros to ``path`` until its file system is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, bytes(4096))
    except OSError:
        pass
    finally:
        os.close(fd)


def _mount(*args: str) -> bool:
    return os.geteuid() == 0 and subprocess.run(["mount", *args], capture_output=True).returncode == 0


@pytest.fixture
def tmpfs(tmp_path):
    """A 4 MiB tmpfs (skips where mounting is not allowed): room for a report once a filler
    file is gone (400 KiB left a reader of the store no room for its -shm file)."""
    folder = tmp_path / "mnt"
    folder.mkdir()
    if not _mount("-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)):
        pytest.skip("needs root and mount (tmpfs)")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_a_store_on_a_full_or_read_only_disk_is_never_an_empty_store(cli, write_suite, tmpfs, tmp_path, fault):
    """Before: on a full disk run said "skipping 0" and redid finished runs; on a read-only
    one report exited 0 with nothing and compare said "0 vs 2 runs"."""
    source = v0_store(tmp_path / "source")
    with sqlite3.connect(source / "odebench.sqlite") as conn:  # WAL, as every store odebench
        conn.execute("PRAGMA journal_mode = WAL")  # writes: reading it needs its -shm file
    results = tmpfs / "results"
    results.mkdir()
    (results / "odebench.sqlite").write_bytes((source / "odebench.sqlite").read_bytes())
    if fault == "full":
        fill(tmpfs / "filler")
    else:
        assert _mount("-o", "remount,ro", str(tmpfs))
    suite = write_suite(f"name: v0\n{FAST_HEAD}runs:\n  - model: resnet\n    blocks: 0\n")
    code, out, err = cli("run", suite, "--results", results)
    assert code == 2 and "to run" not in out
    assert ("disk full" if fault == "full" else "Read-only file system") in err
    code, out, err = cli("report", "--results", results, "--no-files")
    if fault == "full":
        assert code == 2 and "disk full" in err and "odebench.sqlite" in err
    else:  # read-only: readable as it is (immutable), only the report files cannot be written
        assert code == 0 and "fault-raise" in out
        code, out, err = cli("report", "--results", results)
        assert code == 2 and "Read-only file system" in err and "--out DIR or --no-files" in err
    code, out, err = cli("compare", source, results)
    assert (code, "0 vs") != (0, "") and "0 runs" not in err
    assert code == (2 if fault == "full" else 0)


def test_disk_full_mid_suite_keeps_the_finished_run_for_the_next_run(write_suite, tmpfs, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    results = tmpfs / "results"
    filler = tmp_path / "filler.py"
    filler.write_text(textwrap.dedent(f'''
        import os

        from torch import nn
        import odebench


        def build(shape):
            # The disk fills while the run runs.
            fd = os.open({str(tmpfs / "filler")!r}, os.O_WRONLY | os.O_CREAT)
            try:
                while True:
                    os.write(fd, bytes(4096))
            except OSError:
                pass
            os.close(fd)
            return nn.Sequential(nn.Flatten(), nn.Linear(shape.channels * shape.length, shape.n_classes))


        @odebench.hookimpl
        def register_models(register):
            register("disk-filler", build)
        '''))
    suite = write_suite(f"name: full\n{FAST_HEAD}plugins: [{filler}]\nruns:\n  - model: disk-filler\n")
    first = odebench("run", suite, "--results", results, timeout=300)
    assert first.returncode == 2, first.stdout + first.stderr
    assert "disk full" in first.stderr, first.stderr
    assert "finished done but was not stored" in first.stderr, first.stderr
    kept = list((tmp_path / "cache" / "odebench" / "pending").glob("*/*.json"))
    assert len(kept) == 1  # the results folder was full: kept in the cache folder instead
    (tmpfs / "filler").unlink()
    again = odebench("run", suite, "--results", results, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "imported 1 finished run(s)" in again.stdout and "0 to run" in again.stdout
    assert not (tmpfs / "filler").exists()  # the run was not redone
    assert query(results, "SELECT status FROM runs") == [("done",)]
