"""pytest-benchmark micro-benchmarks: one training step (forward + backward) and one
evaluation step of every registered model, ODE models with a representative set of solvers,
on a fixed batch of synthetic beats. NFE goes into extra_info.

    pytest --benchmark-only tests/benchmarks        # plain `pytest` skips these
"""

from __future__ import annotations

import inspect

import pytest
import torch

from odebench.binding import bind_solver, load_dataset
from odebench.plugins import load_registry

REGISTRY = load_registry()
SOLVERS = [  # (solver spec, gradient)
    ({"name": "dopri5", "rtol": 1e-3, "atol": 1e-3}, "adjoint"),
    ({"name": "dopri5", "rtol": 1e-3, "atol": 1e-3}, "adjoint-seminorm"),
    ({"name": "dopri5", "rtol": 1e-3, "atol": 1e-3}, "backprop"),
    ({"name": "bosh3", "rtol": 1e-2, "atol": 1e-2}, "backprop"),
    ({"name": "rk4", "steps": 1}, "backprop"),
    ({"name": "euler", "steps": 6}, "backprop"),
]
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _cases():
    for name, entry in sorted(REGISTRY.models.items()):
        if "solver" not in inspect.signature(entry.obj).parameters:
            yield pytest.param(name, None, None, id=name)
            continue
        for spec, gradient in SOLVERS:
            label = "-".join(f"{v}" for v in spec.values())
            yield pytest.param(name, spec, gradient, id=f"{name}-{label}-{gradient}")


@pytest.fixture(scope="module")
def batch():
    data = load_dataset(REGISTRY, {"name": "synthetic", "train_size": 256, "test_size": 256})
    return data


def _build(name, spec, gradient, data, device):
    entry = REGISTRY.models[name]
    kwargs = {}
    if spec is not None:
        kwargs["solver"] = bind_solver(REGISTRY, spec)
        kwargs["gradient"] = gradient
    torch.manual_seed(0)
    return entry.obj(data.shape, **kwargs).to(device)


def _sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name, spec, gradient", list(_cases()))
def test_train_step(benchmark, batch, name, spec, gradient, device):
    model = _build(name, spec, gradient, batch, device).train()
    x, y = batch.x_train[:128].to(device), batch.y_train[:128].to(device)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        model.zero_grad(set_to_none=True)
        before = dict(getattr(model, "counters", {}))
        loss = loss_fn(model(x), y)
        middle = dict(getattr(model, "counters", {}))
        loss.backward()
        _sync(device)
        after = dict(getattr(model, "counters", {}))
        return before, middle, after

    before, middle, after = benchmark(step)
    if after:
        benchmark.extra_info["nfe_forward"] = middle["nfe"] - before["nfe"]
        benchmark.extra_info["nfe_backward"] = after["nfe"] - middle["nfe"]
    benchmark.extra_info["batch_size"] = 128


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name, spec, gradient", [c for c in _cases() if c.values[2] != "adjoint-seminorm"])
def test_eval_step(benchmark, batch, name, spec, gradient, device):
    model = _build(name, spec, gradient, batch, device).eval()
    x = batch.x_test[:256].to(device)

    def step():
        before = dict(getattr(model, "counters", {}))
        with torch.no_grad():
            model(x)
        _sync(device)
        return before, dict(getattr(model, "counters", {}))

    before, after = benchmark(step)
    if after:
        benchmark.extra_info["nfe_forward"] = after["nfe"] - before["nfe"]
    benchmark.extra_info["batch_size"] = 256
