"""A solver registered without an adjoint: a run asking for gradient: adjoint is skipped."""

import torch
import torchdiffeq

import odebench


def solve(func, y0: torch.Tensor, t: torch.Tensor, *, steps: int = 1) -> torch.Tensor:
    return torchdiffeq.odeint(func, y0, t, method="euler",
                              options={"step_size": float(t[-1] - t[0]) / steps})


@odebench.hookimpl
def register_solvers(register):
    register("noadjoint-euler", solve)
