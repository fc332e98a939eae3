from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from odebench.cli import main


@pytest.fixture
def write_suite(tmp_path: Path):
    """Write a suite YAML into tmp_path and return its path."""

    def write(text: str, name: str = "suite.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return write


@pytest.fixture
def cli(capsys):
    """Run the odebench CLI in this process; returns (exit code, stdout, stderr)."""

    def run(*args: str):
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


# A suite header for runs that must be quick: one batch, one epoch.
FAST_HEAD = """\
dataset: {name: synthetic, train_size: 64, test_size: 32}
train: {epochs: 1, batch_size: 32, max_batches: 1}
"""
# Only odebench's own plugins: no slow third-party imports in every run process.
CORE_PLUGINS = "torchdiffeq,resnet,node,synthetic,executors"


@pytest.fixture
def core_plugins_only(monkeypatch):
    monkeypatch.setenv("ODEBENCH_LOAD_PLUGINS", CORE_PLUGINS)


TINY = """\
name: tiny
dataset: {name: synthetic, train_size: 64, test_size: 32}
train: {epochs: 1, batch_size: 32}
"""


def pytest_collection_modifyitems(config, items):
    """Micro-benchmarks run only under ``pytest --benchmark-only``; plain ``pytest`` skips them
    at once instead of calibrating timers."""
    if config.getoption("benchmark_only", default=False):
        return
    skip = pytest.mark.skip(reason="micro-benchmark: run with pytest --benchmark-only")
    for item in items:
        if "benchmark" in getattr(item, "fixturenames", ()):
            item.add_marker(skip)


def wait_for(predicate, seconds: float, what: str):
    """Poll ``predicate`` until it returns something truthy; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
