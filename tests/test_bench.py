"""``odebench bench``: the solver benchmark's ladder, statuses, loop time, outputs and bad input."""

from __future__ import annotations

import csv
import math
import re
import time
from argparse import Namespace
from pathlib import Path

import pytest
import torch

import odebench
from odebench import bench
from odebench.binding import bind_solver
from odebench.cli import main
from odebench.plugins import load_registry

README = Path(__file__).resolve().parent.parent / "README.md"

PROBLEMS = '''
import math, time
import torch
import odebench


class Linear(torch.nn.Module):
    """dy/dt = a y with a trainable a: closed form y0 exp(a t)."""

    def __init__(self, pause=0.0):
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(-0.5, dtype=torch.float64))
        self.pause = pause

    def forward(self, t, y):
        if self.pause:
            time.sleep(self.pause)
        return self.a * y


def make(pause=0.0, trainable=False):
    t = torch.linspace(0, 2, 5, dtype=torch.float64)
    y0 = torch.tensor([[1.0, -2.0]], dtype=torch.float64)
    ref = torch.stack([y0 * math.exp(-0.5 * float(s)) for s in t])
    f = Linear(pause)
    if not trainable:
        f.a.requires_grad_(False)
    return odebench.Problem(f=f, y0=y0, t=t, reference=ref, reference_method="closed form")


@odebench.hookimpl
def register_problems(register):
    register("t-decay", make, tier="quick")
    register("t-decay-trainable", lambda: make(trainable=True))
    register("t-broken", lambda: 1 / 0)


def stepper(func, y0, t, *, steps: int = 8, pause: float = 0.0):
    """Euler with `steps` steps per interval; sleeps `pause` s per step (its own overhead)."""
    ys, y = [y0], y0
    for t0, t1 in zip(t[:-1], t[1:]):
        h = (t1 - t0) / steps
        for i in range(steps):
            if pause:
                time.sleep(pause)
            y = y + h * func(t0 + i * h, y)
        ys.append(y)
    return torch.stack(ys)


def nan_solver(func, y0, t, *, steps: int = 1):
    func(t[0], y0)
    return torch.full((len(t), *y0.shape), float("nan"), dtype=y0.dtype)


@odebench.hookimpl
def register_solvers(register):
    register("t-stepper", stepper)
    register("t-nan", nan_solver)
'''


@pytest.fixture(scope="module")
def plugin(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bench") / "bench_plugins.py"
    path.write_text(PROBLEMS)
    return path


@pytest.fixture(scope="module")
def registry(plugin):
    return load_registry([str(plugin)])


def _args(**kw) -> Namespace:
    defaults = dict(repeats=3, max_nfe=20_000, max_seconds=10.0, tolerances=[1e-3, 1e-6], steps=[1, 4, 16],
                    modes=list(bench.MODES), problem=None, solver=None, tier="quick", threads=1, device="cpu",
                    quiet=True, plugins=None, plugins_dir=None)
    return Namespace(**{**defaults, **kw})


def _run(registry, **kw):
    return bench.run_bench(_args(**kw), registry)


def test_ladder_rows_errors_and_counts(registry):
    rows, summaries = _run(registry, problem=["t-decay"], solver=["dopri5", "rk4", "t-stepper"])
    dopri5 = [r for r in rows if r["solver"] == "dopri5"]
    assert [r["setting"] for r in dopri5] == ["rtol=atol=0.001", "rtol=atol=1e-06"]
    assert all(r["status"] == "ok" and r["mode"] == "forward" for r in rows)
    # Tighter tolerance: smaller error, more work; accepted steps counted through the callbacks.
    assert dopri5[1]["error_final"] < dopri5[0]["error_final"] < 1e-2
    assert dopri5[1]["nfe"] > dopri5[0]["nfe"] and dopri5[0]["steps_accepted"] >= 1
    # Euler's error falls ~linearly with its steps; NFE = steps x 4 intervals exactly.
    stepper = [r for r in rows if r["solver"] == "t-stepper"]
    assert [r["nfe"] for r in stepper] == [4, 16, 64]
    assert stepper[2]["error_final"] < stepper[1]["error_final"] / 2
    for r in rows:
        assert r["seconds_min"] <= r["seconds_median"] and 0 <= r["loop_share"] <= 1
    assert {s["solver"] for s in summaries} == {"dopri5", "rk4", "t-stepper"}
    base = next(s for s in summaries if s["solver"] == "dopri5")
    assert base["time_to_0.001_vs_dopri5"] == pytest.approx(1.0)


def test_time_to_target_relative_to_dopri5():
    def row(solver, problem, error, seconds):
        return {"solver": solver, "problem": problem, "mode": "forward", "status": "ok", "error_final": error,
                "seconds_median": seconds}

    rows = [row("dopri5", "p", 1e-4, 2.0), row("dopri5", "p", 1e-7, 8.0),
            row("x", "p", 5e-4, 1.0), row("x", "p", 2e-3, 0.5),  # reaches 1e-3 in 1.0 s, never 1e-6
            row("dopri5", "q", 1e-4, 1.0), row("x", "q", 1e-4, 4.0)]
    s = {r["solver"]: r for r in bench.summarise(rows, ["dopri5", "x"])}
    assert s["x"]["time_to_0.001_vs_dopri5"] == pytest.approx(math.sqrt(0.5 * 4.0))  # geometric mean
    assert s["x"]["reached_1e-06"] == 0 and s["x"]["time_to_1e-06_vs_dopri5"] is None
    assert s["x"]["problems_compared_0.001"] == 2


def test_divergence_and_caps_are_rows(registry):
    rows, _ = _run(registry, problem=["t-decay"], solver=["t-nan", "dopri5"], max_nfe=30, tolerances=[1e-2, 1e-9])
    nan = [r for r in rows if r["solver"] == "t-nan"]
    # A solver that diverges goes on to the next setting; each is a row with its reason.
    assert [r["status"] for r in nan] == ["diverged"] * 3 and "non-finite" in nan[0]["reason"]
    capped = [r for r in rows if r["solver"] == "dopri5"]
    assert capped[0]["status"] == "ok"
    assert capped[-1]["status"] == "cap" and "30 function evaluations" in capped[-1]["reason"]


def test_backward_modes_on_a_trainable_problem(registry):
    rows, summaries = _run(registry, problem=["t-decay-trainable"], solver=["dopri5", "t-stepper"],
                           tolerances=[1e-6], steps=[16])
    modes = {(r["solver"], r["mode"]): r for r in rows}
    assert set(modes) == {("dopri5", "forward"), ("dopri5", "backprop"), ("dopri5", "adjoint"),
                          ("t-stepper", "forward"), ("t-stepper", "backprop"), ("t-stepper", "adjoint")}
    assert modes[("t-stepper", "adjoint")]["status"] == "skipped"  # registered no adjoint
    for key in (("dopri5", "backprop"), ("dopri5", "adjoint"), ("t-stepper", "backprop")):
        r = modes[key]
        assert r["status"] == "ok" and r["backward_seconds_median"] > 0 and 0 <= r["backward_loop_share"] <= 1
    assert modes[("dopri5", "backprop")]["nfe_backward"] == 0  # backprop re-evaluates nothing
    assert modes[("dopri5", "adjoint")]["nfe_backward"] > 0  # the adjoint solves backwards
    assert "loop_share_t-decay-trainable" in summaries[0]


def _loop(registry, problem, spec, repeats=3):
    solver = bind_solver(registry, spec)
    runs = [bench.solve_once(problem, solver, "forward", torch.device("cpu"), 10**6, 60.0) for _ in range(repeats)]
    return (min(r["seconds"] - r["inside"] for r in runs), min(r["seconds"] for r in runs), runs[0]["nfe"])


def test_loop_time_ignores_the_cost_of_f(registry, plugin):
    """Making f costlier by a known amount moves the wall time by NFE x that amount and leaves
    the loop time where it was (within 20% of the added time)."""
    import importlib.util

    spec_ = importlib.util.spec_from_file_location("bench_plugins_copy", plugin)
    module = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(module)
    pause = 0.002
    spec = {"name": "rk4", "steps": 8}
    loop0, wall0, nfe = _loop(registry, module.make(), spec)
    loop1, wall1, nfe1 = _loop(registry, module.make(pause=pause), spec)
    added = nfe * pause
    assert nfe1 == nfe > 0
    assert wall1 - wall0 >= added
    assert abs(loop1 - loop0) <= 0.2 * added, (loop0, loop1, added)


def test_loop_time_measures_the_solver_s_own_work(registry, plugin):
    """Making a solver's own step costlier by a known amount raises the loop time by steps x
    that amount (within 20%)."""
    import importlib.util

    spec_ = importlib.util.spec_from_file_location("bench_plugins_copy2", plugin)
    module = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(module)
    pause, steps = 0.003, 8
    problem = module.make()
    loop0, _, nfe = _loop(registry, problem, {"name": "t-stepper", "steps": steps})
    loop1, _, _ = _loop(registry, problem, {"name": "t-stepper", "steps": steps, "pause": pause})
    added = nfe * pause  # one step per evaluation: 4 intervals x 8 steps
    assert loop1 - loop0 == pytest.approx(added, rel=0.2)


def _readme_solver() -> str:
    text = README.read_text()
    section = text[text.index("## Add your own solver"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_solver_appears_in_the_benchmark(tmp_path, capsys):
    (tmp_path / "my_euler.py").write_text(_readme_solver())
    out = tmp_path / "out"
    code = main(["bench", "--plugins", str(tmp_path / "my_euler.py"), "--solver", "my-euler", "--solver", "dopri5",
                 "--problem", "detest-A2", "--steps", "1,4,16", "--tolerances", "1e-3,1e-6", "--out", str(out), "-q"])
    assert code == 0
    rows = list(csv.DictReader(open(out / "bench.csv")))
    mine = [r for r in rows if r["solver"] == "my-euler"]
    assert [r["status"] for r in mine] == ["ok"] * 3 and mine[0]["kind"] == "fixed"
    assert mine[0]["solver_plugin"] == "my_euler.py"
    assert "my-euler" in (out / "summary.md").read_text()
    assert (out / "wp_detest-A2.png").stat().st_size > 0 and (out / "solvers.csv").exists()


@pytest.mark.parametrize("argv, message", [
    (["--problem", "nope"], "--problem 'nope': unknown problem"),
    (["--solver", "nope"], "--solver 'nope': unknown solver"),
    (["--tolerances", "0"], "--tolerances: expected tolerances in (0, 1)"),
    (["--tolerances", "nan"], "--tolerances: expected tolerances in (0, 1)"),
    (["--tolerances", "1e-3,-1"], "--tolerances: expected tolerances in (0, 1)"),
    (["--steps", "0"], "--steps: expected step counts"),
    (["--repeats", "0"], "--repeats: expected a positive whole number"),
    (["--max-seconds", "nan"], "--max-seconds: expected a number of seconds > 0"),
    (["--problem", "t-broken"], "problem 't-broken' could not be made (its reference or data): ZeroDivisionError"),
    (["--plugins", "missing.py"], "--plugins 'missing.py': no such file"),
])
def test_bad_input_is_one_line_before_any_solve(tmp_path, plugin, capsys, argv, message):
    out = tmp_path / "out"
    try:
        code = main(["bench", "--plugins", str(plugin), "--out", str(out), *argv])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and len([line for line in err if "error" in line]) == 1
    assert not out.exists()


def test_a_problem_breaking_the_contract_is_refused():
    problem = odebench.Problem(f=lambda t, y: -y, y0=torch.ones(1, 2, dtype=torch.float64),
                               t=torch.tensor([0.0, 1.0], dtype=torch.float64),
                               reference=torch.ones(3, 1, 2, dtype=torch.float64))
    with pytest.raises(odebench.DataError, match=r"reference must have shape \(2, 1, 2\)"):
        problem.validate("p")


def test_clock_caps_by_time():
    from odebench.timing import CapReached, Clocked

    clock = Clocked(lambda t, y: y, deadline=time.perf_counter() - 1)
    with pytest.raises(CapReached, match="time cap"):
        clock(0.0, torch.ones(1))


def test_help_lists_bench(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "loop time" in capsys.readouterr().out



def test_odebench_check_checks_a_problem_plugin(plugin, tmp_path):
    from odebench.check import run_checks

    results = {(r.check, r.target): r for r in run_checks(str(plugin))}
    assert results[("reference", "problem t-decay")].result == "pass"
    assert results[("make", "problem t-broken")].result == "fail"
    assert "ZeroDivisionError" in results[("make", "problem t-broken")].reason
    # A reference that is wrong (here: off by 1% per unit of time) fails the reference check.
    wrong = tmp_path / "wrong.py"
    wrong.write_text(PROBLEMS.replace("math.exp(-0.5 * float(s))", "math.exp(-0.5 * float(s)) * (1 + 0.01 * float(s))"))
    results = {(r.check, r.target): r for r in run_checks(str(wrong))}
    assert results[("reference", "problem t-decay")].result == "fail"
    assert "the reference or f is wrong" in results[("reference", "problem t-decay")].reason
