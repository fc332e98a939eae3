"""Plugin discovery: entry points of the ``odebench`` group, plus loose ``*.py`` files.

A plugin that fails to import or to register is reported in ``Registry.failures`` and
everything else keeps working. ``Registry.plugins`` holds the version of every plugin that
loaded (its distribution's name and version, or a loose file's content hash), which each run
stores with its machine record. Binding what a suite names to what plugins registered is
``binding.py``.
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
from .types import OdebenchError, one_line

KINDS = ("models", "solvers", "datasets", "problems", "executors")
# What a broken plugin may raise and still be contained: any error, and sys.exit() at import
# (which would otherwise end odebench silently). KeyboardInterrupt still stops odebench.
CONTAINED = (Exception, SystemExit)


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
    problems: dict[str, Entry] = field(default_factory=dict)
    executors: dict[str, Entry] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    plugin_files: tuple[str, ...] = ()
    plugins: dict[str, str] = field(default_factory=dict)  # every plugin that loaded (label) -> version

    def of(self, kind: str) -> dict[str, Entry]:
        return getattr(self, kind)


def plugin_files_in(directories: Iterable[str | os.PathLike]) -> list[str]:
    """The ``*.py`` files of each ``--plugins-dir`` folder, as absolute paths."""
    files: list[str] = []
    for directory in directories:
        path = Path(directory)
        if not path.is_dir():
            raise OdebenchError(f"plugins directory {str(path)!r} does not exist: pass an existing folder")
        files += sorted(str(p.resolve()) for p in path.glob("*.py"))
    return files


def registry_for(plugin_dirs: Iterable[str | os.PathLike] = ()) -> Registry:
    """The registry of the installed plugins plus the loose files of ``plugin_dirs``."""
    return load_registry(plugin_files_in(plugin_dirs))


def file_version(path: str) -> str:
    """A loose plugin file's version: the first 12 hex digits of its content's sha256."""
    return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


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


def load_registry(plugin_files: Iterable[str] = ()) -> Registry:
    """Load every installed plugin and the given plugin files, and collect what they register."""
    pm = pluggy.PluginManager("odebench")
    pm.add_hookspecs(hookspecs)
    registry = Registry(plugin_files=tuple(plugin_files))
    versions: dict[str, str] = {}  # by pluggy name: a loose file's is its path

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
        except CONTAINED as exc:  # a broken plugin must not break the tool
            registry.failures.append(Failure(label, one_line(exc), traceback.format_exc()))

    for path in registry.plugin_files:
        try:
            pm.register(_import_file(path), name=path)
            versions[path] = f"file {file_version(path)}"
        except CONTAINED as exc:
            registry.failures.append(Failure(path, one_line(exc), traceback.format_exc()))

    for kind in KINDS:
        hook = getattr(pm.hook, f"register_{kind}")
        for impl in hook.get_hookimpls():
            plugin = impl.plugin_name
            label = _label(plugin, registry)

            def register(name: str, obj: Callable[..., Any], _kind=kind, _p=label, _id=plugin,
                         _v=versions.get(plugin, "?"), **extra) -> None:
                table = registry.of(_kind)
                if not isinstance(name, str) or not name.strip():
                    registry.failures.append(Failure(
                        _id, f"registered a {_kind[:-1]} named {name!r}; a name must be a non-empty string"))
                    return
                if not callable(obj):
                    registry.failures.append(Failure(
                        _id, f"registered {_kind[:-1]} {name!r} as {type(obj).__name__} {obj!r:.40}, "
                        "not a callable; register a function or class"))
                    return
                if name in table:  # keep the first, report the clash, let the plugin go on
                    registry.failures.append(Failure(
                        _id, f"{_kind[:-1]} {name!r} is already registered by plugin {table[name].plugin!r}"))
                    return
                table[name] = Entry(_kind, name, obj, _p, _v, extra)

            try:
                impl.function(register=register)
            except CONTAINED as exc:
                registry.failures.append(Failure(plugin, one_line(exc), traceback.format_exc()))
    registry.plugins = {_label(p, registry): v for p, v in versions.items()}
    return registry


def _label(plugin: str, registry: Registry) -> str:
    """How a plugin is named to the user: its entry-point name, or a loose file's name."""
    return Path(plugin).name if plugin in registry.plugin_files else plugin
