"""Is a trained Neural ODE still an ODE? The solver-swap check (Ott et al., ICLR 2021).

A model trained with a coarse solver can learn the discretisation instead of a flow: with a
finer solver its accuracy collapses (a weight-tied ResNet, not an ODE). After training, the
run evaluates its test set again through the model's ``odebench_ode(x, solver)`` (see
hookspecs.py) with

- ``solver``: the training solver (the baseline of the comparison);
- ``reference``: an adaptive solver at a tight tolerance (default dopri5, rtol = atol = 1e-6);
- ``steps_x2``, ``steps_x4``, ...: the training solver with 2x, 4x, ... its steps (solvers
  with a ``steps`` or ``step_size`` option only).

It stores each one's accuracy and mean function evaluations per batch, the relative error of
the ODE's final state against the reference's (mean over samples of ``||z - z_ref|| /
||z_ref||``) and ``validity_gap``: training-solver accuracy minus reference accuracy, in
points. Every solve is capped (``max_nfe`` evaluations; the check as a whole ``max_seconds``
and the run's timeout): a solve past its cap, a step-size underflow or a non-finite state is
a result (``validity_status: did not converge``), never a hang or a failed run.

The settings' checking needs no torch (the suite loader uses it); the check imports torch.
"""

from __future__ import annotations

import inspect
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .params import check_params, param_types
from .types import DIVERGED_MESSAGES, Diverged, Solver, SuiteError, one_line

if TYPE_CHECKING:
    import torch

    from .plugins import Registry
    from .types import Dataset

OK, NOT_CONVERGED, FAILED = "ok", "did not converge", "failed"
REFERENCE: dict[str, Any] = {"name": "dopri5", "rtol": 1e-6, "atol": 1e-6}
DEFAULTS: dict[str, Any] = {
    "enabled": True,
    "reference": REFERENCE,
    "refine": [2, 4, 8],
    "max_nfe": 10_000,  # function evaluations of one solve (one batch)
    "max_seconds": 1800.0,  # the whole check
    "test_size": None,  # a stratified subsample of the test set; None = all of it
}
TYPES: dict[str, Any] = {
    "enabled": bool,
    "reference": str | dict,
    "refine": list,
    "max_nfe": int,
    "max_seconds": float,
    "test_size": int | None,
}
# The run's own timeout must leave room to write the result after the check.
TIMEOUT_MARGIN_SECONDS = 30.0


# ---------------------------------------------------------------- settings (no torch)

def settings(top: Any, entry: Any, top_where: str, entry_where: str) -> dict[str, Any] | None:
    """The validity settings of a suite entry: its own ``validity:`` merged key by key over
    the suite's, over the defaults; None when neither sets any (the defaults apply, and the
    run's config, hence its key, stays as it was). ``validity: false`` turns the check off.
    The reference solver's name and options are checked by the suite loader."""
    if top is None and entry is None:
        return None
    merged = dict(DEFAULTS)
    for value, at in ((top, top_where), (entry, entry_where)):
        if value is None:
            continue
        if isinstance(value, bool):
            value = {"enabled": value}
        if not isinstance(value, dict):
            raise SuiteError(f"{at}: expected a mapping like {{reference: {{name: dopri5, rtol: 1.0e-6, "
                             f"atol: 1.0e-6}}, refine: [2, 4, 8]}} or false, got {value!r}")
        check_params(value, TYPES, False, at, "validity")
        _check_values(value, at)
        merged.update(value)
    reference = merged["reference"]
    merged["reference"] = {"name": reference} if isinstance(reference, str) else dict(reference)
    merged["refine"] = list(merged["refine"])
    merged["max_seconds"] = float(merged["max_seconds"])
    return merged


def _check_values(value: dict[str, Any], at: str) -> None:
    refine = value.get("refine")
    if refine is not None and not all(isinstance(k, int) and not isinstance(k, bool) and k >= 2 for k in refine):
        raise SuiteError(f"{at}.refine: expected a list of step multipliers of at least 2, e.g. [2, 4, 8], "
                         f"got {refine!r}")
    for key in ("max_nfe", "max_seconds", "test_size"):
        if value.get(key) is not None and value[key] <= 0:
            raise SuiteError(f"{at}.{key}: must be positive, got {value[key]!r}")
    reference = value.get("reference")
    if isinstance(reference, dict) and "name" not in reference:
        raise SuiteError(f"{at}.reference: expected a solver name or a mapping with a 'name', "
                         "e.g. {name: dopri5, rtol: 1.0e-6, atol: 1.0e-6}")


def with_tight_tolerance(reference: dict[str, Any], accepted: dict[str, Any]) -> dict[str, Any]:
    """A reference named without tolerances gets the default reference's (rtol = atol = 1e-6)
    where its solver takes them, not the solver's own (often loose) defaults."""
    out = dict(reference)
    if "rtol" not in out and "atol" not in out:
        out.update({k: REFERENCE[k] for k in ("rtol", "atol") if k in accepted})
    return out


def resolved(config_settings: dict[str, Any] | None) -> dict[str, Any]:
    """A run's validity settings: what its config holds, else the defaults."""
    return dict(DEFAULTS) if config_settings is None else {**DEFAULTS, **config_settings}


def refined(spec: dict[str, Any] | None, registry: Registry, factor: int) -> dict[str, Any] | None:
    """The solver ``spec`` with ``factor`` times its steps (``steps`` multiplied or
    ``step_size`` divided); None for a solver without either option (an adaptive one)."""
    if not spec or spec["name"] not in registry.solvers:
        return None
    if spec.get("step_size") is not None:
        return {**spec, "step_size": spec["step_size"] / factor}
    solve = registry.solvers[spec["name"]].obj
    accepted, _ = param_types(solve, skip=3)
    if "steps" not in accepted:
        return None
    base = spec.get("steps", inspect.signature(solve).parameters["steps"].default)
    if not isinstance(base, int) or isinstance(base, bool):
        return None
    return {**spec, "steps": base * factor}


def solver_kind(solve: Any) -> str | None:
    """``"adaptive"`` for a solver taking ``rtol``, ``"fixed"`` for one taking ``steps``, else
    None: how work-precision sweeps and refinements vary it."""
    accepted, _ = param_types(solve, skip=3)
    if "rtol" in accepted:
        return "adaptive"
    if "steps" in accepted:
        return "fixed"
    return None


def is_ode(model: Any) -> bool:
    """Whether a model implements the solver-swap hook ``odebench_ode(x, solver)``."""
    return callable(getattr(model, "odebench_ode", None))


# ---------------------------------------------------------------- bounded solves

class NotConverged(Exception):
    """A solve went past its cap (evaluations, time) or its state became non-finite."""


class OutOfTime(NotConverged):
    """The check's time budget ran out: nothing more is solved."""


@dataclass
class Budget:
    """Caps on the solves made through ``capped``: evaluations per solve, a monotonic-clock
    deadline for all of them. ``nfe`` counts the evaluations of the last solve."""

    max_nfe: int | None = None
    deadline: float | None = None
    seconds: float | None = None  # the budget, for the message
    nfe: int = 0

    def tick(self) -> None:
        self.nfe += 1
        if self.max_nfe is not None and self.nfe > self.max_nfe:
            raise NotConverged(f"more than {self.max_nfe} function evaluations in one solve")
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise OutOfTime(f"the time budget of {self.seconds:g} s ran out" if self.seconds
                            else "the time budget ran out")


class _Counted:
    """``func`` counting its evaluations against a budget; other attributes (torchdiffeq's
    step callbacks, a ``counters`` dict) are the wrapped function's."""

    def __init__(self, func: Any, budget: Budget):
        self.func = func
        self.budget = budget

    def __call__(self, t, y):
        self.budget.tick()
        return self.func(t, y)

    def __getattr__(self, name: str):
        if name in ("func", "budget"):
            raise AttributeError(name)
        return getattr(self.func, name)


def capped(solver: Solver, budget: Budget) -> Solver:
    """``solver`` whose every solve counts evaluations in ``budget`` and stops at its caps."""
    solve = solver.solve

    def counted(func, y0, t, **options):
        budget.nfe = 0
        return solve(_Counted(func, budget), y0, t, **options)

    return Solver(name=solver.name, solve=counted, options=dict(solver.options))


def converging_failure(exc: BaseException) -> bool:
    """Whether an error from a solve means it did not converge (rather than a bug)."""
    return isinstance(exc, (NotConverged, Diverged)) or any(m in str(exc) for m in DIVERGED_MESSAGES)


def relative_errors(z: torch.Tensor, z_ref: torch.Tensor) -> torch.Tensor:
    """Per sample ``||z - z_ref|| / ||z_ref||`` (flattened states, in z_ref's dtype)."""
    z = z.reshape(len(z), -1).to(z_ref.dtype)
    z_ref = z_ref.reshape(len(z_ref), -1)
    return (z - z_ref).norm(dim=1) / z_ref.norm(dim=1).clamp_min(1e-30)


# ---------------------------------------------------------------- the check

@dataclass
class Stage:
    """One way of evaluating the test set (``solver``, ``reference``, ``steps_x2``...)."""

    name: str
    spec: dict[str, Any] | None
    solver: Solver | None = None
    correct: int = 0
    seen: int = 0
    nfe: list[int] = field(default_factory=list)
    errors: list[float] = field(default_factory=list)
    status: str = OK
    reason: str = ""

    @property
    def alive(self) -> bool:
        return self.status == OK


def _stages(config: dict[str, Any], registry: Registry, options: dict[str, Any]) -> list[Stage]:
    solver = config.get("solver")
    stages = [Stage("solver", solver), Stage("reference", options["reference"])]
    for factor in options["refine"]:
        spec = refined(solver, registry, factor)
        if spec is not None:
            stages.append(Stage(f"steps_x{factor}", spec))
    return stages


def _label(spec: dict[str, Any]) -> str:
    rest = " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in sorted(spec.items()) if k != "name")
    return f"{spec['name']} {rest}".strip()


def check(model: torch.nn.Module, config: dict[str, Any], registry: Registry, data: Dataset,
          device: torch.device, batch_size: int, deadline: float | None = None) -> dict[str, Any]:
    """The validity metrics of a trained model (``validity_*``; see the module docstring), or
    {} when it is off or the model has no ``odebench_ode``. ``deadline`` (monotonic clock) is
    the run's own limit; the check stops at it or at ``max_seconds``, whichever comes first.
    Never raises for the model's or a solver's failure: that is its ``validity_status``."""
    import torch

    from .binding import bind_solver, stratified_subsample

    options = resolved(config.get("validity"))
    if not options["enabled"] or not is_ode(model):
        return {}
    started = time.perf_counter()
    stop = time.monotonic() + options["max_seconds"]
    seconds = options["max_seconds"]
    if deadline is not None and deadline < stop:
        stop, seconds = deadline, max(0.0, deadline - time.monotonic())
    budget = Budget(options["max_nfe"], stop, seconds)
    stages = _stages(config, registry, options)
    for stage in stages:
        if stage.spec is None:
            continue  # a model without a solver setting: its own forward is the baseline
        try:
            stage.solver = capped(bind_solver(registry, stage.spec), budget)
        except KeyError:
            stage.status, stage.reason = FAILED, f"solver {stage.spec['name']!r} is not registered"
    x, y = data.x_test, data.y_test
    idx = stratified_subsample(y, options["test_size"], 0)
    if idx is not None:
        x, y = x[idx], y[idx]
    ode = model.odebench_ode
    out_of_time = ""
    model.eval()
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size].to(device)
            yb = y[i:i + batch_size].to(device)
            states: dict[str, torch.Tensor] = {}
            for stage in stages:
                if not stage.alive or out_of_time:
                    continue
                try:
                    budget.nfe = 0
                    if stage.spec is None:
                        logits, state = model(xb), None
                    else:
                        logits, state = ode(xb, stage.solver)
                    if not torch.isfinite(logits).all() or (state is not None and not torch.isfinite(state).all()):
                        raise NotConverged("the state became non-finite")
                except OutOfTime as exc:
                    out_of_time = f"{exc} during {stage.name} after {i} of {len(x)} test samples"
                    continue
                except Exception as exc:  # noqa: BLE001 - a failed solve is the check's result
                    stage.status = NOT_CONVERGED if converging_failure(exc) else FAILED
                    stage.reason = f"{stage.name} ({_label(stage.spec or {'name': 'forward'})}): {one_line(exc)}"
                    continue
                stage.correct += int((logits.argmax(1) == yb).sum())
                stage.seen += len(yb)
                if stage.spec is not None:
                    stage.nfe.append(budget.nfe)
                if state is not None:
                    states[stage.name] = state
            reference = states.get("reference")
            if reference is not None:
                for name, state in states.items():
                    if name != "reference":
                        stage = next(s for s in stages if s.name == name)
                        stage.errors += relative_errors(state, reference).tolist()
    return _metrics(stages, options, len(x), out_of_time, time.perf_counter() - started)


def _prefix(stage: str) -> str:
    return f"validity_{stage}"


def _metrics(stages: list[Stage], options: dict[str, Any], n: int, out_of_time: str,
             seconds: float) -> dict[str, Any]:
    """Accuracy, NFE and relative error of every stage that saw the whole test set, the gap,
    the status and, unless ok, its one-line reason."""
    reference = next(s for s in stages if s.name == "reference")
    complete = {} if out_of_time else {s.name: s for s in stages if s.alive and s.seen == n}
    metrics: dict[str, Any] = {"validity_reference_solver": _label(reference.spec), "validity_samples": n}
    for name, stage in complete.items():
        metrics[f"{_prefix(name)}_accuracy"] = stage.correct / n if n else math.nan
        if stage.nfe:
            metrics[f"{_prefix(name)}_nfe"] = sum(stage.nfe) / len(stage.nfe)
        if name != "reference" and "reference" in complete and n and len(stage.errors) == n:
            # The training solver's error is the headline: validity_rel_error.
            key = "validity_rel_error" if name == "solver" else f"{_prefix(name)}_rel_error"
            metrics[key] = sum(stage.errors) / n
    if "solver" in complete and "reference" in complete and n:
        metrics["validity_gap"] = 100.0 * (complete["solver"].correct - complete["reference"].correct) / n
    failed = [s for s in stages if not s.alive]
    if out_of_time:
        status, reason = NOT_CONVERGED, out_of_time
    elif failed:
        first = next((s for s in failed if s.status == FAILED), failed[0])
        status, reason = first.status, first.reason
    else:
        status, reason = OK, ""
    metrics["validity_status"] = status
    if reason:
        metrics["validity_reason"] = reason
    metrics["validity_seconds"] = seconds
    return metrics


__all__ = ["Budget", "NotConverged", "capped", "check", "is_ode", "refined", "relative_errors",
           "settings", "solver_kind"]
