"""The driver: expand a suite, skip what is finished, hand the rest to an executor, store
each outcome as it arrives.

Each run is claimed in the store just before it runs (``claims.py``), so a second driver on
the same store skips it; each outcome is written to the pending folder before the store
insert (``attempts.py``), so a failed insert (disk full, store deleted) loses no result."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from . import weights
from .attempts import discard, import_pending, keep
from .claims import Claims
from .health import DRIVER_PID, busy_warning, run_warnings, sample_busy
from .isolate import run_isolated
from .machine import code_version
from .params import suggest
from .preflight import check_datasets, stale_runs
from .progress import Display, display_for, listening
from .report.labels import dataset_keys, dataset_label, flatten_all, label_fields, run_label, train_keys
from .store import Store, StoreError, attempt_record
from .suite import MAX_RUNS, Suite, load_suite, run_key, upgraded_key
from .types import DONE, FINISHED, SUCCEEDED, OdebenchError, Outcome, Task


def describe(config: dict[str, Any], train: Iterable[str] = (), datasets: Iterable[str] = ()) -> str:
    """A run's progress label; ``train`` names the training settings that tell runs apart,
    ``datasets`` the dataset params (a suite of several datasets: the dataset is named)."""
    label = f"{run_label(label_fields(config, train))} seed={config['seed']} {config['device']}"
    return f"{label} on {dataset_label(config, datasets)}" if datasets else label


def run_suite(
    path: str | os.PathLike,
    *,
    results: str | os.PathLike = "results",
    plugin_dirs: Iterable[str] = (),
    overrides: Iterable[str] = (),
    force: bool = False,
    timeout: float | None = None,
    executor: str = "local",
    executor_options: dict[str, Any] | None = None,
    echo: Callable[[str], None] = print,
    suite: Suite | None = None,
    progress: str = "auto",
    max_runs: int = MAX_RUNS,
    rerun_stale: bool = False,
) -> list[dict[str, Any]]:
    """Run every unfinished run of a suite; return the table rows (the attempt that stands
    for each of the suite's runs: its latest finished one, else its latest). Raises
    SuiteError/OdebenchError for bad input before anything runs or is written. ``timeout``
    (seconds; 0 = none) wins over the suite's ``timeout:``.

    A run is finished, and not rerun, when it has a done, diverged or skipped attempt; failed,
    timeout and interrupted runs run again. A finished run made with another version of a
    plugin it used is *stale*: reported, kept, and rerun only with ``rerun_stale``. A run
    another driver holds (``claims.py``) is left to it. Each dataset is loaded once before any
    run starts (not with a remote ``scheduler``, whose machines may see other files): a
    DataError there stops the suite, instead of failing every run alike. KeyboardInterrupt
    propagates after the executor recorded the current run(s) as interrupted. A store that
    cannot be read or written raises StoreError (a run that finished keeps its outcome in the
    pending folder).

    ``progress``: ``auto`` (a live view when ``echo`` is print and stdout is a terminal, else
    ``plain``), ``live``, ``plain`` (throttled lines through ``echo``) or ``off`` (only the
    suite's first line and a line per finished run)."""
    suite = suite or load_suite(path, plugin_dirs=plugin_dirs, overrides=overrides, max_runs=max_runs)
    store = Store(results)
    if executor not in suite.registry.executors:
        raise OdebenchError(f"unknown executor {executor!r}; {suggest(executor, suite.registry.executors)}")
    options = {k: v for k, v in (executor_options or {}).items() if v is not None}
    # Nothing is written before the input is checked: the store is read first (an unreadable
    # or newer store stops here), the executor made, and only then the store created/migrated.
    store.check_writable()
    started = time.time()
    keys = [run_key(c) for c in suite.runs]
    previous, older = ({}, {}) if force else _statuses(store, suite, keys)
    limit = (timeout if timeout is not None else suite.timeout) or None
    finished = {k for k in keys if previous.get(k) in FINISHED}
    stale = stale_runs(suite.registry, store.latest(suite.name), finished) if finished else {}
    rerun = set(stale) if rerun_stale else set()
    todo = [(k, c) for k, c in zip(keys, suite.runs) if k not in finished or k in rerun]
    # Made before anything is printed: bad executor options are bad input like the rest.
    display = _display(progress, echo)
    runner = suite.registry.executors[executor].obj(**options) if todo else None
    if todo and not options.get("scheduler"):
        check_datasets(suite.registry, [c for _, c in todo])
    store.open()
    imported, files = import_pending(store)
    if files:  # importing only adds attempts: the runs to do can only become fewer
        echo(f"imported {imported} finished run(s) kept in the pending folder by an earlier failed "
             f"store write ({len(files) - imported} were in the store already)")
        previous, older = ({}, {}) if force else _statuses(store, suite, keys)
        todo = [(k, c) for k, c in todo if previous.get(k) not in FINISHED or k in rerun]
    skipped = len(suite.runs) - len(todo)
    again = sum(1 for k, _ in todo if k in previous)
    for failure in suite.registry.failures:  # installed plugins the suite did not need
        echo(f"warning: plugin {failure.plugin} failed to load ({failure.error}); see odebench plugins")
    if stale:
        why = sorted({r for reasons in stale.values() for r in reasons})
        echo(f"{len(stale)} finished run(s) are stale, made with other plugin versions ({'; '.join(why)}): "
             + ("running them again (--rerun-stale)" if rerun_stale else
                "kept and not rerun; --rerun-stale reruns them"))
    echo(f"suite {suite.name}: {len(suite.runs)} runs; skipping {skipped} already finished "
         f"(done, diverged or skipped; --force reruns them); {len(todo)} to run"
         + (f", {again} of them again after failed/timeout/interrupted" if again else "")
         + (f"; timeout {limit:g} s per run" if limit else ""))
    train = (train_keys(suite.runs), dataset_keys(suite.runs))
    if runner is not None and todo:
        # Run processes (and Dask workers) inherit it: this driver's tree is not "load".
        os.environ[DRIVER_PID] = str(os.getpid())
        warning = busy_warning(*sample_busy())
        if warning:
            echo(warning)
        version = code_version()
        tasks: list[Task] = [
            {"key": k, "config": c, "plugin_files": list(suite.plugin_files), "timeout": limit,
             "progress": f"[{i + 1}/{len(todo)}] {describe(c, *train)}", "save_weights": suite.save_weights}
            for i, (k, c) in enumerate(todo)
        ]
        # --force and --rerun-stale rerun finished runs: those that finished before this
        # driver started (another driver's newer result still wins).
        claims = Claims(store, suite.name, finished_after=started if force or rerun else None)
        elsewhere: list[Task] = []

        def claimed() -> Iterator[Task]:
            # Lazily, as the executor asks for the next run: claimed just before it runs.
            for task in tasks:
                why = claims.claim(task["key"])
                if why is None:
                    yield task
                else:
                    elsewhere.append(task)
                    display.finished(task["key"], f"[-] not run     {describe(task['config'], *train)}: {why}")

        display.begin(len(tasks), {t["key"]: t["progress"] for t in tasks})
        try:
            with claims, listening(display.event):
                for n, (task, outcome) in enumerate(runner.map(run_isolated, claimed()), 1):
                    unsaved = _keep_weights(store, task, outcome)
                    record = attempt_record(task["config"], task["key"], outcome, version, executor)
                    shared = claims.shared(task["key"])
                    if shared:  # another driver's run used this machine meanwhile: timings suspect
                        record["metrics"]["shared_machine"] = shared
                    save(store, record, describe(task["config"], *train))
                    claims.release(task["key"])
                    display.finished(task["key"], f"[{n}/{len(todo)}] {outcome['status']:<11} "
                                     f"{describe(task['config'], *train)}{_detail(record)}"
                                     + (f" - warning: {unsaved}" if unsaved else ""))
        finally:
            display.end()
        if elsewhere:
            echo(f"{len(elsewhere)} run(s) not run here: another odebench driver on this store "
                 "is running or finished them")
    wanted = set(keys) | set(older)
    if not store.path.exists():
        return []
    return flatten_all([r for r in store.latest(suite.name) if r["run_key"] in wanted])


def _statuses(store: Store, suite: Suite, keys: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """The stored status of each run of the suite by its key, and the stored keys that are
    runs of the suite under an older key rule (``upgraded_key``), mapped to today's key: a
    store written by an older odebench resumes instead of running its finished runs again."""
    statuses = store.statuses(suite.name)
    unknown = set(statuses) - set(keys)
    older: dict[str, str] = {}
    if unknown:
        current = set(keys)
        for run in store.latest(suite.name):
            if run["run_key"] in unknown:
                key = upgraded_key(run["config"], suite.registry)
                if key in current and statuses.get(key) not in FINISHED:
                    older[run["run_key"]] = key
                    statuses[key] = run["status"]
    return statuses, older


def _detail(outcome: dict[str, Any]) -> str:
    m = outcome.get("metrics") or {}
    detail = ""
    if outcome["status"] == DONE:
        detail = (f" test_acc={m.get('test_accuracy', float('nan')):.4f}"
                  f" epoch_s={m.get('epoch_seconds', float('nan')):.2f}")
    elif outcome.get("reason"):
        detail = f" ({outcome['reason']})"
    warnings = run_warnings(m, outcome.get("machine"))
    if m.get("shared_machine"):
        warnings.append(f"shared machine: {m['shared_machine']} run(s) of another odebench driver "
                        "ran on this host meanwhile")
    if warnings:
        detail += " - warning: " + "; ".join(warnings)
    return detail


def _display(mode: str, echo: Callable[[str], None]) -> Display:
    # A caller's own echo gets lines, never a live view drawn past it onto stdout.
    return display_for("plain" if mode == "auto" and echo is not print else mode, echo)


def _keep_weights(store: Store, task: Task, outcome: Outcome) -> str | None:
    """Save a done run's weights (taken out of its outcome) under the results directory and
    record their relative path as its ``weights_path`` metric; a warning when they could not
    be written (the run's result is kept either way)."""
    encoded = outcome.pop("weights", None)
    if encoded is None or outcome["status"] != DONE:
        return None
    try:
        path = weights.save(store.directory, task["config"]["suite"], task["key"], encoded)
    except (OSError, ValueError) as exc:
        return f"its weights were not saved ({exc})"
    outcome.setdefault("metrics", {})["weights_path"] = path
    return None


def save(store: Store, record: dict[str, Any], label: str) -> None:
    """Store one attempt; its outcome is first kept in the pending folder, so a failed
    insert (disk full, store deleted or replaced) loses nothing: StoreError says where it is,
    and the next ``odebench run`` imports it."""
    kept = keep(store, record)
    try:
        store.add_record(record)
    except StoreError as exc:
        where = (f"its outcome is kept in {str(kept)!r} and the next odebench run imports it"
                 if kept else "its outcome could not be kept anywhere either (every pending folder failed)")
        raise StoreError(f"{exc} (run {label} finished {record['status']} but was not stored; {where})"
                         ) from None
    discard(kept)


def unfinished(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows whose run did not end as intended (neither done nor skipped)."""
    return [r for r in rows if r["status"] not in SUCCEEDED]


__all__ = ["run_suite", "save", "unfinished"]
