"""PNG figures of one suite's runs, one figure per question (matplotlib, Agg backend).

Runs that differ only in their seed are one *group* (``labels.group_key``): a group is
drawn as its mean over the runs that finished ("done"), with the sample standard deviation
as error bars (points) or a shaded band (curves) when it has two or more runs.
matplotlib is imported only when a figure is drawn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .labels import as_written, dataset_keys, flatten, format_params, group_key, run_label, solver_label, train_keys

MIB = 1024 ** 2


@dataclass
class Group:
    key: str
    config: dict[str, Any]
    row: dict[str, Any]  # the flattened first run (model, params, solver, device...)
    label: str
    runs: list[dict[str, Any]] = field(default_factory=list)
    color: Any = None
    style: str = "-"

    @property
    def done(self) -> list[dict[str, Any]]:
        return [r for r in self.runs if r["status"] == "done"]

    def metric(self, name: str) -> tuple[float, float, int]:
        """Mean, sample std (0 for one run) and n of a run metric over the done runs."""
        values = [float(r["metrics"][name]) for r in self.done
                  if r["metrics"].get(name) is not None]
        return _mean_std(values)

    def curve(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Epochs, mean and std of a per-epoch metric over the done runs (epoch by epoch)."""
        by_epoch: dict[int, list[float]] = {}
        for r in self.done:
            for e in r.get("epochs", []):
                if e.get(name) is not None:
                    by_epoch.setdefault(int(e["epoch"]), []).append(float(e[name]))
        epochs = sorted(by_epoch)
        stats = [_mean_std(by_epoch[e]) for e in epochs]
        return (np.array(epochs), np.array([s[0] for s in stats]), np.array([s[1] for s in stats]))


def _mean_std(values: list[float]) -> tuple[float, float, int]:
    if not values:
        return math.nan, math.nan, 0
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return mean, std, len(values)


def groups(runs: list[dict[str, Any]]) -> list[Group]:
    """The runs' seed groups, in order of first appearance, each with a color and a line
    style (solid: models without a solver, dashed: models with one) shared by every figure."""
    out: dict[str, Group] = {}
    train = train_keys(r["config"] for r in runs)
    datasets = dataset_keys(r["config"] for r in runs)
    for run in runs:
        key = group_key(run["config"])
        if key not in out:
            row = flatten(run, train, datasets)
            out[key] = Group(key, run["config"], row, "")
        out[key].runs.append(run)
    items = list(out.values())
    several_devices = len({g.row["device"] for g in items}) > 1
    several_datasets = len({g.row["dataset"] for g in items}) > 1
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if len(items) <= 10 else "tab20"]
    for i, g in enumerate(items):
        g.label = run_label(g.row, with_device=several_devices)
        if several_datasets:
            g.label += f" on {g.row['dataset']}"
        n = len(g.done)
        if len(g.runs) > 1:
            g.label += f" (n={n})"
        g.color = cmap(i % cmap.N)
        g.style = "--" if g.config.get("solver") else "-"
    return items


def _figure(ncols: int = 1, width: float = 6.0, height: float = 4.2):
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)
    return fig, list(axes[0])


def _legend_below(fig, axes, groups_shown: list[Group]) -> None:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=g.color, linestyle=g.style, marker="o", markersize=4)
               for g in groups_shown]
    ncol = 2 if len(groups_shown) > 4 else 1
    fig.legend(handles, [g.label for g in groups_shown], loc="lower center", ncol=ncol,
               fontsize=8, frameon=False)
    rows = math.ceil(len(groups_shown) / ncol)
    fig.tight_layout(rect=(0, min(0.45, 0.04 + 0.045 * rows), 1, 1))


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _band(ax, g: Group, x, mean, std, **kw) -> None:
    ax.plot(x, mean, color=g.color, linestyle=kw.pop("linestyle", g.style), marker="o",
            markersize=3, **kw)
    if len(g.done) > 1:
        ax.fill_between(x, mean - std, mean + std, color=g.color, alpha=0.18, linewidth=0)


# ---------------------------------------------------------------- the figures

def _log_if_spread(ax, axis: str, values: list[float]) -> None:
    """A log scale (plain-number ticks) when the positive values span more than 20x."""
    from matplotlib.ticker import FuncFormatter

    positive = [v for v in values if v > 0 and not math.isnan(v)]
    if not positive or max(positive) / min(positive) <= 20:
        return
    getattr(ax, f"set_{axis}scale")("log")
    if axis == "y":
        ax.set_ylim(min(positive) / 1.5, max(positive) * 1.5)
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    label = getattr(ax, f"get_{axis}label")()
    getattr(ax, f"set_{axis}label")(f"{label}, log scale")


def learning_curves(gs: list[Group], path: Path) -> Path | None:
    """Test accuracy and train loss by epoch per model (the study's Figure 11)."""
    shown = [g for g in gs if len(g.curve("test_accuracy")[0])]
    if not shown:
        return None
    fig, (acc, loss) = _figure(2)
    for g in shown:
        _band(acc, g, *g.curve("test_accuracy"))
        _band(loss, g, *g.curve("train_loss"))
    acc.set(xlabel="epoch", ylabel="test accuracy (fraction correct)", title="Test accuracy by epoch")
    loss.set(xlabel="epoch", ylabel="train loss (mean cross-entropy)",
             title="Train loss by epoch")
    for ax in (acc, loss):
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    _legend_below(fig, [acc, loss], shown)
    return _save(fig, path)


def time_and_nfe(gs: list[Group], path: Path) -> Path | None:
    """Train time per epoch and solver function evaluations (NFE) by epoch."""
    shown = [g for g in gs if len(g.curve("epoch_seconds")[0])]
    if not shown:
        return None
    ode = [g for g in shown if len(g.curve("nfe_forward")[0])]
    fig, axes = _figure(2 if ode else 1)
    for g in shown:
        _band(axes[0], g, *g.curve("epoch_seconds"))
    axes[0].set(xlabel="epoch", ylabel="train time per epoch (s)",
                title="Epoch time (epoch 1 includes warm-up)")
    if ode:
        for g in ode:
            _band(axes[1], g, *g.curve("nfe_forward"))
            x, mean, std = g.curve("nfe_backward")
            if len(x) and np.nanmax(mean) > 0:
                _band(axes[1], g, x, mean, std, linestyle=":")
        axes[1].set(xlabel="epoch", ylabel="function evaluations per batch (NFE)",
                    title="NFE by epoch (dashed: forward, dotted: backward)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_ylim(bottom=0)
    _log_if_spread(axes[0], "y", [v for g in shown for v in g.curve("epoch_seconds")[1]])
    _legend_below(fig, axes, shown)
    return _save(fig, path)


def pareto_points(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points on the accuracy/time frontier: no other point is at least as
    fast and at least as accurate while strictly better in one. Sorted by time."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    frontier, best = [], -math.inf
    for i in order:
        t, a = points[i]
        if math.isnan(t) or math.isnan(a):
            continue
        if a > best:
            frontier.append(i)
            best = a
    return frontier


def pareto(gs: list[Group], path: Path) -> Path | None:
    """Test accuracy and macro-F1 versus train time per epoch, Pareto frontier marked."""
    shown = [g for g in gs if g.done and not math.isnan(g.metric("epoch_seconds")[0])]
    if not shown:
        return None
    fig, axes = _figure(2)
    times = [g.metric("epoch_seconds") for g in shown]
    for ax, name, title, heading in (
            (axes[0], "test_accuracy", "test accuracy (fraction correct)", "Test accuracy"),
            (axes[1], "test_macro_f1", "test macro-F1 (mean F1 over classes)", "Test macro-F1")):
        values = [g.metric(name) for g in shown]
        for g, (t, t_sd, _), (v, v_sd, _) in zip(shown, times, values):
            ax.errorbar(t, v, xerr=t_sd or None, yerr=v_sd or None, fmt="o", color=g.color,
                        markersize=7, capsize=3)
        front = pareto_points([(t[0], v[0]) for t, v in zip(times, values)])
        if front:
            ax.step([times[i][0] for i in front], [values[i][0] for i in front], where="post",
                    color="black", linewidth=1, linestyle="--", label="Pareto frontier (circled)")
            ax.scatter([times[i][0] for i in front], [values[i][0] for i in front], s=160,
                       facecolors="none", edgecolors="black", linewidths=1.2, zorder=3)
            ax.legend(loc="best", fontsize=8)
        ax.set(xlabel="median train time per epoch (s)", ylabel=title,
               title=f"{heading} vs train time per epoch")
        _log_if_spread(ax, "x", [t[0] for t in times])
        ax.grid(alpha=0.3)
    _legend_below(fig, axes, shown)
    return _save(fig, path)


def integer_settings(config: dict[str, Any]) -> list[tuple[str, str, int]]:
    """``(where, name, value)`` of each integer model parameter (``where`` = ``"params"``)
    and solver option (``"solver"``) of a run's config, whatever the model and solver."""
    out = []
    for where in ("params", "solver"):
        for name, value in (config.get(where) or {}).items():
            if isinstance(value, int) and not isinstance(value, bool):
                out.append((where, name, value))
    return out


Series = list[tuple[int, Group]]


def memory_series(gs: list[Group]) -> dict[tuple[str, str], list[Series]]:
    """For each integer setting ``(where, name)`` that some groups differ in and nothing
    else: the series of those groups, each as ``(value, group)`` sorted by value. A setting
    gets an entry only when one of its series has two or more values."""
    series: dict[tuple[str, str], dict[str, Series]] = {}
    for g in gs:
        if not g.done:
            continue
        for where, name, value in integer_settings(g.config):
            rest = {**g.config, where: {k: v for k, v in g.config[where].items() if k != name}}
            series.setdefault((where, name), {}).setdefault(group_key(rest), []).append((value, g))
    out = {}
    for setting, by_rest in series.items():
        if any(len({n for n, _ in pts}) > 1 for pts in by_rest.values()):
            out[setting] = [sorted(pts, key=lambda p: p[0]) for pts in by_rest.values()]
    return out


def memory_vs_parameter(gs: list[Group], path: Path) -> Path | None:
    """Peak memory versus each integer model parameter or solver option the suite varies,
    one panel per setting (e.g. ResNet ``blocks``, fixed-grid ``steps``); None when it varies
    none."""
    panels = memory_series(gs)
    if not panels:
        return None
    several_devices = len({g.row["device"] for g in gs}) > 1
    import matplotlib

    palette = matplotlib.colormaps["tab10"]  # few series: strong colours, not the groups' tab20
    fig, axes = _figure(len(panels))
    shown = []
    for ax, ((where, name), series) in zip(axes, panels.items()):
        for i, pts in enumerate(series):
            g0 = pts[0][1]
            stats = [g.metric("peak_memory_bytes") for _, g in pts]
            ax.errorbar([n for n, _ in pts], [s[0] / MIB for s in stats],
                        yerr=[s[1] / MIB for s in stats], color=palette(i % 10), linestyle=g0.style,
                        marker="o", capsize=3,
                        label=_series_label(g0, where, name, several_devices))
            shown.append(g0)
        ax.set(xlabel=f"{'model parameter' if where == 'params' else 'solver option'} {name}",
               ylabel="peak memory (MiB)", title=f"Peak memory vs {name}")
        values = sorted({n for pts in series for n, _ in pts})
        if values[0] > 0 and values[-1] / values[0] >= 8:  # 1, 2, 4, 8, 16: even spacing
            from matplotlib.ticker import FixedLocator, ScalarFormatter

            ax.set_xscale("log", base=2)
            ax.xaxis.set_major_locator(FixedLocator(values))
            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.xaxis.set_minor_locator(FixedLocator([]))
            ax.set_xlabel(f"{ax.get_xlabel()}, log scale")
        else:
            ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    devices = sorted({g.row["device"] for g in shown})
    if any(d.startswith("cuda") for d in devices):
        note = "peak memory: CUDA peak allocated on GPU runs, peak process RSS on CPU runs"
    else:
        note = "peak memory: peak resident set size of the run's process (CPU)"
    fig.text(0.5, 0.01, note, ha="center", fontsize=8, color="dimgray")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return _save(fig, path)


def _series_label(g: Group, where: str, name: str, with_device: bool = False) -> str:
    """The group's label without the setting the series varies."""
    config = g.config
    rest = {k: v for k, v in (as_written(config, where) or {}).items() if k != name}
    params = rest if where == "params" else as_written(config, "params") or {}
    solver = rest if where == "solver" else as_written(config, "solver")
    parts = [g.row["model"], format_params(params), solver_label(solver), g.row.get("train") or ""]
    if with_device:
        parts.append(g.row["device"])
    return " ".join(p for p in parts if p)


def _multipliers(g: Group) -> list[int]:
    """The step multipliers of a group's validity check: 1 (the training solver) and each
    ``validity_steps_x<k>_accuracy`` its runs have."""
    found = {1}
    for r in g.done:
        for key in r["metrics"]:
            if key.startswith("validity_steps_x") and key.endswith("_accuracy"):
                found.add(int(key[len("validity_steps_x"):-len("_accuracy")]))
    return sorted(found)


def _stage(k: int) -> str:
    return "validity_solver" if k == 1 else f"validity_steps_x{k}"


def validity(gs: list[Group], path: Path) -> Path | None:
    """Test accuracy, and the ODE output's relative error against the reference, versus the
    evaluation steps as a multiple of the training solver's (the critical-step-size picture
    of Ott et al. 2021); the tight-tolerance reference solver at the right end."""
    shown = [g for g in gs if not math.isnan(g.metric("validity_solver_accuracy")[0])]
    if not shown:
        return None
    top = max(k for g in shown for k in _multipliers(g))
    x_ref = top * 2
    fig, (acc, err) = _figure(2)
    for g in shown:
        ks = [k for k in _multipliers(g) if not math.isnan(g.metric(f"{_stage(k)}_accuracy")[0])]
        stats = [g.metric(f"{_stage(k)}_accuracy") for k in ks]
        acc.errorbar(ks, [s[0] for s in stats], yerr=[s[1] for s in stats], color=g.color,
                     linestyle=g.style, marker="o", markersize=4, capsize=3)
        ref, ref_sd, n = g.metric("validity_reference_accuracy")
        if n:
            acc.errorbar([x_ref], [ref], yerr=[ref_sd], color=g.color, marker="*", markersize=10,
                         capsize=3)
            acc.plot([ks[-1], x_ref], [stats[-1][0], ref], color=g.color, linestyle=":", linewidth=1)
        names = ["validity_rel_error" if k == 1 else f"{_stage(k)}_rel_error" for k in ks]
        errors = [(k, g.metric(name)) for k, name in zip(ks, names)]
        errors = [(k, m) for k, m in errors if m[2] and m[0] > 0]
        if errors:
            err.plot([k for k, _ in errors], [m[0] for _, m in errors], color=g.color,
                     linestyle=g.style, marker="o", markersize=4)
    from matplotlib.ticker import FixedFormatter, FixedLocator

    ticks = [k for k in (1, 2, 4, 8, 16, 32, 64, 128, 256) if k <= top]
    for ax in (acc, err):
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_locator(FixedLocator(ticks + [x_ref]))
        ax.xaxis.set_major_formatter(FixedFormatter([f"{k}x" for k in ticks] + ["ref"]))
        ax.xaxis.set_minor_locator(FixedLocator([]))
        ax.grid(alpha=0.3)
    acc.set(xlabel="evaluation steps, multiple of training (ref: tight-tolerance reference)",
            ylabel="test accuracy (fraction correct)", title="Accuracy when the solver is swapped")
    err.set(xlabel="evaluation steps, multiple of training", ylabel="relative error of the ODE output",
            title="ODE output vs the reference solver")
    if err.lines:
        err.set_yscale("log")
    _legend_below(fig, [acc, err], shown)
    return _save(fig, path)


def best_run(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The done run with the highest test accuracy (ties: macro-F1) and a confusion matrix."""
    candidates = [r for r in runs if r["status"] == "done" and r["metrics"].get("confusion_matrix")]
    if not candidates:
        return None
    return max(candidates, key=lambda r: (r["metrics"].get("test_accuracy") or 0,
                                          r["metrics"].get("test_macro_f1") or 0))


def confusion(runs: list[dict[str, Any]], path: Path) -> Path | None:
    """The best run's confusion matrix: colour = share of the true class (recall), text =
    count."""
    run = best_run(runs)
    if run is None:
        return None
    m = np.array(run["metrics"]["confusion_matrix"], dtype=float)
    names = run["metrics"].get("class_names") or [str(i) for i in range(len(m))]
    share = m / np.maximum(m.sum(1, keepdims=True), 1)
    size = max(4.5, 0.7 * len(names) + 2.5)
    fig, (ax,) = _figure(1, size + 1, size)
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(m)):
        for j in range(len(m)):
            ax.text(j, i, f"{int(m[i, j])}", ha="center", va="center", fontsize=9,
                    color="white" if share[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(names)), names)
    ax.set_yticks(range(len(names)), names)
    ax.set(xlabel="predicted class", ylabel="true class")
    row = flatten(run)
    ax.set_title(f"Best run: {run_label(row)} seed={row['seed']}\n"
                 f"test accuracy {run['metrics']['test_accuracy']:.4f}, "
                 f"macro-F1 {run['metrics'].get('test_macro_f1', math.nan):.4f}", fontsize=9)
    fig.colorbar(image, ax=ax, label="share of the true class (recall)")
    fig.tight_layout()
    return _save(fig, path)


FIGURES = [
    ("learning_curves.png", "Test accuracy and train loss by epoch (the study's Figure 11).",
     learning_curves),
    ("epoch_time_nfe.png", "Train time per epoch and function evaluations per batch by epoch.",
     time_and_nfe),
    ("accuracy_vs_time.png", "Test accuracy and macro-F1 versus median train time per epoch; "
     "circled points are on the Pareto frontier (no run is both faster and more accurate).",
     pareto),
    # The file keeps its first name (ResNet depth, solver steps) so committed results stay put.
    ("memory_vs_depth.png", "Peak memory versus each integer model parameter or solver option "
     "the suite varies.", memory_vs_parameter),
    ("validity.png", "Solver swap: test accuracy and the ODE output's relative error versus the "
     "evaluation steps as a multiple of the training solver's; star: a tight-tolerance adaptive "
     "reference. A model that is still an ODE keeps its accuracy (Ott et al. 2021).", validity),
]


def make_plots(runs: list[dict[str, Any]], directory: str | Path) -> list[tuple[str, str, Path]]:
    """Draw every figure that has data; return (file name, caption, path) of each written."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    if not runs:
        return []
    gs = groups(runs)
    written = []
    for name, caption, draw in FIGURES:
        path = draw(gs, out / name)
        if path is not None:
            written.append((name, caption, path))
        else:
            (out / name).unlink(missing_ok=True)  # a stale figure from an older report
    path = confusion(runs, out / "confusion_best.png")
    if path is not None:
        written.append(("confusion_best.png", "Confusion matrix of the best run (highest test "
                        "accuracy); colour is the share of the true class.", path))
    return written
