"""Executors: where the runs of a suite execute. ``local`` runs them one after another on
this machine; ``dask`` submits them to a Dask cluster (a LocalCluster with ``workers``
processes, or an existing scheduler). Either way each run is isolated in its own process by
the ``fn`` odebench passes in (``odebench.isolate.run_isolated``: hard timeout, crash ->
status), and only the driver writes the results store.

Another executor (Ray, submitit, ...) is a plugin with a ``register_executors`` hook whose
factory takes ``workers``/``scheduler`` keyword options (passed only when given) and returns
an object with ``map(fn, tasks)`` yielding ``(task, outcome)`` as runs complete. On
KeyboardInterrupt it yields an ``interrupted`` outcome for each run it stopped, then
re-raises. Setting ``task["default_threads"]`` (the run's share of the cores, used when the
suite sets no ``threads``) and ``task["parallel_runs"]`` (runs sharing the machine, stored
with the run) keeps timings comparable.

Progress: ``fn`` publishes each run's events (``odebench.progress``) in the process it runs
in. Locally that is the driver, which shows them. On a Dask worker they are logged to the
scheduler under the topic ``odebench-progress`` (run starts and epochs, batches at most every
``DASK_BATCH_SECONDS`` per run), and the driver's client subscribes to that topic and
publishes them in the driver.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator

import odebench
from odebench import progress
from odebench.types import FAILED, INTERRUPTED, Outcome, Task, outcome

TOPIC = "odebench-progress"
DASK_BATCH_SECONDS = 5.0


def _cores() -> int:
    """CPU cores this process may use (its affinity: a SLURM/cgroup allocation counts)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def _interrupted(task: Task, exc: BaseException) -> Outcome:
    return outcome(INTERRUPTED, f"interrupted by {str(exc) or 'Ctrl-C'}; rerun to redo it")


class LocalExecutor:
    name = "local"

    def __init__(self, workers: int | None = None, scheduler: str | None = None):
        if workers not in (None, 1) or scheduler:
            raise odebench.OdebenchError(
                "the local executor runs one run at a time; use --executor dask for --workers/--scheduler"
            )

    def map(self, fn: Callable[[dict], dict], tasks: Iterable[dict]) -> Iterator[tuple[dict, dict]]:
        for task in tasks:
            task.setdefault("parallel_runs", 1)
            try:
                result = fn(task)
            except KeyboardInterrupt as exc:
                yield task, _interrupted(task, exc)
                raise
            yield task, result


class _Forward:
    """On a worker: log the runs' progress events to the scheduler (batches throttled)."""

    def __init__(self, worker):
        self.worker = worker
        self.last: dict[str, float] = {}

    def __call__(self, event: dict) -> None:
        key = event.get("key", "")
        if event.get("event") == "batch":
            now = time.monotonic()
            if now - self.last.get(key, -1e9) < DASK_BATCH_SECONDS:
                return
            self.last[key] = now
        self.worker.log_event(TOPIC, event)


_forwarders: dict[int, _Forward] = {}


def _forward_progress(worker) -> None:
    """Install this worker's forwarder once (several runs may share the worker process)."""
    if id(worker) not in _forwarders:
        _forwarders[id(worker)] = _Forward(worker)
        progress.add_listener(_forwarders[id(worker)])


def run_on_worker(fn: Callable[[dict], dict], task: dict, slots_by_host: dict[str, int]) -> dict:
    """Runs on a Dask worker: give the run its share of this host's cores, then ``fn``.

    A host's share is its cores divided by the runs it executes at once (the summed threads
    of the Dask workers on it), so four 1-thread workers on a 16-core node give each run 4
    threads. Without this the run would inherit the worker's OMP_NUM_THREADS=1."""
    from dask.distributed import get_worker

    try:
        worker = get_worker()
        host = worker.host if hasattr(worker, "host") else ""
        nthreads = getattr(getattr(worker, "state", worker), "nthreads", 1)
        _forward_progress(worker)
    except ValueError:  # not on a worker (e.g. a synchronous test scheduler)
        host, nthreads = "", 1
    slots = max(1, slots_by_host.get(host) or nthreads or 1)
    task = dict(task)
    if not task["config"].get("threads") and not task.get("default_threads"):
        task["default_threads"] = max(1, _cores() // slots)
    task["parallel_runs"] = slots
    return fn(task)


class DaskExecutor:
    name = "dask"

    def __init__(self, workers: int | None = None, scheduler: str | None = None):
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError as exc:  # pragma: no cover - dask is a dependency
            raise odebench.OdebenchError(f"--executor dask needs dask.distributed: {exc}") from None
        if workers is not None and workers < 1:
            raise odebench.OdebenchError(f"--workers must be at least 1, got {workers}")
        self.cluster = None
        if scheduler:
            if workers is not None:
                raise odebench.OdebenchError(
                    "--workers sizes a local cluster; with --scheduler the cluster decides (drop --workers)"
                )
            import dask

            # How long to try: dask's connect timeout (30 s; DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT).
            wait = dask.config.get("distributed.comm.timeouts.connect", "30s")
            try:
                self.client = Client(scheduler, timeout=wait)
            except (OSError, ValueError) as exc:
                raise odebench.OdebenchError(
                    f"cannot reach the Dask scheduler at {scheduler}: {exc}; check the address"
                ) from None
        else:
            # One thread per worker: each run is a subprocess that does its own threading.
            self.cluster = LocalCluster(n_workers=workers or 2, threads_per_worker=1,
                                        processes=True, dashboard_address=None)
            self.client = Client(self.cluster)

    def _slots_by_host(self) -> dict[str, int]:
        slots: dict[str, int] = {}
        for info in self.client.scheduler_info().get("workers", {}).values():
            host = info.get("host", "")
            slots[host] = slots.get(host, 0) + int(info.get("nthreads") or 1)
        return slots

    def map(self, fn, tasks):
        from dask.distributed import as_completed

        tasks = list(tasks)
        slots = self._slots_by_host()
        # Runs on the client's event loop thread: the driver's display locks for it.
        self.client.subscribe_topic(TOPIC, lambda event: progress.publish(event[1]))
        futures = {
            self.client.submit(run_on_worker, fn, task, slots, pure=False,
                               key=f"odebench-{task['key']}-{time.time_ns()}"): task
            for task in tasks
        }
        pending = dict(futures)
        try:
            for future in as_completed(futures):
                task = pending.pop(future)
                try:
                    result = future.result()
                except Exception as exc:  # the worker itself died or the scheduler went away
                    result = outcome(FAILED, f"dask: {type(exc).__name__}: {exc}")
                yield task, result
        except KeyboardInterrupt as exc:
            for task in self._running(pending):
                yield task, _interrupted(task, exc)
            raise
        finally:
            for future in futures:
                future.cancel()
            self.client.close()
            if self.cluster is not None:
                self.cluster.close()

    def _running(self, pending: dict) -> list[dict]:
        """The pending runs a worker was executing (queued ones were simply never started)."""
        try:
            processing = {k for keys in self.client.processing().values() for k in keys}
        except Exception:  # noqa: BLE001 - scheduler gone: report every pending run
            return list(pending.values())
        return [task for future, task in pending.items() if future.key in processing]


@odebench.hookimpl
def register_executors(register):
    register("local", LocalExecutor)
    register("dask", DaskExecutor)
