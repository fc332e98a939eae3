"""The clock around a vector field: how long a solve spends inside ``f``, so that the rest of
its wall time, the solver's own work, is the **loop time** (torchode paper, Lienen &
Günnemann 2022: a step's time minus the model's).

``Clocked(f)`` is what a solver integrates in ``odebench bench``. It counts evaluations,
times each one (with ``torch.cuda.synchronize`` before and after on CUDA, so asynchronous
kernels are charged to the evaluation that launched them), counts accepted and rejected steps
where the solver reports them (torchdiffeq's step callbacks; torchode's wrapper adds to
``counters``), and stops a solve past its caps by raising :class:`CapReached`.

With ``backward=True`` it also times the backward passes through ``f``: identity autograd
functions mark where the backward enters ``f`` (at its output) and leaves it (at its input);
autograd runs the nodes between the two marks one after the other, so the time between them is
``f``'s backward. The adjoint method's vector-Jacobian products in the backward solve are
caught the same way. The marks cost two autograd nodes and two clock reads per evaluation, which
is charged to ``f``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch


class CapReached(Exception):
    """A solve went past its evaluation or time cap."""


class Mark(torch.autograd.Function):
    """Identity forward; its backward calls ``mark()`` (the clock's entered/left hook)."""

    @staticmethod
    def forward(ctx, mark, y):
        ctx.mark = mark
        return y.view_as(y)

    @staticmethod
    def backward(ctx, grad):
        ctx.mark()
        return None, grad


class Clocked:
    """``f`` with a clock, counters and caps (see the module docstring). Not a module: a
    trainable ``f`` keeps its parameters where they were."""

    def __init__(self, f: Callable[[Any, Any], Any], *, backward: bool = False, sync: bool = False,
                 max_nfe: int | None = None, deadline: float | None = None):
        self.f = f
        self.backward = backward
        self.sync = sync
        self.max_nfe, self.deadline = max_nfe, deadline
        self.nfe = 0
        self.inside = 0.0  # seconds inside f: forward evaluations and, with backward, their backward
        self.counters: dict[str, float] = {"nfe": 0, "steps_accepted": 0, "steps_rejected": 0}
        self._entered: float | None = None

    def _now(self) -> float:
        if self.sync:
            torch.cuda.synchronize()
        return time.perf_counter()

    def _backward_entered(self) -> None:
        self._entered = self._now()

    def _backward_left(self) -> None:
        if self._entered is not None:
            self.inside += self._now() - self._entered
            self._entered = None

    def __call__(self, t, y):
        self.nfe += 1
        self.counters["nfe"] = self.nfe
        if self.max_nfe is not None and self.nfe > self.max_nfe:
            raise CapReached(f"more than {self.max_nfe} function evaluations")
        if self.deadline is not None and time.perf_counter() > self.deadline:
            raise CapReached("past its time cap")
        start = self._now()
        if self.backward:
            out = Mark.apply(self._backward_entered, self.f(t, Mark.apply(self._backward_left, y)))
        else:
            out = self.f(t, y)
        self.inside += self._now() - start
        return out

    # torchdiffeq calls these on adaptive steps (and the *_adjoint ones in the backward solve).
    def callback_accept_step(self, t0, y0, dt):
        self.counters["steps_accepted"] += 1

    def callback_reject_step(self, t0, y0, dt):
        self.counters["steps_rejected"] += 1

    callback_accept_step_adjoint = callback_accept_step
    callback_reject_step_adjoint = callback_reject_step


__all__ = ["CapReached", "Clocked", "Mark"]
