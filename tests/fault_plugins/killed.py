"""A model whose process is SIGKILLed mid-run, as the kernel's OOM killer does (a real OOM
kill is not something a test should provoke on a shared machine)."""

import os
import signal

from torch import nn

import odebench


class Killed(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.linear = nn.Linear(shape.channels * shape.length, shape.n_classes)

    def forward(self, x):
        os.kill(os.getpid(), signal.SIGKILL)


def build(shape: odebench.DatasetShape) -> nn.Module:
    return Killed(shape)


@odebench.hookimpl
def register_models(register):
    register("fault-killed", build)
