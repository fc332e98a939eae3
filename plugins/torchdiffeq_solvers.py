"""Every method of torchdiffeq 0.2.5 as an odebench solver, each under its own name.

Adaptive methods take ``rtol``/``atol`` (default 1e-3, not torchdiffeq's slow 1e-7/1e-9),
``max_num_steps`` and ``first_step``. Fixed-grid methods (the "fixed-step variants") take
``steps`` (equal steps over the integration interval) or ``step_size``.
"""

from __future__ import annotations

import warnings
from typing import Annotated

import torch
import torchdiffeq
from annotated_types import Ge, Gt

import odebench

ADAPTIVE = ("dopri5", "dopri8", "bosh3", "fehlberg2", "adaptive_heun")
FIXED = ("euler", "midpoint", "heun2", "heun3", "rk4", "explicit_adams", "implicit_adams")

# The options' ranges, checked when a suite is loaded.
Tolerance = Annotated[float, Gt(0)]
MaxSteps = Annotated[int, Ge(1)]
FirstStep = Annotated[float | None, Gt(0)]
Steps = Annotated[int, Ge(1)]
StepSize = Annotated[float | None, Gt(0)]

# Models may define torchdiffeq's step callbacks (the Neural ODE counts steps with them);
# fixed-grid methods never call them and would warn on every solve, backward passes included.
warnings.filterwarnings("ignore", message="Solver '.*' does not support callbacks")


def _odeint_adjoint(method: str, func, y0, t, adjoint_params, seminorm: bool, options: dict,
                    rtol: float = 1e-3, atol: float = 1e-3) -> torch.Tensor:
    # torchdiffeq copies `options` to the backward pass only when adjoint_options is None.
    extra = {"adjoint_options": {**options, "norm": "seminorm"}} if seminorm else {}
    return torchdiffeq.odeint_adjoint(func, y0, t, rtol=rtol, atol=atol, method=method, options=options,
                                      adjoint_params=tuple(adjoint_params), **extra)


def _adaptive(method: str):
    def solve(
        func,
        y0: torch.Tensor,
        t: torch.Tensor,
        *,
        rtol: Tolerance = 1e-3, atol: Tolerance = 1e-3, max_num_steps: MaxSteps = 10_000,
        first_step: FirstStep = None,
    ) -> torch.Tensor:
        options = _adaptive_options(max_num_steps, first_step)
        return torchdiffeq.odeint(func, y0, t, rtol=rtol, atol=atol, method=method, options=options)

    def solve_adjoint(
        func, y0: torch.Tensor, t: torch.Tensor, *, adjoint_params, seminorm: bool = False,
        rtol: Tolerance = 1e-3, atol: Tolerance = 1e-3, max_num_steps: MaxSteps = 10_000,
        first_step: FirstStep = None,
    ) -> torch.Tensor:
        options = _adaptive_options(max_num_steps, first_step)
        return _odeint_adjoint(method, func, y0, t, adjoint_params, seminorm, options, rtol, atol)

    return solve, solve_adjoint


def _adaptive_options(max_num_steps: int, first_step: float | None) -> dict:
    options: dict = {"max_num_steps": int(max_num_steps)}
    if first_step is not None:
        options["first_step"] = float(first_step)
    return options


def _fixed_options(steps: int, step_size: float | None) -> dict:
    if step_size is not None:
        if step_size <= 0:
            raise ValueError(f"step_size must be positive, got {step_size}")
        return {"step_size": float(step_size)}
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")

    def grid(func, y0, t, _n=int(steps)):
        # An explicit grid: step_size=1/3 would give torchdiffeq a rounding-dependent 4th step.
        return torch.linspace(float(t[0]), float(t[-1]), _n + 1, dtype=t.dtype, device=t.device)

    return {"grid_constructor": grid}


def _fixed(method: str):
    def solve(
        func, y0: torch.Tensor, t: torch.Tensor, *, steps: Steps = 1, step_size: StepSize = None
    ) -> torch.Tensor:
        options = _fixed_options(steps, step_size)
        # rtol/atol only matter to implicit_adams' corrector iterations.
        return torchdiffeq.odeint(func, y0, t, rtol=1e-3, atol=1e-3, method=method, options=options)

    def solve_adjoint(
        func, y0: torch.Tensor, t: torch.Tensor, *, adjoint_params, seminorm: bool = False,
        steps: Steps = 1, step_size: StepSize = None,
    ) -> torch.Tensor:
        return _odeint_adjoint(method, func, y0, t, adjoint_params, seminorm, _fixed_options(steps, step_size))

    return solve, solve_adjoint


@odebench.hookimpl
def register_solvers(register):
    for method in ADAPTIVE:
        solve, solve_adjoint = _adaptive(method)
        register(method, solve, adjoint=solve_adjoint)
    for method in FIXED:
        solve, solve_adjoint = _fixed(method)
        register(method, solve, adjoint=solve_adjoint)
