"""Trained Neural-ODE dynamics as solver-benchmark problems (``odebench bench``).

What a solver meets inside a trained Neural ODE: the ODE block of odebench's ``node`` model
(two time-concatenated convolutions with group norms and ReLUs, width 64), trained by
``suites/problem-dynamics.yaml`` and ``suites/problem-dynamics-ucr.yaml``, integrated over
t = 0 -> 1 from its real inputs: the trunk's output for 8 test samples (a stratified
subsample, seed 0), solved as one batch in float32 as the model is trained. ``f`` is the trained ``ODEFunc`` (an
``nn.Module``), so the benchmark also times backward passes through it.

- ``node-ecg-rk4``: trained with one rk4 step (backprop) on MIT-BIH beats (quick tier);
- ``node-ecg-dopri5``: the seed study's recipe, dopri5 at rtol = atol = 1e-3 with the adjoint
  (quick tier);
- ``node-ucr-arrowhead``: the study's recipe on the UCR archive's ArrowHead (full tier).

The reference is a float64 solve of the same weights and inputs by torchdiffeq's dopri5 at
rtol = atol = 1e-13, one sample at a time (so that no sample's step size is set by another's
kinks). The dynamics are only piecewise smooth (ReLU): error estimates miss the kinks, so the
error falls far slower than the tolerance (on one ECG sample, successive solves at 1e-10 and
1e-11 differ by 4e-8), and high orders are expensive (dopri8 needed 4.8x dopri5's evaluations
at 1e-12 on a random input; one-off checks, not committed). At 1e-13 a sample takes ~53,000
evaluations, ~15 s on one core, which is why a problem holds 8 samples, not dozens. A test
checks the reference against scipy's DOP853 at 1e-12, an independent implementation of
another method, to 1e-9 on the first sample of each problem (tests/test_problems_node.py).
Weights, inputs and references are committed in ``problem_data/node-*.pt`` and made from the
suites' stored runs by

    odebench run suites/problem-dynamics.yaml && odebench run suites/problem-dynamics-ucr.yaml
    python -m odebench_plugins.problems_node [--results results]

The ECG inputs are derived from the MIT-BIH Arrhythmia Database (Moody & Mark 2001, PhysioNet,
Open Data Commons Attribution License v1.0); ArrowHead comes from the UCR archive (Dau et al. 2019).
"""

from __future__ import annotations

import argparse
from functools import cache
from pathlib import Path

import torch

import odebench

DATA = Path(__file__).resolve().parent / "problem_data"
ECG = "MIT-BIH Arrhythmia Database (Moody & Mark 2001, PhysioNet, ODC-By 1.0)"
# name: (file, tier, which run of the problem-dynamics suite: dataset name, solver name)
PROBLEMS = {
    "node-ecg-rk4": ("node-ecg-rk4.pt", "quick", ("mitbih", "rk4")),
    "node-ecg-dopri5": ("node-ecg-dopri5.pt", "quick", ("mitbih", "dopri5")),
    "node-ucr-arrowhead": ("node-ucr-arrowhead.pt", "full", ("ucr", "dopri5")),
}
REFERENCE_TOL = 1e-13
# The fixed-grid ladder: these models are trained with one to a few steps over t = 0 -> 1.
STEPS = (1, 2, 4, 8, 16, 32, 64)
SAMPLES = 8


@cache
def _load(file: str) -> dict:
    path = DATA / file
    if not path.is_file():
        raise odebench.DataError(f"{path} is missing: make it with python -m odebench_plugins.problems_node "
                                 "(after odebench run suites/problem-dynamics.yaml)")
    return torch.load(path, map_location="cpu", weights_only=True)


def dynamics(saved: dict) -> torch.nn.Module:
    """The trained ODE function, in float32, gradients on."""
    from odebench_plugins.node import ODEFunc

    func = ODEFunc(int(saved["width"]))
    func.load_state_dict(saved["func"])
    return func


def make(name: str) -> odebench.Problem:
    file, _, _ = PROBLEMS[name]
    saved = _load(file)
    z0 = saved["z0"].clone()
    t = torch.tensor([0.0, float(saved["t_end"])])
    reference = torch.stack([z0.double(), saved["final"]])
    return odebench.Problem(
        f=dynamics(saved), y0=z0, t=t, reference=reference, stiff=False,
        source=f"{saved['description']}; run {saved['run_key']} of suite problem-dynamics "
               f"(code {saved['code_version']}, test accuracy {saved['test_accuracy']:.4f}); {saved['data_source']}",
        reference_method=f"torchdiffeq dopri5 in float64 per sample, rtol = atol = {REFERENCE_TOL:g} "
                         "(committed; python -m odebench_plugins.problems_node)",
        description=saved["description"], steps=STEPS, info={"samples": int(z0.shape[0])})


@odebench.hookimpl
def register_problems(register):
    for name, (_, tier, _) in PROBLEMS.items():
        register(name, lambda _n=name: make(_n), tier=tier)


# ---------------------------------------------------------------- references and extraction

def reference_scipy(func: torch.nn.Module, z0: torch.Tensor, t_end: float, tol: float = REFERENCE_TOL) -> torch.Tensor:
    """The final state in float64 by scipy's DOP853 (an implementation independent of torch's
    solvers), the whole of ``z0`` as one system: the check of the committed reference."""
    import copy

    import numpy as np
    from scipy.integrate import solve_ivp

    f64 = copy.deepcopy(func).double()
    shape = z0.shape

    def rhs(t, y):
        with torch.no_grad():
            return f64(torch.tensor(t, dtype=torch.float64), torch.from_numpy(y).view(shape)).reshape(-1).numpy()

    sol = solve_ivp(rhs, (0.0, t_end), z0.double().reshape(-1).numpy(), method="DOP853", rtol=tol, atol=tol,
                    t_eval=[t_end])
    if not sol.success:
        raise RuntimeError(f"DOP853 reference failed: {sol.message}")
    return torch.from_numpy(np.ascontiguousarray(sol.y[:, -1])).view(shape)


def reference(func: torch.nn.Module, z0: torch.Tensor, t_end: float, tol: float = REFERENCE_TOL) -> torch.Tensor:
    """The final state in float64 by torchdiffeq's dopri5, one sample at a time: the committed
    reference."""
    import copy

    import torchdiffeq

    f64 = copy.deepcopy(func).double()
    t = torch.tensor([0.0, t_end], dtype=torch.float64)
    with torch.no_grad():
        return torch.cat([torchdiffeq.odeint(f64, z.double()[None], t, rtol=tol, atol=tol, method="dopri5",
                                             options={"max_num_steps": 10**7})[-1] for z in z0])


def extract(results: str, samples: int = SAMPLES, only: list[str] | None = None) -> None:
    from odebench.binding import load_dataset, stratified_subsample
    from odebench.plugins import load_registry
    from odebench.store import Store
    from odebench.weights import rebuild

    torch.set_num_threads(1)  # tiny per-sample solves: threads only add overhead
    registry = load_registry()
    runs = [r for r in Store(results).latest("problem-dynamics") if r["status"] == "done"]
    for name, (file, _, (dataset, solver)) in PROBLEMS.items():
        if only and name not in only:
            continue
        mine = [r for r in runs if r["config"]["dataset"]["name"] == dataset
                and r["config"]["solver"]["name"] == solver]
        if not mine:
            print(f"{name}: no done run of suite problem-dynamics on {dataset} with {solver}; skipped")
            continue
        run = mine[0]
        data = load_dataset(registry, run["config"]["dataset"])
        model = rebuild(registry, run, data, results).eval()
        idx = stratified_subsample(data.y_test, samples, 0)
        x = data.x_test if idx is None else data.x_test[idx]
        trunk, block, _ = model
        with torch.no_grad():
            z0 = trunk(x).contiguous()
        t_end = float(block.t[-1])
        final = reference(block.func, z0, t_end)
        what = "MIT-BIH beats" if dataset == "mitbih" else f"UCR {run['config']['dataset'].get('problem')}"
        saved = {
            "func": {k: v.clone() for k, v in block.func.state_dict().items()},
            "width": int(run["config"]["params"].get("width", 64)), "z0": z0, "t_end": t_end, "final": final,
            "run_key": run["run_key"], "code_version": run.get("code_version") or "?",
            "test_accuracy": float(run["metrics"]["test_accuracy"]),
            "description": f"the ODE block of a Neural ODE trained with {solver} on {what}, its inputs for "
                           f"{len(z0)} test samples",
            "data_source": ECG if dataset == "mitbih" else "UCR archive, ArrowHead (Dau et al. 2019)",
        }
        DATA.mkdir(exist_ok=True)
        torch.save(saved, DATA / file)
        print(f"{name}: wrote {DATA / file} ({(DATA / file).stat().st_size // 1024} KB; run {run['run_key']}, "
              f"test accuracy {saved['test_accuracy']:.4f})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Extract the trained dynamics and their references.")
    parser.add_argument("--results", default="results", help="the results folder holding the suite's store")
    parser.add_argument("--samples", type=int, default=SAMPLES, help="test samples per problem")
    parser.add_argument("--only", action="append", metavar="NAME", help="only this problem (repeatable)")
    args = parser.parse_args()
    extract(args.results, args.samples, args.only)
