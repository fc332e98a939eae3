"""The third-party example plugin examples/odebench-torchode (torchode's per-sample solvers).

Needs ``pip install torchode`` and ``pip install -e examples/odebench-torchode``; skipped
without them (CI installs both).
"""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("torchode")
pytest.importorskip("odebench_torchode")

from odebench import DatasetShape, Solver, Unsupported  # noqa: E402
from odebench.binding import bind_solver  # noqa: E402
from odebench.plugins import load_registry

SHAPE = DatasetShape(channels=1, length=187, n_classes=5)
SUITE = "suites/torchode.yaml"


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def solver(registry, name: str, **options) -> Solver:
    return bind_solver(registry, {"name": name, **options})


def test_registered_through_its_entry_point(registry):
    for name in ("torchode-dopri5", "torchode-tsit5"):
        entry = registry.solvers[name]
        assert entry.plugin == "torchode"
        assert entry.version.startswith("odebench-torchode ")
        assert "adjoint" not in entry.extra


def test_the_plugin_passes_odebench_check(cli):
    code, out, err = cli("check", "torchode")
    assert code == 0, out + err
    assert "checks: 12 pass, 0 fail, 4 skipped" in out
    assert "no adjoint registered" in out


def decay(rates: torch.Tensor, calls: list):
    """dy/dt = -rate * y, one rate per sample; counts its (batched) evaluations."""

    def f(t, y):
        calls.append(len(y))
        return -rates[: len(y)] * y

    return f


# Sample 0 is slow (rate 1); sample 1 is 60x faster and needs ~10x more steps.
RATES = torch.tensor([[1.0], [60.0]], dtype=torch.float64)
Y0 = torch.tensor([[1.0, 2.0], [1.0, -1.0]], dtype=torch.float64)
T = torch.tensor([0.0, 1.0], dtype=torch.float64)


def test_torchdiffeq_steps_a_sample_more_when_its_batch_has_a_faster_one(registry):
    solve = registry.solvers["dopri5"].obj
    alone, batch = [], []
    out_alone = solve(decay(RATES, alone), Y0[:1], T)
    out_batch = solve(decay(RATES, batch), Y0, T)
    # One shared step size: the slow sample takes the fast one's steps, and its solution moves.
    assert len(batch) > 5 * len(alone)
    assert not torch.allclose(out_alone[-1, 0], out_batch[-1, 0], rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", ["torchode-dopri5", "torchode-tsit5"])
def test_torchode_per_sample_steps_do_not_depend_on_the_batch(registry, name):
    solve = registry.solvers[name].obj
    alone, batch = [], []
    out_alone = solve(decay(RATES, alone), Y0[:1], T)
    stats_alone = solve.last_stats
    out_batch = solve(decay(RATES, batch), Y0, T)
    stats_batch = solve.last_stats

    # Sample 0 takes the same steps, alone or beside a 60x faster sample, and gets the same
    # solution; the fast sample takes many more steps of its own.
    assert stats_batch["n_steps"][0] == stats_alone["n_steps"][0]
    assert stats_batch["n_accepted"][0] == stats_alone["n_accepted"][0]
    assert stats_batch["n_steps"][1] > 5 * stats_batch["n_steps"][0]
    torch.testing.assert_close(out_batch[-1, 0], out_alone[-1, 0], rtol=0, atol=1e-12)
    assert stats_batch["status"].tolist() == [0, 0]
    # What does still depend on the batch: torchode evaluates the whole batch until its
    # slowest sample is done, so the evaluations (odebench's NFE) are the batch's, not the
    # sample's. n_f_evals is that batch-wide count, repeated per sample.
    assert stats_alone["n_f_evals"].tolist() == [len(alone)]
    assert stats_batch["n_f_evals"].tolist() == [len(batch), len(batch)]
    assert len(batch) > 5 * len(alone)


def test_node_model_runs_per_sample_and_counts_steps(registry):
    """In the Neural ODE (state (B, 64, 46), t given per sample as (B, 1, 1)): a beat's steps
    and logits are the same alone and inside a batch, and the model's counters get the
    batch's slowest sample's steps. (Untrained, every beat takes the same 5 steps at
    rtol = atol = 1e-3: the model's GroupNorms leave little to tell beats apart.)"""
    torch.manual_seed(0)
    node = registry.models["node"].obj(SHAPE, solver(registry, "torchode-dopri5"), gradient="backprop")
    node.eval()
    solve = registry.solvers["torchode-dopri5"].obj
    x = torch.randn(6, 1, 187, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        alone = node(x[:1])
        first = {k: v.clone() for k, v in solve.last_stats.items()}
        batch = node(x)
        second = solve.last_stats
    assert int(second["n_steps"][0]) == int(first["n_steps"][0]) >= 1
    torch.testing.assert_close(batch[0], alone[0], rtol=1e-5, atol=1e-5)
    slowest = int(second["n_steps"].argmax())
    assert node.counters["steps_accepted"] == int(first["n_accepted"][0]) + int(
        second["n_accepted"][slowest])
    assert node.counters["nfe"] == int(first["n_f_evals"][0]) + int(second["n_f_evals"][0])


def test_training_step_backprops_through_torchode(registry):
    torch.manual_seed(0)
    node = registry.models["node"].obj(SHAPE, solver(registry, "torchode-tsit5"), gradient="backprop")
    loss = node(torch.randn(4, 1, 187)).logsumexp(1).mean()
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in node.parameters())


def test_adjoint_is_unsupported(registry):
    with pytest.raises(Unsupported, match="no adjoint"):
        registry.models["node"].obj(SHAPE, solver(registry, "torchode-dopri5"), gradient="adjoint")


@pytest.mark.slow
def test_suite_puts_torchode_and_torchdiffeq_side_by_side(tmp_path):
    from odebench import run_suite
    from odebench.report.tables import table, to_markdown

    tiny = ["dataset.train_size=32", "dataset.test_size=16", "train.epochs=1",
            "train.batch_size=16", "train.max_batches=1"]
    rows = run_suite(SUITE, results=tmp_path, overrides=tiny, echo=lambda _: None)
    status = {(r["solver"].split()[0], json.loads(r["config"])["params"]["gradient"]): r for r in rows}
    assert status[("dopri5", "backprop")]["status"] == "done"
    assert status[("torchode-dopri5", "backprop")]["status"] == "done"
    assert status[("torchode-tsit5", "backprop")]["status"] == "done"
    skipped = status[("torchode-dopri5", "adjoint")]
    assert skipped["status"] == "skipped" and "no adjoint" in skipped["reason"]
    for name in ("dopri5", "torchode-dopri5"):
        assert status[(name, "backprop")]["nfe_forward"] > 0
    assert status[("torchode-dopri5", "backprop")]["steps_accepted_forward"] > 0
    markdown = to_markdown(table(rows))
    assert "torchode-dopri5" in markdown and "| dopri5" in markdown
    print(markdown)
