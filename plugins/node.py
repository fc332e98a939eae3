"""The seed study's Neural ODE: trunk, one ODE block integrated over t = 0 -> 1, head.

59,333 parameters at width 64. The dynamics count their evaluations and the solver's
accepted/rejected steps in ``counters``, and the seconds spent inside the dynamics (their
evaluations and, in training, the backward passes through them) as ``dynamics_seconds``;
odebench reads them around the forward and the backward pass of every batch.

Options that make the dynamics cheaper to integrate (all off by default, and then the model is
the plain one bit for bit):

- ``kinetic`` = λ_K and ``jacobian`` = λ_J (RNODE, Finlay et al. 2020): the training loss gets
  λ_K ∫ ||f(z,t)||² dt + λ_J ∫ ||∂f/∂z||_F² dt (batch means; norms summed over the whole state,
  not averaged). Both integrals are integrated next to z as extra state, one scalar each per
  sample; the Frobenius norm is Hutchinson's estimate ||εᵀ ∂f/∂z||² with ε ~ N(0, I) drawn once
  per solve. Reported per epoch as ``reg_kinetic``/``reg_jacobian`` (the weighted terms).
- ``steer`` = b (STEER, Ghosh et al. 2020): in training, each batch integrates to an end time
  drawn uniformly from [t_end - b, t_end + b]; evaluation integrates to t_end.
- ``compile_dynamics``: ``torch.compile`` the dynamics' layers (not the solver).
- ``time_dynamics``: measure ``dynamics_seconds`` (off by default: it costs two identity autograd
  nodes and two clock reads per evaluation).
"""

from __future__ import annotations

import contextlib
import time
from typing import Annotated, Literal

import torch
from annotated_types import Ge, Gt
from odebench_plugins.layers import head, norm, trunk
from torch import nn

import odebench
from odebench.timing import Mark as _Mark  # identity forward; its backward calls the clock's hook

Gradient = Literal["backprop", "adjoint", "adjoint-seminorm"]


class ConcatConv1d(nn.Module):
    """A convolution that sees time as an extra input channel."""

    def __init__(self, dim_in: int, dim_out: int):
        super().__init__()
        self.conv = nn.Conv1d(dim_in + 1, dim_out, 3, 1, 1)

    def forward(self, t, x):
        tt = torch.ones_like(x[:, :1, :]) * t
        return self.conv(torch.cat([tt, x], 1))


class ODEFunc(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.norm1 = norm(width)
        self.conv1 = ConcatConv1d(width, width)
        self.norm2 = norm(width)
        self.conv2 = ConcatConv1d(width, width)
        self.norm3 = norm(width)
        self.relu = nn.ReLU(inplace=True)
        self.counters = {"nfe": 0, "steps_accepted": 0, "steps_rejected": 0}
        self.layers = self._layers  # replaced by a compiled version with compile_dynamics

    def forward(self, t, x):
        self.counters["nfe"] += 1
        return self.layers(t, x)

    def _layers(self, t, x):
        out = self.conv1(t, self.relu(self.norm1(x)))
        out = self.conv2(t, self.relu(self.norm2(out)))
        return self.norm3(out)

    # torchdiffeq calls these on adaptive steps (and the *_adjoint ones in the backward pass).
    def callback_accept_step(self, t0, y0, dt):
        self.counters["steps_accepted"] += 1

    def callback_reject_step(self, t0, y0, dt):
        self.counters["steps_rejected"] += 1

    callback_accept_step_adjoint = callback_accept_step
    callback_reject_step_adjoint = callback_reject_step


# ---------------------------------------------------------------- timing the dynamics
# The forward evaluations are timed with the clock around the call. Their backward passes run
# inside autograd, so identity functions mark where the backward enters the dynamics (at their
# output) and where it leaves them (at their input); the autograd engine runs the nodes between
# the two marks one after the other on CPU, so the difference is the dynamics' backward time.

class Dynamics:
    """What the solver integrates: ``func`` alone (state z), or with the RNODE integrands as
    extra state (state [z flattened, kinetic, jacobian] per sample: one tensor, so every solver
    and both gradient modes take it, and the two extra components hardly weigh in the RMS error
    norm beside z's ~3,000). Times itself into ``func.counters["dynamics_seconds"]``.

    A plain object, not a module: ``func``'s parameters stay where they were in the state dict."""

    def __init__(self, func: ODEFunc, timed: bool = True, shape: torch.Size | None = None,
                 kinetic: bool = False, jacobian: bool = False, eps: torch.Tensor | None = None):
        # One per solve: the adjoint's backward solve, long after the forward returned, calls
        # the same object and needs the same augmentation and the same ε.
        self.func = func
        self.timed = timed
        self.counters = func.counters  # the same dict: torchode's wrapper adds steps to it
        if timed:
            self.counters.setdefault("dynamics_seconds", 0.0)
        self._backward_started: float | None = None
        self.shape = shape  # z's shape when augmented, None for plain state
        self.kinetic, self.jacobian, self.eps = kinetic, jacobian, eps

    def backward_entered(self) -> None:
        self._backward_started = time.perf_counter()

    def backward_left(self) -> None:
        if self._backward_started is not None:
            self.counters["dynamics_seconds"] += time.perf_counter() - self._backward_started
            self._backward_started = None

    def __call__(self, t, y):
        if not self.timed:
            return self._f(t, y)
        start = time.perf_counter()
        out = _Mark.apply(self.backward_entered, self._f(t, _Mark.apply(self.backward_left, y)))
        self.counters["dynamics_seconds"] += time.perf_counter() - start
        return out

    def _f(self, t, y):
        if self.shape is None:
            return self.func(t, y)
        batch, size = self.shape[0], self.shape[1:].numel()
        if torch.is_tensor(t) and t.dim() > 0:  # per-sample times (torchode): broadcast over z
            t = t.reshape(batch, *([1] * (len(self.shape) - 1)))
        create_graph = torch.is_grad_enabled()  # False in the adjoint's forward solve
        with torch.enable_grad() if self.jacobian else contextlib.nullcontext():
            if self.jacobian and not y.requires_grad:
                y = y.detach().requires_grad_(True)
            z = y[:, :size].reshape(self.shape)
            dz = self.func(t, z)
            zero = dz.new_zeros(batch, 1)
            kinetic = dz.pow(2).flatten(1).sum(1, keepdim=True) if self.kinetic else zero
            jacobian = zero
            if self.jacobian:
                (vjp,) = torch.autograd.grad(dz, z, self.eps, create_graph=create_graph)
                jacobian = vjp.pow(2).flatten(1).sum(1, keepdim=True)
            out = torch.cat([dz.reshape(batch, size), kinetic, jacobian], 1)
        return out if create_graph else out.detach()

    def callback_accept_step(self, t0, y0, dt):
        self.func.callback_accept_step(t0, y0, dt)

    def callback_reject_step(self, t0, y0, dt):
        self.func.callback_reject_step(t0, y0, dt)

    callback_accept_step_adjoint = callback_accept_step
    callback_reject_step_adjoint = callback_reject_step


class ODEBlock(nn.Module):
    def __init__(self, func: ODEFunc, solver: odebench.Solver, gradient: Gradient, t_end: float,
                 eval_solver: odebench.Solver | None = None, *, kinetic: float = 0.0,
                 jacobian: float = 0.0, steer: float = 0.0, time_dynamics: bool = False):
        super().__init__()
        self.func = func
        self.time_dynamics = time_dynamics
        self.solver = solver
        self.eval_solver = eval_solver or solver
        self.gradient = gradient
        self.kinetic, self.jacobian, self.steer = float(kinetic), float(jacobian), float(steer)
        self.t_end = float(t_end)
        self.register_buffer("t", torch.tensor([0.0, t_end]))
        self._extra: dict[str, torch.Tensor] = {}

    def forward(self, x):
        self._extra = {}
        if not self.training:  # no gradient needed: plain solve, possibly looser
            return self.eval_solver(Dynamics(self.func, self.time_dynamics), x, self.t)[-1]
        t = self.t
        if self.steer:  # STEER: this batch's end time ~ U[t_end - b, t_end + b]
            end = self.t_end + self.steer * (2 * torch.rand(()).item() - 1)
            t = torch.tensor([0.0, end], dtype=self.t.dtype, device=self.t.device)
        if not (self.kinetic or self.jacobian):
            return self._solve(Dynamics(self.func, self.time_dynamics), x, t)[-1]
        batch, size = x.shape[0], x[0].numel()
        eps = torch.randn_like(x) if self.jacobian else None  # Hutchinson: once per solve
        dynamics = Dynamics(self.func, self.time_dynamics, x.shape, bool(self.kinetic), bool(self.jacobian), eps)
        state = torch.cat([x.reshape(batch, size), x.new_zeros(batch, 2)], 1)
        out = self._solve(dynamics, state, t)[-1]
        if self.kinetic:
            self._extra["reg_kinetic"] = self.kinetic * out[:, size].mean()
        if self.jacobian:
            self._extra["reg_jacobian"] = self.jacobian * out[:, size + 1].mean()
        return out[:, :size].reshape(x.shape)

    def _solve(self, dynamics, y0, t):
        if self.gradient == "backprop":
            return self.solver(dynamics, y0, t)
        return self.solver.adjoint(
            dynamics, y0, t,
            adjoint_params=tuple(self.func.parameters()),
            seminorm=self.gradient == "adjoint-seminorm",
        )

    def extra_loss(self) -> dict[str, torch.Tensor]:
        return dict(self._extra)


class NeuralODE(nn.Sequential):
    @property
    def counters(self) -> dict[str, float]:
        return self[1].func.counters

    def extra_loss(self) -> dict[str, torch.Tensor]:
        """The regularisers' loss terms of the last training forward pass (odebench adds them to
        the loss and logs their epoch means)."""
        return self[1].extra_loss()

    def odebench_ode(self, x: torch.Tensor, solver: odebench.Solver) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and the ODE block's final state with ``solver`` in place of the model's own,
        as in eval mode (odebench's solver-swap validity check and work-precision diagrams)."""
        trunk, block, head = self
        state = solver(Dynamics(block.func, timed=False), trunk(x), block.t)[-1]
        return head(state), state


def build_node(
    shape: odebench.DatasetShape,
    solver: odebench.Solver | str = "dopri5",
    *,
    gradient: Gradient = "adjoint",
    width: Annotated[int, Ge(1)] = 64,
    t_end: Annotated[float, Gt(0)] = 1.0,
    eval_solver: odebench.Solver | None = None,
    kinetic: Annotated[float, Ge(0)] = 0.0,
    jacobian: Annotated[float, Ge(0)] = 0.0,
    steer: Annotated[float, Ge(0)] = 0.0,  # and < t_end, checked below
    compile_dynamics: bool = False,
    time_dynamics: bool = False,
) -> nn.Module:
    """``solver`` defaults to dopri5 with rtol = atol = 1e-3 and ``gradient`` to the adjoint,
    the seed study's recipe. ``eval_solver`` (the suite's ``eval_solver:`` options over the
    solver's) is used in eval mode, e.g. to evaluate at a looser tolerance than training.
    ``kinetic``/``jacobian`` (RNODE weights λ_K/λ_J), ``steer`` (STEER's b), ``compile_dynamics``
    and ``time_dynamics``: see the module docstring."""
    if gradient != "backprop" and not solver.supports_adjoint:
        raise odebench.Unsupported(f"solver {solver.name!r} has no adjoint; use gradient: backprop")
    if kinetic < 0 or jacobian < 0:
        raise odebench.SuiteError(f"kinetic and jacobian are weights >= 0, got {kinetic} and {jacobian}")
    if not 0 <= steer < t_end:
        raise odebench.SuiteError(f"steer must be in [0, t_end) = [0, {t_end}), got {steer}: "
                                  "the end time is drawn from [t_end - steer, t_end + steer]")
    func = ODEFunc(width)
    if compile_dynamics:
        func.layers = torch.compile(func._layers, dynamic=False)
    return NeuralODE(
        trunk(shape.channels, width, shape.length),
        ODEBlock(func, solver, gradient, t_end, eval_solver, kinetic=kinetic, jacobian=jacobian,
                 steer=steer, time_dynamics=time_dynamics),
        head(width, shape.n_classes),
    )


@odebench.hookimpl
def register_models(register):
    register("node", build_node)
