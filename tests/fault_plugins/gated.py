"""A model that trains normally for ``after`` training batches, then waits for the file
``gate`` to exist before every further batch (up to ``wait`` seconds, then raises). A test
opens the gate only once it has seen the run's progress events, which proves they reach the
driver while the run is still running."""

import os
import time

from torch import nn

import odebench


class Gated(nn.Module):
    def __init__(self, shape, gate: str, after: int, wait: float):
        super().__init__()
        self.linear = nn.Linear(shape.channels * shape.length, shape.n_classes)
        self.gate, self.after, self.wait, self.calls = gate, after, wait, 0

    def forward(self, x):
        if self.training:
            self.calls += 1
            deadline = time.monotonic() + self.wait
            while self.calls > self.after and not os.path.exists(self.gate):
                if time.monotonic() > deadline:
                    raise RuntimeError("the gate was never opened")
                time.sleep(0.05)
        return self.linear(x.flatten(1))


def build(shape: odebench.DatasetShape, *, gate: str = "", after: int = 1, wait: float = 120.0) -> nn.Module:
    return Gated(shape, gate, after, wait)


@odebench.hookimpl
def register_models(register):
    register("gated", build)
