"""The seed study's Neural ODE: trunk, one ODE block integrated over t = 0 -> 1, head.

59,333 parameters at width 64. The dynamics count their evaluations and the solver's
accepted/rejected steps in ``counters``; odebench reads them around the forward and the
backward pass of every batch.
"""

from __future__ import annotations

from typing import Literal

import torch
from odebench_plugins.layers import head, norm, trunk
from torch import nn

import odebench

Gradient = Literal["backprop", "adjoint", "adjoint-seminorm"]


class ConcatConv1d(nn.Module):
    """A convolution that sees time as an extra input channel."""

    def __init__(self, dim_in: int, dim_out: int):
        super().__init__()
        self.conv = nn.Conv1d(dim_in + 1, dim_out, 3, 1, 1)

    def forward(self, t, x):
        tt = torch.ones_like(x[:, :1, :]) * t
        return self.conv(torch.cat([tt, x], 1))


class ODEFunc(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.norm1 = norm(width)
        self.conv1 = ConcatConv1d(width, width)
        self.norm2 = norm(width)
        self.conv2 = ConcatConv1d(width, width)
        self.norm3 = norm(width)
        self.relu = nn.ReLU(inplace=True)
        self.counters = {"nfe": 0, "steps_accepted": 0, "steps_rejected": 0}

    def forward(self, t, x):
        self.counters["nfe"] += 1
        out = self.conv1(t, self.relu(self.norm1(x)))
        out = self.conv2(t, self.relu(self.norm2(out)))
        return self.norm3(out)

    # torchdiffeq calls these on adaptive steps (and the *_adjoint ones in the backward pass).
    def callback_accept_step(self, t0, y0, dt):
        self.counters["steps_accepted"] += 1

    def callback_reject_step(self, t0, y0, dt):
        self.counters["steps_rejected"] += 1

    callback_accept_step_adjoint = callback_accept_step
    callback_reject_step_adjoint = callback_reject_step


class ODEBlock(nn.Module):
    def __init__(self, func: ODEFunc, solver: odebench.Solver, gradient: Gradient, t_end: float,
                 eval_solver: odebench.Solver | None = None):
        super().__init__()
        self.func = func
        self.solver = solver
        self.eval_solver = eval_solver or solver
        self.gradient = gradient
        self.register_buffer("t", torch.tensor([0.0, t_end]))

    def forward(self, x):
        if not self.training:  # no gradient needed: plain solve, possibly looser
            out = self.eval_solver(self.func, x, self.t)
        elif self.gradient == "backprop":
            out = self.solver(self.func, x, self.t)
        else:
            out = self.solver.adjoint(
                self.func, x, self.t,
                adjoint_params=tuple(self.func.parameters()),
                seminorm=self.gradient == "adjoint-seminorm",
            )
        return out[-1]


class NeuralODE(nn.Sequential):
    @property
    def counters(self) -> dict[str, int]:
        return self[1].func.counters


def build_node(
    shape: odebench.DatasetShape,
    solver: odebench.Solver | str = "dopri5",
    *,
    gradient: Gradient = "adjoint",
    width: int = 64,
    t_end: float = 1.0,
    eval_solver: odebench.Solver | None = None,
) -> nn.Module:
    """``solver`` defaults to dopri5 with rtol = atol = 1e-3 and ``gradient`` to the adjoint,
    the seed study's recipe. ``eval_solver`` (the suite's ``eval_solver:`` options over the
    solver's) is used in eval mode, e.g. to evaluate at a looser tolerance than training."""
    if gradient != "backprop" and not solver.supports_adjoint:
        raise odebench.Unsupported(f"solver {solver.name!r} has no adjoint; use gradient: backprop")
    return NeuralODE(
        trunk(shape.channels, width),
        ODEBlock(ODEFunc(width), solver, gradient, t_end, eval_solver),
        head(width, shape.n_classes),
    )


@odebench.hookimpl
def register_models(register):
    register("node", build_node)
