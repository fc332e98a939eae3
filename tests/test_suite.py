"""Suite loading: grid expansion and validation, the way a user meets them through the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from odebench.plugins import load_registry
from odebench.suite import expand, load_suite, parse_duration
from odebench.types import SuiteError

from .conftest import TINY


def test_lists_expand_at_every_level():
    grid = expand({"model": "node", "gradient": ["backprop", "adjoint"],
                   "solver": [{"name": "dopri5"}, {"name": "rk4", "steps": [1, 2]}]})
    assert len(grid) == 2 * 3
    assert {"model": "node", "gradient": "adjoint", "solver": {"name": "rk4", "steps": 2}} in grid
    assert expand({"a": []}) == []


def test_smoke_suite_expands_to_its_grid():
    suite = load_suite("suites/smoke.yaml")
    labels = [(r["model"], r["params"].get("blocks"), r["params"].get("gradient"),
               (r["solver"] or {}).get("name"), (r["solver"] or {}).get("steps")) for r in suite.runs]
    assert labels == [
        ("resnet", 0, None, None, None), ("resnet", 1, None, None, None), ("resnet", 6, None, None, None),
        ("node", None, "backprop", "dopri5", None), ("node", None, "adjoint", "dopri5", None),
        ("node", None, "adjoint-seminorm", "dopri5", None),
        ("node", None, "backprop", "rk4", 1), ("node", None, "backprop", "rk4", 4),
    ]
    assert all(r["train"]["momentum"] == 0.9 and r["seed"] == 0 and r["device"] == "cpu" for r in suite.runs)


def test_seeds_devices_and_defaults(write_suite):
    path = write_suite(TINY + "seeds: [0, 1]\ndevices: [cpu, auto]\nruns:\n  - model: node\n")
    suite = load_suite(path)
    # auto falls back to cpu here, which duplicates cpu: one run per seed.
    assert [(r["seed"], r["device"]) for r in suite.runs] in ([(0, "cpu"), (1, "cpu")],
                                                               [(0, "cpu"), (0, "cuda"), (1, "cpu"), (1, "cuda")])
    run = suite.runs[0]
    # the model's default solver, with the solver's defaults filled in
    assert run["solver"] == {"name": "dopri5", "rtol": 1e-3, "atol": 1e-3, "max_num_steps": 10_000,
                             "first_step": None}
    assert run["train"]["lr"] == 0.1 and run["train"]["epochs"] == 1


def test_an_entry_may_run_on_its_own_seeds(write_suite):
    path = write_suite(TINY + "seeds: [0, 1, 2]\nruns:\n  - model: resnet\n"
                              "  - model: node\n    seeds: [0]\n    gradient: [backprop, adjoint]\n")
    runs = load_suite(path).runs
    assert [(r["model"], r["params"].get("gradient"), r["seed"]) for r in runs] == [
        ("resnet", None, 0), ("resnet", None, 1), ("resnet", None, 2),
        ("node", "backprop", 0), ("node", "adjoint", 0),
    ]
    bad = write_suite(TINY + "runs:\n  - model: resnet\n    seeds: [zero]\n", "bad.yaml")
    with pytest.raises(SuiteError, match=r"runs\[0\]\.seeds: expected int"):
        load_suite(bad)
    empty = write_suite(TINY + "runs:\n  - model: resnet\n    seeds: []\n", "empty.yaml")
    with pytest.raises(SuiteError, match=r"runs\[0\]\.seeds: empty list"):
        load_suite(empty)


def test_overrides_with_set(write_suite):
    path = write_suite(TINY + "runs:\n  - model: resnet\n")
    suite = load_suite(path, overrides=["train.epochs=3", "dataset.train_size=16", "seeds=[4, 5]"])
    assert [r["seed"] for r in suite.runs] == [4, 5]
    assert suite.runs[0]["train"]["epochs"] == 3 and suite.runs[0]["dataset"]["train_size"] == 16


@pytest.mark.parametrize("text, message", [
    ("name: x\nruns: [\n", "invalid YAML at line"),
    ("- just a list\n", "must be a YAML mapping"),
    (TINY + "runs:\n  - model: resnett\n", "unknown model 'resnett'; did you mean 'resnet'?"),
    (TINY + "runs:\n  - model: resnet\n    blocs: 2\n", "runs[0].blocs: unknown parameter of model 'resnet'; did you mean 'blocks'?"),
    (TINY + "runs:\n  - model: resnet\n    blocks: six\n", "runs[0].blocks: expected int for model 'resnet', got 'six'"),
    (TINY + "runs:\n  - model: node\n    gradient: adjont\n", "runs[0].gradient: expected 'backprop' | 'adjoint' | 'adjoint-seminorm'"),
    (TINY + "runs:\n  - model: node\n    solver: {name: dopri55}\n", "unknown solver 'dopri55'; did you mean 'dopri5'?"),
    (TINY + "runs:\n  - model: node\n    solver: {name: rk4, step: 2}\n", "runs[0].solver.step: unknown parameter of solver 'rk4'; did you mean 'steps'?"),
    (TINY + "runs:\n  - model: node\n    solver: {name: dopri5, rtol: loose}\n", "expected float for solver 'dopri5', got 'loose'"),
    (TINY + "runs:\n  - model: node\n    solver: {name: dopri5, rtol: 1e-3}\n", "(YAML reads 1e-3 as text: write it with a dot"),
    (TINY + "runs:\n  - model: resnet\n    solver: rk4\n", "runs[0].solver: model 'resnet' takes no solver"),
    (TINY + "rnus:\n  - model: resnet\n", "rnus: unknown top-level key; did you mean 'runs'?"),
    (TINY.replace("synthetic", "synthetik") + "runs:\n  - model: resnet\n", "unknown dataset 'synthetik'; did you mean 'synthetic'?"),
    (TINY.replace("epochs: 1", "epochs: 1.5") + "runs:\n  - model: resnet\n", "train.epochs: expected int"),
    (TINY.replace("epochs: 1", "epoch: 1") + "runs:\n  - model: resnet\n", "train.epoch: unknown parameter of train; did you mean 'epochs'?"),
    (TINY.replace("epochs: 1", "epochs: 0") + "runs:\n  - model: resnet\n", "train.epochs: must be >= 1 for train, got 0"),
    (TINY + "devices: [tpu]\nruns:\n  - model: resnet\n", "unknown device 'tpu'"),
    (TINY + "timeout: soon\nruns:\n  - model: resnet\n", "timeout: expected seconds or a duration"),
    (TINY + "runs: []\n", "runs: expected a non-empty list"),
    ("name: x\nruns:\n  - model: resnet\n", "dataset: missing"),
])
def test_bad_suites_exit_2_with_one_line_and_run_nothing(write_suite, cli, tmp_path, text, message):
    path = write_suite(text)
    code, out, err = cli("run", path, "--results", tmp_path / "results")
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and str(path) in err
    assert not (tmp_path / "results").exists()


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_fails_validation(write_suite):
    path = write_suite(TINY + "devices: [cuda]\nruns:\n  - model: resnet\n")
    with pytest.raises(SuiteError, match=r"devices: 'cuda' requested but no CUDA GPU is available .* use devices: \[cpu\]"):
        load_suite(path)


def test_durations():
    assert parse_duration("10m", "t") == 600 and parse_duration(90, "t") == 90
    assert parse_duration("1.5h", "t") == 5400 and parse_duration(0, "t") is None


def test_eval_solver_merges_options_over_the_solver(write_suite):
    path = write_suite(TINY + "runs:\n  - model: node\n    solver: {name: dopri5, rtol: 1.0e-3, atol: 1.0e-3}\n"
                       "    eval_solver: {rtol: [1.0e-2, 1.0e-1]}\n")
    runs = load_suite(path).runs
    filled = {"max_num_steps": 10_000, "first_step": None}
    assert [r["eval_solver"] for r in runs] == [{"name": "dopri5", "rtol": 0.01, "atol": 1e-3, **filled},
                                               {"name": "dopri5", "rtol": 0.1, "atol": 1e-3, **filled}]
    bad = write_suite(TINY + "runs:\n  - model: resnet\n    eval_solver: {rtol: 0.1}\n", "bad.yaml")
    with pytest.raises(SuiteError, match="takes no eval_solver"):
        load_suite(bad)


SEVERAL = """\
name: several
dataset:
  - {name: synthetic, train_size: 64, test_size: 32}
  - {name: synthetic, train_size: 96, test_size: 32, noise: 0.2}
train: {epochs: 1, batch_size: 32, max_batches: 1}
seeds: [0, 1]
runs:
  - model: resnet
    blocks: [0, 1]
"""


def test_a_list_of_datasets_runs_every_run_on_each(write_suite):
    suite = load_suite(write_suite(SEVERAL))
    assert len(suite.runs) == 2 * 2 * 2 and len({r["dataset"]["train_size"] for r in suite.runs}) == 2
    assert [r["dataset"]["train_size"] for r in suite.runs[:4]] == [64] * 4
    # --set applies to every dataset of the list; an error names the list item.
    again = load_suite(write_suite(SEVERAL), overrides=["dataset.test_size=16"])
    assert {r["dataset"]["test_size"] for r in again.runs} == {16}
    bad = write_suite(SEVERAL.replace("noise: 0.2", "noize: 0.2"), "bad.yaml")
    with pytest.raises(SuiteError, match=r"dataset\[1\]\.noize: unknown parameter"):
        load_suite(bad)
    with pytest.raises(SuiteError, match="dataset: empty list"):
        load_suite(write_suite(TINY.replace("dataset: {name: synthetic, train_size: 64, test_size: 32}",
                                            "dataset: []") + "runs:\n  - model: resnet\n", "empty.yaml"))


def test_a_suite_of_several_datasets_is_reported_per_dataset(write_suite, cli, tmp_path):
    """The dataset cell names what differs, and --baseline pairs runs of one dataset and seed."""
    code, out, err = cli("run", write_suite(SEVERAL), "--results", tmp_path / "r", "--progress", "plain")
    assert code == 0, err
    assert "on synthetic noise=0.2 train_size=96" in out  # progress lines name the dataset
    code, out, err = cli("report", "--suite", "several", "--results", tmp_path / "r", "--baseline",
                         "resnet blocks=0", "--format", "csv", "--no-files")
    assert code == 0, err
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(out)))
    datasets = {r["dataset"] for r in rows}
    assert datasets == {"synthetic noise=0.08 train_size=64", "synthetic noise=0.2 train_size=96"}
    assert len(rows) == 8
    for r in rows:
        if r["params"] == "blocks=0":
            assert float(r["epoch_ratio"]) == pytest.approx(1.0)  # each its own baseline
    summary = (tmp_path / "r" / "several" / "summary.md").read_text()
    assert "| dataset" in summary and "synthetic noise=0.2 train_size=96" in summary


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[1] / "suites").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_every_committed_suite_loads(path):
    """A committed suite that no longer loads (a renamed option, a typo in a grid) is found
    here, not by the user who runs it. The torchode suites need the example plugin."""
    if "torchode-" in path.read_text() and "torchode-tsit5" not in load_registry().solvers:
        pytest.skip("needs the torchode example plugin: pip install -e examples/odebench-torchode")
    suite = load_suite(str(path))
    assert suite.runs and suite.name
