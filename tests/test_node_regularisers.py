"""The node model's cheap-dynamics options (RNODE kinetic/Jacobian regularisers, STEER) against
closed forms on a linear ODE dz/dt = A z, the plain model bit for bit when they are off, and the
core's generic ``extra_loss`` hook."""

from __future__ import annotations

import math

import pytest
import torch
import torchdiffeq
from odebench_plugins.node import ODEBlock

from odebench import DatasetShape, SuiteError
from odebench.binding import bind_solver
from odebench.plugins import load_registry
from odebench.runner import train_and_evaluate
from odebench.suite import TRAIN_DEFAULTS

SHAPE = DatasetShape(channels=1, length=187, n_classes=5)
A = torch.tensor([[-0.5, 1.0], [-0.3, 0.2]], dtype=torch.float64)
TOL = {"rtol": 1e-10, "atol": 1e-10}


@pytest.fixture(scope="module")
def registry():
    return load_registry()


class Linear(torch.nn.Module):
    """f(t, z) = A z for z of shape (batch, 2, 1), with the counters the node block expects."""

    def __init__(self, a: torch.Tensor):
        super().__init__()
        self.a = torch.nn.Parameter(a.clone())
        self.counters = {"nfe": 0, "steps_accepted": 0, "steps_rejected": 0}

    def forward(self, t, z):
        self.counters["nfe"] += 1
        return torch.einsum("ij,bjl->bil", self.a, z)

    def callback_accept_step(self, t0, y0, dt):
        pass

    callback_reject_step = callback_accept_step


def linear_block(registry, gradient="backprop", t_end=1.0, **options) -> ODEBlock:
    solver = bind_solver(registry, {"name": "dopri5", **TOL})
    return ODEBlock(Linear(A), solver, gradient, t_end, **options).double().train()


def exact_kinetic(z0: torch.Tensor, t_end: float, points: int = 4001) -> float:
    """∫_0^T ||A expm(At) z0||² dt per sample, batch mean, by Simpson's rule in float64."""
    ts = torch.linspace(0, t_end, points, dtype=torch.float64)
    values = torch.stack([(torch.einsum("ij,bj->bi", A @ torch.linalg.matrix_exp(A * t), z0[..., 0]) ** 2)
                          .sum(1).mean() for t in ts])
    h = t_end / (points - 1)
    return float(h / 3 * (values[0] + values[-1] + 4 * values[1:-1:2].sum() + 2 * values[2:-1:2].sum()))


@pytest.mark.parametrize("gradient", ["backprop", "adjoint"])
def test_kinetic_term_is_the_integral_of_the_squared_speed(registry, gradient):
    z0 = torch.randn(8, 2, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    block = linear_block(registry, gradient, t_end=1.5, kinetic=0.25)
    out = block(z0)
    terms = block.extra_loss()
    assert set(terms) == {"reg_kinetic"}
    assert float(terms["reg_kinetic"].detach()) == pytest.approx(0.25 * exact_kinetic(z0, 1.5), rel=1e-7)
    # The state is still the solution: expm(A T) z0.
    expected = torch.einsum("ij,bjl->bil", torch.linalg.matrix_exp(A * 1.5), z0)
    assert torch.allclose(out, expected, atol=1e-8)


@pytest.mark.parametrize("gradient", ["backprop", "adjoint"])
def test_jacobian_term_is_hutchinsons_estimate_of_the_frobenius_norm(registry, gradient):
    # εᵀ ∂f/∂z = εᵀ A is constant in time: each sample's integrand is ||Aᵀ ε||² over [0, T].
    z0 = torch.randn(4000, 2, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    t_end, weight = 2.0, 0.1
    block = linear_block(registry, gradient, t_end=t_end, jacobian=weight)
    torch.manual_seed(3)
    block(z0)
    term = block.extra_loss()["reg_jacobian"]
    torch.manual_seed(3)
    eps = torch.randn_like(z0)[..., 0]  # the block's draw, once per solve
    per_sample = t_end * (eps @ A).pow(2).sum(1)
    assert float(term.detach()) == pytest.approx(weight * float(per_sample.mean()), rel=1e-8)
    # Its expectation is ||A||_F² T; Var(εᵀ M ε) = 2 tr(M²) for M = A Aᵀ.
    m = A @ A.T
    expected = weight * t_end * float(torch.trace(m))
    stderr = weight * t_end * math.sqrt(2 * float(torch.trace(m @ m)) / len(z0))
    assert abs(float(term.detach()) - expected) < 4 * stderr
    # Its gradient through the solver (or its adjoint): d/dA mean(T εᵀ A Aᵀ ε) = 2T mean(ε εᵀ) A.
    term.backward()
    grad = weight * 2 * t_end * (eps.T @ eps / len(eps)) @ A
    assert torch.allclose(block.func.a.grad, grad, rtol=1e-6, atol=1e-9)


def test_regularised_gradients_agree_between_backprop_and_adjoint(registry):
    z0 = torch.randn(16, 2, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    grads = []
    for gradient in ("backprop", "adjoint"):
        block = linear_block(registry, gradient, kinetic=0.3, jacobian=0.2)
        torch.manual_seed(5)
        out = block(z0)
        (out.sum() + sum(block.extra_loss().values())).backward()
        grads.append(block.func.a.grad)
    assert torch.allclose(grads[0], grads[1], rtol=1e-6, atol=1e-8)


def test_steer_changes_only_the_training_end_time(registry):
    z0 = torch.randn(4, 2, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    block = linear_block(registry, t_end=1.0, steer=0.4)
    ends = []
    for seed in range(20):
        torch.manual_seed(seed)
        end = 1.0 + 0.4 * (2 * torch.rand(()).item() - 1)
        torch.manual_seed(seed)
        out = block(z0)
        assert torch.allclose(out, torch.einsum("ij,bjl->bil", torch.linalg.matrix_exp(A * end), z0), atol=1e-8)
        ends.append(end)
    assert 0.6 <= min(ends) < 0.9 and 1.1 < max(ends) <= 1.4
    assert block.extra_loss() == {}
    block.eval()
    expected = torch.einsum("ij,bjl->bil", torch.linalg.matrix_exp(A), z0)
    assert torch.allclose(block(z0), expected, atol=1e-8)


def test_bad_options_are_one_line_errors(registry):
    solver = bind_solver(registry, {"name": "dopri5"})
    build = registry.models["node"].obj
    with pytest.raises(SuiteError, match="steer must be in"):
        build(SHAPE, solver, steer=1.0)
    with pytest.raises(SuiteError, match="weights >= 0"):
        build(SHAPE, solver, kinetic=-1.0)


# ---------------------------------------------------------------- off = the plain model, bit for bit

def _plain_reference(model, x, gradient, spec):
    """The study's NODE written directly against torchdiffeq with the same modules."""
    trunk, block, head = model
    options = {"max_num_steps": 10_000}
    t = block.t
    if gradient == "backprop":
        z = torchdiffeq.odeint(block.func, trunk(x), t, method="dopri5", options=options, **spec)
    else:
        z = torchdiffeq.odeint_adjoint(block.func, trunk(x), t, method="dopri5", options=options,
                                       adjoint_params=tuple(block.func.parameters()), **spec)
    return head(z[-1])


@pytest.mark.parametrize("gradient", ["backprop", "adjoint"])
def test_with_regularisers_off_the_model_is_the_plain_one_bit_for_bit(registry, gradient):
    spec = {"rtol": 1e-3, "atol": 1e-3}
    solver = bind_solver(registry, {"name": "dopri5", **spec})
    build = registry.models["node"].obj
    x = torch.randn(6, 1, 187, generator=torch.Generator().manual_seed(2))
    torch.manual_seed(0)
    model = build(SHAPE, solver, gradient=gradient, kinetic=0.0, jacobian=0.0, steer=0.0)
    torch.manual_seed(0)
    reference = build(SHAPE, solver, gradient=gradient)
    reference.load_state_dict(model.state_dict())
    out = model(x)
    assert model.extra_loss() == {}
    out.square().sum().backward()
    ref = _plain_reference(reference, x, gradient, spec)
    ref.square().sum().backward()
    assert torch.equal(out, ref)
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        assert torch.equal(p.grad, q.grad), name


def test_regularisers_leave_the_init_and_evaluation_alone_and_can_be_switched_off(registry):
    solver = bind_solver(registry, {"name": "dopri5"})
    build = registry.models["node"].obj
    x = torch.randn(4, 1, 187, generator=torch.Generator().manual_seed(2))
    torch.manual_seed(0)
    plain = build(SHAPE, solver, gradient="backprop")
    torch.manual_seed(0)
    regular = build(SHAPE, solver, gradient="backprop", kinetic=0.1, jacobian=0.1, steer=0.5)
    assert plain.state_dict().keys() == regular.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), regular.state_dict().values()))
    with torch.no_grad():
        assert torch.equal(plain.eval()(x), regular.eval()(x))
    regular[1].kinetic = regular[1].jacobian = regular[1].steer = 0.0
    plain.train(), regular.train()
    assert torch.equal(plain(x), regular(x))


# ---------------------------------------------------------------- the core's extra_loss hook

def test_a_run_adds_and_logs_the_extra_loss_terms(registry):
    config = {
        "suite": "t", "model": "node", "seed": 0, "device": "cpu", "threads": None,
        "params": {"gradient": "backprop", "kinetic": 0.01, "time_dynamics": True},
        "solver": {"name": "rk4", "steps": 1},
        "dataset": {"name": "synthetic", "train_size": 64, "test_size": 32},
        "train": {**TRAIN_DEFAULTS, "epochs": 2, "batch_size": 32},
    }
    result = train_and_evaluate(config, registry)
    epochs, metrics = result["epochs"], result["metrics"]
    assert all(e["reg_kinetic"] > 0 and 0 < e["dynamics_share"] < 1 for e in epochs)
    assert metrics["reg_kinetic"] == epochs[-1]["reg_kinetic"]
    assert 0 < metrics["dynamics_share"] < 1 and metrics["dynamics_seconds_forward"] > 0
    # train_loss stays the cross-entropy: the same run without the term has another one, and
    # its rows carry no regulariser.
    plain = train_and_evaluate({**config, "params": {"gradient": "backprop"}}, registry)
    assert "reg_kinetic" not in plain["epochs"][0] and "reg_kinetic" not in plain["metrics"]
    assert plain["epochs"][0]["train_loss"] == pytest.approx(epochs[0]["train_loss"], rel=0.05)
