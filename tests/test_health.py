"""Honest output: busy-machine warnings and flags, single-class predictions, the terminal
table (width, class order, once per run), and compare naming the keys that differ."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from odebench import health
from odebench.report.labels import flatten
from odebench.report.tables import aggregate, summary_markdown, table, terminal_table
from odebench.store import Store
from odebench.types import outcome

from .conftest import FAST_HEAD

ORDER = ["N", "S", "V", "F", "Q"]  # the dataset's order; the store sorts JSON keys: F N Q S V


def _config(blocks: int, seed: int = 0, **train) -> dict:
    return {"suite": "s", "model": "resnet", "params": {"blocks": blocks},
            "solver": {"name": "dopri5", "rtol": 0.001, "atol": 0.001} if blocks == 9 else None,
            "dataset": {"name": "mitbih", "split": "kaggle"},
            "train": {"epochs": 5, "batch_size": 128, **train}, "seed": seed, "device": "cpu",
            "threads": None}


def _metrics(acc: float, single: str | None = None) -> dict:
    recall = {"N": 0.99, "S": 0.5, "V": 0.9, "F": 0.3, "Q": 0.95}
    return {"test_accuracy": acc, "test_macro_f1": acc - 0.2, "epoch_seconds": 12.5,
            "eval_seconds": 1.0, "nfe_forward": 26.0, "peak_memory_bytes": 3 * 2**30,
            "class_names": ORDER, "single_class": single,
            "predicted_classes": 1 if single else 5,
            "per_class": {c: {"precision": 0.5, "recall": 0.0 if single else recall[c], "f1": 0.5,
                              "support": 10} for c in ORDER}}


@pytest.fixture
def store(tmp_path) -> Store:
    """Two seeds of a group whose seed 1 ran on a busy machine, a single-class group, a
    long-labelled NODE-like group, a failed run."""
    s = Store(tmp_path / "results")
    for seed, busy in ((0, False), (1, True)):
        s.add(_config(6, seed), f"a{seed}", {**outcome("done", metrics=_metrics(0.97)),
                                             "machine": {"busy": busy, "load_1m": 3.0}}, "test")
    s.add(_config(0), "b", {**outcome("done", metrics=_metrics(0.8277, single="N")),
                            "machine": {"busy": False}}, "test")
    s.add(_config(9), "c", {**outcome("done", metrics=_metrics(0.95)), "machine": {}}, "test")
    s.add(_config(1), "d", {**outcome("failed", "RuntimeError: " + "x" * 200), "machine": {}}, "test")
    return s


def test_recall_columns_follow_the_dataset_class_order_in_every_table(store, cli):
    frame = table([flatten(r) for r in store.latest()])
    assert [c for c in frame.columns if c.startswith("recall_")] == [f"recall_{c}" for c in ORDER]
    summary = aggregate(frame)
    header = summary_markdown(summary).splitlines()[0]
    assert [h.strip() for h in header.split("|") if h.strip().startswith("rec ")] == [
        f"rec {c}" for c in ORDER]
    assert "N   S   V   F   Q" in terminal_table(summary)
    code, _, err = cli("report", "--results", store.directory)
    assert code == 0, err
    folder = store.directory / "s"
    for name, suffix in (("runs.csv", ""), ("summary.csv", "_mean")):
        head = (folder / name).read_text().splitlines()[0].split(",")
        assert [c for c in head if c.startswith("recall_") and c.endswith(suffix)] == [
            f"recall_{c}{suffix}" for c in ORDER]
    page = (folder / "report.html").read_text()
    assert page.index("rec N") < page.index("rec S") < page.index("rec V") < page.index("rec F") < page.index("rec Q")


def test_terminal_table_fits_and_keeps_the_key_columns(store):
    summary = aggregate(table([flatten(r) for r in store.latest()]))
    full = summary_markdown(summary)
    assert max(len(line) for line in full.splitlines()) > 200  # what the files keep
    text = terminal_table(summary, width=120)
    lines = text.split("\n\n")[0].splitlines()
    assert max(len(line) for line in lines) <= 120
    assert lines[0].split()[:3] == ["run", "solver", "status"]
    assert "test acc" in lines[0] and "epoch s" in lines[0] and "recall %" in lines[0]
    assert "peak mem" not in lines[0]  # left out first to fit
    wide = terminal_table(summary, width=300).split("\n\n")[0].splitlines()
    assert "peak mem" in wide[0] and "macro-F1" in wide[0] and " n " in wide[0]
    row = next(line for line in lines if line.startswith("resnet blocks=6"))
    assert "0.970±0.000" in row and "12.5 busy" in row and " 99  50  90  30  95" in row
    failed = next(line for line in lines if line.startswith("resnet blocks=1"))
    assert "failed: Runtime" in failed and "…" in failed  # the reason is shortened
    assert "failed: RuntimeError: xxxxxxxxxxxxxxxx" in wide[-1]


def test_single_class_and_busy_runs_are_flagged_in_the_reports(store, cli):
    summary = aggregate(table([flatten(r) for r in store.latest()]))
    for text in (summary_markdown(summary), terminal_table(summary)):
        assert ("warning: resnet blocks=0: its run predicted N for every test sample" in text)
        assert "note: times marked busy" in text
    md = summary_markdown(summary)
    six = next(line for line in md.splitlines() if "blocks=6" in line)
    assert "12.5 ± 0 [12.5, 12.5] busy" in six
    code, _, _ = cli("report", "--results", store.directory)
    page = (store.directory / "s" / "report.html").read_text()
    assert "predicted N for every test sample" in page and "busy" in page
    assert "predicted N for every test sample" in (store.directory / "s" / "summary.md").read_text()


def test_runs_that_recorded_nothing_get_no_flags(tmp_path):
    s = Store(tmp_path)
    metrics = _metrics(0.9)
    del metrics["single_class"], metrics["predicted_classes"]
    s.add(_config(6), "a", {**outcome("done", metrics=metrics), "machine": {}}, "test")
    summary = aggregate(table([flatten(r) for r in s.latest()]))
    assert "warning" not in summary_markdown(summary) and "busy" not in summary_markdown(summary)


def test_prediction_metrics():
    names = ["N", "S", "V"]
    assert health.prediction_metrics(np.array([1, 1, 1]), names) == {
        "predicted_classes": 1, "single_class": "S"}
    assert health.prediction_metrics(np.array([0, 2, 0]), names) == {
        "predicted_classes": 2, "single_class": None}
    assert health.run_warnings({"single_class": "N"}, {"busy": True}) == [
        "predicts N for every test sample", "busy machine"]
    assert health.run_warnings({"single_class": None}, {}) == []


def test_busy_warning_text():
    assert health.busy_warning(0.5, 2, 10.0, []) is None
    text = health.busy_warning(3.5, 2, 120.0, [{"name": "stress", "pid": 42, "cpu_percent": 99}])
    assert text.startswith("warning: the machine is busy (load average 3.5 on 2 cores; "
                           "other processes use 1.2 cores: stress (pid 42, 99%))")
    assert "runs are marked busy" in text


BURN = ("import sys, time\n"
        "while time.process_time() < 0.3:\n"
        "    pass\n"
        "print('burnt', flush=True)\n"
        "sys.stdin.read()\n")


@pytest.mark.parametrize("ours", [False, True])
def test_load_probe_counts_other_processes_cpu_not_the_drivers(ours, monkeypatch):
    """A process that burnt 0.3 s of CPU during the probe is counted, unless it belongs to the
    driver's tree (this test process plays the driver when ``ours``)."""
    if ours:
        monkeypatch.setenv(health.DRIVER_PID, str(os.getpid()))
    else:
        monkeypatch.delenv(health.DRIVER_PID, raising=False)
    probe = health.LoadProbe()
    child = subprocess.Popen([sys.executable, "-c", BURN], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "burnt"
        used = probe.used()
    finally:
        child.communicate("")
    if ours:
        assert child.pid not in used
    else:
        assert used[child.pid][1] >= 0.25  # psutil counts in clock ticks (10 ms)
    record = probe.record()
    assert set(record) == {"load_1m", "other_cpu_percent", "busy_processes", "busy"}


def test_run_end_line_warns_of_a_single_class_and_machine_records_the_load(tmp_path, cli,
                                                                           write_suite):
    # A model that predicts class 0 for everything (a test set of one sample is no longer a
    # dataset a run can measure: every class of the train set must be in the test set).
    plugin = Path(__file__).parent / "fault_plugins" / "oneclass.py"
    path = write_suite(FAST_HEAD + f"name: one\nplugins: [{plugin}]\nruns:\n  - model: fault-oneclass\n")
    results = tmp_path / "results"
    code, out, err = cli("run", path, "--results", results, "--no-report")
    assert code == 0, err
    end = next(line for line in out.splitlines() if line.startswith("[1/1] done"))
    assert "warning: predicts" in end and "for every test sample" in end
    assert "predicted" in out.split(end, 1)[1]  # and in the table's notes
    run = Store(results).latest()[0]
    assert run["metrics"]["predicted_classes"] == 1 and run["metrics"]["single_class"] in ORDER
    assert {"load_1m", "other_cpu_percent", "busy_processes", "busy"} <= set(run["machine"])
    assert not (results / "one").exists()  # --no-report


def test_run_prints_the_table_once_and_writes_the_report(tmp_path, cli, write_suite):
    path = write_suite(FAST_HEAD + "name: twice\nruns:\n  - model: resnet\n    blocks: [0, 1]\n")
    results = tmp_path / "results"
    code, out, err = cli("run", path, "--results", results)
    assert code == 0, err
    assert out.count("## twice") == 1 and out.count("test acc") == 1
    assert (results / "twice" / "report.html").exists() and "twice: open" in err
    code, out, _ = cli("run", path, "--results", results)  # nothing to run: the table again
    assert code == 0 and out.count("test acc") == 1


def test_compare_without_matches_names_the_keys_that_differ(tmp_path, cli):
    for name, train in (("a", {"epochs": 5}), ("b", {"epochs": 2})):
        s = Store(tmp_path / name)
        config = _config(6, **train)
        if name == "b":
            config["dataset"]["train_size"] = 1000
        s.add(config, "k", {**outcome("done", metrics=_metrics(0.9)), "machine": {}}, "test")
    code, _, err = cli("compare", tmp_path / "a", tmp_path / "b")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "they differ in dataset.train_size (absent vs 1000), train.epochs (5 vs 2)" in err


def test_config_differences_ignore_what_varies_alike():
    from odebench.compare import config_differences

    a = [json.dumps(_config(b)) for b in (0, 6)]
    b = [json.dumps(_config(b, lr=0.01)) for b in (0, 6)]
    assert config_differences(a, b) == "train.lr (absent vs 0.01)"
    assert config_differences(a, b, ignore=["train.lr"]) == ""


def test_terminal_table_shows_the_solver_swap_gap_where_runs_have_one(store):
    rows = [flatten(r) for r in store.latest()]
    assert "gap pts" not in terminal_table(aggregate(table(rows)), width=300)  # no check: no column
    rows[0]["validity_gap"] = 3.4  # the midpoint-trained ECG model's gap
    header, *body = terminal_table(aggregate(table(rows)), width=300).split("\n\n")[0].splitlines()
    assert "gap pts" in header and header.index("test acc") < header.index("gap pts")
    assert any("+3.4" in line for line in body)
