"""Plugin discovery: entry points of the ``odebench`` group, plus loose ``*.py`` files.

A plugin that fails to import or to register is reported in ``Registry.failures`` and
everything else keeps working.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import sys
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy

from . import hookspecs

KINDS = ("models", "solvers", "datasets", "executors")


@dataclass
class Entry:
    kind: str
    name: str
    obj: Callable[..., Any]
    plugin: str
    version: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Failure:
    plugin: str
    error: str
    detail: str = ""


@dataclass
class Registry:
    models: dict[str, Entry] = field(default_factory=dict)
    solvers: dict[str, Entry] = field(default_factory=dict)
    datasets: dict[str, Entry] = field(default_factory=dict)
    executors: dict[str, Entry] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    plugin_files: tuple[str, ...] = ()

    def of(self, kind: str) -> dict[str, Entry]:
        return getattr(self, kind)


def plugin_files_in(directory: str | os.PathLike) -> list[str]:
    path = Path(directory)
    if not path.is_dir():
        from .types import OdebenchError

        raise OdebenchError(f"plugins directory {str(path)!r} does not exist: pass an existing folder")
    return sorted(str(p.resolve()) for p in path.glob("*.py"))


def _import_file(path: str):
    digest = hashlib.sha1(path.encode()).hexdigest()[:8]
    module_name = f"odebench_local_plugin_{Path(path).stem}_{digest}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def _one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    return text[0] if text else type(exc).__name__


def load_registry(plugin_files: Iterable[str] = ()) -> Registry:
    """Load every installed plugin and the given plugin files, and collect what they register."""
    pm = pluggy.PluginManager("odebench")
    pm.add_hookspecs(hookspecs)
    registry = Registry(plugin_files=tuple(plugin_files))
    versions: dict[str, str] = {}

    only = os.environ.get("ODEBENCH_LOAD_PLUGINS")
    allowed = None if only is None else {s.strip() for s in only.split(",") if s.strip()}
    for ep in importlib.metadata.entry_points(group="odebench"):
        if allowed is not None and ep.name not in allowed:
            continue
        dist = getattr(ep, "dist", None)
        label = ep.name
        try:
            pm.register(ep.load(), name=label)
            versions[label] = f"{dist.name} {dist.version}" if dist else "?"
        except Exception as exc:  # a broken plugin must not break the tool
            registry.failures.append(Failure(label, _one_line(exc), traceback.format_exc()))

    for path in registry.plugin_files:
        label = Path(path).name
        try:
            pm.register(_import_file(path), name=path)
            versions[path] = f"file {label}"
        except Exception as exc:
            registry.failures.append(Failure(path, _one_line(exc), traceback.format_exc()))

    for kind in KINDS:
        hook = getattr(pm.hook, f"register_{kind}")
        for impl in hook.get_hookimpls():
            plugin = impl.plugin_name
            label = Path(plugin).name if plugin in registry.plugin_files else plugin

            def register(name: str, obj: Callable[..., Any], _kind=kind, _p=label, _id=plugin,
                         _v=versions.get(plugin, "?"), **extra) -> None:
                table = registry.of(_kind)
                if name in table:  # keep the first, report the clash, let the plugin go on
                    registry.failures.append(Failure(
                        _id, f"{_kind[:-1]} {name!r} is already registered by plugin {table[name].plugin!r}"))
                    return
                table[name] = Entry(_kind, name, obj, _p, _v, extra)

            try:
                impl.function(register=register)
            except Exception as exc:
                registry.failures.append(Failure(plugin, _one_line(exc), traceback.format_exc()))
    return registry
