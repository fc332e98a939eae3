"""Where a Neural ODE training step spends its time: inside the dynamics (the layers the solver
evaluates, forward and backward) vs everything else (the solver's own bookkeeping: stage
combinations, error norms, step control, Python; plus the trunk, head, loss). Every variant is
measured in this one process on the same batch, alternating round by round, median over rounds,
so ratios between variants are comparable even on a busy machine (absolute seconds are not).

    python tests/benchmarks/node_overhead.py [--batch 128] [--rounds 5] [--steps 3] [--compile]

Variants: torchdiffeq dopri5/bosh3 at rtol = atol = 1e-3 with backprop, adjoint and
adjoint-seminorm; torchode dopri5/tsit5 (backprop) if the example plugin is installed; the
dynamics' own timer switched off (its cost); ``--compile``: torch.compile of the dynamics
(compile time printed apart). Random init: NFE grows during training, so the per-NFE and
per-step costs are what carry over, not the totals.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from odebench.binding import bind_solver, load_dataset
from odebench.plugins import load_registry

TOL = {"rtol": 1e-3, "atol": 1e-3}
# The node model times its dynamics only when asked (time_dynamics is off by default since it
# costs two autograd nodes per evaluation): every variant but "timer off" asks.
TIMED = {"time_dynamics": True}


def variants(registry, compile_: bool) -> list[tuple[str, dict, dict]]:
    out = [
        ("dopri5 backprop", {"name": "dopri5", **TOL}, {"gradient": "backprop", **TIMED}),
        ("dopri5 backprop, timer off", {"name": "dopri5", **TOL}, {"gradient": "backprop", "time_dynamics": False}),
        ("dopri5 adjoint", {"name": "dopri5", **TOL}, {"gradient": "adjoint", **TIMED}),
        ("dopri5 adjoint-seminorm", {"name": "dopri5", **TOL}, {"gradient": "adjoint-seminorm", **TIMED}),
        ("bosh3 backprop", {"name": "bosh3", **TOL}, {"gradient": "backprop", **TIMED}),
        ("bosh3 adjoint", {"name": "bosh3", **TOL}, {"gradient": "adjoint", **TIMED}),
    ]
    for method in ("dopri5", "tsit5"):
        if f"torchode-{method}" in registry.solvers:
            out.append((f"torchode-{method} backprop", {"name": f"torchode-{method}", **TOL},
                        {"gradient": "backprop", **TIMED}))
    if compile_:
        out.append(("dopri5 backprop, compiled", {"name": "dopri5", **TOL},
                    {"gradient": "backprop", "compile_dynamics": True, **TIMED}))
    return out


def step(model, x, y) -> dict[str, float]:
    """One training step; its seconds, the dynamics' seconds, NFE and solver steps."""
    c0 = dict(model.counters)
    start = time.perf_counter()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    model.zero_grad(set_to_none=True)
    loss.backward()
    seconds = time.perf_counter() - start
    c1 = model.counters
    return {"seconds": seconds, "dynamics": c1.get("dynamics_seconds", 0) - c0.get("dynamics_seconds", 0),
            "nfe": c1["nfe"] - c0["nfe"],
            "steps": sum(c1[k] - c0[k] for k in ("steps_accepted", "steps_rejected"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3, help="training steps per variant per round")
    parser.add_argument("--compile", action="store_true", help="also torch.compile the dynamics")
    args = parser.parse_args()
    registry = load_registry()
    data = load_dataset(registry, {"name": "synthetic", "train_size": args.batch, "test_size": 8})
    x, y = data.x_train, data.y_train
    models = {}
    for name, spec, params in variants(registry, args.compile):
        torch.manual_seed(0)  # the same weights for every variant
        models[name] = registry.models["node"].obj(data.shape, bind_solver(registry, spec), **params).train()
        start = time.perf_counter()
        step(models[name], x, y)  # warm-up (and compilation)
        if params.get("compile_dynamics"):
            print(f"compile + first step: {time.perf_counter() - start:.1f} s")
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, model in models.items():
            for _ in range(args.steps):
                rows[name].append(step(model, x, y))

    print(f"batch {args.batch}, threads {torch.get_num_threads()}, {args.rounds} rounds x {args.steps} steps; "
          "medians; shared machine: compare ratios, not seconds")
    base = statistics.median(r["seconds"] for r in rows["dopri5 backprop"])
    print(f"{'variant':30} {'step s':>7} {'x':>5} {'NFE':>5} {'steps':>5} {'dyn %':>6} "
          f"{'other ms/step':>13} {'other ms/NFE':>12} {'dyn ms/NFE':>10}")
    for name, rs in rows.items():
        med = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        other = med["seconds"] - med["dynamics"]
        timed = med["dynamics"] > 0
        print(f"{name:30} {med['seconds']:7.3f} {med['seconds'] / base:5.2f} {med['nfe']:5.0f} {med['steps']:5.0f} "
              + (f"{100 * med['dynamics'] / med['seconds']:6.1f} {1e3 * other / max(1, med['steps']):13.2f} "
                 f"{1e3 * other / max(1, med['nfe']):12.2f} {1e3 * med['dynamics'] / max(1, med['nfe']):10.2f}"
                 if timed else f"{'-':>6} {'-':>13} {'-':>12} {'-':>10}"))
    print("'other' = step time outside the dynamics: solver bookkeeping + trunk, head, loss, autograd glue; "
          "steps = accepted + rejected, forward and backward (torchode: the slowest sample's)")


if __name__ == "__main__":
    main()
