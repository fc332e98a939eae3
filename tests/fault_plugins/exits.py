"""A model that ends its process with os._exit (no exception, no cleanup, no outcome)."""

import os

from torch import nn

import odebench


class Exits(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.linear = nn.Linear(shape.channels * shape.length, shape.n_classes)

    def forward(self, x):
        os._exit(3)


def build(shape: odebench.DatasetShape) -> nn.Module:
    return Exits(shape)


@odebench.hookimpl
def register_models(register):
    register("fault-exit", build)
