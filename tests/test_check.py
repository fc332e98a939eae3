"""``odebench check``: the default plugins pass, broken plugins fail with a reason per check."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from odebench.check import run_checks


def rows(out: str) -> list[list[str]]:
    """The table's body rows as [check, target, result, reason]."""
    lines = [line for line in out.splitlines() if line.startswith("|")][2:]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


@pytest.mark.parametrize("name", ["torchdiffeq", "node", "resnet", "synthetic"])
def test_default_plugins_pass(cli, name):
    code, out, err = cli("check", name)
    table = rows(out)
    assert code == 0, out + err
    assert table and all(r[2] in ("pass", "skipped") for r in table), out
    assert "checks:" in out and " 0 fail" in out


def test_torchdiffeq_covers_every_solver_with_each_check(cli):
    code, out, _ = cli("check", "torchdiffeq")
    table = rows(out)
    solvers = {r[1] for r in table}
    assert {"solver dopri5", "solver rk4", "solver implicit_adams"} <= solvers
    assert len(solvers) == 12
    checks = {r[0] for r in table if r[1] == "solver dopri5"}
    assert {"linear ODE", "converges", "time-dependent ODE", "shapes/dtypes cpu",
            "backprop gradients", "adjoint gradients", "adjoint seminorm"} <= checks
    adjoint = next(r for r in table if r[:2] == ["adjoint gradients", "solver dopri5"])
    assert adjoint[2] == "pass" and "of backprop" in adjoint[3]


def test_single_name_checks_only_that_target(cli):
    code, out, _ = cli("check", "rk4")
    assert code == 0
    assert {r[1] for r in rows(out)} == {"solver rk4"}


def test_unknown_name_exits_2_with_a_suggestion(cli):
    code, out, err = cli("check", "dopri6")
    assert code == 2
    assert "unknown plugin, model, solver, dataset or problem 'dopri6'" in err
    assert "did you mean 'dopri5'" in err or "did you mean 'dopri8'" in err


BROKEN = '''
import torch
import torchdiffeq
from torch import nn

import odebench


def last_only(func, y0, t, *, rtol: float = 1e-3, atol: float = 1e-3):
    return torchdiffeq.odeint(func, y0, t, rtol=rtol, atol=atol)[-1]


def ignores_tolerance(func, y0, t, *, rtol: float = 1e-3, atol: float = 1e-3):
    return torchdiffeq.odeint(func, y0, t, method="euler", options={"step_size": 0.25})


def detached(func, y0, t, *, rtol: float = 1e-3, atol: float = 1e-3):
    return torchdiffeq.odeint(func, y0, t, rtol=rtol, atol=atol).detach()


def untyped(func, y0, t, *, rtol=1e-3):
    return torchdiffeq.odeint(func, y0, t, rtol=rtol, atol=rtol)


def good(func, y0, t, *, rtol: float = 1e-3, atol: float = 1e-3):
    return torchdiffeq.odeint(func, y0, t, rtol=rtol, atol=atol)


def wrong_adjoint(func, y0, t, *, adjoint_params, seminorm=False, rtol: float = 1e-3,
                  atol: float = 1e-3):
    return good(func, y0 * 1.1, t, rtol=rtol, atol=atol)


def bad_model(shape: odebench.DatasetShape, *, width: int = 4) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(shape.channels * shape.length, width))


def missing_data(*, path: str = "/nonexistent") -> odebench.Dataset:
    raise odebench.DataError(f"records not found in {path}; set ODEBENCH_DATA_DIR")


def bad_labels() -> odebench.Dataset:
    x = torch.zeros(4, 1, 8)
    y = torch.tensor([0, 1, 2, 5])
    return odebench.Dataset(x, y, x, y, ["a", "b", "c"])


@odebench.hookimpl
def register_solvers(register):
    register("broken-last-only", last_only)
    register("broken-ignores-tolerance", ignores_tolerance)
    register("broken-detached", detached)
    register("broken-untyped", untyped)
    register("broken-adjoint", good, adjoint=wrong_adjoint)


@odebench.hookimpl
def register_models(register):
    register("broken-model", bad_model)


@odebench.hookimpl
def register_datasets(register):
    register("broken-missing-data", missing_data)
    register("broken-labels", bad_labels)
'''


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    path = tmp_path / "broken.py"
    path.write_text(textwrap.dedent(BROKEN))
    return path


def result(results, check: str, target: str):
    found = [r for r in results if r.check == check and r.target == target]
    assert len(found) == 1, f"no single {check!r} row for {target!r}"
    return found[0]


def test_broken_plugin_file_fails_with_reasons(cli, broken):
    code, out, _ = cli("check", broken)
    assert code == 1
    targets = {r[1] for r in rows(out)}
    # Only the file's own targets are checked, not every installed plugin's.
    assert targets == {
        "solver broken-last-only", "solver broken-ignores-tolerance", "solver broken-detached",
        "solver broken-untyped", "solver broken-adjoint", "model broken-model",
        "dataset broken-missing-data", "dataset broken-labels",
    }


def test_each_broken_promise_is_reported_by_its_check(broken):
    results = run_checks(str(broken))

    r = result(results, "linear ODE", "solver broken-last-only")
    assert r.result == "fail" and "expected (len(t), *y0.shape)" in r.reason

    r = result(results, "linear ODE", "solver broken-ignores-tolerance")
    assert r.result == "fail" and "x the tolerance" in r.reason
    r = result(results, "converges", "solver broken-ignores-tolerance")
    assert r.result == "fail" and "no effect" in r.reason

    r = result(results, "backprop gradients", "solver broken-detached")
    assert r.result == "fail" and "does not require grad" in r.reason
    assert result(results, "linear ODE", "solver broken-detached").result == "pass"

    r = result(results, "signature", "solver broken-untyped")
    assert r.result == "fail" and "annotate option(s) rtol" in r.reason

    r = result(results, "adjoint gradients", "solver broken-adjoint")
    assert r.result == "fail" and "differ from the exact ones" in r.reason
    assert result(results, "backprop gradients", "solver broken-adjoint").result == "pass"

    r = result(results, "logits cpu", "model broken-model")
    assert r.result == "fail" and "expected (3, 3)" in r.reason

    r = result(results, "load", "dataset broken-missing-data")
    assert r.result == "skipped" and "records not found" in r.reason
    assert result(results, "shapes/labels", "dataset broken-missing-data").result == "skipped"

    r = result(results, "shapes/labels", "dataset broken-labels")
    assert r.result == "fail" and "labels outside" in r.reason


def test_a_plugin_that_fails_to_import_is_a_failed_check(cli, tmp_path):
    path = tmp_path / "noimport.py"
    path.write_text("import odebench\nimport not_a_module_anywhere\n")
    code, out, _ = cli("check", path)
    assert code == 1
    (row,) = rows(out)
    assert row[0] == "load" and row[2] == "fail" and "not_a_module_anywhere" in row[3]


def test_missing_plugin_file_is_a_user_error(cli, tmp_path):
    code, _, err = cli("check", tmp_path / "absent.py")
    assert code == 2 and "not found" in err


NEEDS_SOLVER = '''
import torch
import odebench


class Decay(torch.nn.Module):
    def __init__(self, shape, solver):
        super().__init__()
        self.solver = solver
        self.rate = torch.nn.Parameter(torch.ones(()))
        self.head = torch.nn.Linear(shape.channels * shape.length, shape.n_classes)

    def forward(self, x):
        t = torch.tensor([0.0, 1.0])
        y = self.solver(lambda s, y: -self.rate * y, x.flatten(1), t)[-1]
        return self.head(y)


def build(shape: odebench.DatasetShape, solver: odebench.Solver) -> torch.nn.Module:
    return Decay(shape, solver)


@odebench.hookimpl
def register_models(register):
    register("needs-solver", build)
'''


def test_a_model_without_a_default_solver_is_checked_with_any_solver_or_the_named_one(cli, tmp_path):
    path = tmp_path / "needs.py"
    path.write_text(NEEDS_SOLVER)
    results = run_checks(str(path))
    assert {r.result for r in results} == {"pass"}, results
    code, out, _ = cli("check", path, "--solver", "euler")
    assert code == 0 and {r[2] for r in rows(out)} == {"pass"}
    code, _, err = cli("check", path, "--solver", "eulr")
    assert code == 2 and "did you mean 'euler'" in err


def test_any_solver_is_the_first_whose_defaults_run():
    import torch

    from odebench.check import Skip, any_solver
    from odebench.plugins import Entry, Registry

    def broken(func, y0, t):
        raise RuntimeError("no")

    def euler(func, y0, t, *, steps: int = 100):
        y, h = y0, (t[-1] - t[0]) / steps
        for i in range(steps):
            y = y + h * func(t[0] + i * h, y)
        return torch.stack([y0, y])

    registry = Registry(solvers={"broken": Entry("solvers", "broken", broken, "p", "1"),
                                 "euler": Entry("solvers", "euler", euler, "p", "1")})
    assert any_solver(registry) == "euler"
    with pytest.raises(Skip):
        any_solver(Registry(solvers={"broken": Entry("solvers", "broken", broken, "p", "1")}))
