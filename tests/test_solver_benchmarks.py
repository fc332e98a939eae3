"""``odebench.solver_benchmarks`` as a plugin author runs it: pytest in a subprocess, from a
folder of their own, with their solver file named by ``ODEBENCH_PLUGINS``. The README's
``my_euler.py`` joins the parametrisation and passes; a solver that returns y0 at every time
fails the accuracy check, adaptive or fixed-grid."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .test_docs import _readme_plugin

pytest.importorskip("pytest_benchmark")

BROKEN = '''\
import torch

import odebench


def stay(func, y0, t, *, steps: int = 1):
    return torch.stack([y0] * len(t))


def stay_adaptive(func, y0, t, *, rtol: float = 1e-3, atol: float = 1e-3):
    return torch.stack([y0] * len(t))


@odebench.hookimpl
def register_solvers(register):
    register("broken", stay)
    register("broken-adaptive", stay_adaptive)
'''


def run_benchmarks(folder, plugins: list, solvers: str, select: str) -> subprocess.CompletedProcess:
    """pytest --pyargs odebench.solver_benchmarks --benchmark-only in ``folder`` (no pyproject:
    not this repository's settings), only odebench's torchdiffeq and classic problems loaded."""
    env = {**os.environ, "ODEBENCH_PLUGINS": os.pathsep.join(str(p) for p in plugins),
           "ODEBENCH_SOLVERS": solvers, "ODEBENCH_LOAD_PLUGINS": "torchdiffeq,problems"}
    command = [sys.executable, "-m", "pytest", "--pyargs", "odebench.solver_benchmarks", "--benchmark-only",
               "-q", "-rA", "-p", "no:cacheprovider", "-k", select]
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=300)


def test_readme_solver_joins_the_benchmarks(tmp_path):
    (tmp_path / "my_euler.py").write_text(_readme_plugin())  # README.md, "Add your own solver"
    done = run_benchmarks(tmp_path, [tmp_path / "my_euler.py"], "my-euler,rk4",
                          "my-euler and (detest-A2 or detest-D2 or robertson)")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    passed = [line for line in out.splitlines() if line.startswith("PASSED ")]
    # detest-D2: first order, off by ~1 on the orbit at any affordable step count: recorded, not asserted.
    assert [line.split("::")[-1] for line in passed] == ["test_solver_on_problem[my-euler-detest-A2]",
                                                         "test_solver_on_problem[my-euler-detest-D2]"]
    assert "robertson is stiff" in out
    assert "2 passed, 1 skipped" in out


def test_a_solver_that_returns_y0_fails(tmp_path):
    (tmp_path / "broken.py").write_text(BROKEN)
    done = run_benchmarks(tmp_path, [tmp_path / "broken.py"], "broken,broken-adaptive",
                          "detest-A2 or detest-E2")
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "4 failed" in out
    for problem in ("detest-A2", "detest-E2"):
        # detest-E2 comes back near y0 at the final time (final error 0.02): the RMS error catches it.
        assert f"broken-adaptive on {problem} at rtol=atol=1e-06: error " in out
        assert f"broken on {problem} at steps=1024: error " in out
    assert "above 0.01 = min(10000 x rtol, 0.02)" in out
    assert "observed order on dy/dt = -y: 0.00" in out
    assert "error 1.45 (final 0.0215, RMS 1.45)" in out
    assert "Benchmark fixture was not used" not in out


def test_unknown_solver_stops_the_collection_in_one_line(tmp_path):
    done = run_benchmarks(tmp_path, [], "rk5", "rk")
    out = done.stdout + done.stderr
    assert done.returncode != 0
    assert "ODEBENCH_SOLVERS: unknown solver 'rk5'; did you mean 'rk4'?" in out
    assert "Traceback" not in out
