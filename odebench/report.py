"""Result tables: the store's latest attempts flattened into one row per run."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from tabulate import tabulate

COLUMNS = [
    "suite", "model", "params", "solver", "gradient", "dataset", "device", "seed", "status",
    "reason", "n_params", "train_accuracy", "test_accuracy", "test_macro_f1", "epoch_seconds",
    "first_epoch_seconds", "eval_seconds", "samples_per_second", "nfe_forward", "nfe_backward",
    "nfe_eval", "steps_accepted_forward", "steps_rejected_forward", "steps_accepted_backward",
    "steps_rejected_backward", "peak_memory_bytes", "peak_rss_bytes", "peak_rss_increase_bytes",
    "baseline_rss_bytes", "cuda_peak_allocated_bytes", "cuda_peak_reserved_bytes", "epochs",
    "train_samples", "test_samples", "threads", "cpu", "gpu", "torch", "torchdiffeq",
    "code_version", "executor", "run_key", "config",
]
MARKDOWN = [
    ("model", "model"), ("params", "params"), ("solver", "solver"), ("device", "device"),
    ("seed", "seed"), ("status", "status"), ("n_params", "params #"),
    ("train_accuracy", "train acc"), ("test_accuracy", "test acc"), ("test_macro_f1", "macro-F1"),
    ("epoch_seconds", "epoch s"), ("eval_seconds", "eval s"), ("nfe_forward", "NFE fwd"),
    ("nfe_backward", "NFE bwd"), ("peak_memory_bytes", "peak mem"),
]


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _kv(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={_format_value(v)}" for k, v in sorted(params.items()))


def solver_label(solver: dict[str, Any] | None) -> str:
    if not solver:
        return ""
    options = {k: v for k, v in solver.items() if k != "name"}
    return f"{solver['name']} {_kv(options)}".strip()


def flatten(run: dict[str, Any]) -> dict[str, Any]:
    """One table row from a stored run (as returned by ``Store.latest``)."""
    config, metrics, machine = run["config"], run["metrics"], run["machine"]
    row: dict[str, Any] = {
        "suite": run["suite"],
        "model": config["model"],
        "params": _kv(config["params"]),
        "solver": solver_label(config.get("solver")),
        "gradient": config["params"].get("gradient", ""),
        "dataset": config["dataset"]["name"],
        "device": config["device"],
        "seed": config["seed"],
        "status": run["status"],
        "reason": run.get("reason") or "",
        "epochs": len(run.get("epochs", [])),
        "cpu": machine.get("cpu"),
        "gpu": machine.get("gpu"),
        "torch": machine.get("torch"),
        "torchdiffeq": machine.get("torchdiffeq"),
        "code_version": run.get("code_version"),
        "executor": run.get("executor"),
        "run_key": run["run_key"],
        "config": json.dumps(config, sort_keys=True),
    }
    for key, value in metrics.items():
        if key in ("per_class", "confusion_matrix", "class_names"):
            continue
        row[key] = value
    for name, scores in (metrics.get("per_class") or {}).items():
        row[f"recall_{name}"] = scores["recall"]
        row[f"precision_{name}"] = scores["precision"]
        row[f"f1_{name}"] = scores["f1"]
    return row


def table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A DataFrame with the standard columns first, from flattened rows (see ``flatten``)."""
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=COLUMNS)
    extra = [c for c in frame.columns if c not in COLUMNS]
    for column in COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    return frame[COLUMNS + extra]


def human_bytes(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    value = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return ""


def _cell(column: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if column.endswith("_bytes"):
        return human_bytes(value)
    if column in ("train_accuracy", "test_accuracy", "test_macro_f1"):
        return f"{value:.4f}"
    if column.endswith("_seconds"):
        return f"{value:.3g}"
    if column.startswith(("nfe_", "steps_")):
        return f"{value:.1f}"
    if column == "n_params":
        return f"{int(value):,}"
    return str(value)


def to_markdown(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "(no runs)"
    recall = [c for c in frame.columns if c.startswith("recall_")]
    columns = MARKDOWN + [(c, f"rec {c[len('recall_'):]}") for c in recall]
    body = []
    for _, row in frame.iterrows():
        cells = []
        for column, _title in columns:
            value = row.get(column)
            if column == "status" and row.get("reason") and value != "done":
                value = f"{value}: {str(row['reason'])[:60]}"
            cells.append(_cell(column, value))
        body.append(cells)
    return tabulate(body, headers=[title for _, title in columns], tablefmt="github")


def to_csv(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False)
