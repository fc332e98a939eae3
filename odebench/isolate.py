"""Run one task in a process of its own, with a hard timeout.

``run_isolated`` is what every executor calls (locally, or on a Dask worker): it starts
``python -m odebench.isolate TASK OUT`` in a new session, waits, kills the whole process
group on timeout, and turns a death (segfault, ``os._exit``, OOM kill) into a ``failed``
outcome. It never raises for a run's failure.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(code).name
    except ValueError:
        return f"signal {code}"


def _death_reason(returncode: int) -> str:
    if returncode < 0:
        name = _signal_name(-returncode)
        hint = " (out of memory? the kernel's OOM killer sends SIGKILL)" if name == "SIGKILL" else ""
        return f"run process was killed by {name}{hint}"
    return f"run process exited with code {returncode} before reporting a result"


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def run_isolated(task: dict[str, Any]) -> dict[str, Any]:
    """Execute ``task`` in a child process; always return an outcome dict."""
    timeout = task.get("timeout")
    with tempfile.TemporaryDirectory(prefix="odebench-run-") as tmp:
        task_path = os.path.join(tmp, "task.json")
        out_path = os.path.join(tmp, "outcome.json")
        with open(task_path, "w") as fh:
            json.dump(task, fh)
        started = time.time()
        proc = subprocess.Popen(
            [sys.executable, "-m", "odebench.isolate", task_path, out_path],
            start_new_session=True,  # Ctrl-C reaches the driver, which then stops the child
        )
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return {"status": "timeout", "reason": f"killed after the {timeout:g} s timeout",
                    "metrics": {}, "epochs": [], "started_at": started, "finished_at": time.time()}
        except BaseException:  # KeyboardInterrupt in the driver: stop the run, then re-raise
            _kill_group(proc)
            raise
        try:
            with open(out_path) as fh:
                return json.load(fh)
        except (OSError, ValueError):
            return {"status": "failed", "reason": _death_reason(proc.returncode),
                    "metrics": {}, "epochs": [], "started_at": started, "finished_at": time.time()}


def main(argv: list[str]) -> int:
    task_path, out_path = argv
    with open(task_path) as fh:
        task = json.load(fh)
    from .runner import execute

    outcome = execute(task)
    tmp = out_path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(outcome, fh, default=float)
    os.replace(tmp, out_path)  # the parent sees a whole outcome or none
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
