"""torchode's solvers as odebench solvers: every sample of a batch gets its own step size.

torchdiffeq steps a whole batch with one step size, so one hard sample slows all of them down
and changes their solutions; torchode adapts each sample's step on its own. After every solve,
``solve.last_stats`` holds torchode's statistics, one entry per sample: ``n_steps`` (tried),
``n_accepted``, ``status`` and ``n_f_evals`` (evaluations of the batched dynamics: the whole
batch is evaluated until its slowest sample is done, so that count is the batch's). If the
dynamics have a ``counters`` dict (odebench's node model does), the slowest sample's accepted
and rejected steps are added to it as ``steps_accepted``/``steps_rejected``.
The dynamics get ``t`` as a tensor of shape (batch, 1, ...), broadcastable against ``y``.
No adjoint: use ``gradient: backprop`` (adjoint runs are recorded as skipped).
"""

from __future__ import annotations

import torch
import torchode

import odebench

METHODS = {"dopri5": torchode.Dopri5, "tsit5": torchode.Tsit5}


def _solver(method: str):
    def solve(func, y0: torch.Tensor, t: torch.Tensor, *, rtol: float = 1e-3, atol: float = 1e-3,
              max_steps: int = 10_000, dt0: float | None = None) -> torch.Tensor:
        if y0.dim() < 2:
            raise ValueError("torchode solves batches: y0 must be (batch, ...)")
        batch, shape = y0.shape[0], y0.shape
        t_view = (batch,) + (1,) * (y0.dim() - 1)

        def f(ts, y):  # torchode's view: ts (batch,), y (batch, features)
            return func(ts.view(t_view), y.view(shape)).reshape(batch, -1)

        term = torchode.ODETerm(f)
        controller = torchode.IntegralController(atol=atol, rtol=rtol, term=term)
        solver = torchode.AutoDiffAdjoint(METHODS[method](term=term), controller, max_steps=max_steps)
        t = t.to(y0)
        problem = torchode.InitialValueProblem(y0=y0.reshape(batch, -1), t_eval=t.expand(batch, -1))
        first = None if dt0 is None else torch.full((batch,), dt0).to(y0)
        sol = solver.solve(problem, term, dt0=first)
        stats = solve.last_stats = {**sol.stats, "status": sol.status}
        counters = getattr(func, "counters", None)
        if isinstance(counters, dict):
            slowest = int(stats["n_steps"].argmax())
            accepted = int(stats["n_accepted"][slowest])
            counters["steps_accepted"] = counters.get("steps_accepted", 0) + accepted
            rejected = int(stats["n_steps"][slowest]) - accepted
            counters["steps_rejected"] = counters.get("steps_rejected", 0) + rejected
        failed = sol.status != torchode.Status.SUCCESS.value
        if failed.any():
            why = torchode.Status(int(sol.status[failed][0])).name
            raise odebench.Diverged(f"torchode-{method}: {int(failed.sum())} sample(s) {why}")
        return sol.ys.transpose(0, 1).reshape(len(t), *shape)

    solve.last_stats = {}
    return solve


@odebench.hookimpl
def register_solvers(register):
    for method in METHODS:
        register(f"torchode-{method}", _solver(method))
