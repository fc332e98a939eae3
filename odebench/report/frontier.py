"""One accuracy-vs-cost frontier across suites that share a recipe (``odebench frontier``).

Each suite's ``summary.csv``, written with ``--baseline``, gives one point per group: its
epoch time as a multiple of the baseline run of the same seed (``epoch_ratio``; paired
within a suite, so suites measured on different days or machines can share one axis) and
its test accuracy and macro-F1. Where a group is an ODE model with the solver-swap check,
a mean gap above ``max_gap`` points makes it *not an ODE*: drawn, but left off the frontier.
An ODE model without the check is drawn as *unchecked* and also left off.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from ..types import OdebenchError
from .plots import _figure, _log_if_spread, _save, pareto_points

MAX_GAP = 0.5  # points, the solver-swap bar of the README
KINDS = {  # kind: (marker, filled, legend text)
    "no ODE": ("o", True, "no ODE (ResNet, ...)"),
    "ODE": ("s", True, "ODE, gap ≤ {max_gap:g} pts"),
    "not an ODE": ("X", False, "ODE model, gap > {max_gap:g} pts: not an ODE (off the frontier)"),
    "unchecked": ("^", False, "ODE model, no solver-swap check (off the frontier)"),
}
CSV_METRICS = ("test_accuracy", "test_macro_f1", "epoch_ratio", "eval_ratio", "validity_gap",
               "nfe_forward", "nfe_backward")  # frontier.csv: their means and intervals
NEEDED = ["suite", "model", "params", "solver", "n", "status", "test_accuracy_mean",
          "test_macro_f1_mean", "epoch_ratio_mean", "config"]


def summary_path(path: str | Path) -> Path:
    """``path`` itself, or ``path/summary.csv`` for a suite's results folder."""
    path = Path(path)
    return path / "summary.csv" if path.is_dir() else path


def load(paths: list[str | Path]) -> pd.DataFrame:
    """The summaries at ``paths`` as one frame (a ``source`` column says where each row came
    from); a one-line error for a file that is missing, is not a summary or has no ratios."""
    frames, seen = [], set()
    for given in paths:
        path = summary_path(given)
        if path.resolve() in seen:  # one suite given twice (folder and file): once
            continue
        seen.add(path.resolve())
        try:
            frame = pd.read_csv(path, float_precision="round_trip")
        except FileNotFoundError:
            raise OdebenchError(f"{path}: no such file; pass a suite's summary.csv or its "
                                "results folder, e.g. results/ecg") from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise OdebenchError(f"{path}: not a summary.csv ({first_line}); pass one written by "
                                "odebench report") from None
        missing = [c for c in NEEDED if c not in frame.columns]
        if missing == ["epoch_ratio_mean"]:
            suite = frame["suite"].iloc[0] if len(frame) else "SUITE"
            raise OdebenchError(f"{path} has no epoch × column; write it with odebench report "
                                f'--suite {suite} --baseline "resnet blocks=6" (or another label)')
        if missing:
            raise OdebenchError(f"{path}: not a summary.csv (no {', '.join(missing)}); pass one "
                                "written by odebench report")
        frames.append(pd.concat([frame, pd.Series(str(path), index=frame.index, name="source")], axis=1))
    if not frames:
        raise OdebenchError("no summaries given; pass results folders, e.g. results/ecg results/ecg-solvers")
    return pd.concat(frames, ignore_index=True)


def recipe(config: dict[str, Any]) -> dict[str, Any]:
    """What must match for two groups to share a frontier: the dataset and the training
    (with the training defaults filled in)."""
    from ..suite import TRAIN_DEFAULTS

    return {"dataset": config.get("dataset"), "train": {**TRAIN_DEFAULTS, **(config.get("train") or {})}}


def _difference(a: dict[str, Any], b: dict[str, Any]) -> str:
    for part in ("dataset", "train"):
        pa, pb = a.get(part) or {}, b.get(part) or {}
        for key in sorted(set(pa) | set(pb)):
            if pa.get(key) != pb.get(key):
                return f"{part}.{key} = {pa.get(key)!r}, not {pb.get(key)!r}"
    return "?"


def check_recipe(frame: pd.DataFrame, registry=None) -> None:
    """Refuse groups trained on another dataset or recipe than the first one: their accuracy
    is not comparable. Configs are compared with today's defaults filled in (``registry``),
    so a run stored before a plugin gained a parameter matches a newer one."""
    from ..suite import upgraded_config

    first: tuple[str, dict] | None = None
    for _, row in frame.iterrows():
        try:
            config = json.loads(row["config"])
        except (TypeError, ValueError):
            raise OdebenchError(f"{row['source']}: the config of {row['model']} {row['params']} is not "
                                "JSON; write the summary again with odebench report") from None
        if not isinstance(config, dict):
            raise OdebenchError(f"{row['source']}: the config of {row['model']} {row['params']} is not "
                                "a mapping; write the summary again with odebench report")
        if registry is not None:
            config = upgraded_config(config, registry) or config
        this = recipe(config)
        if first is None:
            first = (row["source"], this)
        elif this != first[1]:
            raise OdebenchError(
                f"{row['source']} ({row['model']} {row['params']}) was trained on another recipe "
                f"than {first[0]}: {_difference(this, first[1])}; a frontier compares one recipe, "
                "leave that suite out")


def baseline_of(part: pd.DataFrame) -> str | None:
    """The label of the group a suite's ratios are to: the one at exactly 1.0 with Δ 0."""
    delta = pd.to_numeric(part.get("test_accuracy_delta_mean", pd.Series(0.0, index=part.index)),
                          errors="coerce").fillna(0.0)
    base = part[(part["epoch_ratio_mean"] == 1.0) & (delta == 0.0)]
    labels = list(dict.fromkeys(short_label(r) for _, r in base.iterrows()))
    return labels[0] if len(labels) == 1 else None


def check_baseline(frame: pd.DataFrame) -> str:
    """Refuse suites whose ratios are to different baselines: their × do not share an axis."""
    first: tuple[str, str] | None = None
    for source, part in frame.groupby("source", sort=False):
        label = baseline_of(part)
        if label is None:
            raise OdebenchError(f"{source}: no single group at epoch × 1.0 with Δ 0, so its baseline is "
                                "unknown; write it with odebench report --baseline LABEL")
        if first is None:
            first = (source, label)
        elif label != first[1]:
            raise OdebenchError(f"{source}: its ratios are to {label!r}, those of {first[0]} to "
                                f"{first[1]!r}; write both with the same --baseline")
    return first[1]


def classify(frame: pd.DataFrame, max_gap: float = MAX_GAP) -> pd.Series:
    """Each row's kind (see ``KINDS``): an ODE model is one with a solver; it is an ODE when
    its mean gap is within ``max_gap`` points of 0."""
    gap = pd.to_numeric(frame.get("validity_gap_mean", pd.Series(math.nan, index=frame.index)),
                        errors="coerce")
    ode = frame["solver"].fillna("").astype(str).str.len() > 0
    kinds = pd.Series("no ODE", index=frame.index, dtype=object)
    kinds[ode & gap.isna()] = "unchecked"
    # Either sign is distance from the ODE: a model that gains 3 points under the reference
    # solver is as far from its ODE as one that loses 3.
    kinds[ode & (gap.abs() <= max_gap)] = "ODE"
    kinds[ode & (gap.abs() > max_gap)] = "not an ODE"
    return kinds


def frontier(paths: list[str | Path], max_gap: float = MAX_GAP, registry=None) -> pd.DataFrame:
    """One row per group of the summaries at ``paths`` with a finished run and a ratio, with
    its ``kind`` and whether it is on the accuracy frontier (``on_frontier``) and the macro-F1
    one (``on_f1_frontier``) of epoch × baseline, sorted by that ratio. The groups left out
    are named in ``attrs["left_out"]``."""
    frame = load(paths)
    usable = (pd.to_numeric(frame["n"], errors="coerce") >= 1) & frame["epoch_ratio_mean"].notna()
    left_out = [f"{r['suite']}: {short_label(r)} ({r['status']}: "
                + ("no finished run)" if not r["n"] >= 1 else "no baseline run of the same seed to pair with)")
                for _, r in frame[~usable].iterrows()]
    frame = frame[usable].reset_index(drop=True).copy()  # one block: columns are added below
    if frame.empty:
        raise OdebenchError("no finished group with an epoch × ratio in "
                            + ", ".join(str(summary_path(p)) for p in paths))
    check_baseline(frame)
    check_recipe(frame, registry)
    frame["kind"] = classify(frame, max_gap)
    eligible = frame.index[frame["kind"].isin(["no ODE", "ODE"])]
    for metric, column in (("test_accuracy_mean", "on_frontier"), ("test_macro_f1_mean", "on_f1_frontier")):
        points = [(frame.at[i, "epoch_ratio_mean"], frame.at[i, metric]) for i in eligible]
        frame[column] = False
        frame.loc[[eligible[j] for j in pareto_points(points)], column] = True
    frame = frame.sort_values("epoch_ratio_mean", kind="stable").reset_index(drop=True)
    frame.attrs["left_out"] = left_out
    return frame


def _interval(row: pd.Series, metric: str, digits: int) -> str:
    low, high = row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high")
    text = f"{row[f'{metric}_mean']:.{digits}f}"
    if pd.notna(low) and pd.notna(high) and row["n"] >= 2:
        text += f" [{low:.{digits}f}, {high:.{digits}f}]"
    return text


def markdown(frame: pd.DataFrame) -> str:
    """The frontier table: every group; ``frontier`` says on which frontier it is (accuracy,
    macro-F1); ``n`` is followed by the group's statuses where not all its runs finished."""
    from tabulate import tabulate

    rows = []
    for _, r in frame.iterrows():
        gap = r.get("validity_gap_mean")
        rows.append([
            " ".join(name for name, on in (("acc", r["on_frontier"]), ("F1", r["on_f1_frontier"])) if on),
            r["suite"], r["model"], _text(r["params"]), _text(r["solver"]),
            f"{int(r['n'])}" + ("" if r["status"] == "done" else f" ({r['status']})"),
            _interval(r, "test_accuracy", 4), _interval(r, "test_macro_f1", 3), _interval(r, "epoch_ratio", 2),
            "" if pd.isna(gap) else f"{gap:+.2f}", r["kind"],
        ])
    headers = ["frontier", "suite", "model", "params", "solver", "n", "test acc [95% CI]",
               "macro-F1 [95% CI]", "epoch × [95% CI]", "gap (pts)", "kind"]
    return tabulate(rows, headers, tablefmt="github", disable_numparse=True)


def _text(value: Any) -> str:
    return "" if pd.isna(value) else str(value)


def short_label(row: pd.Series) -> str:
    parts = [row["model"], _text(row["params"]).replace("gradient=", ""), _text(row["solver"])]
    return " ".join(p for p in parts if p)


def plot(frame: pd.DataFrame, path: str | Path, max_gap: float = MAX_GAP, title: str = "") -> Path:
    """Test accuracy and macro-F1 vs epoch × baseline, a colour per suite, a marker per kind,
    95% intervals as error bars (n ≥ 2), the frontier of the eligible kinds dashed and
    labelled."""
    import matplotlib
    from matplotlib.lines import Line2D

    fig, axes = _figure(2, width=7.0, height=5.2)
    suites = list(dict.fromkeys(frame["suite"]))
    cmap = matplotlib.colormaps["tab10"]
    color = {s: cmap(i % cmap.N) for i, s in enumerate(suites)}
    x = frame["epoch_ratio_mean"].to_numpy(float)
    # Points on either frontier are numbered (in order of cost) and named in the legend.
    number = {i: k + 1 for k, i in enumerate(frame.index[frame["on_frontier"] | frame["on_f1_frontier"]])}
    for ax, metric, flag, ylabel in (
            (axes[0], "test_accuracy", "on_frontier", "test accuracy (fraction correct)"),
            (axes[1], "test_macro_f1", "on_f1_frontier", "test macro-F1 (mean F1 over classes)")):
        for i, r in frame.iterrows():
            marker, filled, _ = KINDS[r["kind"]]
            c = color[r["suite"]]
            xerr = _err(r, "epoch_ratio")
            yerr = _err(r, metric)
            ax.errorbar(x[i], r[f"{metric}_mean"], xerr=xerr, yerr=yerr, fmt=marker, color=c,
                        markerfacecolor=c if filled else "none", markersize=7, capsize=2,
                        elinewidth=0.8)
        on = frame.index[frame[flag]]
        if len(on):
            ax.step(x[on], frame.loc[on, f"{metric}_mean"], where="post", color="black",
                    linewidth=1, linestyle="--")
            for i in on:
                ax.annotate(str(number[i]), (x[i], frame.at[i, f"{metric}_mean"]),
                            textcoords="offset points", xytext=(3, -11), fontsize=8, weight="bold")
        ax.axvline(1.0, color="grey", linewidth=0.8, linestyle=":")
        ax.set(xlabel="train time per epoch, × the baseline run of the same seed and suite",
               ylabel=ylabel)
        _log_if_spread(ax, "x", list(x))
        ax.grid(alpha=0.3)
    axes[0].set_title(title or "Accuracy vs cost across suites (dashed: frontier)", fontsize=10)
    axes[1].set_title("Macro-F1 vs cost (dashed: frontier)", fontsize=10)
    handles = [Line2D([], [], color=color[s], marker="o", linestyle="", markersize=6) for s in suites]
    labels = [f"suite {s}" for s in suites]
    for kind in frame["kind"].unique():
        marker, filled, text = KINDS[kind]
        handles.append(Line2D([], [], color="black", marker=marker, linestyle="",
                              markerfacecolor="black" if filled else "none", markersize=6))
        labels.append(text.format(max_gap=max_gap))
    handles.append(Line2D([], [], color="black", linestyle="--", linewidth=1))
    labels.append("frontier: no eligible point is both cheaper and better")
    for i, k in number.items():
        handles.append(Line2D([], [], linestyle=""))
        labels.append(f"{k}: {frame.at[i, 'suite']}: {short_label(frame.loc[i])}")
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=8, frameon=False)
    rows = math.ceil(len(labels) / 2)
    fig.tight_layout(rect=(0, min(0.4, 0.04 + 0.045 * rows), 1, 1))
    return _save(fig, Path(path))


def _err(row: pd.Series, metric: str):
    """The 95% interval around the mean as matplotlib's asymmetric error (n ≥ 2), else None."""
    low, high, mean = row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high"), row[f"{metric}_mean"]
    if row["n"] < 2 or pd.isna(low) or pd.isna(high):
        return None
    return [[max(mean - low, 0.0)], [max(high - mean, 0.0)]]


def cmd_frontier(args) -> int:
    """``odebench frontier``: print the table; with ``--out``, write frontier.png/.md/.csv."""
    from ..plugins import registry_for

    frame = frontier(args.summaries, args.max_gap, registry_for(args.plugins_dir or ()))
    table = markdown(frame)
    print(table)
    for line in frame.attrs["left_out"]:
        print(f"left out: {line}", file=sys.stderr)
    if args.out:
        out = Path(args.out)
        try:
            out.mkdir(parents=True, exist_ok=True)
            plot(frame, out / "frontier.png", args.max_gap)
            note = (f"Epoch × is each group's train time per epoch over its suite's baseline run of "
                    f"the same seed; [95% CI] where n ≥ 2. kind: ODE models whose accuracy falls by more "
                    f"than {args.max_gap:g} points under the tight-tolerance reference solver (mean "
                    f"gap) are not ODEs and are left off the frontier, as are ODE models without the "
                    f"check. Sources: {', '.join(dict.fromkeys(frame['source']))}.\n")
            (out / "frontier.md").write_text(f"# Accuracy vs cost across suites\n\n{table}\n\n{note}")
            columns = ["suite", "model", "params", "solver", "n", "kind", "on_frontier", "on_f1_frontier"]
            wanted = {f"{m}_{stat}" for m in CSV_METRICS for stat in ("mean", "ci_low", "ci_high")}
            columns += [c for c in frame.columns if c in wanted]
            frame[columns + ["source"]].to_csv(out / "frontier.csv", index=False)
        except OSError as exc:
            raise OdebenchError(f"cannot write to {str(out)!r} ({exc.strerror}); pass another --out") from None
        print(f"wrote frontier.png, frontier.md, frontier.csv to {out}/")
    return 0
