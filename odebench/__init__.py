"""odebench: a benchmark harness for neural differential-equation models.

Public API: ``hookimpl`` for plugins, the value types in ``odebench.types`` and
``run_suite`` / ``load_suite`` for scripts.
"""

from __future__ import annotations

import pluggy

from .types import (
    DataError,
    Dataset,
    DatasetShape,
    Diverged,
    OdebenchError,
    Solver,
    SuiteError,
    Unsupported,
)

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("odebench")

__all__ = [
    "DataError",
    "Dataset",
    "DatasetShape",
    "Diverged",
    "OdebenchError",
    "Problem",
    "Solver",
    "SuiteError",
    "Unsupported",
    "__version__",
    "hookimpl",
    "load_suite",
    "run_suite",
]


def __getattr__(name: str):
    # Lazy, so that plugins importing `odebench` for `hookimpl` don't pull in the whole core.
    if name == "run_suite":
        from .driver import run_suite

        return run_suite
    if name == "Problem":
        from .problems import Problem

        return Problem
    if name == "load_suite":
        from .suite import load_suite

        return load_suite
    raise AttributeError(name)
