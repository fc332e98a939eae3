"""The zygote forks runs safely: an OpenMP pool started before a fork would leave the forked
run blocked forever on its first parallel torch operation."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

# The zygote's preload, with a plugin whose import runs a parallel torch operation (as the
# torchode plugin's does); then a fork, and the run's first parallel operations.
SCRIPT = textwrap.dedent("""
    import os, sys, time
    import odebench.plugins
    from odebench import zygote

    def plugin_import_runs_torch(*args, **kwargs):
        import torch
        torch.randn(2_000_000).exp().sum()  # parallel when torch has more than one thread

    odebench.plugins.load_registry = plugin_import_runs_torch
    zygote._preload()
    pid = os.fork()
    if pid == 0:
        zygote._restore_threads()
        import torch
        x = torch.randn(200_000, 64)
        x[torch.randperm(200_000)[:4096]].exp().sum()
        (x.T @ x).sum()
        print("threads", torch.get_num_threads(), flush=True)
        os._exit(0)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            sys.exit(os.waitstatus_to_exitcode(status))
        time.sleep(0.05)
    os.kill(pid, 9)
    print("the forked run blocked", flush=True)
    sys.exit(3)
""")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the zygote forks (POSIX only)")
def test_a_run_forked_after_a_plugin_ran_torch_at_import_does_not_block():
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The run gets the thread count a fresh process with its environment would have.
    assert "threads 2" in proc.stdout
