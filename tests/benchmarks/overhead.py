"""How much does odebench add to a training epoch? The same model on the same data for one
epoch, through odebench's training loop and through a bare hand-written PyTorch loop, in the
same process, alternating, median over repeats. Also the fixed cost of isolating a run in its
own process: a minimal run (one batch of 32, 32 test samples) through ``run_isolated``, its
wall time minus its training and evaluation, median over repeats, forked from the zygote
(how runs start) and as a fresh ``python -m odebench.isolate`` (the fallback,
``ODEBENCH_ZYGOTE=0``). The zygote's own start (once per driver) is printed apart.

    python tests/benchmarks/overhead.py [--model resnet|node] [--repeats 5] [--train-size 4096]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from odebench.binding import build_model, load_dataset
from odebench.isolate import run_isolated
from odebench.plugins import load_registry
from odebench.runner import train_and_evaluate
from odebench.suite import TRAIN_DEFAULTS


def config(model: str, train_size: int) -> dict:
    solver, params = (None, {"blocks": 6}) if model == "resnet" else (
        {"name": "rk4", "steps": 1}, {"gradient": "backprop"})
    return {
        "suite": "overhead", "model": model, "params": params, "solver": solver,
        "dataset": {"name": "synthetic", "train_size": train_size, "test_size": 256},
        "train": {**TRAIN_DEFAULTS, "epochs": 1}, "seed": 0, "device": "cpu", "threads": None,
    }


def bare_epoch(cfg: dict, registry) -> float:
    """What a researcher would write by hand: the same model, data, order and optimiser."""
    torch.manual_seed(cfg["seed"])
    data = load_dataset(registry, cfg["dataset"])
    model = build_model(registry, cfg, data)
    t = cfg["train"]
    optimizer = torch.optim.SGD(model.parameters(), lr=t["lr"], momentum=t["momentum"])
    loss_fn = torch.nn.CrossEntropyLoss()
    order = torch.randperm(len(data.x_train), generator=torch.Generator().manual_seed(cfg["seed"]))
    model.train()
    start = time.perf_counter()
    for i in range(0, len(order), t["batch_size"]):
        idx = order[i:i + t["batch_size"]]
        loss = loss_fn(model(data.x_train[idx]), data.y_train[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["resnet", "node"], default="resnet")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--train-size", type=int, default=4096)
    args = parser.parse_args()
    registry = load_registry()
    cfg = config(args.model, args.train_size)
    start = time.perf_counter()
    isolated({**config(args.model, 32), "train": {**TRAIN_DEFAULTS, "epochs": 1, "batch_size": 32,
                                                  "max_batches": 1}})
    print(f"first isolated run (starts this process's zygote): {time.perf_counter() - start:.2f} s")

    harness, bare = [], []
    bare_epoch(cfg, registry)  # warm-up: allocator, kernels, caches
    for _ in range(args.repeats):
        harness.append(train_and_evaluate(cfg, registry)["epochs"][0]["epoch_seconds"])
        bare.append(bare_epoch(cfg, registry))
    h, b = statistics.median(harness), statistics.median(bare)
    print(f"model={args.model} train_size={args.train_size} batch={cfg['train']['batch_size']} "
          f"threads={torch.get_num_threads()} repeats={args.repeats}")
    print(f"epoch seconds, median: odebench {h:.3f}  bare loop {b:.3f}  ratio {h / b:.3f}")

    wall, inside = isolated(cfg)
    print(f"isolated run: {wall:.2f} s wall, of which {inside:.2f} s training + evaluation: "
          f"{wall - inside:.2f} s fixed cost per run (process start, imports, data, model)")

    minimal = config(args.model, 32)
    minimal["dataset"]["test_size"] = 32
    minimal["train"] = {**minimal["train"], "batch_size": 32, "max_batches": 1}
    for label, zygote in (("forked from the zygote", "1"), ("fresh interpreter (ODEBENCH_ZYGOTE=0)", "0")):
        os.environ["ODEBENCH_ZYGOTE"] = zygote
        costs = [wall - inside for wall, inside in (isolated(minimal) for _ in range(args.repeats))]
        print(f"fixed cost per run, {label}: median {statistics.median(costs):.2f} s "
              f"(min {min(costs):.2f}, max {max(costs):.2f}, {args.repeats} minimal runs)")
    os.environ.pop("ODEBENCH_ZYGOTE")


def isolated(cfg: dict) -> tuple[float, float]:
    """Wall seconds of one isolated run and the seconds of its training + evaluation."""
    start = time.perf_counter()
    outcome = run_isolated({"key": "overhead", "config": cfg, "plugin_files": [], "timeout": None})
    wall = time.perf_counter() - start
    if outcome["status"] != "done":
        raise SystemExit(f"the isolated run ended {outcome['status']}: {outcome.get('reason')}")
    return wall, outcome["metrics"]["first_epoch_seconds"] + outcome["metrics"]["eval_seconds"]


if __name__ == "__main__":
    main()
