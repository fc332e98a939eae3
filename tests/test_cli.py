"""The CLI end to end: plugins listing, a tiny suite, rerun skipping, external plugins."""

from __future__ import annotations

import sqlite3

import pytest

from .conftest import TINY

SOLVER_PLUGIN = '''
import torch
import odebench


def solve(func, y0, t, *, steps: int = 2):
    """Explicit Euler on a uniform grid: a complete third-party solver."""
    ys, y = [y0], y0
    for t0, t1 in zip(t[:-1], t[1:]):
        h = (t1 - t0) / steps
        for i in range(steps):
            y = y + h * func(t0 + i * h, y)
        ys.append(y)
    return torch.stack(ys)


@odebench.hookimpl
def register_solvers(register):
    register("my-euler", solve)
'''


def test_plugins_lists_default_plugins_with_versions(cli):
    code, out, _ = cli("plugins")
    assert code == 0
    for kind, name, plugin in [("model", "resnet", "resnet"), ("model", "node", "node"),
                               ("solver", "dopri5", "torchdiffeq"), ("solver", "rk4", "torchdiffeq"),
                               ("dataset", "synthetic", "synthetic"), ("executor", "local", "executors")]:
        line = next(x for x in out.splitlines() if f"| {name} " in x and f"| {kind} " in x)
        assert f"| {plugin} " in line and "odebench 0.1.0" in line


def test_external_plugin_file_registers_a_solver_that_runs(tmp_path, cli, write_suite):
    plugins = tmp_path / "myplugins"
    plugins.mkdir()
    (plugins / "my_euler.py").write_text(SOLVER_PLUGIN)
    code, out, _ = cli("plugins", "--plugins-dir", plugins)
    assert code == 0 and "my-euler" in out and "my_euler.py" in out

    path = write_suite(TINY + "runs:\n  - model: node\n    gradient: backprop\n"
                       "    solver: {name: my-euler, steps: 3}\n")
    results = tmp_path / "results"
    code, out, err = cli("run", path, "--results", results, "--plugins-dir", plugins)
    assert code == 0, err
    assert any("my-euler steps=3" in line and " done " in line for line in out.splitlines())
    # The run records the plugins it loaded: a distribution's version, a loose file's hash.
    import hashlib
    import json

    machine = json.loads(sqlite3.connect(results / "odebench.sqlite").execute("SELECT machine FROM runs").fetchone()[0])
    digest = hashlib.sha256((plugins / "my_euler.py").read_bytes()).hexdigest()[:12]
    assert machine["plugins"]["my_euler.py"] == f"file sha256:{digest}"
    assert machine["plugins"]["torchdiffeq"] == "odebench 0.1.0" and "torchdiffeq" not in machine
    code, csv, _ = cli("report", "--results", results, "--format", "csv")
    import io

    import pandas as pd

    row = pd.read_csv(io.StringIO(csv)).iloc[0]
    assert row["solver"] == "my-euler steps=3" and row["nfe_forward"] == 3
    # The adjoint is not offered by this plugin: asking for it is recorded as skipped.
    path = write_suite(TINY + "runs:\n  - model: node\n    gradient: adjoint\n    solver: my-euler\n", "adj.yaml")
    code, out, _ = cli("run", path, "--results", results, "--plugins-dir", plugins)
    assert code == 0 and "skipped" in out


def test_suite_plugins_key_loads_relative_files(tmp_path, cli, write_suite):
    (tmp_path / "solver_plugin.py").write_text(SOLVER_PLUGIN)
    path = write_suite(TINY + "plugins: [solver_plugin.py]\nruns:\n  - model: node\n    gradient: backprop\n"
                       "    solver: my-euler\n")
    from odebench.suite import load_suite

    assert load_suite(path).runs[0]["solver"] == {"name": "my-euler", "steps": 2}  # its default filled in


def test_broken_plugin_is_reported_and_the_rest_works(tmp_path, cli):
    (tmp_path / "broken.py").write_text("import odebench\ndef oops(:\n")
    code, out, _ = cli("plugins", "--plugins-dir", tmp_path)
    assert code == 0
    assert "resnet" in out and "plugins that failed to load" in out and "broken.py: SyntaxError" in out


def test_run_stores_everything_and_rerun_skips_finished_runs(tmp_path, cli, write_suite):
    path = write_suite(TINY + "seeds: [0]\nruns:\n  - model: resnet\n    blocks: [0, 1]\n")
    results = tmp_path / "results"
    code, out, err = cli("run", path, "--results", results)
    assert code == 0, err
    assert "2 runs; skipping 0 already finished" in out and "2 to run" in out
    conn = sqlite3.connect(results / "odebench.sqlite")
    rows = conn.execute("SELECT status, config, machine, code_version FROM runs").fetchall()
    assert [r[0] for r in rows] == ["done", "done"]
    assert '"blocks": 0' in rows[0][1] and '"torch"' in rows[0][2] and rows[0][3].startswith("0.1.0")
    assert conn.execute("SELECT COUNT(*) FROM epochs").fetchone()[0] == 2

    code, out, _ = cli("run", path, "--results", results)
    assert code == 0 and "2 runs; skipping 2 already finished" in out and "0 to run" in out
    assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 2
    code, out, _ = cli("run", path, "--results", results, "--force")
    assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 4


@pytest.mark.slow
def test_smoke_suite_end_to_end(tmp_path, cli):
    results = tmp_path / "results"
    code, out, err = cli("run", "suites/smoke.yaml", "--results", results)
    assert code == 0, err
    code, csv, _ = cli("report", "--results", results, "--suite", "smoke", "--format", "csv")
    import io

    import pandas as pd

    table = pd.read_csv(io.StringIO(csv))
    assert len(table) == 8 and set(table["status"]) == {"done"}
    required = ["suite", "model", "params", "solver", "dataset", "device", "seed", "status",
                "n_params", "train_accuracy", "test_accuracy", "epoch_seconds", "nfe_forward", "nfe_backward"]
    always = [c for c in required if c not in ("solver", "nfe_forward", "nfe_backward")]
    assert not table[always + ["test_macro_f1", "eval_seconds", "peak_memory_bytes"]].isna().any().any()
    assert table.loc[table["model"] == "node", "solver"].notna().all()
    assert table.loc[table["model"] == "node", "params"].str.contains("gradient=").all()
    node = table[table["model"] == "node"]
    assert node[["nfe_forward", "nfe_backward"]].notna().all().all()
    rk4 = node[node["solver"] == "rk4 steps=4"].iloc[0]
    assert rk4["nfe_forward"] == 16
    resnet6 = table[(table["model"] == "resnet") & (table["params"] == "blocks=6")].iloc[0]
    assert resnet6["n_params"] == 182_853
    # The synthetic task is learnable: the best model is well above chance (0.2).
    assert table["test_accuracy"].max() > 0.4
