"""A model whose forward never returns: the run must be killed by the timeout."""

import time

from torch import nn

import odebench


class Hangs(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.linear = nn.Linear(shape.channels * shape.length, shape.n_classes)

    def forward(self, x):
        time.sleep(3600)


def build(shape: odebench.DatasetShape) -> nn.Module:
    return Hangs(shape)


@odebench.hookimpl
def register_models(register):
    register("fault-hang", build)
