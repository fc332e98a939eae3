"""Backward function evaluations of the study's NODE (dopri5) with the plain adjoint and with
the seminorm (Kidger et al. 2021), on one random batch at several tolerances, random init.

    python tests/benchmarks/seminorm.py [--batch 8] [--tolerances 1e-2 1e-3 1e-4 1e-5]
"""

from __future__ import annotations

import argparse

import torch

from odebench import DatasetShape
from odebench.binding import bind_solver
from odebench.plugins import load_registry


def nfe(registry, gradient: str, tol: float, batch: int) -> tuple[int, int]:
    torch.manual_seed(0)
    solver = bind_solver(registry, {"name": "dopri5", "rtol": tol, "atol": tol})
    model = registry.models["node"].obj(DatasetShape(channels=1, length=187, n_classes=5), solver,
                                        gradient=gradient)
    out = model(torch.randn(batch, 1, 187, generator=torch.Generator().manual_seed(1)))
    forward = model.counters["nfe"]
    out.sum().backward()
    return forward, model.counters["nfe"] - forward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--tolerances", type=float, nargs="+", default=[1e-2, 1e-3, 1e-4, 1e-5])
    args = parser.parse_args()
    registry = load_registry()
    print(f"dopri5, batch {args.batch}: NFE forward / backward")
    for tol in args.tolerances:
        (fa, ba), (fs, bs) = nfe(registry, "adjoint", tol, args.batch), nfe(registry, "adjoint-seminorm", tol, args.batch)
        print(f"rtol = atol = {tol:g}: adjoint {fa} / {ba}, seminorm {fs} / {bs}, "
              f"backward cut {1 - bs / ba:.0%}")


if __name__ == "__main__":
    main()
