"""Executors: where the runs of a suite execute. ``local`` runs them one after another on
this machine; ``dask`` submits them to a Dask cluster (a LocalCluster with ``workers``
processes, or an existing scheduler). Either way each run is isolated in its own process by
the ``fn`` odebench passes in, and only the driver writes the results store."""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Iterable, Iterator

import odebench


class LocalExecutor:
    name = "local"

    def __init__(self, workers: int | None = None, scheduler: str | None = None):
        if workers not in (None, 1) or scheduler:
            raise odebench.OdebenchError(
                "the local executor runs one run at a time; use --executor dask for --workers/--scheduler"
            )

    def map(self, fn: Callable[[dict], dict], tasks: Iterable[dict]) -> Iterator[tuple[dict, dict]]:
        for task in tasks:
            try:
                outcome = fn(task)
            except KeyboardInterrupt:
                now = time.time()
                yield task, {"status": "interrupted", "reason": "interrupted by the user (Ctrl-C)",
                             "started_at": now, "finished_at": now}
                raise
            yield task, outcome


class DaskExecutor:
    name = "dask"

    def __init__(self, workers: int | None = None, scheduler: str | None = None):
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError as exc:  # pragma: no cover - dask is a dependency
            raise odebench.OdebenchError(f"--executor dask needs dask.distributed: {exc}") from None
        if scheduler:
            self.cluster = None
            try:
                self.client = Client(scheduler, timeout="30s")
            except OSError as exc:
                raise odebench.OdebenchError(
                    f"cannot reach the Dask scheduler at {scheduler}: {exc}; check the address"
                ) from None
            self.threads_per_run = None
        else:
            workers = workers or 2
            # One thread per worker: each run is a subprocess that does its own threading.
            self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                        dashboard_address=None)
            self.client = Client(self.cluster)
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
            self.threads_per_run = max(1, (cores or 1) // workers)

    def map(self, fn, tasks):
        from dask.distributed import as_completed

        tasks = list(tasks)
        for task in tasks:
            if self.threads_per_run and not task["config"].get("threads"):
                task["default_threads"] = self.threads_per_run
        futures = {self.client.submit(fn, task, pure=False, key=f"odebench-{task['key']}-{time.time_ns()}"): task
                   for task in tasks}
        try:
            for future in as_completed(futures):
                task = futures[future]
                try:
                    outcome = future.result()
                except Exception as exc:  # the worker itself died or the scheduler went away
                    now = time.time()
                    outcome = {"status": "failed", "reason": f"dask: {type(exc).__name__}: {exc}",
                               "started_at": now, "finished_at": now}
                yield task, outcome
        finally:
            for future in futures:
                future.cancel()
            self.client.close()
            if self.cluster is not None:
                self.cluster.close()


@odebench.hookimpl
def register_executors(register):
    register("local", LocalExecutor)
    register("dask", DaskExecutor)
