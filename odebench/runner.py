"""One run: train, evaluate, measure. Runs inside its own process (see ``isolate.py``), so a
crash, a hang or a memory peak belongs to this run alone. Binding the config to the plugins'
dataset, model and solver is ``binding.py``; what comes back is an ``odebench.types.Outcome``.
"""

from __future__ import annotations

import gc
import math
import os
import resource
import statistics
import time
import traceback
from typing import Any

import numpy as np
import torch

from . import validity, weights
from .binding import build_model, load_dataset
from .health import LoadProbe, prediction_metrics
from .machine import machine_info
from .plugins import Registry, load_registry
from .progress import Emitter
from .types import (
    DIVERGED,
    DIVERGED_MESSAGES,
    DONE,
    FAILED,
    INTERRUPTED,
    SKIPPED,
    Dataset,
    Diverged,
    OdebenchError,
    Outcome,
    Task,
    Unsupported,
    one_line,
    outcome,
)

# Epoch-row keys that are not run metrics of their own.
EPOCH_ONLY = ("epoch", "batches", "samples")


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


def _diff(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before.get(k, 0) for k in after}


def _extra_loss(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's extra loss terms of its last forward pass (see hookspecs), or none."""
    extra = getattr(model, "extra_loss", None)
    return dict(extra()) if callable(extra) else {}


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

def _setup(config: dict[str, Any]) -> torch.device:
    """Threads and seeds of the run, before anything is loaded."""
    if config.get("threads"):
        torch.set_num_threads(int(config["threads"]))
    seed = int(config["seed"])
    torch.manual_seed(seed)
    np.random.seed(seed)
    return torch.device(config["device"])


def make_optimizer(model: torch.nn.Module, train: dict[str, Any]) -> torch.optim.Optimizer:
    if train["optimizer"] == "adam":
        return torch.optim.Adam(model.parameters(), lr=train["lr"], weight_decay=train["weight_decay"])
    return torch.optim.SGD(model.parameters(), lr=train["lr"], momentum=train["momentum"],
                           weight_decay=train["weight_decay"])


def batches_per_epoch(n_train: int, train: dict[str, Any]) -> int:
    batches = math.ceil(n_train / train["batch_size"])
    if train["max_batches"]:
        batches = min(batches, int(train["max_batches"]))
    return batches


class MemoryProbe:
    """Peak memory of the training and evaluation, above a baseline taken after the data is
    loaded and the model built, before any step."""

    def __init__(self, device: torch.device):
        self.device = device
        gc.collect()
        self.baseline_rss = _rss_bytes("VmRSS") or 0
        self.reset_ok = _reset_peak_rss()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)

    def metrics(self) -> dict[str, Any]:
        peak_rss = _peak_rss_bytes(self.reset_ok)
        out: dict[str, Any] = {
            "peak_rss_bytes": peak_rss,
            "peak_rss_increase_bytes": max(0, peak_rss - self.baseline_rss),
            "peak_rss_exact": self.reset_ok,
        }
        if self.device.type == "cuda":
            out["cuda_peak_allocated_bytes"] = torch.cuda.max_memory_allocated(self.device)
            out["cuda_peak_reserved_bytes"] = torch.cuda.max_memory_reserved(self.device)
            out["peak_memory_bytes"] = out["cuda_peak_allocated_bytes"]
        else:
            out["peak_memory_bytes"] = peak_rss
        return out


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


def train_epoch(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, data: Dataset, train: dict[str, Any],
    device: torch.device, generator: torch.Generator, epoch: int, batches: int,
    events: Emitter | None = None,
) -> dict[str, Any]:
    """One epoch of shuffled mini-batches: its loss, accuracy and seconds (CUDA synchronized),
    and the per-batch means of the model's counters in the forward and backward passes.
    Raises Diverged for a non-finite loss."""
    model.train()
    x_train, y_train, size = data.x_train, data.y_train, train["batch_size"]
    order = torch.randperm(len(x_train), generator=generator)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    seen = 0
    forward: list[dict[str, int]] = []
    backward: list[dict[str, int]] = []
    extra_sums: dict[str, torch.Tensor] = {}
    _sync(device)
    start = time.perf_counter()
    for b in range(batches):
        idx = order[b * size:(b + 1) * size]
        xb = x_train[idx].to(device, non_blocking=True)
        yb = y_train[idx].to(device, non_blocking=True)
        c0 = _counters(model)
        logits = model(xb)
        loss = torch.nn.functional.cross_entropy(logits, yb)
        extra = _extra_loss(model)
        objective = loss + sum(extra.values()) if extra else loss
        c1 = _counters(model)
        optimizer.zero_grad(set_to_none=True)
        objective.backward()
        c2 = _counters(model)
        optimizer.step()
        forward.append(_diff(c1, c0))
        backward.append(_diff(c2, c1))
        loss_sum += loss.detach() * len(idx)
        for name, term in extra.items():
            extra_sums[name] = extra_sums.get(name, 0) + term.detach() * len(idx)
        correct += (logits.argmax(1) == yb).sum()
        seen += len(idx)
        if events is not None and events.due():  # a clock read per batch; the rest every 0.5 s
            _batch_event(events, device, epoch, train["epochs"], b + 1, batches, start, loss_sum, correct,
                         seen, forward[-1], backward[-1])
        # On CUDA this check would sync every batch; there the end-of-epoch check catches NaN.
        if device.type == "cpu" and not torch.isfinite(objective):
            raise Diverged(f"loss became {objective.item()} in epoch {epoch}, batch {b + 1}")
    _sync(device)
    seconds = time.perf_counter() - start
    train_loss = float(loss_sum.item() / max(1, seen))
    if not math.isfinite(train_loss):
        raise Diverged(f"train loss became {train_loss} in epoch {epoch}")
    row: dict[str, Any] = {"train_loss": train_loss, "train_accuracy": float(correct.item() / max(1, seen)),
                           "epoch_seconds": seconds, "batches": batches, "samples": seen}
    for key in sorted({k for c in forward + backward for k in c}):
        row[f"{key}_forward"] = _mean([c.get(key, 0) for c in forward])
        row[f"{key}_backward"] = _mean([c.get(key, 0) for c in backward])
    if any("dynamics_seconds" in c for c in forward):
        # The share of the epoch spent inside the model's dynamics; the rest is the solver's
        # own bookkeeping, the layers outside the ODE, the loss and the optimiser.
        inside = sum(c.get("dynamics_seconds", 0) for c in forward + backward)
        row["dynamics_share"] = inside / seconds if seconds > 0 else None
    for name, total in sorted(extra_sums.items()):
        if name in row:
            raise OdebenchError(f"the model's extra_loss term {name!r} has the name of an odebench "
                                "metric; rename it (e.g. 'reg_...')")
        row[name] = float(total.item() / max(1, seen))
    return row


def _batch_event(events: Emitter, device: torch.device, epoch: int, epochs: int, batch: int, batches: int,
                 start: float, loss_sum: torch.Tensor, correct: torch.Tensor, seen: int,
                 forward: dict[str, int], backward: dict[str, int]) -> None:
    """A throttled batch event. The running loss and accuracy only on the CPU: on CUDA
    reading them would synchronize the device, so there they come with the epoch event."""
    numbers: dict[str, Any] = {}
    if device.type == "cpu":
        numbers["loss"] = float(loss_sum.item()) / max(1, seen)
        numbers["accuracy"] = int(correct.item()) / max(1, seen)
    if "nfe" in forward:  # the model's counters are host ints: no device access
        numbers["nfe"] = forward["nfe"] + backward.get("nfe", 0)
    events.batch(epoch, epochs, batch, batches, time.perf_counter() - start, **numbers)


def evaluate_epoch(
    model: torch.nn.Module, data: Dataset, train: dict[str, Any], device: torch.device
) -> tuple[np.ndarray, dict[str, Any]]:
    """The test-set predictions after an epoch and that epoch's evaluation measurements."""
    predictions, seconds, counts = evaluate(model, data.x_test, train["eval_batch_size"], device)
    y_test = data.y_test.numpy()
    row: dict[str, Any] = {
        "test_accuracy": float((predictions == y_test).mean()) if len(y_test) else float("nan"),
        "eval_seconds": seconds,
    }
    eval_batches = max(1, math.ceil(len(data.x_test) / train["eval_batch_size"]))
    for key, value in counts.items():
        row[f"{key}_eval"] = value / eval_batches
    return predictions, row


def final_metrics(epochs: list[dict[str, Any]], predictions: np.ndarray, data: Dataset) -> dict[str, Any]:
    """The run's metrics: the last epoch's quality, the median steady-state timings and the
    epoch means of the counters."""
    quality = classification_metrics(data.y_test.numpy(), predictions, data.class_names)
    last = epochs[-1]
    times = [e["epoch_seconds"] for e in epochs]
    # The first epoch is warm-up (allocator, kernels, caches): kept apart, not in the median.
    steady = times[1:] or times
    metrics: dict[str, Any] = {
        "train_loss": last["train_loss"],
        "train_accuracy": last["train_accuracy"],
        "test_accuracy": quality["accuracy"],
        "test_macro_f1": quality["macro_f1"],
        "per_class": quality["per_class"],
        "confusion_matrix": quality["confusion_matrix"],
        "class_names": list(data.class_names),
        **prediction_metrics(predictions, data.class_names),
        "epoch_seconds": statistics.median(steady),
        "first_epoch_seconds": times[0],
        "eval_seconds": statistics.median(e["eval_seconds"] for e in epochs),
        "samples_per_second": last["samples"] / statistics.median(steady),
        "train_samples": len(data.x_train),
        "test_samples": len(data.x_test),
    }
    for key in last:
        if key.endswith(("_forward", "_backward", "_eval")):
            metrics[key] = _mean([e[key] for e in epochs if e.get(key) is not None])
        elif key not in EPOCH_ONLY and key not in metrics:
            # dynamics_share and the model's extra loss terms: the last epoch's value.
            metrics[key] = last[key]
    return metrics


def train_and_evaluate(
    config: dict[str, Any], registry: Registry, events: Emitter | None = None, epochs: list | None = None,
    *, deadline: float | None = None, keep_weights: bool = False,
) -> Outcome:
    """Train and evaluate one run in this process. Returns the outcome (status, metrics,
    epochs); raises for failures, which ``execute`` turns into statuses. Finished epochs are
    appended to ``epochs`` as they complete, so a caller keeps them when a later one fails.
    ``events`` receives the run's progress (start, throttled batches, epochs).

    After every measurement, an ODE model gets the solver-swap validity check (its own
    ``validity_*`` metrics, bounded by ``deadline`` on the monotonic clock, see
    ``validity.py``); with ``keep_weights`` the outcome carries the trained weights."""
    device = _setup(config)
    train = config["train"]
    load_start = time.perf_counter()
    data = load_dataset(registry, config["dataset"])
    load_seconds = time.perf_counter() - load_start

    model = build_model(registry, config, data).to(device)
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    optimizer = make_optimizer(model, train)
    generator = torch.Generator().manual_seed(int(config["seed"]))
    memory = MemoryProbe(device)

    batches = batches_per_epoch(len(data.x_train), train)
    epochs = [] if epochs is None else epochs
    if events is not None:
        events.start(train["epochs"], batches)
    predictions = None
    for epoch in range(1, train["epochs"] + 1):
        trained = train_epoch(model, optimizer, data, train, device, generator, epoch, batches, events)
        predictions, evaluated = evaluate_epoch(model, data, train, device)
        epochs.append({"epoch": epoch, **trained, **evaluated})
        if events is not None:
            events.epoch(epoch, train["epochs"], epochs[-1])

    _sync(device)
    metrics = {"n_params": n_params, **final_metrics(epochs, predictions, data),
               "data_load_seconds": load_seconds, "baseline_rss_bytes": memory.baseline_rss,
               **memory.metrics(), "threads": torch.get_num_threads()}
    # After every timing and memory measurement, which it must not change.
    metrics.update(validity.check(model, config, registry, data, device, train["eval_batch_size"], deadline))
    result = outcome(DONE, metrics=metrics, epochs=epochs)
    if keep_weights:
        result["weights"] = weights.encode(model)
    return result


def _failure(exc: BaseException) -> Outcome:
    """The outcome of a run that raised ``exc`` (call it while handling ``exc``).

    Unsupported -> skipped; Diverged, or any error whose message is the solver's
    "underflow in dt" / "max_num_steps exceeded" -> diverged; KeyboardInterrupt ->
    interrupted; anything else -> failed, with a one-line reason and the traceback."""
    if isinstance(exc, Unsupported):
        return outcome(SKIPPED, one_line(exc, named=False))
    if isinstance(exc, KeyboardInterrupt):
        return outcome(INTERRUPTED, "interrupted (SIGINT reached the run process)")
    if isinstance(exc, OdebenchError):
        status = DIVERGED if isinstance(exc, Diverged) else FAILED
        return outcome(status, one_line(exc, named=False), traceback=traceback.format_exc())
    status = DIVERGED if any(m in str(exc) for m in DIVERGED_MESSAGES) else FAILED
    return outcome(status, one_line(exc), traceback=traceback.format_exc())


def _deadline(timeout: float | None, clock: float) -> float | None:
    """When (monotonic clock) the run's after-training checks must stop so that its result is
    written before the isolation kills it at ``timeout``."""
    if not timeout:
        return None
    return clock + timeout - min(validity.TIMEOUT_MARGIN_SECONDS, 0.1 * timeout)


def execute(task: Task, events_path: str | None = None) -> Outcome:
    """Run one task and always return an outcome (never raises for run failures; see
    ``_failure`` for which exception becomes which status). Progress events are appended to
    ``events_path`` (see ``odebench.progress``)."""
    started, clock = time.time(), time.monotonic()
    load = LoadProbe()  # other processes' CPU use over this run's span
    partial_epochs: list = []
    plugins: dict[str, str] = {}
    try:
        registry = load_registry(task.get("plugin_files", ()))
        plugins = registry.plugins
        if not task["config"].get("threads") and task.get("default_threads"):
            torch.set_num_threads(int(task["default_threads"]))
        events = Emitter(events_path, task.get("key", ""))
        result = train_and_evaluate(task["config"], registry, events, partial_epochs,
                                    deadline=_deadline(task.get("timeout"), clock),
                                    keep_weights=bool(task.get("save_weights")))
    except BaseException as exc:  # noqa: BLE001 - every failure becomes a recorded status
        result = _failure(exc)
        result["epochs"] = partial_epochs
    if task.get("parallel_runs"):
        # Timings are only comparable under the same parallelism: record it with the run.
        result["metrics"]["parallel_runs"] = int(task["parallel_runs"])
    result["machine"] = {**machine_info(task["config"]["device"], plugins), **load.record()}
    result["started_at"] = started
    result["finished_at"] = time.time()
    result["pid"] = os.getpid()
    return result
