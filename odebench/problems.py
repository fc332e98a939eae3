"""Problems with known answers for benchmarking solvers (``odebench bench``).

A problem plugin registers ``register(name, make, tier="quick" | "full")``; ``make()``
returns a :class:`Problem` (it is called only when the problem is benchmarked, so a plugin
may load weights or committed arrays lazily). ``tier="quick"`` puts the problem in the
default quick set; every problem is in the full set.

No torch at import time (``odebench --help`` must not pay for it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .types import DataError

if TYPE_CHECKING:
    import torch

Tier = Literal["quick", "full"]
TIERS: tuple[str, ...] = ("quick", "full")


@dataclass
class Problem:
    """An initial-value problem with a reference solution.

    ``f(t, y) -> dy/dt`` is batched: ``y`` has ``y0``'s shape ``(batch, ...)`` (a batch of
    initial values, or one problem as a batch of one). ``t`` holds the 1-D increasing output
    times (``t[0]`` is the start), ``reference`` the solution at every one of them, shaped
    ``(len(t), *y0.shape)``, in float64 (``reference[0]`` is ``y0``). ``y0`` and ``t`` carry
    the dtype the problem is solved in (float64 for the classic problems; float32 for trained
    Neural-ODE dynamics, as they are trained). ``reference_method`` says where the reference
    comes from ("closed form", or the solver, its tolerance and the command that recomputes
    a committed array); ``source`` cites the problem. ``stiff`` problems are expected to make
    explicit solvers hit their caps. An ``f`` that is a ``torch.nn.Module`` with parameters
    is also benchmarked backward (backprop and, where the solver has one, the adjoint).
    ``steps``: the fixed-grid ladder that suits the problem (e.g. the few steps a Neural ODE is
    trained with), used unless ``odebench bench --steps`` is given.
    """

    f: Callable[[Any, Any], Any]
    y0: torch.Tensor
    t: torch.Tensor
    reference: torch.Tensor
    stiff: bool = False
    source: str = ""
    reference_method: str = ""
    description: str = ""
    steps: tuple[int, ...] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def trainable(self) -> bool:
        """Has parameters to differentiate: benchmarked backward too."""
        import torch

        return isinstance(self.f, torch.nn.Module) and any(p.requires_grad for p in self.f.parameters())

    def validate(self, name: str) -> None:
        """Check the plugin kept the contract; raise DataError naming what is wrong."""
        import torch

        for attr in ("y0", "t", "reference"):
            value = getattr(self, attr)
            if not torch.is_tensor(value):
                raise DataError(f"problem {name!r}: {attr} must be a tensor, got {type(value).__name__}")
            if not value.is_floating_point():
                raise DataError(f"problem {name!r}: {attr} must be floating point, got {value.dtype}")
            if not torch.isfinite(value).all():
                raise DataError(f"problem {name!r}: {attr} has non-finite values")
        if self.y0.dim() < 2 or self.y0.shape[0] < 1:
            raise DataError(f"problem {name!r}: y0 must be a batch (batch, ...), got shape {tuple(self.y0.shape)}; "
                            "give one problem as y0[None]")
        if self.t.dim() != 1 or len(self.t) < 2 or not bool((self.t[1:] > self.t[:-1]).all()):
            raise DataError(f"problem {name!r}: t must be 1-D, increasing, with at least 2 times")
        want = (len(self.t), *self.y0.shape)
        if tuple(self.reference.shape) != want:
            raise DataError(f"problem {name!r}: reference must have shape {want} (len(t), *y0.shape), "
                            f"got {tuple(self.reference.shape)}")
        if self.reference.dtype != torch.float64:
            raise DataError(f"problem {name!r}: reference must be float64, got {self.reference.dtype}")
        if not callable(self.f):
            raise DataError(f"problem {name!r}: f must be callable f(t, y)")


def relative_error(y: torch.Tensor, reference: torch.Tensor) -> float:
    """The norm-wise relative error ``||y - y_ref|| / ||y_ref||`` (2-norm over every component
    of the batch), computed in float64."""
    import torch

    ref = reference.double()
    diff = torch.linalg.vector_norm(y.double() - ref)
    scale = torch.linalg.vector_norm(ref)
    return float(diff / scale) if float(scale) > 0 else float(diff)


def errors(ys: torch.Tensor, reference: torch.Tensor) -> tuple[float, float]:
    """The relative error at the final time, and its RMS over the output times after the
    first (where every solver starts exact)."""
    import math

    final = relative_error(ys[-1], reference[-1])
    each = [relative_error(ys[i], reference[i]) for i in range(1, len(reference))]
    return final, math.sqrt(sum(e * e for e in each) / len(each))


__all__ = ["TIERS", "Problem", "Tier", "errors", "relative_error"]
