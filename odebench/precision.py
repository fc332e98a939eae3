"""``odebench precision --suite NAME``: work-precision diagrams of a suite's trained ODE models.

For every done run with saved weights (see ``weights.py``) whose model has the solver-swap
hook ``odebench_ode`` (hookspecs.py): its model is rebuilt from the stored config and weights
and a fixed test batch (a stratified subsample, seed 0) is solved by every registered solver,
adaptive ones (taking ``rtol``) over a range of tolerances (rtol = atol), fixed-grid ones
(taking ``steps``) over 1, 2, 4, ... steps. Each solve's error is the mean over the batch of
``||z - z_ref|| / ||z_ref||`` of the ODE's final state against a float64 reference at a tight
tolerance; its work is the function evaluations (NFE, counted by odebench) and the wall time.
A solver that fails or is unsupported is skipped with a note; a solve past its caps ends that
solver's sweep (tighter settings would cost more). A run whose dataset, model or solver came from
a loose plugin file (a suite's ``plugins:``) needs that file again: ``--plugins suite.yaml`` (or
the ``*.py``); without it the run is skipped with a line saying so.

Writes ``precision.csv`` (every point) and ``precision_<run key>.png`` (error vs NFE and vs
time, log-log, one line per solver) into ``<results>/<suite>/``. Timings measured on a busy
machine are noisy; NFE and error are not.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .types import OdebenchError

if TYPE_CHECKING:
    import torch

    from .plugins import Registry

TOLERANCES = [10.0 ** -k for k in range(1, 8)]  # 1e-1 .. 1e-7
FIELDS = ["suite", "run_key", "run", "seed", "solver", "kind", "setting", "tolerance", "steps",
          "nfe", "seconds", "error", "status", "note"]


def _sync(device: torch.device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _settings(kind: str, tolerances: list[float], max_steps: int) -> list[dict[str, Any]]:
    if kind == "adaptive":
        return [{"rtol": t, "atol": t} for t in tolerances]
    steps, out = 1, []
    while steps <= max_steps:
        out.append({"steps": steps})
        steps *= 2
    return out


def _setting_label(setting: dict[str, Any]) -> str:
    return f"rtol=atol={setting['rtol']:g}" if "rtol" in setting else f"steps={setting['steps']}"


class Sweep:
    """The solves of one run's model: a float64 reference, then every solver's settings."""

    def __init__(self, model: torch.nn.Module, x: torch.Tensor, device: torch.device, max_nfe: int,
                 max_seconds: float):
        self.model, self.x, self.device = model, x, device
        self.max_nfe, self.max_seconds = max_nfe, max_seconds
        self.reference: torch.Tensor | None = None

    def solve(self, registry: Registry, spec: dict[str, Any], model=None, x=None) -> tuple[torch.Tensor, int, float]:
        """The final state of a capped solve, its NFE and its seconds."""
        import torch

        from .binding import bind_solver
        from .validity import Budget, NotConverged, capped

        budget = Budget(self.max_nfe, time.monotonic() + self.max_seconds, self.max_seconds)
        solver = capped(bind_solver(registry, spec), budget)
        model = self.model if model is None else model
        x = self.x if x is None else x
        with torch.no_grad(), warnings.catch_warnings():
            # e.g. implicit_adams' "Functional iteration did not converge": the error shows it.
            warnings.simplefilter("ignore")
            _sync(self.device)
            start = time.perf_counter()
            _, state = model.odebench_ode(x, solver)
            _sync(self.device)
            seconds = time.perf_counter() - start
        if not torch.isfinite(state).all():
            raise NotConverged("the state became non-finite")
        return state, budget.nfe, seconds

    def solve_reference(self, registry: Registry, name: str, tolerance: float) -> None:
        import copy

        from .params import param_types

        accepted, _ = param_types(registry.solvers[name].obj, skip=3)
        spec = {"name": name, **{k: tolerance for k in ("rtol", "atol") if k in accepted}}
        model64 = copy.deepcopy(self.model).double()
        self.reference, _, _ = self.solve(registry, spec, model64, self.x.double())


def sweep_run(run: dict[str, Any], model: torch.nn.Module, x: torch.Tensor, registry: Registry,
              solvers: list[str], args: argparse.Namespace, device: torch.device) -> list[dict[str, Any]]:
    """Every point of one run's work-precision diagram (see the module docstring)."""
    from .report.labels import label_fields, run_label
    from .validity import converging_failure, relative_errors, solver_kind

    sweep = Sweep(model, x, device, args.max_nfe, args.max_seconds)
    sweep.solve_reference(registry, args.reference, args.reference_tol)
    base = {"suite": run["suite"], "run_key": run["run_key"], "run": run_label(label_fields(run["config"])),
            "seed": run["config"]["seed"]}
    rows: list[dict[str, Any]] = []
    for name in solvers:
        kind = solver_kind(registry.solvers[name].obj)
        if kind is None:
            rows.append({**base, "solver": name, "status": "skipped",
                         "note": "takes neither rtol nor steps: no sweep"})
            continue
        settings = _settings(kind, args.tolerances, args.max_steps)
        try:  # warm-up (allocations, first-call overheads), not recorded
            sweep.solve(registry, {"name": name, **settings[0]})
        except Exception as exc:  # noqa: BLE001 - an unsupported solver is a note
            rows.append({**base, "solver": name, "kind": kind, "status": "skipped",
                         "note": _one_line(exc)})
            continue
        for setting in settings:
            point = {**base, "solver": name, "kind": kind, "setting": _setting_label(setting),
                     "tolerance": setting.get("rtol"), "steps": setting.get("steps")}
            try:
                state, nfe, seconds = sweep.solve(registry, {"name": name, **setting})
            except Exception as exc:  # noqa: BLE001 - a failed solve ends this solver's sweep
                status = "did not converge" if converging_failure(exc) else "failed"
                rows.append({**point, "status": status, "note": _one_line(exc)})
                break
            error = float(relative_errors(state, sweep.reference).mean())
            rows.append({**point, "nfe": nfe, "seconds": seconds, "error": error, "status": "ok", "note": ""})
    return rows


def unregistered(run: dict[str, Any], registry: Registry) -> str | None:
    """Why a stored run cannot be rebuilt with ``registry``: the first of its dataset, model,
    solver and eval solver that no loaded plugin registers, and where to get it (the loose
    plugin files the run loaded, from its machine record); None when all are registered."""
    config = run["config"]
    wanted = [("dataset", "datasets", (config.get("dataset") or {}).get("name")),
              ("model", "models", config.get("model"))]
    wanted += [(kind.replace("_", " "), "solvers", (config.get(kind) or {}).get("name"))
               for kind in ("solver", "eval_solver")]
    for what, kind, name in wanted:
        if name is None or name in registry.of(kind):
            continue
        recorded = ((run.get("machine") or {}).get("plugins")) or {}
        files = [label for label, version in recorded.items() if str(version).startswith("file ")]
        if files:
            where = (f"pass --plugins with the suite YAML or its plugin file ({', '.join(files)}, "
                     "loaded by the run)")
        else:
            where = "install the plugin that registers it, or pass --plugins with its *.py file or the suite YAML"
        return f"{what} {name!r} is not registered; {where}"
    return None


def _one_line(exc: BaseException) -> str:
    from .types import one_line

    return one_line(exc)


def plot(rows: list[dict[str, Any]], title: str, path: Path) -> Path | None:
    """Error vs NFE and vs wall time, log-log, one line per solver."""
    points = [r for r in rows if r.get("status") == "ok" and r["error"] > 0]
    if not points:
        return None
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    solvers = list(dict.fromkeys(r["solver"] for r in points))
    cmap = matplotlib.colormaps["tab10" if len(solvers) <= 10 else "tab20"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    for i, name in enumerate(solvers):
        mine = [r for r in points if r["solver"] == name]
        style = "-" if mine[0]["kind"] == "adaptive" else "--"
        for ax, x in zip(axes, ("nfe", "seconds")):
            ax.plot([r[x] for r in mine], [r["error"] for r in mine], style, marker="o", markersize=3,
                    color=cmap(i % cmap.N), label=name)
    for ax, xlabel in zip(axes, ("function evaluations (NFE)", "wall time of the solve (s)")):
        ax.set(xscale="log", yscale="log", xlabel=xlabel,
               ylabel="relative error of the ODE output vs float64 reference")
        ax.grid(alpha=0.3, which="both")
    axes[0].set_title("Error vs NFE (solid: adaptive over tolerances, dashed: fixed steps)", fontsize=9)
    axes[1].set_title("Error vs wall time", fontsize=9)
    axes[1].legend(fontsize=8, loc="best")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def cmd_precision(args: argparse.Namespace) -> int:
    import torch

    from .bench import load_plugins
    from .binding import load_dataset, stratified_subsample
    from .report import safe_name
    from .report.labels import label_fields, run_label
    from .store import Store
    from .types import DataError
    from .validity import is_ode
    from .weights import rebuild

    store = Store(args.results)
    runs = store.latest(args.suite)
    if not runs:
        raise OdebenchError(f"no runs of suite {args.suite!r} in {store.path}; "
                            f"known: {', '.join(store.suites()) or 'none'}")
    if args.run:
        runs = [r for r in runs if any(r["run_key"].startswith(k) for k in args.run)]
        if not runs:
            raise OdebenchError(f"--run {' '.join(args.run)}: no run of suite {args.suite!r} has such a key")
    registry = load_plugins(args)
    if args.reference not in registry.solvers:
        raise OdebenchError(f"--reference {args.reference!r}: not a registered solver; see odebench plugins")
    solvers = args.solver or sorted(registry.solvers)
    unknown = [s for s in solvers if s not in registry.solvers]
    if unknown:
        raise OdebenchError(f"--solver {unknown[0]!r}: not a registered solver; see odebench plugins")
    device = torch.device(args.device)
    out = Path(args.out or args.results) / safe_name(args.suite)
    out.mkdir(parents=True, exist_ok=True)
    datasets: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    written: list[Path] = []
    unloaded = 0  # runs skipped for a plugin that is not loaded
    for run in runs:
        label = f"{run_label(label_fields(run['config']))} seed={run['config']['seed']} ({run['run_key']})"
        if run["status"] != "done" or not run["metrics"].get("weights_path"):
            print(f"skipped {label}: {'no saved weights' if run['status'] == 'done' else run['status']}",
                  file=sys.stderr)
            continue
        missing = unregistered(run, registry)
        if missing:
            print(f"skipped {label}: {missing}", file=sys.stderr)
            unloaded += 1
            continue
        key = repr(sorted(run["config"]["dataset"].items()))
        try:
            if key not in datasets:
                datasets[key] = load_dataset(registry, run["config"]["dataset"])
        except DataError as exc:
            print(f"skipped {label}: {exc}", file=sys.stderr)
            continue
        data = datasets[key]
        model = rebuild(registry, run, data, args.results).to(device)
        if not is_ode(model):
            print(f"skipped {label}: not an ODE model (no odebench_ode)", file=sys.stderr)
            continue
        idx = stratified_subsample(data.y_test, args.batch, 0)
        x = (data.x_test if idx is None else data.x_test[idx]).to(device)
        try:
            points = sweep_run(run, model, x, registry, solvers, args, device)
        except Exception as exc:  # noqa: BLE001 - the reference failed: nothing to measure against
            print(f"skipped {label}: the reference {args.reference} at {args.reference_tol:g} did not "
                  f"solve: {_one_line(exc)}", file=sys.stderr)
            continue
        rows += points
        path = plot(points, f"Work-precision: {label}", out / f"precision_{run['run_key']}.png")
        if path is not None:
            written.append(path)
        for r in points:
            if r["status"] != "ok":
                print(f"{label}: {r['solver']} {r.get('setting') or ''}: {r['status']}: {r['note']}",
                      file=sys.stderr)
    if not rows and unloaded:
        raise OdebenchError(f"suite {args.suite!r}: nothing measured; {unloaded} run(s) need a plugin that is "
                            "not loaded (see above): pass --plugins with the suite YAML")
    if not rows:
        raise OdebenchError(f"suite {args.suite!r} has no done ODE run with saved weights to measure")
    csv_path = out / "precision.csv"
    with open(csv_path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, FIELDS)
        writer.writeheader()
        for r in rows:
            writer.writerow({k: ("" if r.get(k) is None or (isinstance(r.get(k), float) and math.isnan(r[k]))
                                 else r[k]) for k in FIELDS})
    written.insert(0, csv_path)
    print(f"{args.suite}: wrote {len(written)} files to {out}/: {', '.join(p.name for p in written)}")
    return 0


def _tolerances(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected tolerances like 1e-1,1e-3,1e-5, got {text!r}") from None
    if not values or any(not 0 < v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"tolerances must lie between 0 and 1, got {text!r}")
    return values


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "precision", help="work-precision diagrams (error vs NFE and time, every solver) of a "
        "suite's trained ODE models; writes precision.csv and PNGs into <results>/<suite>/",
        description=__doc__.split("\n\n")[1] if __doc__ else None)
    p.add_argument("--suite", required=True, help="the suite whose done runs (with saved weights) to measure")
    p.add_argument("--results", default="results", help="results directory (default: results)")
    p.add_argument("--out", metavar="DIR", help="write into DIR/<suite>/ (default: the results directory)")
    p.add_argument("--batch", type=int, default=32, help="test samples solved (default 32)")
    p.add_argument("--run", action="append", metavar="KEY", help="only runs whose key starts with KEY")
    p.add_argument("--solver", action="append", metavar="NAME", help="only this solver (default: all registered)")
    # Not dopri8: on the ECG Neural ODE (ReLU dynamics, not smooth) torchdiffeq's dopri8 needed
    # ~10x dopri5's evaluations for the same tolerance.
    p.add_argument("--reference", default="dopri5", help="reference solver, run in float64 (default dopri5)")
    p.add_argument("--reference-tol", type=float, default=1e-9,
                   help="its rtol = atol (default 1e-9)")
    p.add_argument("--tolerances", type=_tolerances, default=TOLERANCES,
                   help="adaptive solvers' rtol = atol values, comma-separated (default 1e-1,...,1e-7)")
    p.add_argument("--max-steps", type=int, default=64, help="fixed-grid solvers: 1, 2, 4, ... up to this")
    p.add_argument("--max-nfe", type=int, default=20_000, help="cap on one solve's function evaluations")
    p.add_argument("--max-seconds", type=float, default=120.0, help="cap on one solve's seconds")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--plugins", action="append", metavar="FILE",
                   help="load a plugin *.py file, or the plugins: of a suite YAML (repeatable): what the "
                   "suite's runs were built with")
    p.add_argument("--plugins-dir", action="append", metavar="DIR", help="load *.py plugins from DIR")
    p.set_defaults(func=cmd_precision)


__all__ = ["add_commands", "plot", "sweep_run"]
