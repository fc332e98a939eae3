"""Labels and flat rows of runs, without pandas: what the driver's progress lines need.

A run's label is built from whatever its config holds (the model's own params, its
solver's options), so every model, a third party's too, is labelled the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def format_params(params: dict[str, Any]) -> str:
    """``key=value`` pairs sorted by key: ``blocks=6 width=32``."""
    return " ".join(f"{k}={_format_value(v)}" for k, v in sorted(params.items()))


def solver_label(solver: dict[str, Any] | None, eval_solver: dict[str, Any] | None = None,
                 full: dict[str, Any] | None = None) -> str:
    """``dopri5 atol=0.001 rtol=0.001``, plus ``(eval rtol=0.1 ...)`` where evaluation differs
    from ``full`` (the solver with every option; default: ``solver``)."""
    if not solver:
        return ""
    options = {k: v for k, v in solver.items() if k != "name"}
    label = f"{solver['name']} {format_params(options)}".strip()
    full = full or solver
    changed = {k: v for k, v in (eval_solver or {}).items() if full.get(k) != v}
    return f"{label} (eval {format_params(changed)})" if changed else label


def as_written(config: dict[str, Any], part: str) -> dict[str, Any] | None:
    """The ``params``/``solver`` of a config as the suite wrote them: the config holds the
    plugin's defaults too, ``explicit`` names the keys the suite gave (older rows lack it)."""
    values = config.get(part)
    explicit = (config.get("explicit") or {}).get(part)
    if not isinstance(values, dict) or explicit is None:
        return values
    return {k: v for k, v in values.items() if k in explicit or k == "name"}


def _differing_keys(configs: Iterable[dict[str, Any]], part: str) -> list[str]:
    """The keys of ``config[part]`` whose values differ among ``configs`` (a key some configs
    lack differs too); ``name`` is never one: it is shown anyway."""
    configs = list(configs)
    values: dict[str, set[str]] = {}
    for config in configs:
        for key, value in (config.get(part) or {}).items():
            if key != "name":
                values.setdefault(key, set()).add(json.dumps(value, sort_keys=True))
    keys = {k for k, v in values.items() if len(v) > 1}
    for config in configs:
        keys |= {k for k in values if k not in (config.get(part) or {})}
    return sorted(keys)


def train_keys(configs: Iterable[dict[str, Any]]) -> list[str]:
    """The training settings whose values differ among ``configs`` (an lr sweep, a rerun with
    ``--set train.epochs=2``): what a label needs to tell those runs apart."""
    return _differing_keys(configs, "train")


def dataset_keys(configs: Iterable[dict[str, Any]]) -> list[str]:
    """The dataset params whose values differ among ``configs`` (a suite of several datasets,
    e.g. UCR problems): what the ``dataset`` cell needs to tell them apart."""
    return _differing_keys(configs, "dataset")


def dataset_label(config: dict[str, Any], keys: Iterable[str] = ()) -> str:
    """``ucr problem=GunPoint``: the dataset's name and its params named in ``keys`` (those it
    has: a run stored before a param existed shows without it)."""
    dataset = config.get("dataset") or {}
    shown = {k: dataset[k] for k in keys if k in dataset}
    return " ".join([str(dataset.get("name", "")), format_params(shown)]).strip()


def label_fields(config: dict[str, Any], train: Iterable[str] = ()) -> dict[str, str]:
    """The ``model``, ``params``, ``solver`` and ``train`` cells of a run's config (see
    ``run_label``); ``train`` shows the settings named in ``train`` (see ``train_keys``)."""
    settings = config.get("train") or {}
    return {"model": config["model"], "params": format_params(as_written(config, "params") or {}),
            "solver": solver_label(as_written(config, "solver"), config.get("eval_solver"), config.get("solver")),
            "train": format_params({k: settings.get(k) for k in train})}


def run_label(row: dict[str, Any], with_device: bool = False) -> str:
    """A short human label of a run or group: model, params, solver, the training settings
    that differ (and device)."""
    parts = [str(row.get(k) or "") for k in ("model", "params", "solver", "train")]
    if with_device:
        parts.append(str(row.get("device") or ""))
    return " ".join(p for p in parts if p)


def group_key(config: dict[str, Any] | str) -> str:
    """The identity of a run's seed group: its config without ``seed`` and ``suite`` (and
    ``explicit``, which only says how the suite wrote it), as JSON."""
    if isinstance(config, str):
        config = json.loads(config)
    return json.dumps({k: v for k, v in config.items() if k not in ("seed", "suite", "explicit")},
                      sort_keys=True)


def flatten_all(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``flatten`` of each run, labelled with the training settings that differ among the
    runs of its suite (see ``train_keys``) and the dataset params that do (``dataset_keys``)."""
    keys: dict[str, tuple[list[str], list[str]]] = {}
    for suite in dict.fromkeys(r["suite"] for r in runs):
        configs = [r["config"] for r in runs if r["suite"] == suite]
        keys[suite] = (train_keys(configs), dataset_keys(configs))
    return [flatten(r, *keys[r["suite"]]) for r in runs]


def flatten(run: dict[str, Any], train: Iterable[str] = (), datasets: Iterable[str] = ()) -> dict[str, Any]:
    """One table row from a stored run (as returned by ``Store.latest``): the labels, the
    run's identity, its metrics (per-class scores as ``recall_<class>`` etc., in the
    dataset's class order) and the machine's ``busy`` flag, ``cpu``, ``gpu`` and ``torch``.
    Model params and solver options appear in the ``params``/``solver`` labels and, in full,
    in the ``config`` JSON."""
    config, metrics, machine = run["config"], run["metrics"], run["machine"]
    row: dict[str, Any] = {
        "suite": run["suite"],
        **label_fields(config, train),
        "dataset": dataset_label(config, datasets),
        "device": config["device"],
        "seed": config["seed"],
        "status": run["status"],
        "reason": run.get("reason") or "",
        "epochs": len(run.get("epochs", [])),
        "busy": machine.get("busy"),  # other processes used the CPU during the run
        "cpu": machine.get("cpu"),
        "cpu_capability": machine.get("cpu_capability"),  # AVX2/AVX512: same name, other CPU
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
