"""An ODE model whose dynamics blow up in finite time (dy/dt = 100 y^2): an adaptive solver
gives up with "underflow in dt", a capped one with "max_num_steps exceeded"."""

import torch
from torch import nn

import odebench


class BlowUp(nn.Module):
    def forward(self, t, y):
        return 100 * y * y


class Stiff(nn.Module):
    def __init__(self, shape, solver):
        super().__init__()
        self.linear = nn.Linear(shape.channels * shape.length, shape.n_classes)
        self.solver = solver
        self.register_buffer("t", torch.tensor([0.0, 1.0]))

    def forward(self, x):
        y = self.solver(BlowUp(), torch.ones_like(x) + self.linear.weight.sum() * 0, self.t)[-1]
        return self.linear(y.flatten(1))


def build(shape: odebench.DatasetShape, solver: odebench.Solver | str = "dopri5") -> nn.Module:
    return Stiff(shape, solver)


@odebench.hookimpl
def register_models(register):
    register("fault-stiff", build)
