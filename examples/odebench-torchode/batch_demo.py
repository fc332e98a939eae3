"""Batch composition: a slow sample solved alone and beside a 60x faster one, with
torchdiffeq's dopri5 and torchode-dopri5.  python examples/odebench-torchode/batch_demo.py"""

import torch

from odebench.plugins import load_registry

rates = torch.tensor([[1.0], [60.0]], dtype=torch.float64)  # dy/dt = -rate * y per sample
y0 = torch.tensor([[1.0, 2.0], [1.0, -1.0]], dtype=torch.float64)
t = torch.tensor([0.0, 1.0], dtype=torch.float64)
registry = load_registry()


def decay(calls: list):
    def f(s, y):
        calls.append(len(y))
        return -rates[: len(y)] * y

    return f


for name in ("dopri5", "torchode-dopri5"):
    solve, ends = registry.solvers[name].obj, []
    for n in (1, 2):
        calls: list = []
        out = solve(decay(calls), y0[:n], t)
        stats = getattr(solve, "last_stats", {})
        stats = {k: stats[k].tolist() for k in ("n_steps", "n_f_evals") if k in stats}
        ends.append(out[-1, 0])
        print(f"{name:16s} batch of {n}: {len(calls):3d} evaluations {stats}")
    print(f"{name:16s} sample 0's solution moved by {float((ends[0] - ends[1]).abs().max()):.1e}")
