"""``odebench bench``: how good is a solver? Work-precision against ground truth, and the
solver's own overhead.

Every selected solver (default: every registered one, third-party and ``--plugins`` files
included) solves every selected problem (``register_problems`` plugins; ``--tier quick`` by
default) over a ladder of settings: adaptive solvers (taking ``rtol``) at rtol = atol =
1e-2 ... 1e-8, fixed-grid ones (taking ``steps``) at 1, 4, 16, ... steps. Each setting is
solved ``--repeats`` times after one untimed warm-up. Per solve:

- the norm-wise relative error ``||y - y_ref|| / ||y_ref||`` at the final time and its RMS over
  the output times, against the problem's float64 reference;
- NFE, accepted and rejected steps (where the solver reports them);
- wall time (minimum and median over the repeats; CUDA synchronised);
- **loop time**: the wall time minus the time spent inside ``f`` (``timing.py``), i.e. the
  solver's own work, as a share of the wall time and per step.

Problems whose ``f`` is trainable (the trained Neural-ODE dynamics) are also solved with a
backward pass (``backprop``, and ``adjoint`` where the solver registered one): the loss is a
fixed random projection of the final state; the backward pass's time, NFE and loop time are
recorded beside the forward's.

A sweep stops at the first setting past its caps (``--max-nfe`` evaluations, ``--max-seconds``
per solve; status ``cap``) or at an error (``failed``). A solver that diverges (non-finite
state, step-size underflow) goes on to the next setting: torchdiffeq's fehlberg2 underflows at
rtol 1e-2 where it solves at 1e-4. Bad input (unknown problem or solver, a tolerance that is not a
number in (0, 1), a problem whose reference cannot be had) is one line, exit 2, before any
solve, and nothing is written.

Writes into ``--out`` (default ``results/solver-bench``): ``bench.csv`` (every setting),
``solvers.csv`` and ``summary.md`` (per solver: time to reach a 1e-3 and a 1e-6 error relative
to dopri5, geometric mean over the problems both reached; problems capped and failed;
loop-time share on the trained Neural-ODE problems), ``wp_<problem>.png`` (error vs time and vs
NFE) and ``wp_summary.png``.
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .types import OdebenchError

if TYPE_CHECKING:
    import torch

    from .plugins import Registry
    from .problems import Problem

TOLERANCES = [10.0 ** -k for k in range(2, 9)]  # 1e-2 .. 1e-8
STEPS = [1, 4, 16, 64, 256, 1024, 4096]
# The caps on one solve, by tier: the quick tier stays near two minutes for every installed
# solver on a 2-core CPU; the full one lets the sweeps go further.
CAPS = {"quick": {"max_nfe": 1_500, "max_seconds": 0.2}, "full": {"max_nfe": 20_000, "max_seconds": 5.0}}
TARGETS = (1e-3, 1e-6)
# Tolerances under 10 x the machine epsilon of the problem's dtype are not asked for (float32:
# rtol < 1.2e-6): the solver cannot meet them, it only underflows its step size.
EPS_FACTOR = 10.0
BASELINE = "dopri5"
MODES = ("forward", "backprop", "adjoint")
OK, CAP, DIVERGED, FAILED, SKIPPED = "ok", "cap", "diverged", "failed", "skipped"
FIELDS = [
    "problem", "tier", "stiff", "solver", "kind", "mode", "setting", "rtol", "steps", "status", "reason",
    "error_final", "error_rms", "nfe", "steps_accepted", "steps_rejected", "seconds_min", "seconds_median",
    "loop_seconds", "loop_share", "loop_ms_per_step", "loop_us_per_nfe",
    "nfe_backward", "backward_seconds_median", "backward_loop_seconds", "backward_loop_share",
    "repeats", "device", "threads", "dtype", "solver_plugin", "code_version", "cpu", "torch",
]


# ---------------------------------------------------------------- one solve

def _sync(device: torch.device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def solve_once(problem: Problem, solver, mode: str, device: torch.device, max_nfe: int,
               max_seconds: float, weights: torch.Tensor | None = None) -> dict[str, Any]:
    """One timed solve (and backward pass, for ``backprop``/``adjoint``): the solution and its
    measurements. Raises what the solver raises, ``CapReached`` past the caps."""
    import torch

    from .timing import Clocked

    clock = Clocked(problem.f, backward=mode != "forward", sync=device.type == "cuda",
                    max_nfe=max_nfe, deadline=time.perf_counter() + max_seconds)
    y0, t = problem.y0, problem.t
    _sync(device)
    start = time.perf_counter()
    if mode == "forward":
        with torch.no_grad():
            ys = solver(clock, y0, t)
    elif mode == "backprop":
        ys = solver(clock, y0, t)
    else:
        ys = solver.adjoint(clock, y0, t, adjoint_params=tuple(problem.f.parameters()))
    _sync(device)
    seconds = time.perf_counter() - start
    out = {"ys": ys.detach(), "seconds": seconds, "inside": clock.inside, "nfe": clock.nfe,
           "steps_accepted": int(clock.counters["steps_accepted"]),
           "steps_rejected": int(clock.counters["steps_rejected"])}
    if mode != "forward":
        if not torch.isfinite(ys).all():
            return out  # the caller reports it diverged; no backward through NaNs
        problem.f.zero_grad(set_to_none=True)
        loss = (ys[-1] * weights).sum()
        inside, nfe = clock.inside, clock.nfe
        _sync(device)
        start = time.perf_counter()
        loss.backward()
        _sync(device)
        out.update(backward_seconds=time.perf_counter() - start, backward_inside=clock.inside - inside,
                   nfe_backward=clock.nfe - nfe)
    return out


def classify(exc: BaseException) -> str:
    """A failed solve's status: past its caps, diverged (the solver could not go on), or failed."""
    from .timing import CapReached
    from .types import DIVERGED_MESSAGES, Diverged

    if isinstance(exc, CapReached):
        return CAP
    if isinstance(exc, Diverged) or any(m in str(exc) for m in DIVERGED_MESSAGES):
        return DIVERGED
    return FAILED


def measure(problem: Problem, solver, mode: str, device: torch.device, args: argparse.Namespace,
            weights: torch.Tensor | None) -> dict[str, Any]:
    """One setting: ``repeats`` solves; the row's measured columns and status."""
    import torch

    from .problems import errors
    from .types import one_line

    runs = []
    for _ in range(args.repeats):
        try:
            runs.append(solve_once(problem, solver, mode, device, args.max_nfe, args.max_seconds, weights))
        except Exception as exc:  # noqa: BLE001 - a solver's failure is a row
            return {"status": classify(exc), "reason": one_line(exc)}
        if not torch.isfinite(runs[-1]["ys"]).all():
            return {"status": DIVERGED, "reason": "the solution became non-finite",
                    "nfe": runs[-1]["nfe"]}
    first = runs[0]
    error_final, error_rms = errors(first["ys"], problem.reference)
    seconds = [r["seconds"] for r in runs]
    loops = [r["seconds"] - r["inside"] for r in runs]
    loop = statistics.median(loops)
    median = statistics.median(seconds)
    steps = first["steps_accepted"] + first["steps_rejected"]
    row = {"status": OK, "reason": "", "error_final": error_final, "error_rms": error_rms, "nfe": first["nfe"],
           "steps_accepted": first["steps_accepted"] or None, "steps_rejected": first["steps_rejected"]
           if first["steps_accepted"] else None, "seconds_min": min(seconds), "seconds_median": median,
           "loop_seconds": loop, "loop_share": loop / median if median > 0 else None,
           "loop_ms_per_step": 1e3 * loop / steps if steps else None,
           "loop_us_per_nfe": 1e6 * loop / first["nfe"] if first["nfe"] else None, "repeats": len(runs)}
    if mode != "forward":
        backward = statistics.median(r["backward_seconds"] for r in runs)
        backward_loop = statistics.median(r["backward_seconds"] - r["backward_inside"] for r in runs)
        row.update(nfe_backward=first["nfe_backward"], backward_seconds_median=backward,
                   backward_loop_seconds=backward_loop,
                   backward_loop_share=backward_loop / backward if backward > 0 else None)
    return row


# ---------------------------------------------------------------- sweeps

def ladder(kind: str, args: argparse.Namespace, problem: Problem) -> list[dict[str, Any]]:
    if kind == "adaptive":
        return [{"rtol": tol, "atol": tol} for tol in args.tolerances]
    return [{"steps": n} for n in (args.steps or problem.steps or STEPS)]


def setting_label(setting: dict[str, Any]) -> str:
    return f"rtol=atol={setting['rtol']:g}" if "rtol" in setting else f"steps={setting['steps']}"


def sweep(problem: Problem, name: str, registry: Registry, mode: str, device: torch.device,
          args: argparse.Namespace, base: dict[str, Any]) -> list[dict[str, Any]]:
    """Every setting of one solver on one problem in one mode, until a cap or a failure."""
    import torch

    from .binding import bind_solver
    from .validity import solver_kind

    kind = solver_kind(registry.solvers[name].obj)
    base = {**base, "solver": name, "kind": kind, "mode": mode,
            "solver_plugin": registry.solvers[name].plugin}
    if kind is None:
        return [{**base, "status": SKIPPED, "reason": "takes neither rtol nor steps: no ladder to sweep"}]
    if mode == "adjoint" and registry.solvers[name].extra.get("adjoint") is None:
        return [{**base, "status": SKIPPED, "reason": "registered no adjoint"}]
    weights = None
    if mode != "forward":
        generator = torch.Generator().manual_seed(0)
        weights = torch.randn(problem.y0.shape, generator=generator, dtype=torch.float64)
        weights = (weights / weights.norm()).to(problem.y0)
    settings = ladder(kind, args, problem)
    floor = EPS_FACTOR * torch.finfo(problem.y0.dtype).eps
    below = [s for s in settings if s.get("rtol", 1.0) < floor]
    settings = [s for s in settings if s not in below]
    unasked = [{**base, "setting": setting_label(s), "rtol": s["rtol"], "status": SKIPPED,
                "reason": f"rtol below {EPS_FACTOR:g} x the machine epsilon of {problem.y0.dtype}"} for s in below]
    if not settings:
        return unasked
    rows: list[dict[str, Any]] = []
    try:  # warm-up: first-call costs (allocation, lazy imports), not recorded
        solve_once(problem, bind_solver(registry, {"name": name, **settings[0]}), mode, device,
                   args.max_nfe, args.max_seconds, weights)
    except Exception as exc:  # noqa: BLE001 - the measured solve reports it
        # Past its evaluation cap at the cheapest setting (deterministic, unlike a time cap that a
        # first call's overheads may hit): the row says so without hitting the cap again.
        if classify(exc) == CAP and "function evaluations" in str(exc):
            from .types import one_line

            first = settings[0]
            return [{**base, "setting": setting_label(first), "rtol": first.get("rtol"), "steps": first.get("steps"),
                     "status": CAP, "reason": one_line(exc)}, *unasked]
    for setting in settings:
        solver = bind_solver(registry, {"name": name, **setting})
        row = {**base, "setting": setting_label(setting), "rtol": setting.get("rtol"),
               "steps": setting.get("steps"), **measure(problem, solver, mode, device, args, weights)}
        rows.append(row)
        if row["status"] in (CAP, FAILED):
            break
    return rows + unasked


# ---------------------------------------------------------------- summaries

def time_to(rows: list[dict[str, Any]], target: float) -> float | None:
    """The median wall time of the cheapest setting whose final error is at most ``target``."""
    times = [r["seconds_median"] for r in rows if r["status"] == OK and r["error_final"] <= target]
    return min(times) if times else None


def _geomean(values: list[float]) -> float | None:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


def summarise(rows: list[dict[str, Any]], solvers: list[str]) -> list[dict[str, Any]]:
    """Per solver: time to each target relative to dopri5 (geometric mean over the problems
    both reached), how many problems it reached each target on, on how many its sweep stopped
    at a cap (``capped``), on how many it solved nothing (``failed``: every setting diverged,
    failed or hit a cap), and the loop-time share on the trainable problems."""
    forward = [r for r in rows if r["mode"] == "forward"]
    problems = list(dict.fromkeys(r["problem"] for r in forward))
    trainable = list(dict.fromkeys(r["problem"] for r in rows if r["mode"] != "forward"))

    def mine(solver: str, problem: str, mode: str = "forward") -> list[dict[str, Any]]:
        return [r for r in rows if r["solver"] == solver and r["problem"] == problem and r["mode"] == mode]

    out = []
    for solver in solvers:
        summary: dict[str, Any] = {"solver": solver, "problems": 0}
        for target in TARGETS:
            ratios, reached = [], 0
            for problem in problems:
                own = time_to(mine(solver, problem), target)
                reached += own is not None
                base = time_to(mine(BASELINE, problem), target)
                if own is not None and base is not None and base > 0:
                    ratios.append(own / base)
            summary[f"time_to_{target:g}_vs_{BASELINE}"] = _geomean(ratios)
            summary[f"problems_compared_{target:g}"] = len(ratios)
            summary[f"reached_{target:g}"] = reached
        summary["capped"] = summary["failed"] = 0
        for problem in problems:
            own = [r for r in mine(solver, problem) if r["status"] != SKIPPED]
            if own:
                summary["problems"] += 1
                summary["capped"] += any(r["status"] == CAP for r in own)
                summary["failed"] += not any(r["status"] == OK for r in own)
        for problem in trainable:
            ok = [r for r in mine(solver, problem) if r["status"] == OK]
            summary[f"loop_share_{problem}"] = statistics.median(r["loop_share"] for r in ok) if ok else None
            back = [r for r in mine(solver, problem, "backprop") if r["status"] == OK]
            summary[f"backward_loop_share_{problem}"] = (
                statistics.median(r["backward_loop_share"] for r in back) if back else None)
        out.append(summary)
    return out


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def summary_table(summaries: list[dict[str, Any]], fmt: str = "github") -> str:
    from tabulate import tabulate

    if not summaries:
        return ""
    keys = [k for k in summaries[0] if k != "solver"]
    headers = ["solver", *(k.replace("_", " ") for k in keys)]
    body = [[s["solver"], *(_fmt(s[k]) for k in keys)] for s in summaries]
    return tabulate(body, headers=headers, tablefmt=fmt, disable_numparse=True)


# ---------------------------------------------------------------- plots

def plot_problem(rows: list[dict[str, Any]], problem: str, path: Path) -> Path | None:
    """Final error vs median wall time and vs NFE, log-log, one line per solver (forward)."""
    points = [r for r in rows if r["problem"] == problem and r["mode"] == "forward" and r["status"] == OK
              and r["error_final"] > 0]
    if not points:
        return None
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    solvers = list(dict.fromkeys(r["solver"] for r in points))
    cmap = matplotlib.colormaps["tab10" if len(solvers) <= 10 else "tab20"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    for i, name in enumerate(solvers):
        mine = [r for r in points if r["solver"] == name]
        style = "-" if mine[0]["kind"] == "adaptive" else "--"
        for ax, x in zip(axes, ("seconds_median", "nfe")):
            ax.plot([r[x] for r in mine], [r["error_final"] for r in mine], style, marker="o", markersize=3,
                    color=cmap(i % cmap.N), label=name)
    for ax, xlabel in zip(axes, ("wall time of a solve (s, median)", "function evaluations (NFE)")):
        ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel="relative error at the final time")
        ax.grid(alpha=0.3, which="both")
    axes[1].legend(fontsize=7, loc="best")
    fig.suptitle(f"{problem}: work-precision (solid: adaptive over rtol = atol, dashed: fixed steps)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def plot_summary(summaries: list[dict[str, Any]], path: Path) -> Path | None:
    """Per solver: time to reach 1e-3 and 1e-6 relative to dopri5 (log scale)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    names = [s["solver"] for s in summaries]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * len(names) + 2), 4.2))
    width = 0.4
    drawn = False
    for j, target in enumerate(TARGETS):
        values = [s[f"time_to_{target:g}_vs_{BASELINE}"] for s in summaries]
        xs = [i + (j - 0.5) * width for i, v in enumerate(values) if v]
        if xs:
            drawn = True
            ax.bar(xs, [v for v in values if v], width, label=f"error ≤ {target:g}")
    if not drawn:
        plt.close(fig)
        return None
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_yscale("log")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel(f"time to reach the error, / {BASELINE}'s\n(geometric mean over the problems both reached)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y", which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


# ---------------------------------------------------------------- the command

def plugin_files(paths: list[str]) -> list[str]:
    """``--plugins`` paths as plugin files: a ``*.py`` file, or a suite YAML whose ``plugins:``
    it names (relative to the suite file)."""
    import yaml

    files: list[str] = []
    for item in paths:
        path = Path(item)
        if not path.is_file():
            raise OdebenchError(f"--plugins {item!r}: no such file; pass a plugin *.py file or a suite YAML")
        if path.suffix in (".yaml", ".yml"):
            try:
                data = yaml.safe_load(path.read_text()) or {}
            except yaml.YAMLError as exc:
                raise OdebenchError(f"--plugins {item!r}: not valid YAML ({str(exc).splitlines()[0]})") from None
            named = data.get("plugins", []) if isinstance(data, dict) else []
            for entry in named if isinstance(named, list) else [named]:
                file = (path.parent / str(entry)).resolve()
                if not file.is_file():
                    raise OdebenchError(f"--plugins {item!r}: its plugin {entry!r} not found "
                                        "(paths are relative to the suite file)")
                files.append(str(file))
        else:
            files.append(str(path.resolve()))
    return files


def load_plugins(args: argparse.Namespace) -> Registry:
    """The registry with ``--plugins`` and ``--plugins-dir`` files; a named file that fails to
    load is an error (a silently missing solver is worse)."""
    from .plugins import load_registry, plugin_files_in

    files = plugin_files_in(args.plugins_dir or []) + plugin_files(args.plugins or [])
    registry = load_registry(files)
    for failure in registry.failures:
        if failure.plugin in files:
            raise OdebenchError(f"plugin file {failure.plugin!r} failed to load: {failure.error}")
    return registry


def select(registry: Registry, args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """The problems and solvers to run; unknown names are one-line errors."""
    from .params import suggest

    for name in args.problem or []:
        if name not in registry.problems:
            raise OdebenchError(f"--problem {name!r}: unknown problem; {suggest(name, registry.problems)}")
    for name in args.solver or []:
        if name not in registry.solvers:
            raise OdebenchError(f"--solver {name!r}: unknown solver; {suggest(name, registry.solvers)}")
    if args.problem:
        problems = list(dict.fromkeys(args.problem))
    else:
        problems = [n for n, e in registry.problems.items()
                    if args.tier == "full" or e.extra.get("tier", "full") == "quick"]
    if not problems:
        raise OdebenchError(f"no {args.tier} problems registered; see odebench plugins (problems)")
    solvers = list(dict.fromkeys(args.solver)) if args.solver else sorted(registry.solvers)
    return problems, solvers


def make_problems(registry: Registry, names: list[str], device: torch.device) -> dict[str, Problem]:
    """Every problem built, checked and moved to ``device`` before any solve."""
    import torch

    from .problems import Problem
    from .types import one_line

    out = {}
    for name in names:
        try:
            problem = registry.problems[name].obj()
        except OdebenchError as exc:
            raise OdebenchError(f"problem {name!r}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - a plugin's failure, in one line
            raise OdebenchError(f"problem {name!r} could not be made (its reference or data): "
                                f"{one_line(exc)}") from None
        if not isinstance(problem, Problem):
            raise OdebenchError(f"problem {name!r}: make() returned {type(problem).__name__}, not an odebench.Problem")
        problem.validate(name)
        problem.y0, problem.t = problem.y0.to(device), problem.t.to(device)
        problem.reference = problem.reference.to(device)
        if isinstance(problem.f, torch.nn.Module):
            problem.f.to(device)
        out[name] = problem
    return out


def run_bench(args: argparse.Namespace, registry: Registry | None = None) -> tuple[list[dict], list[dict]]:
    """Every row of the benchmark and the per-solver summaries (nothing written)."""
    import torch

    from .machine import _cpu_model, code_version

    registry = registry or load_plugins(args)
    for key, value in CAPS[args.tier].items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    problem_names, solvers = select(registry, args)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise OdebenchError("--device cuda: no CUDA device here; use --device cpu")
    problems = make_problems(registry, problem_names, device)
    torch.set_num_threads(args.threads)
    common = {"device": str(device), "threads": args.threads, "code_version": code_version(),
              "cpu": _cpu_model(), "torch": torch.__version__}
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    for name, problem in problems.items():
        entry = registry.problems[name]
        base = {**common, "problem": name, "tier": entry.extra.get("tier", "full"), "stiff": problem.stiff,
                "dtype": str(problem.y0.dtype).removeprefix("torch.")}
        modes = [m for m in args.modes if m == "forward" or problem.trainable]
        for solver in solvers:
            for mode in modes:
                mine = sweep(problem, solver, registry, mode, device, args, base)
                rows += mine
                if not args.quiet:
                    _progress(mine, time.monotonic() - started)
    return rows, summarise(rows, solvers)


def _progress(rows: list[dict[str, Any]], elapsed: float) -> None:
    first = rows[0]
    ok = [r for r in rows if r["status"] == OK]
    best = min((r["error_final"] for r in ok), default=None)
    end = rows[-1]
    tail = "" if end["status"] == OK else f"; {end['status']} at {end.get('setting') or '-'}: {end['reason']}"
    print(f"[{elapsed:6.1f}s] {first['problem']} · {first['solver']} · {first['mode']}: {len(ok)} settings, "
          f"best error {_fmt(best)}{tail}", file=sys.stderr)


def write(rows: list[dict[str, Any]], summaries: list[dict[str, Any]], out: Path, command: str,
          elapsed: float | None = None) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with open(out / "bench.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows({k: ("" if r.get(k) is None else r[k]) for k in FIELDS} for r in rows)
    written.append(out / "bench.csv")
    if summaries:
        with open(out / "solvers.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, list(summaries[0]))
            writer.writeheader()
            writer.writerows({k: ("" if v is None else v) for k, v in s.items()} for s in summaries)
        written.append(out / "solvers.csv")
    first = rows[0] if rows else {}
    problems = list(dict.fromkeys(r["problem"] for r in rows))
    took = "" if elapsed is None else f"; the whole benchmark took {elapsed:.0f} s"
    repeats = max((r.get("repeats") or 0 for r in rows), default=0) or "-"
    text = [
        "# Solver benchmark", "",
        f"`{command}`", "",
        f"{len(problems)} problems, {len({r['solver'] for r in rows})} solvers, code {first.get('code_version')}, "
        f"{first.get('cpu')}, torch {first.get('torch')}, {first.get('device')}, "
        f"{first.get('threads')} thread(s){took}. Times are medians of {repeats} repeats after a warm-up;"
        " errors are norm-wise relative errors at the final time against each problem's float64 "
        f"reference. `time to X vs {BASELINE}`: the cheapest setting reaching error ≤ X, over {BASELINE}'s, "
        "geometric mean over the problems both reached (`problems compared`). `capped`: problems whose sweep "
        "stopped at a cap; `failed`: problems it solved at no setting (every one diverged, failed or hit a "
        "cap). `loop share`: the share of a solve's wall time "
        "spent outside the vector field (the solver's own work), median over its settings.", "",
        summary_table(summaries), "",
    ]
    for problem in problems:
        path = plot_problem(rows, problem, out / f"wp_{problem}.png")
        if path is not None:
            written.append(path)
    path = plot_summary(summaries, out / "wp_summary.png")
    if path is not None:
        written.append(path)
        text += [f"![time to reach an error, relative to {BASELINE}](wp_summary.png)", ""]
    (out / "summary.md").write_text("\n".join(text))
    written.insert(1, out / "summary.md")
    return written


def cmd_bench(args: argparse.Namespace) -> int:
    started = time.monotonic()
    rows, summaries = run_bench(args)
    elapsed = time.monotonic() - started
    command = "odebench bench " + " ".join(sys.argv[2:]) if len(sys.argv) > 1 else "odebench bench"
    written = write(rows, summaries, Path(args.out), command, elapsed)
    if not args.quiet:
        print(summary_table(summaries, "simple"))
    print(f"wrote {len(written)} files to {args.out}/: {', '.join(p.name for p in written[:4])}"
          f"{', ...' if len(written) > 4 else ''}")
    return 0


# ---------------------------------------------------------------- arguments

def _numbers(kind: type, check, what: str):
    def parse(text: str) -> list:
        try:
            values = [kind(v) for v in text.split(",") if v.strip()]
        except ValueError:
            values = []
        if not values or not all(check(v) for v in values):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return values
    return parse


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def _modes(text: str) -> list[str]:
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values or any(v not in MODES for v in values):
        raise argparse.ArgumentTypeError(f"expected some of {','.join(MODES)}, got {text!r}")
    return values


def _positive(text: str) -> int:
    # cli._positive's twin: importing cli here would close an import cycle (cli -> bench).
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench", help="benchmark solvers on problems with known answers: work-precision, NFE, loop time "
        "(the solver's own overhead); writes a table, csv and plots", description=__doc__.split("\n\n")[1])
    p.add_argument("--tier", choices=("quick", "full"), default="quick",
                   help="the problem set: quick (default, ~2 min for every installed solver) or full")
    p.add_argument("--problem", action="append", metavar="NAME", help="only this problem (repeatable)")
    p.add_argument("--solver", action="append", metavar="NAME", help="only this solver (repeatable; default: all)")
    p.add_argument("--plugins", action="append", metavar="FILE",
                   help="load a plugin *.py file, or the plugins: of a suite YAML (repeatable)")
    p.add_argument("--plugins-dir", action="append", metavar="DIR", help="load *.py plugins from DIR")
    p.add_argument("--tolerances", type=_numbers(float, lambda v: 0 < v < 1, "tolerances in (0, 1) like 1e-2,1e-4"),
                   default=TOLERANCES, help="adaptive solvers' rtol = atol ladder (default 1e-2,...,1e-8)")
    p.add_argument("--steps", type=_numbers(int, lambda v: v >= 1, "step counts ≥ 1 like 1,4,16"),
                   default=None, help="fixed-grid solvers' steps ladder (default: the problem's own, else "
                   "1,4,16,...,4096)")
    p.add_argument("--repeats", type=_positive, default=3, help="timed solves per setting (default 3)")
    p.add_argument("--max-nfe", type=_positive, default=None,
                   help="cap on one solve's function evaluations (default: 1500 quick, 20000 full): the sweep "
                   "stops there")
    p.add_argument("--max-seconds", type=_positive_float, default=None,
                   help="cap on one solve's seconds (default: 0.2 quick, 5 full): the sweep stops there")
    p.add_argument("--modes", type=_modes, default=list(MODES),
                   help="forward,backprop,adjoint (default all; the backward ones only on trainable problems)")
    p.add_argument("--threads", type=_positive, default=1, help="torch threads (default 1)")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--out", default="results/solver-bench", metavar="DIR",
                   help="where to write (default results/solver-bench)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines, no table")
    p.set_defaults(func=cmd_bench)


__all__ = ["add_commands", "run_bench", "solve_once", "summarise"]
