"""A model whose logits are NaN: the loss is NaN and the run is recorded as diverged."""

from torch import nn

import odebench


class NaNs(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.linear = nn.Linear(shape.channels * shape.length, shape.n_classes)

    def forward(self, x):
        return self.linear(x.flatten(1)) * float("nan")


def build(shape: odebench.DatasetShape) -> nn.Module:
    return NaNs(shape)


@odebench.hookimpl
def register_models(register):
    register("fault-nan", build)

