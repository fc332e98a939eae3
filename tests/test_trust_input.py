"""Results you can trust under bad input (issue #13): nothing fake is ``done``, grids and
YAML are bounded, values are checked against declared ranges, names map to distinct folders,
dataset errors stop the suite once, broken plugins stay contained, and a run's identity is
what ran (defaults filled, training settings in its label, stale plugins reported)."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from odebench.suite import load_suite
from odebench.types import DataError, SuiteError

from .conftest import CORE_PLUGINS, TINY
from .conftest import FAST_HEAD as HEAD
from .test_bad_input import assert_bad_input, nothing_written

FAULTS = Path(__file__).parent / "fault_plugins"
RESNET = "runs:\n  - model: resnet\n    blocks: 0\n"

pytestmark = pytest.mark.usefixtures("core_plugins_only")


def rows(results: Path) -> list[tuple]:
    path = results / "odebench.sqlite"
    if not path.exists():
        return []
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT status, reason, config FROM runs ORDER BY id").fetchall()


# ---------------------------------------------------------------- 6. nothing fake is done

@pytest.mark.parametrize("dataset, needle", [
    ("fault-empty", "the test set is empty"),
    ("fault-corrupt", "fault-corrupt: the input file is corrupt"),
])
def test_a_dataset_no_run_can_measure_stops_the_suite_once(cli, write_suite, tmp_path, dataset, needle):
    suite = write_suite(f"name: bad-data\ndataset: {dataset}\nplugins: [{FAULTS / 'baddata.py'}]\n"
                        "train: {epochs: 1}\nseeds: [0, 1, 2]\n" + RESNET)
    results = tmp_path / "results"
    assert_bad_input(cli("run", suite, "--results", results), needle)
    assert rows(results) == []  # no fake 'done', no three identical failures


def test_a_test_set_missing_a_class_is_a_data_error(cli, write_suite, tmp_path):
    # 5 classes, 3 test samples: two classes cannot be in the test set.
    suite = write_suite("name: few\ndataset: {name: synthetic, train_size: 64, test_size: 3}\n"
                        "train: {epochs: 1, max_batches: 1}\n" + RESNET)
    results = tmp_path / "results"
    assert_bad_input(cli("run", suite, "--results", results), "the test set has no sample of class",
                     "test_size")
    assert rows(results) == []


def test_repeated_records_would_leak_and_are_refused(tmp_path, monkeypatch):
    from odebench_plugins import mitbih

    monkeypatch.setenv("ODEBENCH_DATA_DIR", str(tmp_path))  # no records needed: refused first
    with pytest.raises(DataError, match="records lists 100 more than once.*same beats in train and test"):
        mitbih.load_mitbih(records=["100", 100, "101"])


def test_the_same_csv_for_train_and_test_is_refused(tmp_path, monkeypatch):
    from odebench_plugins import mitbih_csv

    from .test_mitbih_csv import write_csv

    monkeypatch.setenv("ODEBENCH_CACHE_DIR", str(tmp_path / "cache"))
    write_csv(tmp_path, "beats.csv")
    with pytest.raises(DataError, match="same beats in train and test"):
        mitbih_csv.load_mitbih_csv(path=str(tmp_path), train_file="beats.csv", test_file="beats.csv")


# ---------------------------------------------------------------- 7. the grid is sized first

def test_a_grid_over_the_cap_is_refused_before_expansion(cli, write_suite, tmp_path):
    # 10^4 x 10^4 x 10 = 10^9 runs: counted, not expanded (expanding would not finish).
    values = "[" + ", ".join(str(i) for i in range(10_000)) + "]"
    suite = write_suite(f"name: huge\n{HEAD}seeds: [0,1,2,3,4,5,6,7,8,9]\n"
                        f"runs:\n  - model: resnet\n    blocks: {values}\n    width: {values}\n")
    results = tmp_path / "results"
    line = assert_bad_input(cli("run", suite, "--results", results), "1,000,000,000 runs", "--max-runs")
    assert "10,000" in line
    assert nothing_written(results)


def test_max_runs_sets_the_cap(cli, write_suite, tmp_path):
    path = write_suite(f"name: six\n{HEAD}seeds: [0, 1]\nruns:\n  - model: resnet\n    blocks: [0, 1, 2]\n")
    with pytest.raises(SuiteError, match="6 runs, over the limit of 5"):
        load_suite(path, max_runs=5)
    assert len(load_suite(path, max_runs=6).runs) == 6
    assert_bad_input(cli("run", path, "--results", tmp_path / "r", "--max-runs", "5"), "--max-runs")


def test_a_yaml_alias_bomb_in_a_run_entry_is_refused(cli, write_suite, tmp_path):
    levels = ["    a: &a [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]"]
    for i, name in enumerate("bcdefghij"):
        prev = "abcdefghij"[i]
        levels.append(f"    {name}: &{name} [{', '.join([f'*{prev}'] * 10)}]")
    suite = write_suite(f"name: bomb\n{HEAD}runs:\n  - model: resnet\n" + "\n".join(levels) + "\n")
    assert_bad_input(cli("run", suite, "--results", tmp_path / "results"), "aliases expand to over")


# ---------------------------------------------------------------- 8. YAML and the suite file

@pytest.mark.parametrize("text, needle", [
    ("name: a\nname: b\n" + HEAD + RESNET, "key 'name' appears twice"),
    (TINY + "runs:\n  - model: resnet\n    blocks: 1\n    blocks: 2\n", "key 'blocks' appears twice"),
    (TINY + "train: {epochs: 1}\n" + RESNET, "key 'train' appears twice"),
    (TINY + "1: x\n" + RESNET, "key 1 is read as int"),
    (TINY + "yes: x\n" + RESNET, "key yes is read as bool True, not text; quote it"),
    (TINY + "runs:\n  - model: resnet\n    null: 2\n", "key null is read as NoneType"),
])
def test_duplicate_and_non_text_keys_are_refused(cli, write_suite, tmp_path, text, needle):
    path = write_suite(text)
    line = assert_bad_input(cli("run", path, "--results", tmp_path / "results"), needle, str(path))
    assert "line " in line


def test_a_suite_with_non_utf8_bytes_is_refused(cli, tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_bytes(TINY.encode() + b"# caf\xe9\n" + RESNET.encode())
    assert_bad_input(cli("run", path, "--results", tmp_path / "results"), "line 4: byte 0xe9 is not UTF-8")


@pytest.mark.skipif(not Path("/dev/urandom").exists(), reason="no /dev/urandom")
def test_a_device_file_as_the_suite_does_not_hang(cli, tmp_path):
    assert_bad_input(cli("run", "/dev/urandom", "--results", tmp_path / "results"), "not a regular file")


def test_a_fifo_as_the_suite_does_not_hang(cli, tmp_path):
    fifo = tmp_path / "suite.yaml"
    os.mkfifo(fifo)
    assert_bad_input(cli("run", fifo, "--results", tmp_path / "results"), "not a regular file")


def test_a_huge_suite_file_is_not_read_whole(cli, tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text(TINY + RESNET + "#" * (2 << 20) + "\n")
    assert_bad_input(cli("run", path, "--results", tmp_path / "results"), "over 1 MiB")


# ---------------------------------------------------------------- 9. values, not just types

@pytest.mark.parametrize("text, needle", [
    (TINY.replace("epochs: 1", "epochs: 1, lr: .nan") + RESNET, "train.lr: nan is not a finite number"),
    (TINY + "runs:\n  - model: resnet\n    train: {lr: .inf}\n", "runs[0].train.lr: inf is not a finite number"),
    (TINY + "timeout: .nan\n" + RESNET, "timeout: nan is not a finite number of seconds"),
    (TINY + "timeout: .inf\n" + RESNET, "timeout: inf is not a finite number"),
    (TINY + "runs:\n  - model: node\n    solver: {name: dopri5, rtol: .nan}\n", "solver.rtol: nan is not a finite"),
    (TINY + "runs:\n  - model: node\n    solver: {name: rk4, steps: 0}\n",
     "runs[0].solver.steps: must be >= 1 for solver 'rk4', got 0"),
    (TINY + "runs:\n  - model: node\n    solver: {name: dopri5, rtol: 0.0}\n", "solver.rtol: must be > 0"),
    (TINY + "runs:\n  - model: node\n    solver: {name: dopri5, max_num_steps: 0}\n", "max_num_steps: must be >= 1"),
    (TINY + "runs:\n  - model: node\n    solver: {name: rk4, step_size: -0.5}\n", "step_size: must be > 0"),
    (TINY + "runs:\n  - model: node\n    width: 0\n", "runs[0].width: must be >= 1 for model 'node', got 0"),
    (TINY + "runs:\n  - model: node\n    t_end: 0.0\n", "runs[0].t_end: must be > 0"),
    (TINY + "runs:\n  - model: resnet\n    blocks: -1\n", "runs[0].blocks: must be >= 0 for model 'resnet', got -1"),
    (TINY.replace("epochs: 1", "epochs: 1, momentum: -1") + RESNET, "train.momentum: must be >= 0 for train, got -1"),
    (TINY.replace("epochs: 1", "epochs: 1, weight_decay: -0.1") + RESNET, "train.weight_decay: must be >= 0"),
    (TINY.replace("epochs: 1", "epochs: 1, max_batches: 0") + RESNET, "train.max_batches: must be >= 1"),
    (TINY + "seeds: [-1]\n" + RESNET, "seeds: a seed must be >= 0 (numpy's seed range), got -1"),
    (TINY + "seeds: [4294967296]\n" + RESNET, "seeds: a seed must be <= 4294967295"),
    (TINY + "runs:\n  - model: resnet\n    seeds: [-3]\n", "runs[0].seeds: a seed must be >= 0"),
    (TINY.replace("train_size: 64", "train_size: 0") + RESNET, "dataset.train_size: must be >= 1"),
    (TINY.replace("test_size: 32", "test_size: 32, noise: -1.0") + RESNET, "dataset.noise: must be >= 0"),
    ("name: m\ndataset: {name: mitbih, test_fraction: 1.5}\n" + RESNET, "dataset.test_fraction: must be < 1"),
    ("name: m\ndataset: {name: mitbih, records: []}\n" + RESNET, "dataset.records: must have at least 1 item"),
])
def test_values_outside_their_range_are_suite_errors(cli, write_suite, tmp_path, monkeypatch, text, needle):
    monkeypatch.setenv("ODEBENCH_LOAD_PLUGINS", CORE_PLUGINS + ",mitbih")
    path = write_suite(text)
    results = tmp_path / "results"
    assert_bad_input(cli("run", path, "--results", results), needle, str(path))
    assert nothing_written(results)


RANGED_PLUGIN = '''\
from typing import Annotated

from annotated_types import Ge, Interval, Lt, MultipleOf
from torch import nn

import odebench


def build(shape, *, dropout: Annotated[float, Interval(ge=0, lt=1)] = 0.0,
          hidden: Annotated[int, Ge(8), MultipleOf(8)] = 16):
    return nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(shape.channels * shape.length, hidden),
                         nn.Linear(hidden, shape.n_classes))


@odebench.hookimpl
def register_models(register):
    register("ranged", build)
'''


@pytest.mark.parametrize("params, needle", [
    ("dropout: 1.0", "runs[0].dropout: must be < 1 for model 'ranged', got 1.0"),
    ("hidden: 4", "runs[0].hidden: must be >= 8"),
    ("hidden: 12", "runs[0].hidden: must be a multiple of 8"),
])
def test_a_third_party_plugin_declares_ranges_with_annotated_types(write_suite, tmp_path, params, needle):
    (tmp_path / "ranged.py").write_text(RANGED_PLUGIN)
    path = write_suite(TINY + f"plugins: [ranged.py]\nruns:\n  - model: ranged\n    {params}\n")
    with pytest.raises(SuiteError) as exc:
        load_suite(path)
    assert needle in str(exc.value)
    ok = write_suite(TINY + "plugins: [ranged.py]\nruns:\n  - model: ranged\n    hidden: 24\n", "ok.yaml")
    assert load_suite(ok).runs[0]["params"] == {"dropout": 0.0, "hidden": 24}


# ---------------------------------------------------------------- 10. names and folders

@pytest.mark.parametrize("name", [".", "..", "_a", "a_", "a.", ".hidden", "'" + "x" * 101 + "'"])
def test_suite_names_that_are_no_distinct_safe_folder_are_refused(cli, write_suite, tmp_path, name):
    path = write_suite(f"name: {name}\n{HEAD}{RESNET}")
    assert_bad_input(cli("run", path, "--results", tmp_path / "results"), "name:")


def test_a_valid_name_is_its_own_folder_name():
    from odebench.report import safe_name

    for name in ("ecg", "ecg-v2", "ecg_2.1", "a", "x" * 100, "9-lives", "ends-"):
        assert safe_name(name) == name


# ---------------------------------------------------------------- 11. dataset errors, once

def test_a_non_utf8_csv_gets_one_line(tmp_path, monkeypatch):
    from odebench_plugins import mitbih_csv

    from .test_mitbih_csv import write_csv

    monkeypatch.setenv("ODEBENCH_CACHE_DIR", str(tmp_path / "cache"))
    write_csv(tmp_path, "mitbih_train.csv")
    write_csv(tmp_path, "mitbih_test.csv", seed=1)
    test = tmp_path / "mitbih_test.csv"
    lines = test.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b"e-01", b"e-0\xff", 1)
    test.write_bytes(b"".join(lines))
    with pytest.raises(DataError, match=r"mitbih_test.csv line 3: byte 0xff is not text"):
        mitbih_csv.load_mitbih_csv(path=str(tmp_path))


def test_an_unwritable_cache_falls_back_to_no_cache(tmp_path, monkeypatch):
    from odebench_plugins import mitbih_csv

    from .test_mitbih_csv import write_csv

    (tmp_path / "afile").write_text("a file where the cache folder should be")
    monkeypatch.setenv("ODEBENCH_CACHE_DIR", str(tmp_path / "afile" / "cache"))
    expected = write_csv(tmp_path, "mitbih_train.csv")
    write_csv(tmp_path, "mitbih_test.csv", seed=1)
    with pytest.warns(RuntimeWarning, match="going on without a cache: set ODEBENCH_CACHE_DIR"):
        data = mitbih_csv.load_mitbih_csv(path=str(tmp_path))
    assert data.y_train.tolist() == expected[:, -1].astype(int).tolist()


def test_an_unwritable_download_folder_is_a_data_error(tmp_path, monkeypatch):
    from odebench_plugins import mitbih

    (tmp_path / "afile").write_text("not a folder")
    monkeypatch.delenv("ODEBENCH_DATA_DIR", raising=False)
    monkeypatch.setenv("ODEBENCH_CACHE_DIR", str(tmp_path / "afile"))
    with pytest.raises(DataError, match="cannot create .* to download the records into"):
        mitbih.load_mitbih(records=["100"])


# ---------------------------------------------------------------- 12. broken plugins

@pytest.mark.parametrize("plugin, needle", [
    ("sysexit.py", "SystemExit: 0"),
    ("badname.py", "registered a model named 42; a name must be a non-empty string"),
    ("noncallable.py", "registered model 'fault-noncallable' as str"),
])
def test_broken_plugins_are_listed_and_the_rest_works(cli, write_suite, tmp_path, plugin, needle):
    folder = tmp_path / "plugins"
    folder.mkdir()
    shutil.copy(FAULTS / plugin, folder / plugin)
    code, out, err = cli("plugins", "--plugins-dir", folder)
    assert code == 0, err
    failed = out[out.index("plugins that failed to load"):]
    assert plugin in failed and needle in failed
    assert "resnet" in out and "dopri5" in out
    # A suite that names the broken plugin is bad input; one that does not still runs.
    suite = write_suite(f"name: uses-it\n{HEAD}plugins: [{folder / plugin}]\n{RESNET}")
    assert_bad_input(cli("run", suite, "--results", tmp_path / "results"), plugin, needle)


# ---------------------------------------------------------------- 13. run identity

def test_an_explicit_default_and_an_omitted_one_are_the_same_run(write_suite):
    path = write_suite(TINY + "runs:\n  - model: resnet\n  - model: resnet\n    blocks: 6\n    width: 64\n"
                       "  - model: node\n    gradient: backprop\n"
                       "  - model: node\n    gradient: backprop\n    solver: {name: dopri5, rtol: 1.0e-3}\n"
                       "  - model: node\n    gradient: backprop\n    width: 64\n    t_end: 1.0\n")
    runs = load_suite(path).runs
    assert [r["model"] for r in runs] == ["resnet", "node"]
    assert runs[0]["params"] == {"blocks": 6, "width": 64}
    assert {"gradient": "backprop", "width": 64, "t_end": 1.0}.items() <= runs[1]["params"].items()
    assert runs[1]["solver"]["max_num_steps"] == 10_000  # what ran is in the stored config
    assert runs[0]["dataset"]["noise"] == 0.08


@pytest.mark.slow
def test_runs_differing_only_in_training_settings_get_distinct_labels(cli, write_suite, tmp_path):
    path = write_suite(f"name: lr-sweep\n{HEAD}runs:\n  - model: resnet\n    blocks: 0\n"
                       "    train: {lr: [0.1, 0.01]}\n")
    results = tmp_path / "results"
    code, out, err = cli("run", path, "--results", results)
    assert code == 0, err
    assert "resnet blocks=0 lr=0.1 seed=0" in out and "resnet blocks=0 lr=0.01 seed=0" in out
    code, out, err = cli("report", "--results", results, "--no-files", "--format", "md",
                         "--baseline", "resnet blocks=0 lr=0.01")
    assert code == 0, err
    assert "| lr=0.1 " in out and "| lr=0.01 " in out
    code, out, err = cli("report", "--results", results, "--no-files")  # the terminal table
    assert "resnet blocks=0 lr=0.1 " in out and "resnet blocks=0 lr=0.01 " in out
    # The same suite again with other epochs: the report tells the two apart.
    code, out, err = cli("run", path, "--results", results, "--set", "train.epochs=2")
    assert code == 0, err
    code, out, err = cli("report", "--results", results, "--no-files", "--format", "csv")
    import csv
    import io

    labels = {(r["train"]) for r in csv.DictReader(io.StringIO(out))}
    assert labels == {"epochs=1 lr=0.1", "epochs=1 lr=0.01", "epochs=2 lr=0.1", "epochs=2 lr=0.01"}


MODEL_PLUGIN = '''\
from torch import nn

import odebench


def build(shape):
    return nn.Sequential(nn.Flatten(), nn.Linear(shape.channels * shape.length, shape.n_classes))


@odebench.hookimpl
def register_models(register):
    register("tiny-linear", build)
'''


@pytest.mark.slow
def test_runs_made_with_another_plugin_version_are_reported_stale(cli, write_suite, tmp_path):
    (tmp_path / "linear.py").write_text(MODEL_PLUGIN)
    path = write_suite(f"name: edited\n{HEAD}plugins: [linear.py]\nruns:\n  - model: tiny-linear\n"
                       "  - model: resnet\n    blocks: 0\n")
    results = tmp_path / "results"
    assert cli("run", path, "--results", results)[0] == 0
    (tmp_path / "linear.py").write_text(MODEL_PLUGIN + "# edited\n")
    code, out, err = cli("run", path, "--results", results)
    assert code == 0, err
    line = next(ln for ln in out.splitlines() if "stale" in ln)
    assert line.startswith("1 finished run(s) are stale") and "linear.py: file sha256:" in line
    assert "--rerun-stale reruns them" in line and "0 to run" in out
    assert len(rows(results)) == 2  # kept, not redone
    code, out, err = cli("run", path, "--results", results, "--rerun-stale")
    assert code == 0, err
    assert "1 to run" in out and len(rows(results)) == 3
    code, out, err = cli("run", path, "--results", results)
    assert "are stale" not in out and "0 to run" in out
