"""One run: load data, build the model, train, evaluate, measure. Runs inside its own process
(see ``isolate.py``), so a crash, a hang or a memory peak belongs to this run alone."""

from __future__ import annotations

import math
import os
import resource
import statistics
import time
import traceback
from typing import Any

import numpy as np
import torch

from .machine import machine_info
from .plugins import Registry, load_registry
from .suite import param_types
from .types import Dataset, Diverged, OdebenchError, Solver, Unsupported

DIVERGED_MESSAGES = ("underflow in dt", "max_num_steps exceeded")


def stratified_subsample(y: torch.Tensor, size: int | None, seed: int) -> torch.Tensor | None:
    """Indices of a stratified subsample of ``size`` (every class kept in proportion, at least
    one sample of each where possible), or None when no subsampling is needed."""
    n = len(y)
    if size is None or size >= n:
        return None
    rng = np.random.default_rng(seed)
    labels = y.numpy()
    classes, counts = np.unique(labels, return_counts=True)
    quota = np.maximum(1, np.floor(counts * size / n)).astype(int)
    quota = np.minimum(quota, counts)
    while quota.sum() > size:
        quota[np.argmax(quota)] -= 1
    remainder = size - quota.sum()
    order = np.argsort(-(counts * size / n - quota))
    for c in order[:remainder]:
        quota[c] = min(quota[c] + 1, counts[c])
    picked = [rng.choice(np.flatnonzero(labels == c), q, replace=False) for c, q in zip(classes, quota)]
    return torch.from_numpy(np.sort(np.concatenate(picked)))


def load_dataset(registry: Registry, spec: dict[str, Any]) -> Dataset:
    entry = registry.datasets[spec["name"]]
    params = {k: v for k, v in spec.items() if k != "name"}
    accepted, var_kw = param_types(entry.obj)
    handled_here = {k: params.pop(k) for k in ("train_size", "test_size")
                    if k in params and k not in accepted and not var_kw}
    data = entry.obj(**params)
    data.validate(spec["name"])
    for split in ("train", "test"):
        idx = stratified_subsample(getattr(data, f"y_{split}"), handled_here.get(f"{split}_size"), 0)
        if idx is not None:
            setattr(data, f"x_{split}", getattr(data, f"x_{split}")[idx])
            setattr(data, f"y_{split}", getattr(data, f"y_{split}")[idx])
    return data


def build_model(registry: Registry, config: dict[str, Any], data: Dataset) -> torch.nn.Module:
    factory = registry.models[config["model"]].obj
    kwargs = dict(config["params"])
    for key in ("solver", "eval_solver"):
        if config.get(key) is not None:
            kwargs[key] = bind_solver(registry, config[key])
    return factory(data.shape, **kwargs)


def bind_solver(registry: Registry, spec: dict[str, Any]) -> Solver:
    """The registered solver named in ``spec`` with the spec's other keys as its options."""
    entry = registry.solvers[spec["name"]]
    return Solver(
        name=spec["name"],
        solve=entry.obj,
        options={k: v for k, v in spec.items() if k != "name"},
        solve_adjoint=entry.extra.get("adjoint"),
    )


# ---------------------------------------------------------------- measurement helpers

def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) of this process; False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _rss_bytes(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _peak_rss_bytes(reset_ok: bool) -> int:
    peak = _rss_bytes("VmHWM") if reset_ok else None
    if peak is None:  # whole-process peak (ru_maxrss is KiB on Linux)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return peak


def _counters(model: torch.nn.Module) -> dict[str, int]:
    counters = getattr(model, "counters", None)
    return dict(counters) if isinstance(counters, dict) else {}


def _diff(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in after}


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, class_names: list[str]) -> dict:
    k = len(class_names)
    confusion = np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)
    tp = np.diag(confusion).astype(float)
    predicted = confusion.sum(0).astype(float)
    actual = confusion.sum(1).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(actual > 0, tp / actual, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    present = actual > 0
    return {
        "accuracy": float(tp.sum() / max(1, confusion.sum())),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class": {
            name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                   "support": int(actual[i])}
            for i, name in enumerate(class_names)
        },
        "confusion_matrix": confusion.tolist(),
    }


def _mean(values: list[float]) -> float | None:
    return float(sum(values) / len(values)) if values else None


# ---------------------------------------------------------------- the run

def evaluate(model, x, batch_size, device) -> tuple[np.ndarray, float, dict[str, int]]:
    """Predictions over a test set, the seconds it took (CUDA synchronized) and the counters'
    increase."""
    model.eval()
    preds = []
    before = _counters(model)
    _sync(device)
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            preds.append(model(x[i:i + batch_size].to(device, non_blocking=True)).argmax(1))
        out = torch.cat(preds).cpu().numpy() if preds else np.zeros(0, dtype=np.int64)
    _sync(device)
    return out, time.perf_counter() - start, _diff(_counters(model), before)


def train_and_evaluate(
    config: dict[str, Any], registry: Registry, progress: str = "", epochs: list | None = None
) -> dict:
    """Train and evaluate one run in this process. Returns the outcome (status, metrics,
    epochs); raises for failures, which ``execute`` turns into statuses. Finished epochs are
    appended to ``epochs`` as they complete, so a caller keeps them when a later one fails."""
    device = torch.device(config["device"])
    if config.get("threads"):
        torch.set_num_threads(int(config["threads"]))
    seed = int(config["seed"])
    torch.manual_seed(seed)
    np.random.seed(seed)
    train = config["train"]

    load_start = time.perf_counter()
    data = load_dataset(registry, config["dataset"])
    load_seconds = time.perf_counter() - load_start

    model = build_model(registry, config, data).to(device)
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if train["optimizer"] == "adam":
        optimizer = torch.optim.Adam(model.parameters(), lr=train["lr"], weight_decay=train["weight_decay"])
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=train["lr"], momentum=train["momentum"],
                                    weight_decay=train["weight_decay"])
    loss_fn = torch.nn.CrossEntropyLoss()
    x_train, y_train = data.x_train, data.y_train
    x_test, y_test = data.x_test, data.y_test.numpy()
    generator = torch.Generator().manual_seed(seed)

    # Memory baseline: after data loading and model construction, before any step.
    import gc

    gc.collect()
    baseline_rss = _rss_bytes("VmRSS") or 0
    reset_ok = _reset_peak_rss()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    batches_per_epoch = math.ceil(len(x_train) / train["batch_size"])
    if train["max_batches"]:
        batches_per_epoch = min(batches_per_epoch, int(train["max_batches"]))
    epochs = [] if epochs is None else epochs
    bar = _progress(train["epochs"] * batches_per_epoch, progress)
    predictions = None
    for epoch in range(1, train["epochs"] + 1):
        model.train()
        order = torch.randperm(len(x_train), generator=generator)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.int64)
        seen = 0
        forward: list[dict[str, int]] = []
        backward: list[dict[str, int]] = []
        _sync(device)
        start = time.perf_counter()
        for b in range(batches_per_epoch):
            idx = order[b * train["batch_size"]:(b + 1) * train["batch_size"]]
            xb = x_train[idx].to(device, non_blocking=True)
            yb = y_train[idx].to(device, non_blocking=True)
            c0 = _counters(model)
            logits = model(xb)
            loss = loss_fn(logits, yb)
            c1 = _counters(model)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            c2 = _counters(model)
            optimizer.step()
            forward.append(_diff(c1, c0))
            backward.append(_diff(c2, c1))
            loss_sum += loss.detach() * len(idx)
            correct += (logits.argmax(1) == yb).sum()
            seen += len(idx)
            if bar is not None:
                bar.update(1)
            # On CUDA this check would sync every batch; there the end-of-epoch check catches NaN.
            if device.type == "cpu" and not torch.isfinite(loss):
                raise Diverged(f"loss became {loss.item()} in epoch {epoch}, batch {b + 1}")
        _sync(device)
        epoch_seconds = time.perf_counter() - start
        train_loss = float(loss_sum.item() / max(1, seen))
        if not math.isfinite(train_loss):
            raise Diverged(f"train loss became {train_loss} in epoch {epoch}")

        predictions, eval_seconds, eval_counts = evaluate(
            model, x_test, train["eval_batch_size"], device)
        test_accuracy = float((predictions == y_test).mean()) if len(y_test) else float("nan")
        row = {
            "epoch": epoch,
            "train_loss": train_loss,
            "train_accuracy": float(correct.item() / max(1, seen)),
            "test_accuracy": test_accuracy,
            "epoch_seconds": epoch_seconds,
            "eval_seconds": eval_seconds,
            "batches": batches_per_epoch,
            "samples": seen,
        }
        for key in sorted({k for c in forward + backward for k in c}):
            row[f"{key}_forward"] = _mean([c.get(key, 0) for c in forward])
            row[f"{key}_backward"] = _mean([c.get(key, 0) for c in backward])
        for key, value in eval_counts.items():
            row[f"{key}_eval"] = value / max(1, math.ceil(len(x_test) / train["eval_batch_size"]))
        epochs.append(row)
    if bar is not None:
        bar.close()

    _sync(device)
    quality = classification_metrics(y_test, predictions, data.class_names)
    last = epochs[-1]
    times = [e["epoch_seconds"] for e in epochs]
    # The first epoch is warm-up (allocator, kernels, caches): kept apart, not in the median.
    steady = times[1:] or times
    metrics: dict[str, Any] = {
        "n_params": n_params,
        "train_loss": last["train_loss"],
        "train_accuracy": last["train_accuracy"],
        "test_accuracy": quality["accuracy"],
        "test_macro_f1": quality["macro_f1"],
        "per_class": quality["per_class"],
        "confusion_matrix": quality["confusion_matrix"],
        "class_names": list(data.class_names),
        "epoch_seconds": statistics.median(steady),
        "first_epoch_seconds": times[0],
        "eval_seconds": statistics.median(e["eval_seconds"] for e in epochs),
        "samples_per_second": last["samples"] / statistics.median(steady),
        "train_samples": len(x_train),
        "test_samples": len(x_test),
        "data_load_seconds": load_seconds,
        "baseline_rss_bytes": baseline_rss,
    }
    for key in last:
        if key.endswith(("_forward", "_backward", "_eval")):
            metrics[key] = _mean([e[key] for e in epochs if e.get(key) is not None])
    peak_rss = _peak_rss_bytes(reset_ok)
    metrics["peak_rss_bytes"] = peak_rss
    metrics["peak_rss_increase_bytes"] = max(0, peak_rss - baseline_rss)
    metrics["peak_rss_exact"] = reset_ok
    if device.type == "cuda":
        metrics["cuda_peak_allocated_bytes"] = torch.cuda.max_memory_allocated(device)
        metrics["cuda_peak_reserved_bytes"] = torch.cuda.max_memory_reserved(device)
        metrics["peak_memory_bytes"] = metrics["cuda_peak_allocated_bytes"]
    else:
        metrics["peak_memory_bytes"] = peak_rss
    metrics["threads"] = torch.get_num_threads()
    return {"status": "done", "metrics": metrics, "epochs": epochs}


def _progress(total: int, desc: str):
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        return None
    return tqdm(total=total, desc=desc, unit="batch", leave=False, disable=None)


def execute(task: dict[str, Any]) -> dict[str, Any]:
    """Run one task and always return an outcome dict (never raises for run failures).

    Unsupported -> skipped; Diverged, or any error whose message is the solver's
    "underflow in dt" / "max_num_steps exceeded" -> diverged; KeyboardInterrupt ->
    interrupted; anything else -> failed, with a one-line reason and the traceback."""
    def _one_line(exc: BaseException, named: bool = True) -> str:
        text = (f"{type(exc).__name__}: {exc}" if named else str(exc)).strip().splitlines()
        return text[0] if text else type(exc).__name__

    started = time.time()
    outcome: dict[str, Any]
    partial_epochs: list = []
    try:
        registry = load_registry(task.get("plugin_files", ()))
        if not task["config"].get("threads") and task.get("default_threads"):
            torch.set_num_threads(int(task["default_threads"]))
        outcome = train_and_evaluate(task["config"], registry, task.get("progress", ""), partial_epochs)
    except Unsupported as exc:
        outcome = {"status": "skipped", "reason": _one_line(exc, named=False)}
    except Diverged as exc:
        outcome = {"status": "diverged", "reason": _one_line(exc, named=False),
                   "traceback": traceback.format_exc()}
    except KeyboardInterrupt:
        outcome = {"status": "interrupted", "reason": "interrupted (SIGINT reached the run process)"}
    except OdebenchError as exc:
        outcome = {"status": "failed", "reason": _one_line(exc, named=False),
                   "traceback": traceback.format_exc()}
    except BaseException as exc:  # noqa: BLE001 - every failure becomes a recorded status
        status = "diverged" if any(m in str(exc) for m in DIVERGED_MESSAGES) else "failed"
        outcome = {"status": status, "reason": _one_line(exc), "traceback": traceback.format_exc()}
    outcome.setdefault("metrics", {})
    outcome.setdefault("epochs", partial_epochs)
    if task.get("parallel_runs"):
        # Timings are only comparable under the same parallelism: record it with the run.
        outcome["metrics"]["parallel_runs"] = int(task["parallel_runs"])
    outcome["machine"] = machine_info(task["config"]["device"])
    outcome["started_at"] = started
    outcome["finished_at"] = time.time()
    outcome["pid"] = os.getpid()
    return outcome
