"""A pre-warmed process that forks one run process per run ("zygote").

Starting ``python -m odebench.isolate`` for every run costs seconds (interpreter, torch,
plugins). Instead each driver (and each Dask worker) starts one zygote, ``python -m
odebench.isolate --zygote FD``, which imports torch, numpy, the runner and the installed
plugins once, and then forks a run process per request. The run process executes exactly what
``python -m odebench.isolate WORKDIR PARENT`` executes (``isolate.main``), so the fault
guarantees stay those of ``isolate.py``:

- The run process becomes a child of the caller, not of the zygote: the caller is made a
  *child subreaper* (Linux ``prctl(PR_SET_CHILD_SUBREAPER)``); the zygote forks a helper that
  forks the run and exits at once, so the run is reparented to the caller. The caller then
  waits for it, times it out, dumps its stacks and kills its process group exactly as it does
  a ``subprocess.Popen`` child, and the run's parent watch sees the caller as its parent.
- The run is the leader of its own process group (set by both the helper and the run, so no
  kill can come before it), in the zygote's session, which has no controlling terminal:
  Ctrl-C reaches the driver only, as before.
- The zygote itself runs no torch operation before forking, and it imports with torch held to
  one thread: OpenMP/MKL thread pools do not survive a fork (a forked child blocks forever on
  its first parallel operation), and a plugin may run torch operations when imported (the
  torchode plugin does). One thread starts no pool; the run sets the thread count a fresh
  process would have had (``torch.set_num_threads``; the runner then applies the suite's or
  the executor's count, and the run's environment is applied too). The zygote reads requests
  from stdin and exits on EOF, i.e. when its caller exits or dies.
- Anything that goes wrong with the zygote (no prctl, it died, it did not answer) makes the
  caller fall back to a fresh ``python -m odebench.isolate`` process for that run.

What is shared: imported modules only. Datasets are loaded by each run (the zygote must not
run torch operations); the pages of the imported libraries are shared copy-on-write.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

PR_SET_CHILD_SUBREAPER = 36
ANSWER_SECONDS = 120.0  # the first answer waits for the zygote's imports
REPARENT_SECONDS = 10.0

_subreaper: bool | None = None
_zygote: Zygote | None = None
_lock = threading.Lock()


def become_subreaper() -> bool:
    """Make this process the subreaper of its orphaned descendants (Linux); False if not."""
    global _subreaper
    if _subreaper is None:
        _subreaper = False
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                libc = ctypes.CDLL(None, use_errno=True)
                _subreaper = libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
            except (OSError, AttributeError):
                _subreaper = False
    return _subreaper


def enabled() -> bool:
    """Whether runs start from a zygote: on Linux, unless ``ODEBENCH_ZYGOTE=0``."""
    return os.environ.get("ODEBENCH_ZYGOTE", "1") != "0" and become_subreaper()


class Zygote:
    """The caller's handle on one zygote process."""

    def __init__(self) -> None:
        read, write = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "odebench.isolate", "--zygote", str(write)],
                stdin=subprocess.PIPE, pass_fds=(write,), start_new_session=True)
        finally:
            os.close(write)
        self.replies = read
        self.fingerprint = _fingerprint()
        self._buffer = b""

    def _answer(self, seconds: float) -> str | None:
        deadline = time.monotonic() + seconds
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.replies], [], [], left)[0]:
                return None
            chunk = os.read(self.replies, 4096)
            if not chunk:  # the zygote is gone
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()

    def fork(self, workdir: str, env: dict[str, str]) -> int | None:
        """Start a run process for ``workdir``; its pid (now a child of this process), or None."""
        request = {"workdir": workdir, "parent": os.getpid(), "env": env, "cwd": os.getcwd()}
        try:
            self.proc.stdin.write(json.dumps(request).encode() + b"\n")
            self.proc.stdin.flush()
        except OSError:
            return None
        answer = self._answer(ANSWER_SECONDS)
        return int(answer) if answer and answer.isdigit() else None

    def close(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.replies)


# What a zygote's start depends on beyond the run's own environment (which each run gets):
# the import path and the thread libraries' settings read when they load.
PRELOAD_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "LD_PRELOAD", "LD_LIBRARY_PATH", "ODEBENCH_LOAD_PLUGINS")
PRELOAD_PREFIXES = ("OMP_", "GOMP_", "KMP_", "MKL_", "OPENBLAS_")


def _fingerprint() -> tuple:
    """A zygote serves callers whose fingerprint matches the one it started with; a change
    (``python -m`` puts the working directory on the import path) gets a fresh zygote. Not
    the whole environment: torch itself sets variables in it (TORCHINDUCTOR_CACHE_DIR)."""
    env = tuple(sorted((k, v) for k, v in os.environ.items()
                       if k in PRELOAD_VARIABLES or k.startswith(PRELOAD_PREFIXES)))
    return (sys.executable, os.getcwd(), env)


def fork_run(workdir: str, env: dict[str, str]) -> int | None:
    """Start ``python -m odebench.isolate WORKDIR PARENT``'s work in a process forked from this
    process's zygote (started on first use); the pid, or None where that is not possible
    (the caller then starts the run process itself)."""
    global _zygote
    if not enabled():
        return None
    with _lock:  # one request at a time (a Dask worker may run several runs in threads)
        if _zygote is not None and (_zygote.proc.poll() is not None or _zygote.fingerprint != _fingerprint()):
            _zygote.close()
            _zygote = None
        if _zygote is None:
            try:
                _zygote = Zygote()
            except OSError:
                return None
        pid = _zygote.fork(workdir, env)
        if pid is None:  # dead or stuck: do not ask it again
            _zygote.proc.kill()
            _zygote.close()
            _zygote = None
        return pid


def shutdown() -> None:
    """Stop this process's zygote (it also stops by itself when this process exits)."""
    global _zygote
    with _lock:
        if _zygote is not None:
            _zygote.close()
            _zygote = None


# ---------------------------------------------------------------- inside the zygote

_fresh_threads = 0  # torch's thread count in a fresh process with the zygote's environment


def _preload() -> None:
    """Import what every run imports, with torch held to one thread so that no OpenMP pool
    is started before a fork, even by a plugin's import (see the module doc)."""
    import gc

    import numpy  # noqa: F401
    import torch
    import torch._dynamo  # noqa: F401 - what an optimizer's constructor imports (seconds)

    global _fresh_threads
    _fresh_threads = torch.get_num_threads()
    torch.set_num_threads(1)

    from . import runner  # noqa: F401
    from .plugins import load_registry

    load_registry()  # imports the installed plugins (ODEBENCH_LOAD_PLUGINS respected)
    # What is imported now lives as long as every run: keep it out of the runs' collections,
    # whose traversal would also write to (and so copy) every shared page.
    gc.collect()
    gc.freeze()


def serve(reply_fd: int, run: Callable[[list[str]], int]) -> int:
    """The zygote's loop: a JSON request per stdin line, a run pid (or ``error``) per reply
    line on ``reply_fd``; ``run(argv)`` is ``isolate.main``. Ends at EOF on stdin."""
    _preload()
    stdin = sys.stdin.buffer
    while True:
        line = stdin.readline()
        if not line:
            return 0
        try:
            request = json.loads(line)
            pid = _spawn(request, reply_fd, run)
        except Exception as exc:  # noqa: BLE001 - answer, never die: the caller falls back
            print(f"odebench zygote: {type(exc).__name__}: {exc}", file=sys.stderr)
            pid = None
        os.write(reply_fd, f"{pid if pid else 'error'}\n".encode())


def _spawn(request: dict[str, Any], reply_fd: int, run: Callable[[list[str]], int]) -> int | None:
    """Fork a helper that forks the run and exits, so the run is orphaned to the caller."""
    read, write = os.pipe()
    helper = os.fork()
    if helper == 0:
        code = 1
        try:
            os.close(read)
            pid = os.fork()
            if pid == 0:
                os.close(write)
                _become_run(request, reply_fd, run)  # never returns
            os.setpgid(pid, pid)  # also done by the run: whichever comes first, no gap
            os.write(write, f"{pid}\n".encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    data = b""
    while chunk := os.read(read, 64):
        data += chunk
    os.close(read)
    os.waitpid(helper, 0)  # after this the run's parent is the caller
    text = data.decode().strip()
    return int(text) if text.isdigit() else None


def _restore_threads() -> None:
    """The thread count a fresh ``python -m odebench.isolate`` would start with: the run's
    ``OMP_NUM_THREADS`` where it is a positive integer, else the zygote's own default."""
    import torch

    try:
        threads = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        threads = 0
    torch.set_num_threads(threads if threads > 0 else _fresh_threads)


def _become_run(request: dict[str, Any], reply_fd: int, run: Callable[[list[str]], int]) -> None:
    code = 1
    try:
        try:
            os.setpgid(0, 0)
        except OSError:
            pass  # the helper already made it
        os.close(reply_fd)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)  # the zygote's request pipe is not the run's business
        os.close(devnull)
        os.environ.clear()
        os.environ.update(request["env"])
        _restore_threads()
        os.chdir(request["cwd"])
        parent = int(request["parent"])
        deadline = time.monotonic() + REPARENT_SECONDS
        while os.getppid() != parent and time.monotonic() < deadline:
            time.sleep(0.001)  # the helper exits right after forking us
        code = run([request["workdir"], str(parent)])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - report and exit like a crashed interpreter
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        os._exit(code)
