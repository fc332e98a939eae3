"""Run one task in a process of its own, with a hard timeout.

``run_isolated`` is what every executor calls (locally, or on a Dask worker): it starts
the run process, waits, and turns every ending into an outcome dict; it never raises for a
run's failure. The run process is forked from a pre-warmed zygote (``zygote.py``: torch and
the plugins already imported), or, where that is not possible, is a fresh
``python -m odebench.isolate WORKDIR PARENT_PID``; either way it is this process's child, the
leader of its own process group, and runs ``main`` below.

- While it waits, it reads the run's progress events (``progress.jsonl`` in the run's work
  directory) and publishes them in this process (``odebench.progress``).

- A timeout kills the run's whole process group (SIGKILL: killed, not polled). Just before,
  SIGUSR1 makes the run dump its Python stacks (faulthandler), stored as the traceback, so a
  timeout row says where the run was stuck.
- A death without an outcome (segfault, ``os._exit``, the OOM killer) becomes ``failed``
  with a one-line reason; a segfault's stacks are kept the same way.
- When the run process ends, whatever it left behind in its process group (a grandchild
  holding the terminal's or a pipe's stdout open) is killed too, so nobody waits on it.
- The run process watches its parent: if the driver (or Dask worker) dies, even by SIGKILL,
  the run kills its own process group within a second instead of running on as an orphan.
- Ctrl-C in the driver (KeyboardInterrupt) kills the run's group and is re-raised; the
  executor records the run as ``interrupted``.
"""

from __future__ import annotations

import faulthandler
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

from . import zygote
from .progress import EVENTS, Tail, publish
from .types import FAILED, TIMEOUT, Outcome, Task, outcome

TASK, OUTCOME, STACKS = "task.json", "outcome.json", "stacks.txt"
POLL_SECONDS = 0.05
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


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


def _wait(pid: int, timeout: float | None, tick=lambda: None) -> bool:
    """Wait for ``pid`` to exit without reaping it (so its process-group id cannot be reused
    before we kill the group), calling ``tick()`` at every poll. False when the timeout passed
    first."""
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = POLL_SECONDS
    pidfd = _pidfd(pid)
    try:
        while True:
            tick()
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            pause = delay if deadline is None else max(0.0, min(delay, deadline - time.monotonic()))
            if pidfd is not None:  # wakes up the moment the run exits
                select.select([pidfd], [], [], pause)
            else:
                time.sleep(pause)
            delay = min(delay * 2, 0.5)
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _pidfd(pid: int) -> int | None:
    """A descriptor that becomes readable when ``pid`` exits (Linux 5.3+), else None."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


class Forked:
    """A run process forked by the zygote and reparented to this process (``Popen``'s
    ``pid``/``returncode``/``wait`` for it)."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None

    def wait(self) -> int:
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


def _kill_group(proc: subprocess.Popen | Forked) -> None:
    """Kill the run's whole process group (the run and anything it started), then reap it,
    and the members that were reparented to this process as their subreaper."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
    if zygote.become_subreaper():
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            try:
                if os.waitpid(-proc.pid, os.WNOHANG) == (0, 0):
                    time.sleep(0.01)  # killed, not yet dead
            except ChildProcessError:
                break  # none left in the group


def _dump_stacks(pid: int) -> None:
    """Ask a hung run for its Python stacks (faulthandler on SIGUSR1) before killing it."""
    if not hasattr(signal, "SIGUSR1"):
        return
    try:
        os.kill(pid, signal.SIGUSR1)
    except ProcessLookupError:
        return
    time.sleep(0.3)


def _read(path: str) -> str:
    try:
        with open(path, errors="replace") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def _child_env(task: dict[str, Any]) -> dict[str, str]:
    """The run's environment: an explicit thread budget (the suite's ``threads``, or the
    executor's ``default_threads`` share) also caps OpenMP/MKL/OpenBLAS, which a Dask worker
    would otherwise pin to 1 through its own environment."""
    env = dict(os.environ)
    threads = task.get("config", {}).get("threads") or task.get("default_threads")
    if threads:
        for name in THREAD_VARIABLES:
            env[name] = str(int(threads))
    return env


def run_isolated(task: Task) -> Outcome:
    """Execute ``task`` in a child process; always return an outcome dict (re-raises only
    KeyboardInterrupt, after killing the run)."""
    timeout = task.get("timeout") or None
    with tempfile.TemporaryDirectory(prefix="odebench-run-") as tmp:
        with open(os.path.join(tmp, TASK), "w") as fh:
            json.dump(task, fh)
        started = time.time()
        try:
            proc = _start(tmp, _child_env(task))
        except OSError as exc:
            return outcome(FAILED, f"cannot start the run process: {exc}", started=started)
        events = Tail(os.path.join(tmp, EVENTS))

        def tick() -> None:
            for event in events.read():
                publish(event)

        try:
            finished = _wait(proc.pid, timeout, tick)
            if not finished:
                _dump_stacks(proc.pid)
        finally:  # always, KeyboardInterrupt included: no process of the run outlives it
            _kill_group(proc)
        tick()
        stacks = _read(os.path.join(tmp, STACKS))
        if not finished:
            return outcome(TIMEOUT, f"killed after the {timeout:g} s timeout", started=started, traceback=stacks)
        try:
            with open(os.path.join(tmp, OUTCOME)) as fh:
                return json.load(fh)
        except (OSError, ValueError):
            return outcome(FAILED, _death_reason(proc.returncode), started=started, traceback=stacks)


def _start(workdir: str, env: dict[str, str]) -> subprocess.Popen | Forked:
    """The run process: forked from the zygote, else a fresh interpreter."""
    pid = zygote.fork_run(workdir, env)
    if pid is not None:
        return Forked(pid)
    return subprocess.Popen(
        [sys.executable, "-m", "odebench.isolate", workdir, str(os.getpid())],
        start_new_session=True,  # Ctrl-C reaches the driver, which then stops the run
        env=env,
    )


def _watch_parent(parent: int) -> None:
    """Kill this run's process group as soon as its parent is gone (the driver or Dask worker
    was SIGKILLed): an orphaned run would burn the CPU the rerun needs."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.killpg(os.getpgid(0), signal.SIGKILL)

    threading.Thread(target=watch, name="odebench-parent-watch", daemon=True).start()


def main(argv: list[str]) -> int:
    workdir = argv[0]
    if len(argv) > 1:
        _watch_parent(int(argv[1]))
    stacks = open(os.path.join(workdir, STACKS), "w")  # noqa: SIM115 - lives as long as the run
    faulthandler.enable(stacks, all_threads=True)
    if hasattr(signal, "SIGUSR1"):
        faulthandler.register(signal.SIGUSR1, stacks, all_threads=True)
    with open(os.path.join(workdir, TASK)) as fh:
        task = json.load(fh)
    from .runner import execute

    result = execute(task, os.path.join(workdir, EVENTS))
    out_path = os.path.join(workdir, OUTCOME)
    with open(out_path + ".tmp", "w") as fh:
        json.dump(result, fh, default=float)
    os.replace(out_path + ".tmp", out_path)  # the parent sees a whole outcome or none
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--zygote"]:
        sys.exit(zygote.serve(int(sys.argv[2]), main))
    sys.exit(main(sys.argv[1:]))
