"""``odebench check NAME``: generic conformance checks for plugins (like ``benchopt test``).

NAME is a plugin (an entry-point name such as ``torchdiffeq``, or a ``*.py`` file) or a single
model, solver, dataset or problem name. Every model, solver, dataset and problem it covers is checked against the
contract in ``hookspecs.py``; each check passes, fails or is skipped, with a one-line reason.

Solvers: a known linear ODE ``dy/dt = A y`` (exact solution ``matrix_exp(t A) y0``) solved to
about the tolerance, convergence as the tolerance (or the step count) tightens, a
time-dependent ODE on ``t`` not starting at 0, shapes/dtypes/devices preserved, gradients of
backprop and of the adjoint (when registered) against ``matrix_exp``'s exact gradients.
Models: logits of the right shape, backprop reaching every parameter, ``counters``.
Datasets: a small load with the promised shapes, dtypes and labels; a DataError (input absent)
makes the checks *skipped*, not failed.
Problems (``odebench bench``): ``make()`` returns an ``odebench.Problem`` that keeps the
contract (shapes, a float64 reference starting at ``y0``), ``f`` returns ``y``'s shape and dtype
without changing ``y``, and, for a non-stiff problem, torchdiffeq's dopri5 at rtol = atol = 1e-8
(rtol 1e-6 in float32) reaches the reference (within ``PROBLEM_RTOL``): a wrong reference or vector field shows here.
"""

from __future__ import annotations

import inspect
import math
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .binding import bind_solver
from .params import param_types, split_subsample, suggest
from .plugins import Entry, Registry, load_registry, plugin_files_in
from .types import DataError, Dataset, DatasetShape, OdebenchError, Unsupported, one_line

# The global error may exceed the local tolerance: torchdiffeq's bosh3 and fehlberg2 reach
# ~100-150x it on the ODEs below at rtol = atol = 1e-6; a solver that ignores it is far beyond.
TOLERANCE_FACTOR = 1000.0
TIGHT = {"rtol": 1e-6, "atol": 1e-6}
# Fixed-step solvers: enough steps for a first-order method to be within 1% (euler: 0.1%).
FIXED_STEPS = 256
FIXED_RTOL = 1e-2
GRADIENT_RTOL = 1e-2
MODEL_SHAPE = DatasetShape(channels=2, length=64, n_classes=3)
DATASET_SIZES = {"train_size": 32, "test_size": 16}


@dataclass
class Result:
    check: str
    target: str
    result: str  # "pass", "fail" or "skipped"
    reason: str


class Skip(Exception):
    """Raised by a check that does not apply; its message is the reason."""


class Fail(Exception):
    """Raised by a check whose target broke the contract; its message is the reason."""


def _run(check: str, target: str, fn: Callable[[], str]) -> Result:
    try:
        return Result(check, target, "pass", fn())
    except (Skip, Unsupported) as exc:
        return Result(check, target, "skipped", str(exc))
    except Fail as exc:
        return Result(check, target, "fail", str(exc))
    except Exception as exc:  # noqa: BLE001 - any error is a failed check, with its reason
        where = traceback.extract_tb(exc.__traceback__)[-1]
        at = f"{Path(where.filename).name}:{where.lineno}"
        return Result(check, target, "fail", f"{one_line(exc)} ({at})")


def _devices() -> list[str]:
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _signature(fn: Callable[..., Any], skip: int | set[str], what: str, need_defaults: bool) -> str:
    accepted, _ = param_types(fn, skip)
    params = inspect.signature(fn).parameters
    missing_type = [k for k, tp in accepted.items() if tp is inspect.Parameter.empty]
    if missing_type:
        names = ", ".join(missing_type)
        raise Fail(f"{what}: annotate option(s) {names} (suites are validated against them)")
    required = [k for k in accepted if params[k].default is inspect.Parameter.empty]
    if required and need_defaults:
        raise Fail(f"{what}: give option(s) {', '.join(required)} a default")
    extra = f"; required: {', '.join(required)}" if required else ""
    return f"{len(accepted)} option(s), annotated{extra}"


# ---------------------------------------------------------------- solvers

class Linear(torch.nn.Module):
    """dy/dt = A y on states (..., n); also counts its evaluations."""

    def __init__(self, a: torch.Tensor):
        super().__init__()
        self.a = torch.nn.Parameter(a)
        self.nfe = 0

    def forward(self, t, y):
        self.nfe += 1
        return y @ self.a.T


def _matrix(dtype=torch.float64, device="cpu") -> torch.Tensor:
    g = torch.Generator().manual_seed(0)  # eigenvalues 0.61, -0.40 +- 0.66i
    a = 0.7 * torch.randn(3, 3, generator=g, dtype=torch.float64)
    return a.to(dtype=dtype, device=device)


def _y0(shape=(4, 3), dtype=torch.float64, device="cpu") -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.randn(*shape, generator=g, dtype=torch.float64).to(dtype=dtype, device=device)


def _exact(a: torch.Tensor, y0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return torch.stack([y0 @ torch.linalg.matrix_exp(a * (s - t[0])).T for s in t])


def _knob(entry: Entry) -> str | None:
    accepted, _ = param_types(entry.obj, skip=3)
    if {"rtol", "atol"} <= set(accepted):
        return "tol"
    return "steps" if "steps" in accepted else None


def _accurate(entry: Entry) -> tuple[dict, str]:
    """Options that make the solver accurate, and how much error they allow (as text)."""
    knob = _knob(entry)
    if knob == "tol":
        return dict(TIGHT), f"rtol=atol={TIGHT['rtol']:g}"
    if knob == "steps":
        return {"steps": FIXED_STEPS}, f"steps={FIXED_STEPS}"
    return {}, "default options"


def _accuracy(entry: Entry, err: float, exact: torch.Tensor, label: str) -> str:
    """Compare a max error with what the accurate options promise; raise Fail beyond it."""
    scale = float(exact.abs().max())
    if _knob(entry) == "tol":
        ratio = err / (TIGHT["atol"] + TIGHT["rtol"] * scale)
        text = f"max error {err:.1e} = {ratio:.2g}x the tolerance at {label}"
        if not ratio <= TOLERANCE_FACTOR:
            raise Fail(f"{text} (limit {TOLERANCE_FACTOR:.0f}x)")
        return text
    bound = FIXED_RTOL * max(1.0, scale)  # the step count, not a tolerance, sets the error
    text = f"max error {err:.1e} at {label}"
    if not err <= bound:
        raise Fail(f"{text} > {bound:.1e}")
    return f"{text} <= {bound:.1e}"


def _shape_of(out: Any, y0: torch.Tensor, t: torch.Tensor) -> None:
    if not isinstance(out, torch.Tensor):
        raise Fail(f"returned {type(out).__name__}, not a Tensor")
    want = (len(t), *y0.shape)
    if tuple(out.shape) != want:
        raise Fail(f"returned shape {tuple(out.shape)}, expected (len(t), *y0.shape) = {want}")
    if out.dtype != y0.dtype or out.device != y0.device:
        raise Fail(f"returned {out.dtype} on {out.device} for y0 {y0.dtype} on {y0.device}")


def _solver_linear(entry: Entry) -> str:
    options, label = _accurate(entry)
    a, y0 = _matrix(), _y0()
    t = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    with torch.no_grad():
        out = entry.obj(Linear(a), y0, t, **options)
    _shape_of(out, y0, t)
    exact = _exact(a, y0, t)
    return "dy/dt = A y on t = 0, 0.5, 1: " + _accuracy(
        entry, float((out - exact).abs().max()), exact, label)


def _solver_converges(entry: Entry) -> str:
    knob = _knob(entry)
    if knob is None:
        raise Skip("no rtol/atol or steps option to tighten")
    if knob == "tol":
        runs = ({"rtol": 1e-4, "atol": 1e-4}, {"rtol": 1e-8, "atol": 1e-8})
        what = "tolerance 1e-4 -> 1e-8"
    else:
        runs, what = ({"steps": 4}, {"steps": FIXED_STEPS}), f"steps 4 -> {FIXED_STEPS}"
    a, y0 = _matrix(), _y0()
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    exact = _exact(a, y0, t)
    with torch.no_grad():
        errs = [float((entry.obj(Linear(a), y0, t, **o) - exact).abs().max()) for o in runs]
    text = f"error {errs[0]:.1e} -> {errs[1]:.1e} with {what}"
    # An error already at round-off cannot shrink further.
    if not (errs[1] <= errs[0] / 8 or errs[1] < 1e-12):
        raise Fail(f"{text}: the option has (almost) no effect")
    return text


def _solver_time(entry: Entry) -> str:
    options, label = _accurate(entry)
    y0 = _y0()
    t = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    with torch.no_grad():
        out = entry.obj(lambda s, y: torch.cos(s) * y, y0, t, **options)
    _shape_of(out, y0, t)
    exact = torch.stack([y0 * torch.exp(torch.sin(s) - torch.sin(t[0])) for s in t])
    return "dy/dt = cos(t) y on t = 0.5, 1, 2: " + _accuracy(
        entry, float((out - exact).abs().max()), exact, label)


def _solver_shapes(entry: Entry, device: str) -> str:
    t = torch.tensor([0.0, 0.5, 1.0], device=device)
    tried = []
    for dtype in (torch.float32, torch.float64):
        for shape in ((4, 3), (2, 5, 3)):
            y0 = _y0(shape, dtype, device)
            with torch.no_grad():
                out = entry.obj(Linear(_matrix(dtype, device)), y0, t.to(dtype))
            _shape_of(out, y0, t)
            if not torch.isfinite(out).all():
                raise Fail(f"non-finite values for y0 {tuple(shape)} {dtype}")
            if not torch.allclose(out[0], y0):
                raise Fail(f"solution at t[0] differs from y0 for {tuple(shape)} {dtype}")
            tried.append(f"{tuple(shape)}")
    return f"default options: y0 {', '.join(sorted(set(tried)))} in float32/float64 on {device}"


def _grad_case(entry: Entry, solve: Callable) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    a, y0 = _matrix(), _y0().requires_grad_()
    func = Linear(a)
    t = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    w = _y0((3, 4, 3)) + 1.0
    got = torch.autograd.grad((w * solve(func, y0, t)).sum(), (y0, func.a))
    ref_a = a.clone().requires_grad_()
    want = torch.autograd.grad((w * _exact(ref_a, y0, t)).sum(), (y0, ref_a))
    return list(got), list(want)


def _compare(got: list[torch.Tensor], want: list[torch.Tensor], what: str) -> float:
    worst = 0.0
    for name, g, w in zip(("y0", "A"), got, want, strict=True):
        if g is None or not torch.isfinite(g).all():
            raise Fail(f"{what}: gradient of {name} is missing or not finite")
        worst = max(worst, float((g - w).abs().max() / w.abs().max()))
    if not worst <= GRADIENT_RTOL:
        raise Fail(f"{what}: gradients differ from the exact ones by {worst:.1e} "
                   f"(relative) > {GRADIENT_RTOL:g}")
    return worst


def _solver_backprop(entry: Entry) -> str:
    options, label = _accurate(entry)
    got, want = _grad_case(entry, lambda f, y, t: entry.obj(f, y, t, **options))
    return f"d/dy0, d/dA within {_compare(got, want, 'backprop'):.1e} of exact at {label}"


def _solver_adjoint(entry: Entry, seminorm: bool) -> str:
    adjoint = entry.extra.get("adjoint")
    if adjoint is None:
        raise Skip("no adjoint registered (register(name, solve, adjoint=solve_adjoint))")
    options, label = _accurate(entry)
    back, want = _grad_case(entry, lambda f, y, t: entry.obj(f, y, t, **options))
    got, _ = _grad_case(entry, lambda f, y, t: adjoint(
        f, y, t, adjoint_params=tuple(f.parameters()), seminorm=seminorm, **options))
    worst = _compare(got, want, "adjoint")
    vs_backprop = max(float((g - b).abs().max() / b.abs().max())
                      for g, b in zip(got, back, strict=True))
    return f"within {worst:.1e} of exact, {vs_backprop:.1e} of backprop at {label}"


def _adjoint_signature(entry: Entry) -> str:
    adjoint = entry.extra.get("adjoint")
    text = _signature(entry.obj, 3, "solve", need_defaults=True)
    if adjoint is None:
        return text + "; no adjoint"
    params = inspect.signature(adjoint).parameters
    for name in ("adjoint_params", "seminorm"):
        if name not in params:
            raise Fail(f"solve_adjoint must take keyword {name!r}")
    same = set(param_types(adjoint, {"func", "y0", "t", "adjoint_params", "seminorm"})[0])
    own = set(param_types(entry.obj, 3)[0])
    if list(params)[:3] != list(inspect.signature(entry.obj).parameters)[:3] or same != own:
        raise Fail(f"solve_adjoint's options {sorted(same)} differ from solve's {sorted(own)}")
    return text + "; adjoint takes the same options"


def solver_checks(entry: Entry) -> list[tuple[str, Callable[[], str]]]:
    checks = [
        ("signature", lambda: _adjoint_signature(entry)),
        ("linear ODE", lambda: _solver_linear(entry)),
        ("converges", lambda: _solver_converges(entry)),
        ("time-dependent ODE", lambda: _solver_time(entry)),
    ]
    for device in _devices():
        checks.append((f"shapes/dtypes {device}", lambda d=device: _solver_shapes(entry, d)))
    checks += [
        ("backprop gradients", lambda: _solver_backprop(entry)),
        ("adjoint gradients", lambda: _solver_adjoint(entry, seminorm=False)),
        ("adjoint seminorm", lambda: _solver_adjoint(entry, seminorm=True)),
    ]
    return checks


# ---------------------------------------------------------------- models

def _defaults_run(entry: Entry) -> bool:
    """Whether a solver's default options solve dy/dt = -y to within 1%."""
    y0, t = torch.ones(2, 3), torch.tensor([0.0, 1.0])
    try:
        with torch.no_grad():
            out = entry.obj(lambda s, y: -y, y0, t)
        return tuple(out.shape) == (2, 2, 3) and bool((out[-1] - math.exp(-1)).abs().max() < 1e-2)
    except Exception:  # noqa: BLE001 - a solver that cannot run on defaults is not picked
        return False


def any_solver(registry: Registry) -> str:
    """The first registered solver whose default options run: what a model that names no
    default solver is checked with, unless ``--solver`` names one."""
    for name, entry in registry.solvers.items():
        if _defaults_run(entry):
            return name
    raise Skip("it needs a solver and no registered solver runs on its default options")


def _build_model(registry: Registry, entry: Entry, solver: str | None = None) -> torch.nn.Module:
    params = inspect.signature(entry.obj).parameters
    if "solver" not in params:
        return entry.obj(MODEL_SHAPE)
    default = params["solver"].default
    if solver is not None:
        spec = {"name": solver}
    elif isinstance(default, (str, dict)):
        spec = {"name": default} if isinstance(default, str) else dict(default)
    else:
        spec = {"name": any_solver(registry)}
    if spec["name"] not in registry.solvers:
        raise Skip(f"its solver {spec['name']!r} is not installed")
    return entry.obj(MODEL_SHAPE, bind_solver(registry, spec))


def _counts(model: torch.nn.Module) -> dict | None:
    counters = getattr(model, "counters", None)
    return None if counters is None else dict(counters)


def _model_forward(registry: Registry, entry: Entry, device: str, solver: str | None) -> str:
    model = _build_model(registry, entry, solver).to(device)
    x = _y0((3, MODEL_SHAPE.channels, MODEL_SHAPE.length), torch.float32, device)
    want = (3, MODEL_SHAPE.n_classes)
    given = f"{tuple(x.shape)} -> {want}"
    for mode in ("train", "eval"):
        model.train(mode == "train")
        with torch.set_grad_enabled(mode == "train"):
            logits = model(x)
        if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != want:
            got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
            raise Fail(f"{mode} mode: {tuple(x.shape)} -> {got}, expected {want}")
        if logits.dtype != torch.float32 or logits.device.type != device:
            raise Fail(f"{mode} mode: logits are {logits.dtype} on {logits.device}, "
                       f"expected float32 on {device}")
        if not torch.isfinite(logits).all():
            raise Fail(f"{mode} mode: logits are not finite")
    return f"{given} float32 on {device}, train and eval mode"


def _model_backprop(registry: Registry, entry: Entry, solver: str | None) -> str:
    model = _build_model(registry, entry, solver)
    x = _y0((3, MODEL_SHAPE.channels, MODEL_SHAPE.length), torch.float32)
    before = _counts(model)
    logits = model(x)
    middle = _counts(model)
    labels = torch.arange(3) % MODEL_SHAPE.n_classes
    torch.nn.functional.cross_entropy(logits, labels).backward()
    after = _counts(model)
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not params:
        raise Fail("the model has no trainable parameters")
    missing = [n for n, p in params if p.grad is None]
    if missing:
        raise Fail(f"no gradient reached {len(missing)} parameter(s), e.g. {missing[0]}")
    bad = [n for n, p in params if not torch.isfinite(p.grad).all()]
    if bad:
        raise Fail(f"non-finite gradient for {bad[0]}")
    counted = ""
    if before is not None:
        for a, b in ((before, middle), (middle, after)):
            if not all(isinstance(v, int) and v >= a.get(k, 0) for k, v in b.items()):
                raise Fail(f"counters must be a dict of non-decreasing ints, got {b}")
        counted = f"; counters forward {_delta(middle, before)}, backward {_delta(after, middle)}"
    return f"cross-entropy gradients reach all {len(params)} parameter tensors{counted}"


def _delta(after: dict, before: dict) -> str:
    return " ".join(f"{k}={after[k] - before.get(k, 0)}" for k in sorted(after)) or "{}"


def model_checks(
    registry: Registry, entry: Entry, solver: str | None = None
) -> list[tuple[str, Callable[[], str]]]:
    checks = [("signature", lambda: _signature(entry.obj, {"shape", "solver"}, "factory", True))]
    for device in _devices():
        checks.append((f"logits {device}", lambda d=device: _model_forward(registry, entry, d, solver)))
    checks.append(("backprop", lambda: _model_backprop(registry, entry, solver)))
    return checks


# ---------------------------------------------------------------- datasets

def _dataset_load(entry: Entry, loaded: dict) -> str:
    params = inspect.signature(entry.obj).parameters
    required = [k for k, p in params.items() if p.default is inspect.Parameter.empty
                and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    if required:
        raise Skip(f"needs {', '.join(required)} (no default to check with)")
    # train_size/test_size go to loaders that declare them; odebench subsamples for the others.
    kwargs, _ = split_subsample(entry.obj, DATASET_SIZES)
    try:
        data = entry.obj(**kwargs)
    except DataError as exc:  # input absent or unreadable: not the plugin's fault here
        raise Skip(str(exc)) from None
    if not isinstance(data, Dataset):
        raise Fail(f"load returned {type(data).__name__}, not an odebench.Dataset")
    loaded.update(data=data, kwargs=kwargs)
    given = " ".join(f"{k}={v}" for k, v in kwargs.items())
    return f"loaded with {given or 'defaults (it declares no train_size/test_size)'}"


def _dataset_contents(entry: Entry, loaded: dict) -> str:
    if "data" not in loaded:
        raise Skip("the load check did not load it")
    data, kwargs = loaded["data"], loaded["kwargs"]
    try:
        data.validate(entry.name)
    except DataError as exc:
        raise Fail(str(exc)) from None
    shapes = []
    for split in ("train", "test"):
        x, limit = getattr(data, f"x_{split}"), kwargs.get(f"{split}_size")
        if len(x) == 0 or (limit is not None and len(x) > limit):
            raise Fail(f"{split}_size={limit} gave {len(x)} samples")
        if not torch.isfinite(x).all():
            raise Fail(f"x_{split} has non-finite values")
        shapes.append(f"{split} {tuple(x.shape)}")
    names = data.class_names
    distinct = len(set(names)) == len(names)
    if len(names) < 2 or not all(isinstance(n, str) for n in names) or not distinct:
        raise Fail(f"class_names must be 2+ distinct strings, got {names!r}")
    seen = sorted(set(data.y_train.tolist()) | set(data.y_test.tolist()))
    return f"{', '.join(shapes)} float32, int64 labels {seen} of classes {names}"


# ---------------------------------------------------------------- problems

# dopri5 at rtol 1e-8 reaches ~1e-6 relative on the DETEST problems (float64), at 1e-6 ~1e-5 on
# trained dynamics (float32); a wrong reference is off by far more.
PROBLEM_RTOL = 1e-4


def _problem_make(entry: Entry, made: dict) -> str:
    from .problems import Problem

    problem = entry.obj()
    if not isinstance(problem, Problem):
        raise Fail(f"make returned {type(problem).__name__}, not an odebench.Problem")
    try:
        problem.validate(entry.name)
    except DataError as exc:
        raise Fail(str(exc)) from None
    if not torch.allclose(problem.reference[0], problem.y0.double(), rtol=1e-6, atol=1e-12):
        raise Fail("reference[0] is not y0: the reference must start at the initial value")
    made["problem"] = problem
    stiff = "stiff, " if problem.stiff else ""
    return (f"{stiff}y0 {tuple(problem.y0.shape)} {str(problem.y0.dtype).removeprefix('torch.')}, "
            f"{len(problem.t)} output times on [{float(problem.t[0]):g}, {float(problem.t[-1]):g}]; "
            f"reference: {problem.reference_method or '(method not stated)'}")


def _problem_field(made: dict) -> str:
    if "problem" not in made:
        raise Skip("the make check did not make it")
    problem = made["problem"]
    y = problem.y0.clone()
    with torch.no_grad():
        dy = problem.f(problem.t[0], y)
    if not torch.is_tensor(dy) or dy.shape != y.shape or dy.dtype != y.dtype:
        got = f"{dy.dtype} {tuple(dy.shape)}" if torch.is_tensor(dy) else type(dy).__name__
        raise Fail(f"f(t, y) must return y's shape and dtype {tuple(y.shape)} {y.dtype}, got {got}")
    if not torch.equal(y, problem.y0):
        raise Fail("f(t, y) changed y in place; return a new tensor")
    if not torch.isfinite(dy).all():
        raise Fail("f(t0, y0) is not finite")
    return f"f(t0, y0) finite, shape {tuple(dy.shape)}"


def _problem_reference(made: dict) -> str:
    import torchdiffeq

    from .problems import errors

    if "problem" not in made:
        raise Skip("the make check did not make it")
    problem = made["problem"]
    if problem.stiff:
        raise Skip("stiff: an explicit solver is expected to hit its caps")
    # A tiny atol: a solution decaying to 1e-9 (DETEST A1) is then still solved relatively.
    tol = {"rtol": 1e-8, "atol": 1e-14} if problem.y0.dtype == torch.float64 else {"rtol": 1e-6, "atol": 1e-9}
    with torch.no_grad():
        ys = torchdiffeq.odeint(problem.f, problem.y0, problem.t, method="dopri5",
                                options={"max_num_steps": 100_000}, **tol)
    final, rms = errors(ys, problem.reference)
    setting = f"rtol = {tol['rtol']:g}, atol = {tol['atol']:g}"
    if not (rms <= PROBLEM_RTOL and final <= PROBLEM_RTOL):
        raise Fail(f"dopri5 at {setting} is {rms:.2g} (RMS over t) from the reference, "
                   f"over {PROBLEM_RTOL:g}: the reference or f is wrong")
    return f"dopri5 at {setting} within {rms:.2g} (RMS over t) of the reference"


def problem_checks(entry: Entry) -> list[tuple[str, Callable[[], str]]]:
    made: dict = {}
    return [
        ("make", lambda: _problem_make(entry, made)),
        ("vector field", lambda: _problem_field(made)),
        ("reference", lambda: _problem_reference(made)),
    ]


def dataset_checks(registry: Registry, entry: Entry) -> list[tuple[str, Callable[[], str]]]:
    loaded: dict = {}
    return [
        ("signature", lambda: _signature(entry.obj, 0, "load", need_defaults=False)),
        ("load", lambda: _dataset_load(entry, loaded)),
        ("shapes/labels", lambda: _dataset_contents(entry, loaded)),
    ]


# ---------------------------------------------------------------- selection and the command

KIND_CHECKS = ("models", "solvers", "datasets", "problems")


def select(
    registry: Registry, name: str, plugin_label: str | None = None
) -> tuple[list[Entry], list]:
    """The entries NAME covers (a plugin's, or one model/solver/dataset) and the plugin's load
    failures. Raises OdebenchError with a suggestion for an unknown name."""
    label = plugin_label or name
    entries = [e for kind in KIND_CHECKS for e in registry.of(kind).values()]
    # A file plugin's import failure names its path; its registration failure, its file name.
    failures = [f for f in registry.failures if f.plugin == label
                or (plugin_label and Path(f.plugin).name == plugin_label)]
    mine = [e for e in entries if e.plugin == label]
    others = [e for e in registry.executors.values() if e.plugin == label]
    if mine or failures or others:
        return mine, failures
    single = [e for e in entries if e.name == name]
    if single:
        return single, []
    known = {e.plugin for e in entries} | {e.name for e in entries}
    known |= {f.plugin for f in registry.failures}
    raise OdebenchError(
        f"unknown plugin, model, solver, dataset or problem {name!r}; {suggest(name, known)}")


def run_checks(
    name: str, plugin_files: list[str] | tuple[str, ...] = (), solver: str | None = None
) -> list[Result]:
    """Load the plugins and run every check NAME covers; ``solver`` is the one ODE models are
    built with (default: the model's default solver, else ``any_solver``)."""
    files = list(plugin_files)
    label = None
    path = Path(name)
    if name.endswith(".py") or path.is_file():
        if not path.is_file():
            raise OdebenchError(f"plugin file {name!r} not found")
        files.append(str(path.resolve()))
        label = path.name
    registry = load_registry(files)
    if solver is not None and solver not in registry.solvers:
        raise OdebenchError(f"--solver {solver!r}: unknown solver; {suggest(solver, registry.solvers)}")
    entries, failures = select(registry, name, label)
    results = [Result("load", f"plugin {f.plugin}", "fail", f.error) for f in failures]
    for entry in entries:
        kind = entry.kind[:-1]
        if entry.kind == "solvers":
            checks = solver_checks(entry)
        elif entry.kind == "models":
            checks = model_checks(registry, entry, solver)
        elif entry.kind == "problems":
            checks = problem_checks(entry)
        else:
            checks = dataset_checks(registry, entry)
        results += [_run(check, f"{kind} {entry.name}", fn) for check, fn in checks]
    if not results:
        results.append(Result("load", f"plugin {name}", "skipped",
                              "registers only executors, which have no conformance checks"))
    return results


def cmd_check(args) -> int:
    from tabulate import tabulate

    results = run_checks(args.name, plugin_files_in(args.plugins_dir or []), args.solver)
    rows = [[r.check, r.target, r.result, r.reason] for r in results]
    print(tabulate(rows, headers=["check", "target", "result", "reason"], tablefmt="github"))
    count = {k: sum(r.result == k for r in results) for k in ("pass", "fail", "skipped")}
    print(f"\nchecks: {count['pass']} pass, {count['fail']} fail, {count['skipped']} skipped")
    return 1 if count["fail"] else 0


__all__ = ["Result", "cmd_check", "run_checks", "select"]
