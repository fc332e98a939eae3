"""A pytest plugin: odebench's machine record in pytest-benchmark's ``machine_info``.

pytest-benchmark saves (``--benchmark-json``, ``--benchmark-autosave``) and compares
(``--benchmark-compare``) a ``machine_info`` record with every benchmark run; this adds
odebench's own (``odebench.machine.machine_info``: the CPU model and its vector capability,
cores, affinity, torch and its threads, the GPU, and the versions of the odebench plugins the
solver benchmarks loaded: a loose file's content hash) under ``odebench_*`` keys, and the code
version as ``odebench_version``.

``odebench.solver_benchmarks`` registers this plugin itself when its tests run, which covers
saving. Comparing reads the machine record when the session starts, before any test runs, so
name the plugin on the command line there::

    pytest -p odebench.pytest_plugin --pyargs odebench.solver_benchmarks --benchmark-only \
        --benchmark-compare

Nothing is imported until pytest-benchmark asks (a plain ``pytest`` run pays nothing), and the
hook is optional: without pytest-benchmark this plugin does nothing.
"""

from __future__ import annotations

import pytest

# The versions of the odebench plugins the benchmarks loaded (``Registry.plugins``), set by
# ``odebench.solver_benchmarks``: they go into the record's ``odebench_plugins``.
PLUGINS = pytest.StashKey[dict]()


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_machine_info(config, machine_info):
    import torch

    from .machine import code_version
    from .machine import machine_info as odebench_machine_info

    info = odebench_machine_info("cuda" if torch.cuda.is_available() else "cpu", config.stash.get(PLUGINS, None))
    machine_info.update({f"odebench_{k}": v for k, v in info.items()})
    machine_info["odebench_version"] = code_version()
