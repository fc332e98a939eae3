"""The trained Neural-ODE dynamics shipped as solver-benchmark problems: they keep the contract,
come from the committed problem-dynamics suite, and their float64 references agree with an
independent solver (scipy's DOP853) to 1e-9."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from odebench_plugins import problems_node

from odebench.problems import relative_error

ROOT = Path(__file__).resolve().parent.parent
NAMES = sorted(problems_node.PROBLEMS)


@pytest.mark.parametrize("name", NAMES)
def test_a_node_problem_keeps_the_contract(name):
    problem = problems_node.make(name)
    problem.validate(name)
    assert problem.trainable and problem.y0.dtype == torch.float32
    assert problem.y0.shape[0] == problems_node.SAMPLES
    assert torch.equal(problem.reference[0], problem.y0.double())
    # The final state is not the initial one: the dynamics do something over t = 0 -> 1.
    assert relative_error(problem.reference[0], problem.reference[-1]) > 1e-2


@pytest.mark.parametrize("name", NAMES)
def test_the_dynamics_come_from_the_committed_suite(name):
    saved = problems_node._load(problems_node.PROBLEMS[name][0])
    runs = {r["run_key"]: r for r in csv.DictReader(open(ROOT / "results/problem-dynamics/runs.csv"))}
    assert saved["run_key"] in runs, "rerun the suite and python -m odebench_plugins.problems_node"
    run = runs[saved["run_key"]]
    assert run["status"] == "done" and float(run["test_accuracy"]) == pytest.approx(saved["test_accuracy"])
    assert "+dirty" not in saved["code_version"]


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_the_reference_agrees_with_an_independent_solver(name):
    """DOP853 (scipy, another method in another implementation) at rtol = atol = 1e-12 on the
    first sample, against the committed dopri5 reference at 1e-13: within 1e-9 relative
    (~15 s a problem)."""
    problem = problems_node.make(name)
    other = problems_node.reference_scipy(problem.f, problem.y0[:1], float(problem.t[-1]), tol=1e-12)
    assert relative_error(other, problem.reference[-1, :1]) <= 1e-9
