"""A model that starts a long-lived grandchild which inherits (and keeps open) the run's
stdout and stderr, writes its pid to ``pidfile``, then trains normally. The run must still
finish, the driver must not wait on the grandchild, and the grandchild must not outlive it."""

import subprocess
import sys

from torch import nn

import odebench


def build(shape: odebench.DatasetShape, *, pidfile: str = "") -> nn.Module:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    if pidfile:
        with open(pidfile, "w") as fh:
            fh.write(str(child.pid))
    return nn.Sequential(nn.Flatten(), nn.Linear(shape.channels * shape.length, shape.n_classes))


@odebench.hookimpl
def register_models(register):
    register("fault-orphan", build)
