"""A model that crashes its process with a segmentation fault (reads address 0)."""

import ctypes

from torch import nn

import odebench


class Segfaults(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.linear = nn.Linear(shape.channels * shape.length, shape.n_classes)

    def forward(self, x):
        ctypes.string_at(0)


def build(shape: odebench.DatasetShape) -> nn.Module:
    return Segfaults(shape)


@odebench.hookimpl
def register_models(register):
    register("fault-segfault", build)
