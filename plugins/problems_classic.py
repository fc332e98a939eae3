"""Classic initial-value problems with trusted float64 references, for ``odebench bench``.

Shipped (``tier="quick"`` marked *q*; every problem is in the full set):

- ``detest-A1`` ... ``detest-E5``: the 25 non-stiff DETEST problems (Hull, Enright, Fellen &
  Sedgwick, "Comparing numerical methods for ordinary differential equations", SIAM J. Numer.
  Anal. 9(4):603-637, 1972), defined as in nodepy's ``nodepy/ivp.py`` (``detest('A1')`` ...):
  A scalar, B small systems, C linear chains (10, 10, 10, 51 equations) and C5 the five outer
  planets (30), D Kepler orbits with eccentricities 0.1 ... 0.9, E second-order equations
  written as first-order systems. Each is a batch of one on [0, 20] with outputs at
  ``linspace(0, 20, 11)``. Quick: A2, B5, C1, D2, E2.
- Stiff, from the Bari "Test Set for IVP Solvers" (F. Mazzia & C. Magherini, release 2.4, 2008,
  http://www.dm.uniba.it/~testset/): ``hires`` (8 equations, [0, 321.8122]),
  ``orego`` (Oregonator, 3, [0, 360]), ``vanderpol-stiff`` (q; eps = 1e-6, y0 = (2, 0), [0, 2])
  and ``robertson`` (q; Robertson's kinetics, but to t = 1e5 instead of the test set's 1e11,
  so that the reference computed here is credible). Outputs at t0, four times between and t_end.
- ``vanderpol-batch`` (q): 256 Van der Pol oscillators with mu = 2, the problem of the torchode
  paper's benchmark (Lienen & Günnemann, "torchode: A Parallel ODE Solver for PyTorch", 2022),
  here with initial values uniform in [-2, 2]^2 (``torch.Generator().manual_seed(0)``; the paper
  spread them along the limit cycle) and 11 outputs on [0, 10].

References (float64, at every output time): the closed form where one exists (A1-A5, B2, B4,
B5, C1-C4, D1-D5, E1, E4, E5; A5 through its polar form, B5 Jacobi's elliptic functions, D
Kepler's equation solved by Newton). The rest (B1, B3, C5, E2, E3, vanderpol-batch: scipy
``DOP853``; the stiff ones: scipy ``Radau``; the tolerances are in ``NONSTIFF``/``STIFF`` and
in each problem's ``reference_method``) are committed in ``problem_data/classic.npz`` (one
array per problem, shaped ``(len(t), batch, n)``), which ``make()`` loads and never recomputes.
Rewrite it with ``python -m odebench_plugins.problems_classic`` (a minute or two).
``tests/test_problems_classic.py`` checks every reference against a second, independent float64
solver and the stiff ones against the Bari test set's published final values.

``f(t, y)`` uses torch operations only (any device, any floating dtype), takes ``y`` of shape
``(batch, n)`` and a 0-d tensor or float ``t``, and never modifies ``y``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path

import numpy as np
import torch

import odebench
from odebench.problems import Problem

DATA = Path(__file__).parent / "problem_data" / "classic.npz"
COMMAND = "python -m odebench_plugins.problems_classic"
NONSTIFF = {"method": "DOP853", "rtol": 1e-13, "atol": 1e-15}
STIFF = {"method": "Radau", "rtol": 1e-13, "atol": 1e-15}
DETEST_SOURCE = "DETEST class {}, Hull et al. 1972 (definitions as nodepy's ivp.py)"
BARI_SOURCE = "Bari Test Set for IVP Solvers (Mazzia & Magherini, release 2.4, 2008), problem {}"


# ---------------------------------------------------------------- right-hand sides (torch)

_CONSTANTS: dict = {}


def _const(array: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """``array`` as a tensor on ``like``'s device and dtype, made once per (array, device, dtype)."""
    key = (id(array), like.device, like.dtype)
    if key not in _CONSTANTS:
        _CONSTANTS[key] = torch.as_tensor(array, dtype=like.dtype, device=like.device)
    return _CONSTANTS[key]


def _time(t, y: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(t, dtype=y.dtype, device=y.device)


def _stack(*columns: torch.Tensor) -> torch.Tensor:
    return torch.stack(columns, dim=-1)


def _linear(t, y, *, a: np.ndarray):
    return y @ _const(a, y).T


def _a1(t, y):
    return -y


def _a2(t, y):
    return -0.5 * y**3


def _a3(t, y):
    return y * torch.cos(_time(t, y))


def _a4(t, y):
    return 0.25 * y * (1 - 0.05 * y)


def _a5(t, y):
    t = _time(t, y)
    return (y - t) / (y + t)


def _b1(t, y):
    y1, y2 = y.unbind(-1)
    return _stack(2 * (y1 - y1 * y2), -(y2 - y1 * y2))


def _b3(t, y):
    y1, y2, _ = y.unbind(-1)
    return _stack(-y1, y1 - y2**2, y2**2)


def _b4(t, y):
    y1, y2, y3 = y.unbind(-1)
    r = torch.sqrt(y1**2 + y2**2)
    return _stack(-y2 - y1 * y3 / r, y1 - y2 * y3 / r, y1 / r)


def _b5(t, y):
    y1, y2, y3 = y.unbind(-1)
    return _stack(y2 * y3, -y1 * y3, -0.51 * y1 * y2)


# C5: the five outer planets around the sun (and the inner planets), heliocentric.
C5_K2 = 2.95912208286
C5_M0 = 1.00000597682
C5_MASSES = np.array([0.000954786104043, 0.000285583733151, 0.0000437273164546, 0.0000517759138449,
                      0.00000277777777778])
C5_OFF = 1.0 - np.eye(5)  # pairs j != k
C5_Y0 = [3.42947415189, 3.35386959711, 1.35494901715, 6.64145542550, 5.97156957878, 2.18231499728,
         11.2630437207, 14.6952576794, 6.27960525067, -30.1552268759, 1.65699966404, 1.43785752721,
         -21.1238353380, 28.4465098142, 15.3882659679, -0.557160570446, 0.505696783289, 0.230578543901,
         -0.415570776342, 0.365682722812, 0.169143213293, -0.325325669158, 0.189706021964, 0.0877265322780,
         -0.0240476254170, -0.287659532608, -0.117219543175, -0.176860753121, -0.216393453025, -0.0148647893090]


def _c5(t, y):
    q, v = y[:, :15].reshape(-1, 5, 3), y[:, 15:]  # positions (batch, body, xyz), velocities
    m, off = _const(C5_MASSES, y), _const(C5_OFF, y)
    r3 = (q**2).sum(-1) ** 1.5  # (batch, body)
    diff = q[:, None, :, :] - q[:, :, None, :]  # [b, j, k] = q_k - q_j
    d3 = ((diff**2).sum(-1) + (1 - off)) ** 1.5  # 1 on the diagonal, masked out below
    pull = (off * m / d3)[..., None] * diff - (off * m)[..., None] * (q / r3[..., None])[:, None, :, :]
    acc = C5_K2 * (-((C5_M0 + m) / r3)[..., None] * q + pull.sum(2))
    return torch.cat([v, acc.reshape(-1, 15)], dim=-1)


def _kepler(t, y):
    x1, x2, v1, v2 = y.unbind(-1)
    r3 = (x1**2 + x2**2) ** 1.5
    return _stack(v1, v2, -x1 / r3, -x2 / r3)


def _e1(t, y):
    y1, y2 = y.unbind(-1)
    x = _time(t, y) + 1
    return _stack(y2, -(y2 / x + (1 - 0.25 / x**2) * y1))


def _vdp(t, y, *, mu: float):
    y1, y2 = y.unbind(-1)
    return _stack(y2, mu * (1 - y1**2) * y2 - y1)


def _e3(t, y):
    y1, y2 = y.unbind(-1)
    return _stack(y2, y1**3 / 6 - y1 + 2 * torch.sin(2.78535 * _time(t, y)))


def _e4(t, y):
    y1, y2 = y.unbind(-1)
    return _stack(y2, 0.032 - 0.4 * y2**2)


def _e5(t, y):
    y1, y2 = y.unbind(-1)
    return _stack(y2, torch.sqrt(1 + y2**2) / (25 - _time(t, y)))


def _hires(t, y):
    y1, y2, y3, y4, y5, y6, y7, y8 = y.unbind(-1)
    r = 280 * y6 * y8 - 1.81 * y7
    return _stack(-1.71 * y1 + 0.43 * y2 + 8.32 * y3 + 0.0007,
                  1.71 * y1 - 8.75 * y2,
                  -10.03 * y3 + 0.43 * y4 + 0.035 * y5,
                  8.32 * y2 + 1.71 * y3 - 1.12 * y4,
                  -1.745 * y5 + 0.43 * (y6 + y7),
                  -280 * y6 * y8 + 0.69 * y4 + 1.71 * y5 - 0.43 * y6 + 0.69 * y7,
                  r, -r)


def _robertson(t, y):
    y1, y2, y3 = y.unbind(-1)
    a, c = 0.04 * y1 - 1e4 * y2 * y3, 3e7 * y2**2
    return _stack(-a, a - c, c)


def _orego(t, y):
    y1, y2, y3 = y.unbind(-1)
    return _stack(77.27 * (y2 + y1 * (1 - 8.375e-6 * y1 - y2)), (y3 - (1 + y1) * y2) / 77.27, 0.161 * (y1 - y3))


def _vdp_stiff(t, y, *, eps: float = 1e-6):
    y1, y2 = y.unbind(-1)
    return _stack(y2, ((1 - y1**2) * y2 - y1) / eps)


# ---------------------------------------------------------------- closed forms (numpy, t -> (len(t), n))

def _a5_exact(t):
    # (y + t) y' = y - t is r' = -r in polar coordinates (t, y) = r (cos th, sin th): r = 4 exp(pi/2 - th),
    # and t = r cos th falls monotonically on th in (-pi/4, pi/2]: bisection to the last bit.
    lo, hi = np.full_like(t, -math.pi / 4), np.full_like(t, math.pi / 2)
    for _ in range(200):
        mid = (lo + hi) / 2
        below = 4 * np.exp(math.pi / 2 - mid) * np.cos(mid) > t  # th too small
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    th = (lo + hi) / 2
    return (4 * np.exp(math.pi / 2 - th) * np.sin(th))[:, None]


def _c_chain_exact(t, n):
    # y' = A y with A = tridiag(1, -2, 1) (n x n), y0 = e1: the sine transform diagonalises A.
    k = np.arange(1, n + 1)
    s = np.sin(np.outer(k, k) * math.pi / (n + 1))  # s[i, k]: eigenvector k, component i
    lam = -4 * np.sin(k * math.pi / (2 * (n + 1))) ** 2
    return (2 / (n + 1)) * (np.exp(np.outer(t, lam)) * s[0]) @ s.T


def _c1_exact(t):
    # y1' = -y1, yi' = y(i-1) - yi, y10' = y9: Poisson probabilities, y10 the remaining mass.
    head = np.stack([t**i * np.exp(-t) / math.factorial(i) for i in range(9)], axis=1)
    return np.concatenate([head, 1 - head.sum(1, keepdims=True)], axis=1)


def _c2_exact(t):
    # yi' = (i-1) y(i-1) - i yi, y10' = 9 y9: yi = e^-t (1 - e^-t)^(i-1), y10 = (1 - e^-t)^9.
    e, u = np.exp(-t), -np.expm1(-t)
    return np.stack([e * u**i for i in range(9)] + [u**9], axis=1)


def _kepler_exact(t, ecc):
    # Start at periapsis of an orbit with a = 1 (period 2 pi): mean anomaly t = E - ecc sin E.
    big_e = t + ecc * np.sin(t) / (1 - ecc * np.cos(t))
    for _ in range(100):
        step = (big_e - ecc * np.sin(big_e) - t) / (1 - ecc * np.cos(big_e))
        big_e = big_e - step
        if np.all(np.abs(step) <= 1e-16 * np.maximum(1, np.abs(big_e))):
            break
    c, s, b = np.cos(big_e), np.sin(big_e), math.sqrt(1 - ecc**2)
    return np.stack([c - ecc, b * s, -s / (1 - ecc * c), b * c / (1 - ecc * c)], axis=1)


def _b5_exact(t):
    from scipy.special import ellipj  # y = (sn, cn, dn)(t | m = 0.51)

    sn, cn, dn, _ = ellipj(t, 0.51)
    return np.stack([sn, cn, dn], axis=1)


def _e1_exact(t):
    # Bessel's equation of order 1/2 in x = t + 1: y = J_1/2(x) = sqrt(2 / (pi x)) sin x.
    x, c = t + 1, math.sqrt(2 / math.pi)
    return np.stack([c * np.sin(x) / np.sqrt(x), c * (np.cos(x) / np.sqrt(x) - 0.5 * np.sin(x) / x**1.5)], axis=1)


def _e4_exact(t):
    w = math.sqrt(0.032 * 0.4)  # y'' = a - b y'^2: y' = sqrt(a / b) tanh(sqrt(ab) t)
    return np.stack([30 + np.log(np.cosh(w * t)) / 0.4, math.sqrt(0.032 / 0.4) * np.tanh(w * t)], axis=1)


def _e5_exact(t):
    # asinh(y') = log(25 / (25 - t)): the pursuit curve.
    return np.stack([-12.5 * np.log1p(-t / 25) + t * (t - 50) / 100, 12.5 / (25 - t) - (25 - t) / 50], axis=1)


# ---------------------------------------------------------------- the table

@dataclass(frozen=True)
class Spec:
    f: Callable
    y0: np.ndarray  # (batch, n)
    t: tuple
    source: str
    description: str
    exact: Callable | None = None  # numpy t -> (len(t), n)
    stiff: bool = False
    tier: str = "full"


def _c_matrix(lower: np.ndarray, diag: np.ndarray, upper: np.ndarray | None = None) -> np.ndarray:
    a = np.diag(diag) + np.diag(lower, -1)
    return a + np.diag(upper, 1) if upper is not None else a


def _one(y0) -> np.ndarray:
    return np.array(y0, dtype=np.float64)[None]


def _unit(n: int) -> tuple:
    return (1.0,) + (0.0,) * (n - 1)


def _detest() -> dict[str, Spec]:
    t = tuple(np.linspace(0, 20, 11).tolist())
    c1 = _c_matrix(np.ones(9), -np.r_[np.ones(9), 0])
    c2 = _c_matrix(np.arange(1.0, 10), -np.r_[np.arange(1.0, 10), 0])
    c3, c4 = (_c_matrix(np.ones(n - 1), -2 * np.ones(n), np.ones(n - 1)) for n in (10, 51))
    b2 = np.array([[-1.0, 1, 0], [1, -2, 1], [0, 1, -1]])
    table = {
        "A1": (_a1, (1.0,), lambda t: np.exp(-t)[:, None], "y' = -y"),
        "A2": (_a2, (1.0,), lambda t: (1 / np.sqrt(1 + t))[:, None], "y' = -y^3/2"),
        "A3": (_a3, (1.0,), lambda t: np.exp(np.sin(t))[:, None], "y' = y cos t"),
        "A4": (_a4, (1.0,), lambda t: (20 / (1 + 19 * np.exp(-t / 4)))[:, None],
               "logistic y' = y/4 (1 - y/20)"),
        "A5": (_a5, (4.0,), _a5_exact, "y' = (y - t) / (y + t)"),
        "B1": (_b1, (1.0, 3.0), None, "Lotka-Volterra predator-prey"),
        "B2": (partial(_linear, a=b2), (2.0, 0.0, 1.0),
               lambda t: 1 + np.outer(np.exp(-t) / 2, [1, 0, -1]) + np.outer(np.exp(-3 * t) / 2, [1, -2, 1]),
               "linear 3x3 chain (eigenvalues 0, -1, -3)"),
        "B3": (_b3, (1.0, 0.0, 0.0), None, "nonlinear chemical reaction chain"),
        "B4": (_b4, (3.0, 0.0, 0.0),
               lambda t: np.stack([(2 + np.cos(t)) * np.cos(t), (2 + np.cos(t)) * np.sin(t), np.sin(t)], axis=1),
               "rotating radius, the solution ((2 + cos t) cos t, (2 + cos t) sin t, sin t)"),
        "B5": (_b5, (0.0, 1.0, 1.0), _b5_exact, "Euler's rigid body, Jacobi elliptic functions m = 0.51"),
        "C1": (partial(_linear, a=c1), _unit(10), _c1_exact, "radioactive decay chain, 10 equations"),
        "C2": (partial(_linear, a=c2), _unit(10), _c2_exact, "decay chain with rates 1..9, 10 equations"),
        "C3": (partial(_linear, a=c3), _unit(10), partial(_c_chain_exact, n=10), "tridiag(1, -2, 1), 10 equations"),
        "C4": (partial(_linear, a=c4), _unit(51), partial(_c_chain_exact, n=51), "tridiag(1, -2, 1), 51 equations"),
        "C5": (_c5, tuple(C5_Y0), None, "five outer planets (Jupiter ... Pluto), 30 equations"),
    }
    for i, ecc in enumerate((0.1, 0.3, 0.5, 0.7, 0.9), 1):
        y0 = (1 - ecc, 0.0, 0.0, math.sqrt((1 + ecc) / (1 - ecc)))
        table[f"D{i}"] = (_kepler, y0, partial(_kepler_exact, ecc=ecc), f"Kepler orbit, eccentricity {ecc}")
    table |= {
        "E1": (_e1, (0.6713967071418030, 0.09540051444747446), _e1_exact,
               "Bessel's equation of order 1/2: y'' + y'/(t+1) + (1 - 1/(4 (t+1)^2)) y = 0"),
        "E2": (partial(_vdp, mu=1.0), (2.0, 0.0), None, "Van der Pol, mu = 1"),
        "E3": (_e3, (0.0, 0.0), None, "forced Duffing: y'' = y^3/6 - y + 2 sin(2.78535 t)"),
        "E4": (_e4, (30.0, 0.0), _e4_exact, "y'' = 0.032 - 0.4 y'^2"),
        "E5": (_e5, (0.0, 0.0), _e5_exact, "pursuit curve: y'' = sqrt(1 + y'^2) / (25 - t)"),
    }
    quick = {"A2", "B5", "C1", "D2", "E2"}
    return {f"detest-{key}": Spec(f, _one(y0), t, DETEST_SOURCE.format(key[0]), f"DETEST {key}: {text}", exact,
                                  tier="quick" if key in quick else "full")
            for key, (f, y0, exact, text) in table.items()}


def _vanderpol_batch_y0() -> np.ndarray:
    g = torch.Generator().manual_seed(0)
    return (4 * torch.rand(256, 2, generator=g, dtype=torch.float64) - 2).numpy()


SPECS: dict[str, Spec] = _detest() | {
    "hires": Spec(_hires, _one((1, 0, 0, 0, 0, 0, 0, 0.0057)), (0, 1, 10, 50, 200, 321.8122),
                  BARI_SOURCE.format("HIRES"), "HIRES: photomorphogenesis kinetics, 8 equations (Schäfer 1975)",
                  stiff=True),
    "robertson": Spec(_robertson, _one((1, 0, 0)), (0, 0.4, 40, 400, 4000, 1e5),
                      BARI_SOURCE.format("ROBER") + ", on [0, 1e5] (the test set's is [0, 1e11])",
                      "Robertson's chemical kinetics (k1 = 0.04, k2 = 3e7, k3 = 1e4)", stiff=True, tier="quick"),
    "orego": Spec(_orego, _one((1, 2, 3)), (0, 72, 144, 216, 288, 360), BARI_SOURCE.format("OREGO"),
                  "Oregonator: the Belousov-Zhabotinskii reaction, 3 equations", stiff=True),
    "vanderpol-stiff": Spec(_vdp_stiff, _one((2, 0)), (0, 0.3, 0.6, 1.0, 1.3, 2.0), BARI_SOURCE.format("VDPOL"),
                            "Van der Pol, y2' = ((1 - y1^2) y2 - y1) / eps with eps = 1e-6 (relaxation "
                            "oscillation; the output times avoid its jumps at t ~ 0.81 and 1.61)",
                            stiff=True, tier="quick"),
    "vanderpol-batch": Spec(partial(_vdp, mu=2.0), _vanderpol_batch_y0(), tuple(np.linspace(0, 10, 11).tolist()),
                            "torchode paper's benchmark problem (Lienen & Günnemann 2022), mu = 2, batch 256",
                            "256 Van der Pol oscillators, mu = 2, y0 uniform in [-2, 2]^2 with "
                            "torch.Generator().manual_seed(0) (the paper spread y0 along the limit cycle and "
                            "solved one cycle with 200 outputs)",
                            tier="quick"),
}


# ---------------------------------------------------------------- references

def numpy_rhs(f: Callable, shape: tuple) -> Callable:
    """``f`` as scipy wants it: flat float64 arrays in and out."""
    def rhs(t, y):
        with torch.no_grad():
            return f(torch.tensor(t, dtype=torch.float64), torch.from_numpy(y).reshape(shape)).reshape(-1).numpy()
    return rhs


def numpy_jac(f: Callable, shape: tuple) -> Callable:
    """The Jacobian of ``f`` by autograd, for the implicit solvers."""
    def jac(t, y):
        t = torch.tensor(t, dtype=torch.float64)
        fn = lambda z: f(t, z.reshape(shape)).reshape(-1)  # noqa: E731
        return torch.autograd.functional.jacobian(fn, torch.from_numpy(y), vectorize=True).numpy()
    return jac


def solve(name: str, method: str, rtol: float, atol: float) -> np.ndarray:
    """Solve problem ``name`` with scipy's ``solve_ivp``: the solution at the output times, (len(t), batch, n)."""
    from scipy.integrate import solve_ivp

    spec, y0 = SPECS[name], SPECS[name].y0
    extra = {} if method in ("RK45", "DOP853", "RK23") else {"jac": numpy_jac(spec.f, y0.shape)}
    sol = solve_ivp(numpy_rhs(spec.f, y0.shape), (spec.t[0], spec.t[-1]), y0.reshape(-1), method=method,
                    t_eval=spec.t, rtol=rtol, atol=atol, **extra)
    if sol.status != 0:
        raise RuntimeError(f"{name}: {method} failed: {sol.message}")
    return sol.y.T.reshape(len(spec.t), *y0.shape)


def compute_references(names=None) -> dict[str, np.ndarray]:
    """The committed arrays (every problem without a closed form), computed afresh."""
    names = [n for n in (names or SPECS) if SPECS[n].exact is None]
    return {n: solve(n, **(STIFF if SPECS[n].stiff else NONSTIFF)) for n in names}


@cache
def _committed() -> dict[str, np.ndarray]:
    if not DATA.is_file():
        raise odebench.DataError(f"{DATA} is missing: recompute it with {COMMAND}")
    with np.load(DATA) as data:
        return {key: data[key] for key in data.files}


def reference_method(name: str) -> str:
    spec = SPECS[name]
    if spec.exact is not None:
        return "closed form"
    opts = STIFF if spec.stiff else NONSTIFF
    return (f"scipy solve_ivp {opts['method']} in float64, rtol={opts['rtol']:g}, atol={opts['atol']:g}, "
            f"committed in problem_data/{DATA.name}; recompute with {COMMAND}"
            + (" (the Bari reference value is for t = 1e11 and does not apply)" if name == "robertson" else ""))


def make(name: str) -> Problem:
    spec, y0 = SPECS[name], SPECS[name].y0
    t = np.array(spec.t, dtype=np.float64)
    if spec.exact is not None:
        reference = spec.exact(t)[:, None, :]
    else:
        reference = _committed().get(name)
        if reference is None or reference.shape != (len(t), *y0.shape):
            raise odebench.DataError(f"{DATA.name} has no reference of the right shape for {name!r}: "
                                     f"recompute it with {COMMAND}")
    reference = torch.tensor(reference, dtype=torch.float64)
    reference[0] = torch.from_numpy(y0)  # the start is exact by definition
    return Problem(f=spec.f, y0=torch.tensor(y0), t=torch.from_numpy(t), reference=reference,
                   stiff=spec.stiff, source=spec.source, reference_method=reference_method(name),
                   description=spec.description, info={"n": y0.shape[1], "batch": y0.shape[0]})


@odebench.hookimpl
def register_problems(register):
    for name, spec in SPECS.items():
        register(name, partial(make, name), tier=spec.tier)


def main() -> None:
    import time

    start = time.perf_counter()
    arrays = {}
    for name in (n for n in SPECS if SPECS[n].exact is None):
        tick = time.perf_counter()
        arrays |= compute_references([name])
        print(f"{name}: {reference_method(name).split(', committed')[0]} ({time.perf_counter() - tick:.1f} s)")
    DATA.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(DATA, **arrays)
    print(f"wrote {len(arrays)} references to {DATA} ({DATA.stat().st_size} bytes, "
          f"{time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
