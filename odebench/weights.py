"""Trained weights kept next to the results: each done run's ``state_dict`` in
``<results>/weights/<suite>/<run_key>.pt``, its path (relative to the results directory) in
the run's ``weights_path`` metric, so a model can be evaluated again without retraining.

The run process encodes the weights into its outcome (base64 text: it travels through any
executor like the rest of the outcome); the driver, the one writer of results, saves them.
torch is imported only by the functions that need it.
"""

from __future__ import annotations

import base64
import io
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .types import OdebenchError

if TYPE_CHECKING:
    import torch

    from .plugins import Registry
    from .types import Dataset

FOLDER = "weights"


def encode(model: torch.nn.Module) -> str:
    """The model's state_dict (on the CPU) as ``torch.save`` bytes in base64."""
    import torch

    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def relative_path(suite: str, key: str) -> str:
    """Where a run's weights go, relative to the results directory."""
    folder = re.sub(r"[^A-Za-z0-9._-]+", "_", suite).strip("._") or "suite"
    return f"{FOLDER}/{folder}/{key}.pt"


def save(results: str | os.PathLike, suite: str, key: str, encoded: str) -> str:
    """Write encoded weights (see ``encode``) atomically; return their relative path."""
    relative = relative_path(suite, key)
    path = Path(results) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".pt.tmp")
    tmp.write_bytes(base64.b64decode(encoded))
    os.replace(tmp, path)
    return relative


def load_state(results: str | os.PathLike, run: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The state_dict saved for a stored run (a row of ``Store.latest``)."""
    import torch

    relative = (run.get("metrics") or {}).get("weights_path")
    if not relative:
        raise OdebenchError(f"run {run['run_key']} has no saved weights (run before weights were kept, "
                            "or with save_weights: false); rerun it with --force")
    path = Path(results) / relative
    if not path.is_file():
        raise OdebenchError(f"weights of run {run['run_key']} missing at {str(path)!r}; "
                            "rerun it with --force or pass the right --results DIR")
    return torch.load(path, map_location="cpu", weights_only=True)


def rebuild(registry: Registry, run: dict[str, Any], data: Dataset,
            results: str | os.PathLike) -> torch.nn.Module:
    """A stored run's model, built from its config for ``data``'s shape and loaded with its
    saved weights, in eval mode on the CPU."""
    from .binding import build_model

    model = build_model(registry, run["config"], data)
    model.load_state_dict(load_state(results, run))
    return model.eval()


__all__ = ["encode", "load_state", "rebuild", "relative_path", "save"]
