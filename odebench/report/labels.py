"""Labels and flat rows of runs, without pandas: what the driver's progress lines need.

A run's label is built from whatever its config holds (the model's own params, its
solver's options), so every model, a third party's too, is labelled the same way.
"""

from __future__ import annotations

import json
from typing import Any


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def format_params(params: dict[str, Any]) -> str:
    """``key=value`` pairs sorted by key: ``blocks=6 width=32``."""
    return " ".join(f"{k}={_format_value(v)}" for k, v in sorted(params.items()))


def solver_label(solver: dict[str, Any] | None, eval_solver: dict[str, Any] | None = None) -> str:
    """``dopri5 atol=0.001 rtol=0.001``, plus ``(eval rtol=0.1 ...)`` where evaluation differs."""
    if not solver:
        return ""
    options = {k: v for k, v in solver.items() if k != "name"}
    label = f"{solver['name']} {format_params(options)}".strip()
    changed = {k: v for k, v in (eval_solver or {}).items() if solver.get(k) != v}
    return f"{label} (eval {format_params(changed)})" if changed else label


def label_fields(config: dict[str, Any]) -> dict[str, str]:
    """The ``model``, ``params`` and ``solver`` cells of a run's config (see ``run_label``)."""
    return {"model": config["model"], "params": format_params(config["params"]),
            "solver": solver_label(config.get("solver"), config.get("eval_solver"))}


def run_label(row: dict[str, Any], with_device: bool = False) -> str:
    """A short human label of a run or group: model, params, solver (and device)."""
    parts = [str(row.get("model", "")), str(row.get("params") or ""), str(row.get("solver") or "")]
    if with_device:
        parts.append(str(row.get("device") or ""))
    return " ".join(p for p in parts if p)


def group_key(config: dict[str, Any] | str) -> str:
    """The identity of a run's seed group: its config without ``seed`` and ``suite``, as JSON."""
    if isinstance(config, str):
        config = json.loads(config)
    return json.dumps({k: v for k, v in config.items() if k not in ("seed", "suite")},
                      sort_keys=True)


def flatten(run: dict[str, Any]) -> dict[str, Any]:
    """One table row from a stored run (as returned by ``Store.latest``): the labels, the
    run's identity, its metrics (per-class scores as ``recall_<class>`` etc., in the
    dataset's class order) and the machine's ``busy`` flag, ``cpu``, ``gpu`` and ``torch``.
    Model params and solver options appear in the ``params``/``solver`` labels and, in full,
    in the ``config`` JSON."""
    config, metrics, machine = run["config"], run["metrics"], run["machine"]
    row: dict[str, Any] = {
        "suite": run["suite"],
        **label_fields(config),
        "dataset": config["dataset"]["name"],
        "device": config["device"],
        "seed": config["seed"],
        "status": run["status"],
        "reason": run.get("reason") or "",
        "epochs": len(run.get("epochs", [])),
        "busy": machine.get("busy"),  # other processes used the CPU during the run
        "cpu": machine.get("cpu"),
        "gpu": machine.get("gpu"),
        "torch": machine.get("torch"),
        "code_version": run.get("code_version"),
        "executor": run.get("executor"),
        "run_key": run["run_key"],
        "config": json.dumps(config, sort_keys=True),
    }
    for key, value in metrics.items():
        if key in ("per_class", "confusion_matrix", "class_names"):
            continue
        row[key] = value
    per_class = metrics.get("per_class") or {}
    # The store keeps JSON with sorted keys: the dataset's class order comes from class_names.
    order = [n for n in metrics.get("class_names") or [] if n in per_class]
    order += [n for n in per_class if n not in order]
    for name in order:
        scores = per_class[name]
        row[f"recall_{name}"] = scores["recall"]
        row[f"precision_{name}"] = scores["precision"]
        row[f"f1_{name}"] = scores["f1"]
    return row
