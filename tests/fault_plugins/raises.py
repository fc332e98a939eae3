"""A model whose forward raises: the run is recorded as failed with the traceback."""

from torch import nn

import odebench


class Raises(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.linear = nn.Linear(shape.channels * shape.length, shape.n_classes)

    def forward(self, x):
        raise RuntimeError("boom from the fault-raise test plugin")


def build(shape: odebench.DatasetShape) -> nn.Module:
    return Raises(shape)


@odebench.hookimpl
def register_models(register):
    register("fault-raise", build)

