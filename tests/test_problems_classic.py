"""plugins/problems_classic.py: the DETEST, Bari and Van der Pol problems keep the Problem contract,
and every reference is confirmed by a second, independent float64 computation:

- closed forms against scipy DOP853 (an explicit Runge-Kutta method, at a tolerance tight enough
  for the decaying ones);
- the committed arrays (DOP853 for the non-stiff problems, Radau for the stiff ones) against
  LSODA (Adams / BDF multistep methods, an unrelated Fortran code), at every output time;
- the stiff ones' final values against those published by the Bari Test Set for IVP Solvers;
- the committed file against its recomputation (``python -m odebench_plugins.problems_classic``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchdiffeq
from odebench_plugins import problems_classic as pc
from scipy.integrate import solve_ivp

from odebench.plugins import load_registry
from odebench.problems import relative_error

NAMES = list(pc.SPECS)
CLOSED = [n for n in NAMES if pc.SPECS[n].exact is not None]
COMPUTED = [n for n in NAMES if pc.SPECS[n].exact is None]
QUICK_NONSTIFF = [n for n in NAMES if pc.SPECS[n].tier == "quick" and not pc.SPECS[n].stiff]
AGREE = 1e-9  # norm-wise relative, at every output time

# Final values of the Bari Test Set for IVP Solvers (Mazzia & Magherini, release 2.4, 2008,
# http://www.dm.uniba.it/~testset/): the `solut`/`hiressol` routines of its src/problems/hires.f,
# orego.f and vdpol.f (computed by RADAU with uround = 1.01e-19, rtol = atol = 1.1e-18, say their
# comments). IVPTestSuite.jl's src/testcases/{hires,vdpol}.jl carry the same values (HIRES to 14
# digits: y1(321.8122) = 0.73713125733256e-3).
BARI = {
    "hires": [0.7371312573325668e-3, 0.1442485726316185e-3, 0.5888729740967575e-4, 0.1175651343283149e-2,
              0.2386356198831331e-2, 0.6238968252742796e-2, 0.2849998395185769e-2, 0.2850001604814231e-2],
    "orego": [0.1000814870318523e1, 0.1228178521549917e4, 0.1320554942846706e3],
    "vanderpol-stiff": [0.1706167732170483e1, -0.8928097010247975e0],
}
# rober.f: y(1e11). Our robertson stops at 1e5; this checks its right-hand side.
BARI_ROBER_1E11 = [0.2083340149701255e-07, 0.8333360770334713e-13, 0.9999999791665050]


def worst(ys, reference) -> float:
    """The largest norm-wise relative difference over the output times."""
    return max(relative_error(torch.as_tensor(y), torch.as_tensor(r)) for y, r in zip(ys, reference))


@pytest.fixture(scope="module")
def problems():
    return {name: pc.make(name) for name in NAMES}


def test_the_plugin_registers_every_problem_with_its_tier(monkeypatch):
    monkeypatch.setenv("ODEBENCH_LOAD_PLUGINS", "problems")
    registry = load_registry()
    assert not registry.failures
    tiers = {name: entry.extra["tier"] for name, entry in registry.problems.items()}
    assert tiers == {name: spec.tier for name, spec in pc.SPECS.items()}
    assert len(tiers) == 30 and {f"detest-{c}{i}" for c in "ABCDE" for i in range(1, 6)} <= set(tiers)
    assert sorted(n for n, t in tiers.items() if t == "quick") == [
        "detest-A2", "detest-B5", "detest-C1", "detest-D2", "detest-E2", "robertson", "vanderpol-batch",
        "vanderpol-stiff"]
    assert registry.problems["detest-A1"].obj().reference_method == "closed form"


@pytest.mark.parametrize("name", NAMES)
def test_problem_keeps_the_contract(problems, name):
    problem = problems[name]
    problem.validate(name)
    assert problem.y0.dtype == problem.t.dtype == problem.reference.dtype == torch.float64
    assert torch.equal(problem.reference[0], problem.y0)
    assert problem.stiff == (name in ("hires", "robertson", "orego", "vanderpol-stiff"))
    assert problem.source and problem.reference_method and problem.description
    y = problem.y0.clone()
    for t in (problem.t[1], float(problem.t[1])):  # a 0-d tensor or a float
        dy = problem.f(t, y)
        assert dy.shape == y.shape and dy.dtype == y.dtype and torch.isfinite(dy).all()
    assert torch.equal(y, problem.y0), "f modified y"
    # float32 works too (constants follow y's dtype and device)
    assert problem.f(problem.t[1].float(), y.float()).dtype == torch.float32


@pytest.mark.parametrize("name", CLOSED)
def test_closed_form_matches_an_independent_solve(problems, name):
    # atol far below the solution (A1 decays to 2e-9): the error control is relative.
    ys = pc.solve(name, "DOP853", rtol=1e-13, atol=1e-25)
    assert worst(ys, problems[name].reference.numpy()) <= AGREE
    start = pc.SPECS[name].exact(np.array([0.0]))[0]
    np.testing.assert_allclose(start, pc.SPECS[name].y0[0], rtol=1e-15, atol=1e-14)  # C3, C4: round-off of the sine sums


@pytest.mark.parametrize("name", COMPUTED)
def test_committed_reference_matches_a_second_solver(problems, name):
    # LSODA (Adams or BDF, switching automatically) against DOP853 / Radau: different methods,
    # different codes. Worst seen: 7e-11 (hires at t_end); DOP853 or Radau at 1e-12 agree to 2e-13.
    ys = pc.solve(name, "LSODA", rtol=1e-13, atol=1e-15)
    assert worst(ys, problems[name].reference.numpy()) <= AGREE


@pytest.mark.parametrize("name", [n for n in COMPUTED if not pc.SPECS[n].stiff])
def test_committed_nonstiff_reference_is_what_the_command_computes(problems, name):
    fresh = pc.compute_references([name])[name]
    assert worst(fresh, problems[name].reference.numpy()) <= 1e-11  # bit-identical on the machine that wrote it


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in COMPUTED if pc.SPECS[n].stiff])
def test_committed_stiff_reference_is_what_the_command_computes(problems, name):
    fresh = pc.compute_references([name])[name]  # Radau at rtol 1e-13: 5 to 50 s each
    assert worst(fresh, problems[name].reference.numpy()) <= 1e-11


@pytest.mark.parametrize("name", list(BARI))
def test_stiff_reference_reaches_the_published_final_value(problems, name):
    published = np.array(BARI[name])
    final = problems[name].reference[-1, 0].numpy()
    # Seen: 3e-13 (hires y6) componentwise, 3e-13 norm-wise.
    np.testing.assert_allclose(final, published, rtol=1e-11, atol=0)
    assert relative_error(torch.tensor(final), torch.tensor(published)) <= 1e-12


def test_robertson_right_hand_side_reaches_the_published_value_at_1e11():
    spec = pc.SPECS["robertson"]
    sol = solve_ivp(pc.numpy_rhs(spec.f, (1, 3)), (0, 1e11), spec.y0[0], method="LSODA", rtol=1e-13, atol=1e-22,
                    jac=pc.numpy_jac(spec.f, (1, 3)))
    assert sol.status == 0
    np.testing.assert_allclose(sol.y[:, -1], BARI_ROBER_1E11, rtol=1e-9, atol=0)  # seen: 1e-11


@pytest.mark.parametrize("name", QUICK_NONSTIFF)
def test_dopri5_reaches_the_quick_references(problems, name):
    problem = problems[name]
    ys = torchdiffeq.odeint(problem.f, problem.y0, problem.t, rtol=1e-8, atol=1e-8, method="dopri5")
    assert worst(ys, problem.reference) <= 1e-5


def test_a_missing_array_is_a_data_error(monkeypatch, tmp_path):
    import odebench

    monkeypatch.setattr(pc, "DATA", tmp_path / "classic.npz")
    pc._committed.cache_clear()
    try:
        with pytest.raises(odebench.DataError, match="python -m odebench_plugins.problems_classic"):
            pc.make("hires")
    finally:
        pc._committed.cache_clear()
