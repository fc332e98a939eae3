"""A task where a coarse solver matters, for tests/test_validity.py.

Dataset ``interval``: x uniform in [-1, 1] as a (N, 1, 1) batch, class 1 where |x| < 0.5.
Model ``tiny-ode``: the state is x itself (one dimension, no augmentation), dynamics a small
MLP of (z, t), a linear head on z(t_end). The flow of a 1-D ODE is monotone, so a threshold on
z(t_end) classifies at most ~75% of the samples right; one Euler step ``z + f(z)`` is any
function of z and reaches ~100%. Trained with one Euler step, the model is a one-block
ResNet, not an ODE: with a finer solver its accuracy falls by ~25 points or more.

``stiffness`` > 0 adds a state channel with dw/dt = -stiffness * w, w(0) = 1, that the head
ignores: one Euler step passes it harmlessly, an adaptive solver needs ~stiffness steps.
Model ``tiny-mlp``: a plain MLP, not an ODE.
"""

import torch
from torch import nn

import odebench


def load_interval(*, train_size: int = 512, test_size: int = 512, seed: int = 0) -> odebench.Dataset:
    g = torch.Generator().manual_seed(seed)

    def split(n):
        x = torch.rand(n, 1, 1, generator=g) * 2 - 1
        return x, (x.flatten().abs() < 0.5).long()

    x_train, y_train = split(train_size)
    x_test, y_test = split(test_size)
    return odebench.Dataset(x_train, y_train, x_test, y_test, ["outside", "inside"])


class Dynamics(nn.Module):
    def __init__(self, hidden: int, stiffness: float):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                                 nn.Linear(hidden, 1))
        self.stiffness = stiffness
        self.counters = {"nfe": 0}

    def forward(self, t, state):
        self.counters["nfe"] += 1
        z = state[:, :1]
        dz = self.net(torch.cat([z, t.expand(len(z), 1)], 1))
        if state.shape[1] == 1:
            return dz
        return torch.cat([dz, -self.stiffness * state[:, 1:]], 1)


class TinyODE(nn.Module):
    def __init__(self, solver: odebench.Solver, hidden: int, stiffness: float, t_end: float):
        super().__init__()
        self.func = Dynamics(hidden, stiffness)
        self.head = nn.Linear(1, 2)
        self.solver = solver
        self.register_buffer("t", torch.tensor([0.0, t_end]))

    @property
    def counters(self):
        return self.func.counters

    def initial(self, x):
        z = x.flatten(1)
        if self.func.stiffness > 0:
            z = torch.cat([z, torch.ones_like(z)], 1)
        return z

    def forward(self, x):
        return self.odebench_ode(x, self.solver)[0]

    def odebench_ode(self, x, solver):
        state = solver(self.func, self.initial(x), self.t)[-1]
        return self.head(state[:, :1]), state


def build(shape: odebench.DatasetShape, solver: odebench.Solver | str = "dopri5", *, hidden: int = 32,
          stiffness: float = 0.0, t_end: float = 1.0) -> nn.Module:
    return TinyODE(solver, hidden, stiffness, t_end)


def build_mlp(shape: odebench.DatasetShape, *, hidden: int = 16) -> nn.Module:
    """Not an ODE: no solver, no ``odebench_ode``, so no validity check."""
    return nn.Sequential(nn.Flatten(), nn.Linear(shape.channels * shape.length, hidden), nn.Tanh(),
                         nn.Linear(hidden, shape.n_classes))


@odebench.hookimpl
def register_datasets(register):
    register("interval", load_interval)


@odebench.hookimpl
def register_models(register):
    register("tiny-ode", build)
    register("tiny-mlp", build_mlp)
