"""What machine and code produced a result: stored with every run so rows stay comparable."""

from __future__ import annotations

import functools
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


@functools.cache
def code_version() -> str:
    """odebench's version plus the git commit of the checkout it runs from (``+dirty`` when
    the tree has uncommitted changes outside ``results/``: a report just written there does
    not change the code)."""
    from . import __version__

    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root,
                                capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return __version__
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!results"],
                               cwd=root, capture_output=True, text=True, timeout=10)
        suffix = "+dirty" if dirty.stdout.strip() else ""
        return f"{__version__}+git.{commit.stdout.strip()}{suffix}"
    except (OSError, subprocess.SubprocessError):
        return __version__


def _cpu_capability(torch) -> str | None:
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except Exception:  # noqa: BLE001 - older torch: unknown
        return None


def machine_info(device: str = "cpu", plugins: dict[str, str] | None = None) -> dict:
    """The machine, the core libraries and ``plugins``, the versions of the plugins the run
    loaded (``Registry.plugins``: a distribution's name and version, or a file's hash)."""
    import psutil
    import torch

    info = {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": _cpu_model(),
        # The vector instructions torch's CPU kernels use (AVX2, AVX512): two VMs both called
        # "AMD EPYC" can differ here, and with them every CPU timing.
        "cpu_capability": _cpu_capability(torch),
        "cpu_cores_physical": psutil.cpu_count(logical=False),
        "cpu_cores_logical": psutil.cpu_count(logical=True),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_bytes": psutil.virtual_memory().total,
        "torch": torch.__version__,
        "numpy": _version("numpy"),
        "plugins": dict(plugins or {}),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "cuda_available": torch.cuda.is_available(),
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.cuda.is_available() else None,
        "gpu": None,
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        index = torch.device(device).index or 0
        props = torch.cuda.get_device_properties(index)
        info["gpu"] = props.name
        info["gpu_memory_bytes"] = props.total_memory
        info["gpu_count"] = torch.cuda.device_count()
    return info
