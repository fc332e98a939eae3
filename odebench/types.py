"""Small value types shared by the core and plugins (see hookspecs.py for the contract), and
the executor contract: what a task and an outcome hold, and which statuses a run can end in.

No torch here at import time: ``odebench`` imports this module, and ``odebench --help`` should
not pay for torch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypedDict

if TYPE_CHECKING:
    import torch


class OdebenchError(Exception):
    """An error the user can act on: its message is one line naming the problem and the fix."""


class SuiteError(OdebenchError):
    """The suite file is invalid (reported before anything runs, exit code 2)."""


class DataError(OdebenchError):
    """Dataset input is missing or corrupt."""


class Unsupported(OdebenchError):
    """A plugin cannot run this combination; the run is recorded as skipped."""


class Diverged(OdebenchError):
    """Training diverged (NaN/inf loss, solver step underflow, too many steps)."""


# Errors whose message holds one of these come from a solver that could not go on
# (torchdiffeq's step-size underflow, its step cap): the run diverged, it did not fail.
DIVERGED_MESSAGES = ("underflow in dt", "max_num_steps exceeded")


@dataclass(frozen=True)
class DatasetShape:
    channels: int
    length: int
    n_classes: int


@dataclass
class Dataset:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    class_names: list[str]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> DatasetShape:
        return DatasetShape(
            channels=int(self.x_train.shape[1]),
            length=int(self.x_train.shape[2]),
            n_classes=len(self.class_names),
        )

    def validate(self, name: str) -> None:
        """Check the loader kept its promise; raise DataError naming what is wrong."""
        import torch

        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if x.dtype != torch.float32 or x.dim() != 3:
                raise DataError(
                    f"dataset {name!r}: x_{split} must be float32 (N, C, L), "
                    f"got {x.dtype} {tuple(x.shape)}"
                )
            if y.dtype != torch.int64 or y.shape != (x.shape[0],):
                raise DataError(
                    f"dataset {name!r}: y_{split} must be int64 (N,), got {y.dtype} {tuple(y.shape)}"
                )
            if len(y) and (int(y.min()) < 0 or int(y.max()) >= len(self.class_names)):
                raise DataError(f"dataset {name!r}: y_{split} has labels outside 0..{len(self.class_names) - 1}")
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise DataError(f"dataset {name!r}: train and test samples differ in shape")


@dataclass(frozen=True)
class Solver:
    """A registered solver with the suite's options bound; what an ODE model receives."""

    name: str
    solve: Callable[..., torch.Tensor]
    options: dict[str, Any] = field(default_factory=dict)
    solve_adjoint: Callable[..., torch.Tensor] | None = None

    @property
    def supports_adjoint(self) -> bool:
        return self.solve_adjoint is not None

    def __call__(self, func, y0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.solve(func, y0, t, **self.options)

    def adjoint(self, func, y0, t, *, adjoint_params, seminorm: bool = False) -> torch.Tensor:
        if self.solve_adjoint is None:
            raise Unsupported(f"solver {self.name!r} does not support the adjoint method")
        return self.solve_adjoint(
            func, y0, t, adjoint_params=adjoint_params, seminorm=seminorm, **self.options
        )


# ---------------------------------------------------------------- the executor contract

Status = Literal["done", "diverged", "skipped", "failed", "timeout", "interrupted"]
DONE: Status = "done"
DIVERGED: Status = "diverged"
SKIPPED: Status = "skipped"
FAILED: Status = "failed"
TIMEOUT: Status = "timeout"
INTERRUPTED: Status = "interrupted"
# Finished runs are not rerun (their result would not change); the others run again.
FINISHED: frozenset[str] = frozenset({DONE, DIVERGED, SKIPPED})
RERUN: frozenset[str] = frozenset({FAILED, TIMEOUT, INTERRUPTED})
# Ended as the suite intended: anything else makes ``odebench run`` exit 1.
SUCCEEDED: frozenset[str] = frozenset({DONE, SKIPPED})


class Task(TypedDict, total=False):
    """One run as the driver hands it to an executor (JSON-serialisable)."""

    key: str  # the run key (suite.run_key of config)
    config: dict[str, Any]  # the run's resolved config
    plugin_files: list[str]  # loose plugin files the run process loads
    timeout: float | None  # seconds; None = no limit
    progress: str  # progress-bar label
    default_threads: int  # set by an executor: the run's share of its machine's cores
    parallel_runs: int  # set by an executor: runs sharing that machine
    save_weights: bool  # return the trained weights with the outcome (the driver keeps them)


class Outcome(TypedDict, total=False):
    """What a run ended with; the driver stores it as one attempt."""

    status: Status
    reason: str  # one line; absent for a run that is done
    traceback: str
    metrics: dict[str, Any]
    epochs: list[dict[str, Any]]
    machine: dict[str, Any]
    started_at: float
    finished_at: float
    pid: int
    weights: str  # a done run's state_dict (torch.save, base64) when the task asked for it


def outcome(
    status: Status,
    reason: str | None = None,
    *,
    started: float | None = None,
    traceback: str = "",
    metrics: dict[str, Any] | None = None,
    epochs: list[dict[str, Any]] | None = None,
) -> Outcome:
    """An outcome with every key a store needs; ``started`` defaults to now (a run that
    never started)."""
    now = time.time()
    out: Outcome = {"status": status, "metrics": {} if metrics is None else metrics,
                    "epochs": [] if epochs is None else epochs,
                    "started_at": now if started is None else started, "finished_at": now}
    if reason is not None:
        out["reason"] = reason
    if traceback:
        out["traceback"] = traceback
    return out


def one_line(exc: BaseException, named: bool = True) -> str:
    """The first line of an exception's message, after its type name unless ``named`` is
    False; the type name alone when the message is empty."""
    text = (f"{type(exc).__name__}: {exc}" if named else str(exc)).strip().splitlines()
    return text[0] if text else type(exc).__name__
