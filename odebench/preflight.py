"""Checks the driver makes once before dispatching a suite's runs: that each dataset loads
(a dataset error would fail every run the same way), and which finished runs were made with
other versions of the plugins they used (stale)."""

from __future__ import annotations

from typing import Any

from .plugins import Registry
from .types import DataError, OdebenchError, one_line


def check_datasets(registry: Registry, configs: list[dict[str, Any]]) -> None:
    """Load each distinct dataset of ``configs`` once, as a run would (the plugins cache, so
    this is cheap the second time); raise DataError (one line) for the first that fails."""
    import json

    from .binding import load_dataset

    specs = {json.dumps(c["dataset"], sort_keys=True): c["dataset"] for c in configs}
    for spec in specs.values():
        try:
            load_dataset(registry, spec)
        except OdebenchError:
            raise
        except Exception as exc:  # a loader bug fails every run alike: once is enough
            raise DataError(f"dataset {spec['name']!r} failed to load ({one_line(exc)}); fix the "
                            "dataset's params or its plugin") from None


def plugins_used(registry: Registry, config: dict[str, Any]) -> list[str]:
    """The labels (``Registry.plugins`` keys) of the plugins providing a run's model, solvers
    and dataset."""
    used = []
    for kind, name in (("models", config["model"]), ("datasets", config["dataset"]["name"]),
                       ("solvers", (config.get("solver") or {}).get("name")),
                       ("solvers", (config.get("eval_solver") or {}).get("name"))):
        entry = registry.of(kind).get(name) if name else None
        if entry is not None and entry.plugin not in used:
            used.append(entry.plugin)
    return used


def stale_reasons(registry: Registry, config: dict[str, Any], machine: dict[str, Any]) -> list[str]:
    """``plugin: old -> new`` for each plugin the run used whose version now differs from the
    one recorded with it (runs recorded without versions are not judged)."""
    recorded = machine.get("plugins") or {}
    out = []
    for label in plugins_used(registry, config):
        old, new = recorded.get(label), registry.plugins.get(label)
        if old is not None and new is not None and old != new:
            out.append(f"{label}: {old} -> {new}")
    return out


def stale_runs(registry: Registry, latest: list[dict[str, Any]], keys: set[str]) -> dict[str, list[str]]:
    """The stale ones among the stored runs (``Store.latest`` rows) whose key is in ``keys``:
    run key -> reasons."""
    out = {}
    for row in latest:
        if row["run_key"] in keys:
            reasons = stale_reasons(registry, row["config"], row.get("machine") or {})
            if reasons:
                out[row["run_key"]] = reasons
    return out
