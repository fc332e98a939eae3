"""Can a result be trusted as it stands? Two honest warnings, computed where the facts are:

- a busy machine: the load average above the core count, or other processes (not this
  run's driver or its runs) using more than half a core together, slow every timing and
  make it noisy.
  The driver warns before a suite runs; each run records the load average at its start and
  the other processes' CPU use over its span in its machine record (``load_1m``,
  ``other_cpu_percent``, ``busy_processes``, ``busy``); reports mark the timings of busy runs.
- a model that predicts one class for the whole test set has learned nothing but the class
  balance (on MIT-BIH beats, always-N scores 0.83). Each run stores ``predicted_classes`` and
  ``single_class`` with its metrics; the run's end line and the reports say so.

psutil and the standard library only: the driver imports this module.
"""

from __future__ import annotations

import os
import time
from typing import Any

BUSY_CPU_PERCENT = 50.0  # other processes above this share of one core make the machine busy
DRIVER_PID = "ODEBENCH_DRIVER_PID"  # set by the driver: its process tree is "ours", not load


def cores() -> int:
    """The cores this process may use (its affinity), else the machine's logical cores."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def load_1m() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def _ours() -> set[int]:
    """This process, its ancestors and the whole tree of the driver that started it (runs in
    parallel, Dask workers): their CPU use is the suite's own, not load."""
    import psutil

    me = psutil.Process()
    pids = {me.pid} | {p.pid for p in me.parents()}
    driver = os.environ.get(DRIVER_PID, "")
    if driver.isdigit() and int(driver) in pids:
        try:
            pids |= {p.pid for p in psutil.Process(int(driver)).children(recursive=True)}
        except psutil.Error:
            pass
    return pids


def _busy_seconds() -> float:
    """CPU seconds spent busy so far on the cores this process may run on (all processes,
    those that have ended too; hypervisor steal counts as busy)."""
    import psutil

    mine = set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    total = 0.0
    for i, t in enumerate(psutil.cpu_times(percpu=True)):
        if mine is None or i in mine:
            # guest time is part of user time on Linux; idle and I/O wait are not work
            total += sum(getattr(t, f) for f in t._fields if f not in ("idle", "iowait", "guest", "guest_nice"))
    return total


def _process_seconds(pids: set[int] | None = None) -> dict[int, tuple[str, float, float]]:
    """``{pid: (name, create time, CPU seconds)}`` of the live processes (of ``pids``)."""
    import psutil

    out = {}
    for p in psutil.process_iter(["name"]):
        if pids is not None and p.pid not in pids:
            continue
        try:
            times = p.cpu_times()
            out[p.pid] = (p.info["name"] or "?", p.create_time(), times.user + times.system)
        except psutil.Error:
            continue
    return out


class LoadProbe:
    """CPU use of the other processes between ``__init__`` and ``others()``: the busy time of
    the cores we may use, less what our own processes used. Counts processes that started or
    ended in between too; no sampling thread, nothing done in between."""

    def __init__(self) -> None:
        self.load_1m = load_1m()
        self.cores = cores()
        self.started = time.monotonic()
        self.busy_before = _busy_seconds()
        self.before = _process_seconds()

    def _delta(self, now: dict[int, tuple[str, float, float]]) -> dict[int, tuple[str, float]]:
        """CPU seconds each live process used since the probe began (one that started since
        then: all of its own), by pid, with its name."""
        out = {}
        for pid, (name, created, seconds) in now.items():
            before = self.before.get(pid)
            start = before[2] if before is not None and before[1] == created else 0.0
            out[pid] = (name, seconds - start)
        return out

    def used(self) -> dict[int, tuple[str, float]]:
        """CPU seconds each live process not ours used since the probe began, by pid."""
        ours = _ours()
        return {pid: v for pid, v in self._delta(_process_seconds()).items() if pid not in ours}

    def others(self) -> tuple[float, list[dict[str, Any]]]:
        """The CPU use of the processes not ours since the probe began, in % of one core: in
        total (the cores' busy time less our processes'), and the busiest live ones above 10%."""
        wall = max(1e-3, time.monotonic() - self.started)
        busy = _busy_seconds() - self.busy_before
        ours = _ours()
        processes = self._delta(_process_seconds())
        own = sum(seconds for pid, (_, seconds) in processes.items() if pid in ours)
        total = max(0.0, 100.0 * (busy - own) / wall)
        busiest = [{"name": name, "pid": pid, "cpu_percent": round(100.0 * seconds / wall)}
                   for pid, (name, seconds) in processes.items()
                   if pid not in ours and seconds / wall > 0.1]
        return total, sorted(busiest, key=lambda d: -d["cpu_percent"])[:10]

    def record(self) -> dict[str, Any]:
        """What a run stores in its machine record: the load average when it started, the
        other processes' CPU use over its span (``other_cpu_percent`` of one core, and the
        busiest ones), and ``busy`` when they used more than half a core. (The load average
        cannot mark a run: it counts this suite's previous run, which used every core a
        moment ago, and the run itself.)"""
        total, busy = self.others()
        return {"load_1m": self.load_1m, "other_cpu_percent": round(total),
                "busy_processes": busy, "busy": total > BUSY_CPU_PERCENT}


def sample_busy(seconds: float = 0.5) -> tuple[float | None, int, float, list[dict[str, Any]]]:
    """The load average, the cores, and the other processes' CPU use (total, busiest), sampled
    over ``seconds``."""
    probe = LoadProbe()
    time.sleep(seconds)
    return (probe.load_1m, probe.cores, *probe.others())


def busy_warning(load: float | None, n_cores: int, total: float,
                 busy: list[dict[str, Any]]) -> str | None:
    """A one-line warning when the machine is loaded (load average above the cores, or other
    processes using more than half a core), else None."""
    reasons = []
    if load is not None and load > n_cores:
        reasons.append(f"load average {load:.1f} on {n_cores} core{'s' if n_cores > 1 else ''}")
    if total > BUSY_CPU_PERCENT:
        shown = ", ".join(f"{b['name']} (pid {b['pid']}, {b['cpu_percent']}%)" for b in busy[:3])
        reasons.append(f"other processes use {total / 100:.1f} cores" + (f": {shown}" if shown else ""))
    if not reasons:
        return None
    return ("warning: the machine is busy (" + "; ".join(reasons) + "): timings will be slower "
            "and noisier than on a quiet machine; runs are marked busy in the report")


def prediction_metrics(predictions, class_names: list[str]) -> dict[str, Any]:
    """``predicted_classes`` (how many classes the model predicted on the test set) and
    ``single_class`` (that class's name when it predicted only one, else None)."""
    seen = sorted({int(p) for p in predictions})
    single = class_names[seen[0]] if len(seen) == 1 and len(class_names) > 1 else None
    return {"predicted_classes": len(seen), "single_class": single}


def run_warnings(metrics: dict[str, Any], machine: dict[str, Any] | None = None) -> list[str]:
    """Short warnings about one run's result: single-class predictions, a busy machine."""
    out = []
    if metrics.get("single_class"):
        out.append(f"predicts {metrics['single_class']} for every test sample")
    if (machine or {}).get("busy"):
        out.append("busy machine")
    return out
