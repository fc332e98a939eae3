"""Result tables (pandas): flattened runs as a DataFrame, seed groups aggregated, ratios to a
baseline run, and the markdown/CSV/cell text of both tables."""

from __future__ import annotations

import textwrap
from typing import Any

import pandas as pd
from tabulate import tabulate

from ..stats import CONFIDENCE, t_halfwidth
from ..types import OdebenchError
from .labels import group_key, run_label

COLUMNS = [
    "suite", "model", "params", "solver", "train", "dataset", "device", "seed", "status",
    "reason", "n_params", "train_accuracy", "test_accuracy", "test_macro_f1", "epoch_seconds",
    "first_epoch_seconds", "eval_seconds", "samples_per_second", "nfe_forward", "nfe_backward",
    "nfe_eval", "steps_accepted_forward", "steps_rejected_forward", "steps_accepted_backward",
    "steps_rejected_backward", "peak_memory_bytes", "peak_rss_bytes", "peak_rss_increase_bytes",
    "baseline_rss_bytes", "cuda_peak_allocated_bytes", "cuda_peak_reserved_bytes", "epochs",
    "train_samples", "test_samples", "threads", "cpu", "gpu", "torch", "code_version", "executor",
    "run_key", "config",
]
MARKDOWN = [
    ("model", "model"), ("params", "params"), ("solver", "solver"), ("train", "train"), ("device", "device"),
    ("seed", "seed"), ("status", "status"), ("n_params", "params #"),
    ("train_accuracy", "train acc"), ("test_accuracy", "test acc"), ("test_macro_f1", "macro-F1"),
    ("epoch_seconds", "epoch s"), ("eval_seconds", "eval s"), ("nfe_forward", "NFE fwd"),
    ("nfe_backward", "NFE bwd"), ("peak_memory_bytes", "peak mem"),
]


# The solver-swap check (validity.py), shown after test accuracy where a run has it.
VALIDITY = [("validity_reference_accuracy", "ref acc"), ("validity_gap", "gap (pts)")]

# Times relative to a baseline run (``odebench report --baseline "resnet blocks=6"``).
RATIOS = [("epoch_seconds", "epoch_ratio", "epoch ×"), ("eval_seconds", "eval_ratio", "eval ×")]
# Quality relative to the baseline run of the same seed: the difference in points (paired, so
# the summary's t interval of its mean is the paired test: an interval without 0 is a
# difference at the 5% level).
DELTAS = [("test_accuracy", "test_accuracy_delta", "Δ acc (pts)"),
          ("test_macro_f1", "test_macro_f1_delta", "Δ F1 (pts)")]


def table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A DataFrame with the standard columns first, from flattened rows (see ``labels.flatten``)."""
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=COLUMNS)
    extra = [c for c in frame.columns if c not in COLUMNS]
    for column in COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    return frame[COLUMNS + extra]


def human_bytes(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    value = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return ""


def _cell(column: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if column.endswith("_bytes"):
        return human_bytes(value)
    if column in ("train_accuracy", "test_accuracy", "test_macro_f1") or (
            column.startswith("validity_") and column.endswith("_accuracy")):
        return f"{value:.4f}"
    if column == "validity_gap":
        return f"{value:+.1f}"
    if column.endswith("_delta"):
        return f"{value:+.2f}"
    if column.endswith("rel_error"):
        return f"{value:.2g}"
    if column.startswith("validity_") and column.endswith("_nfe"):
        return f"{value:.1f}"
    if column.endswith("_seconds"):
        return f"{value:.3g}"
    if column.endswith("_ratio"):
        return f"{value:.2f}"
    if column.startswith(("nfe_", "steps_")):
        return f"{value:.1f}"
    if column == "n_params":
        return f"{int(value):,}"
    return str(value)


def add_ratios(frame: pd.DataFrame, baseline: str, require: bool = True) -> pd.DataFrame:
    """``epoch_ratio`` and ``eval_ratio``: each run's time over that of the run labelled
    ``baseline`` (see ``run_label``, e.g. ``resnet blocks=6``) with the same suite, dataset,
    device and seed, so every ratio compares two runs of one suite on one machine. With ``require``, a
    label that no finished run has is an error; a label on two runs of one seed always is."""
    frame = frame.copy()
    labels = pd.Series([run_label(row) for _, row in frame.iterrows()], index=frame.index, dtype=object)
    base = frame[(labels == baseline) & (frame["status"] == "done")]
    if require and base.empty:
        known = ", ".join(repr(label) for label in dict.fromkeys(labels[frame["status"] == "done"]))
        raise OdebenchError(f"--baseline {baseline!r}: no finished run has that label; pick one of: {known}")
    pairs = ["suite", "dataset", "device", "seed"]
    if base.duplicated(pairs).any():
        raise OdebenchError(
            f"--baseline {baseline!r}: several runs of one suite, dataset, device and seed have that label "
            "(they differ in training or eval settings); give them separate suites"
        )
    times = [column for column, _ratio, _title in RATIOS]
    quality = [column for column, _delta, _title in DELTAS if column in frame.columns]
    machine = [c for c in ("cpu", "cpu_capability") if c in frame.columns] if "cpu" in frame.columns else []
    reference = frame[pairs].merge(base[pairs + times + quality + machine], on=pairs, how="left")  # keeps frame's order
    for column, ratio, _title in RATIOS:
        frame[ratio] = (pd.to_numeric(frame[column], errors="coerce").to_numpy()
                        / pd.to_numeric(reference[column], errors="coerce").to_numpy())
    for column, delta, _title in DELTAS:
        if column in quality:
            frame[delta] = 100 * (pd.to_numeric(frame[column], errors="coerce").to_numpy()
                                  - pd.to_numeric(reference[column], errors="coerce").to_numpy())
    if machine:
        # A seed whose run and baseline ran on different CPUs (a suite resumed on another
        # machine): its × measures the machines too. Kept only where it happened.
        other = [_cpu_text(b) if a and b and _other_cpu(a, b) else None
                 for a, b in zip(_cpus(frame), _cpus(reference))]
        if any(other):
            frame["baseline_cpu"] = pd.Series(other, index=frame.index, dtype=object)
        elif "baseline_cpu" in frame.columns:
            frame = frame.drop(columns="baseline_cpu")
    return frame


def _cpus(frame: pd.DataFrame) -> list[tuple[str, str] | None]:
    """Each row's CPU as (model, capability), the capability "" where the run did not record
    it (AVX2, AVX512: two VMs both called "AMD EPYC" can differ there); None without a model."""
    caps = frame["cpu_capability"] if "cpu_capability" in frame.columns else [None] * len(frame)
    return [(cpu, cap if isinstance(cap, str) else "") if isinstance(cpu, str) and cpu else None
            for cpu, cap in zip(frame["cpu"], caps)]


def _cpu_text(cpu: tuple[str, str]) -> str:
    return f"{cpu[0]} ({cpu[1]})" if cpu[1] else cpu[0]


def _other_cpu(a: tuple[str, str], b: tuple[str, str]) -> bool:
    """Two CPUs that differ in the model, or in a capability both recorded."""
    return a[0] != b[0] or bool(a[1] and b[1] and a[1] != b[1])


def _with_validity(columns: list[tuple[str, str]], present: bool) -> list[tuple[str, str]]:
    if not present:
        return columns
    at = next(i for i, (c, _) in enumerate(columns) if c == "test_accuracy") + 1
    return columns[:at] + VALIDITY + columns[at:]


def _with_ratios(columns: list[tuple[str, str]], present: bool) -> list[tuple[str, str]]:
    if not present:
        return list(columns)  # a copy: callers append to it, MARKDOWN must stay as it is
    out = []
    for column, title in columns:
        out.append((column, title))
        out += [(ratio, label) for source, ratio, label in RATIOS + DELTAS if source == column]
    return out


def _markdown(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """MARKDOWN, without the ``train`` column where no run shows a training setting, with a
    ``dataset`` column where the runs are on several datasets."""
    columns = list(MARKDOWN)
    if not ("train" in frame.columns and frame["train"].fillna("").astype(str).str.len().any()):
        columns = [(c, t) for c, t in columns if c != "train"]
    if "dataset" in frame.columns and frame["dataset"].nunique() > 1:
        columns.insert(next(i for i, (c, _) in enumerate(columns) if c == "device"), ("dataset", "dataset"))
    return columns


def run_cells(frame: pd.DataFrame, reason_chars: int | None = 60) -> tuple[list, list[list[str]]]:
    """Columns and formatted cells of the per-run table, shared by markdown and HTML."""
    recall = [c for c in frame.columns if c.startswith("recall_")]
    columns = _with_ratios(_markdown(frame), "epoch_ratio" in frame.columns)
    columns = _with_validity(columns, "validity_gap" in frame.columns)
    columns += [(c, f"rec {c[len('recall_'):]}") for c in recall]
    body = []
    for _, row in frame.iterrows():
        cells = []
        for column, _title in columns:
            value = row.get(column)
            if column == "status" and row.get("reason") and value != "done":
                value = f"{value}: {str(row['reason'])[:reason_chars]}"
            checked = row.get("validity_status")
            if column == "status" and value == "done" and isinstance(checked, str) and checked != "ok":
                value = f"done; validity check {checked}"
            if column == "status" and _shared(row.get("shared_machine")):
                value = f"{value} [shared machine]"
            cells.append(_agg_cell(column, {f"{column}_mean": value}) if column.startswith("recall_")
                         else _busy(column, _cell(column, value), row))
        body.append(cells)
    return columns, body


BUSY_MARKED = "epoch_seconds"  # the timing that carries the busy marker


def _busy(column: str, text: str, row: Any) -> str:
    """``text`` with a ``busy`` marker on the timing column of a run (or a group with a run)
    during which other processes used the CPU (see ``odebench.health``)."""
    return f"{text} busy" if column == BUSY_MARKED and text and row.get("busy") is True else text


def _shared_marker(row: Any) -> str:
    """`` [k of n on a shared machine]`` for a group with runs flagged ``shared_machine``."""
    shared = row.get("shared")
    return f" [{int(shared)} of {row['runs']} on a shared machine]" if shared and shared == shared else ""


def _shared(value: Any) -> bool:
    """Whether a run's ``shared_machine`` (other drivers' runs on its host while it ran, see
    ``odebench.claims``) flags its timings as measured on a shared machine."""
    try:
        return float(value) > 0
    except (TypeError, ValueError):
        return False


def to_markdown(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "(no runs)"
    columns, body = run_cells(frame)
    return tabulate(body, headers=[title for _, title in columns], tablefmt="github", disable_numparse=True)


def to_csv(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False)


# ---------------------------------------------------------------- seed aggregation
#
# Runs whose configs are identical except for the seed (and the suite name) form a *group*.
# A group's metrics are the mean, the sample standard deviation (ddof=1) and the 95% t
# interval of the mean over its runs that finished with status "done"; ``n`` counts those
# runs. The per-seed rows stay available (``runs.csv``); ``summary.csv``/``summary.md``
# hold one row per group.

GROUP_COLUMNS = ["suite", "model", "params", "solver", "train", "dataset", "device"]
NOT_METRICS = {"seed", "epochs", "single_class", "single_class_runs"}  # single_class: class names
NO_STD = {"n_params", "train_samples", "test_samples", "threads", "validity_samples"}
# The summary's markdown/HTML cells that show the interval after ``mean ± sd``: the headline
# numbers (summary.csv has ``_ci_low``/``_ci_high`` for every metric).
CI_CELLS = {"test_accuracy", "test_macro_f1", "epoch_seconds", "eval_seconds",
            "epoch_ratio", "eval_ratio", "validity_reference_accuracy", "validity_gap",
            "test_accuracy_delta", "test_macro_f1_delta"}
SUMMARY_NOTE = (f"Cells: mean ± sample sd over the group's finished runs (n seeds); [low, high] is "
                f"the {CONFIDENCE:.0%} t interval of the mean (mean ± t(0.975, n−1)·sd/√n), shown "
                "for accuracy, macro-F1 and times where n ≥ 2 (summary.csv: <metric>_ci_low/_ci_high "
                "for every metric). × ratios are per-seed ratios to the baseline run of the same "
                "seed, averaged, and Δ the per-seed differences from it in points; their interval "
                "is the t interval of that mean (paired by seed: a Δ interval without 0 is a "
                "difference at the 5% level).")


def _status_summary(statuses: list[str], reasons: list[str]) -> tuple[str, str]:
    counts: dict[str, int] = {}
    for s in statuses:
        counts[s] = counts.get(s, 0) + 1
    if list(counts) == ["done"]:
        return "done", ""
    status = ", ".join(f"{n} {s}" for s, n in counts.items())
    reason = next((r for s, r in zip(statuses, reasons) if s != "done" and r), "")
    return status, reason


def aggregate(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per group of runs that differ only in their seed (see ``group_key``):
    ``n`` (done runs), ``runs`` (all runs), ``seeds``, ``status``, and ``<metric>_mean`` /
    ``<metric>_std`` / ``<metric>_ci_low`` / ``<metric>_ci_high`` for every numeric metric
    (over done runs; std is the sample standard deviation, the interval the 95% t interval of
    the mean; both empty when n < 2). ``config`` is the group's config (without seed and suite).
    ``shared``: runs flagged as measured on a shared machine
    (``odebench.claims``). Where the runs recorded them: ``busy`` (a done run ran on a busy machine),
    ``single_class`` (the classes done runs predicted alone) and ``single_class_runs``; where it
    happened: ``cpus`` (which seeds ran on which CPU, when more than one) and
    ``baseline_cpu_differs`` (the seeds whose baseline ran on another CPU; see ``add_ratios``)."""
    if frame.empty:
        return pd.DataFrame(columns=GROUP_COLUMNS + ["n", "runs", "seeds", "status", "reason", "shared",
                                     "config"])
    frame = frame.reset_index(drop=True)
    # Rows flattened before runs had a ``train`` cell (older runs.csv files) have none.
    group_columns = [c for c in GROUP_COLUMNS if c != "train" or c in frame.columns]
    keys = frame["config"].map(group_key)
    numeric = [
        c for c in frame.columns
        if c not in NOT_METRICS and c not in GROUP_COLUMNS
        and pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
    ]
    out = []
    for key in dict.fromkeys(keys):  # first-appearance order
        part = frame[keys == key]
        done = part[part["status"] == "done"]
        first = part.iloc[0]
        status, reason = _status_summary(list(part["status"]),
                                         [r if isinstance(r, str) else "" for r in part["reason"]])
        row: dict[str, Any] = {c: first.get(c) for c in group_columns}
        row.update({
            "n": len(done),
            "runs": len(part),
            "seeds": ",".join(str(s) for s in part["seed"]),
            "status": status,
            "reason": reason,
            "shared": sum(_shared(v) for v in part.get("shared_machine", [])),
        })
        for column in numeric:
            values = pd.to_numeric(done[column], errors="coerce").dropna()
            row[f"{column}_mean"] = float(values.mean()) if len(values) else None
            std = float(values.std(ddof=1)) if len(values) > 1 else None
            if std is not None and std <= 1e-12 * max(1.0, abs(float(values.mean()))):
                std = 0.0  # equal values: no floating-point noise like 1.7e-17
            row[f"{column}_std"] = std
            half = t_halfwidth(std, len(values)) if column not in NO_STD else None
            row[f"{column}_ci_low"] = row[f"{column}_mean"] - half if half is not None else None
            row[f"{column}_ci_high"] = row[f"{column}_mean"] + half if half is not None else None
        # Present only for runs that recorded them (older stores and CSVs have neither).
        if "busy" in part.columns:
            row["busy"] = any(v is True for v in done["busy"])
        if "single_class" in part.columns:
            single = [v for v in done["single_class"] if isinstance(v, str) and v]
            row["single_class"] = ", ".join(dict.fromkeys(single)) or None
            row["single_class_runs"] = len(single)
        if "cpu" in done.columns:
            seeds_on: dict[tuple[str, str], list[str]] = {}
            for cpu, seed in zip(_cpus(done), done["seed"]):
                if cpu:
                    seeds_on.setdefault(cpu, []).append(str(seed))
            if any(_other_cpu(a, b) for a in seeds_on for b in seeds_on):
                row["cpus"] = "; ".join(f"{_cpu_text(cpu)}: seed{'s' if len(s) > 1 else ''} {', '.join(s)}"
                                        for cpu, s in seeds_on.items())
        if "baseline_cpu" in done.columns:
            row["baseline_cpu_differs"] = ", ".join(
                str(seed) for seed, cpu in zip(done["seed"], done["baseline_cpu"]) if isinstance(cpu, str) and cpu
            ) or None
        row["config"] = key
        out.append(row)
    return pd.DataFrame(out)


def _agg_cell(column: str, row: pd.Series) -> str:
    mean, std = row.get(f"{column}_mean"), row.get(f"{column}_std")
    cell = _cell
    if column.startswith(("recall_", "precision_", "f1_")):
        def cell(_c: str, v: Any) -> str:
            return "" if v is None or v != v else f"{v:.4f}"
    text = cell(column, mean)
    if text and column not in NO_STD and std is not None and std == std:
        text += f" ± {cell(column, std).lstrip('+')}"
        low, high = row.get(f"{column}_ci_low"), row.get(f"{column}_ci_high")
        if column in CI_CELLS and low is not None and low == low and high is not None and high == high:
            text += f" [{cell(column, low)}, {cell(column, high)}]"
    return text


def summary_columns(summary: pd.DataFrame) -> list[tuple[str, str]]:
    """(column, title) of the summary tables: the run table's columns, ``n`` for ``seed``,
    and per-class recall."""
    # In the frame's order: the dataset's class order (see ``labels.flatten``).
    recall = [c[: -len("_mean")] for c in summary.columns
              if c.startswith("recall_") and c.endswith("_mean")]
    columns = _with_ratios([(c, t) for c, t in _markdown(summary) if c != "seed"],
                           "epoch_ratio_mean" in summary.columns)
    columns = _with_validity(columns, "validity_gap_mean" in summary.columns)
    columns.insert(next(i for i, (c, _) in enumerate(columns) if c == "device") + 1, ("n", "n"))
    return columns + [(c, f"rec {c[len('recall_'):]}") for c in recall]


def summary_cells(summary: pd.DataFrame, reason_chars: int | None = 60) -> tuple[list, list[list[str]]]:
    """Columns and formatted cells of the aggregated table, shared by markdown and HTML."""
    columns = summary_columns(summary)
    body = []
    for _, row in summary.iterrows():
        cells = []
        for column, _title in columns:
            if column in GROUP_COLUMNS or column == "n":
                cells.append(str(row.get(column) if row.get(column) is not None else ""))
            elif column == "status":
                value = row["status"]
                if row.get("reason"):
                    value = f"{value}: {str(row['reason'])[:reason_chars]}"
                value += _shared_marker(row)
                cells.append(value)
            else:
                cells.append(_busy(column, _agg_cell(column, row), row))
        body.append(cells)
    return columns, body


def summary_markdown(summary: pd.DataFrame) -> str:
    """The aggregated table (see ``aggregate``) as GitHub markdown: ``mean ± std`` cells
    where a group has two or more done runs, and ``n`` (done runs of the group)."""
    if summary.empty:
        return "(no runs)"
    columns, body = summary_cells(summary)
    text_columns = {"model", "params", "solver", "train", "dataset", "device", "status"}
    text = tabulate(body, headers=[title for _, title in columns], tablefmt="github",
                    disable_numparse=True,
                    colalign=["left" if c in text_columns else "right" for c, _ in columns])
    notes = result_notes(summary)
    return text + "".join(f"\n\n{note}" if i == 0 else f"\n{note}" for i, note in enumerate(notes))


def per_class_markdown(summary: pd.DataFrame) -> str:
    """Per class, the sensitivity (Se, recall) and positive predictivity (+P, precision) of each
    group, mean ± sd over its runs, as the ECG literature reports them (AAMI EC57); empty when
    no run stored per-class scores."""
    classes = [c[len("recall_"):-len("_mean")] for c in summary.columns
               if c.startswith("recall_") and c.endswith("_mean")]
    if summary.empty or not classes:
        return ""
    columns = [c for c in ("model", "params", "solver", "train", "dataset", "device") if c in summary.columns
               and summary[c].fillna("").astype(str).str.len().any()
               and (c not in ("dataset", "device") or summary[c].nunique() > 1)] + ["n"]
    headers = columns + [f"{what} {c}" for c in classes for what in ("Se", "+P")]
    body = []
    for _, row in summary.iterrows():
        cells = [str(row.get(c) if row.get(c) is not None else "") for c in columns]
        for c in classes:
            cells += [_agg_cell(f"recall_{c}", row), _agg_cell(f"precision_{c}", row)]
        body.append(cells)
    return ("## Per class: sensitivity (Se = recall) and positive predictivity (+P = precision)\n\n"
            + tabulate(body, headers=headers, tablefmt="github", disable_numparse=True,
                       colalign=["left"] * len(columns) + ["right"] * (len(headers) - len(columns))))


def summary_document(summary: pd.DataFrame, title: str) -> str:
    """``summary.md``: the aggregated table, how to read it, and the per-class table."""
    per_class = per_class_markdown(summary)
    return (f"# {title}\n\n{summary_markdown(summary)}\n\n{SUMMARY_NOTE}\n"
            + (f"\n{per_class}\n" if per_class else ""))


def result_notes(summary: pd.DataFrame) -> list[str]:
    """One line per group whose runs predicted a single class, whose × pairs runs of two CPUs
    or whose seeds ran on several; one when some runs ran on a busy machine and one when some
    shared it with another driver's runs; empty for runs that recorded none of these (see
    ``aggregate``)."""
    out = []
    several_devices = summary["device"].nunique() > 1 if "device" in summary.columns else False
    for _, row in summary.iterrows():
        if isinstance(row.get("single_class"), str) and row["single_class"]:
            runs = int(row["single_class_runs"])
            share = f"{runs} of {row['n']} runs" if row["n"] > 1 else "its run"
            out.append(f"warning: {run_label(row, with_device=several_devices)}: {share} "
                       f"predicted {row['single_class']} for every test sample (it learned nothing that "
                       "tells the classes apart; train longer, on more data, or with another lr)")
        if isinstance(row.get("baseline_cpu_differs"), str) and row["baseline_cpu_differs"]:
            out.append(f"warning: {run_label(row, with_device=several_devices)}: seed(s) "
                       f"{row['baseline_cpu_differs']} ran on another CPU than the baseline run of "
                       "that seed, so their × measures the machines too; rerun that baseline beside "
                       "them (a suite file of the same name: holding only it, --set \"seeds=[N]\" --force)")
        if isinstance(row.get("cpus"), str) and row["cpus"]:
            paired = " (× pairs each seed with the baseline run of that seed)" if "epoch_ratio_mean" in row else ""
            out.append(f"note: {run_label(row, with_device=several_devices)}: its seeds ran on "
                       f"different CPUs ({row['cpus']}): its seconds mix machines{paired}")
    if "busy" in summary.columns and (summary["busy"] == True).any():  # noqa: E712 - None too
        out.append("note: times marked busy come from runs during which other processes used "
                   "the CPU: slower and noisier than on a quiet machine; rerun them with --force "
                   "when it is quiet")
    if "shared" in summary.columns and (pd.to_numeric(summary["shared"], errors="coerce") > 0).any():
        out.append("note: runs marked 'on a shared machine' ran while another odebench driver ran "
                   "runs on the same host (two drivers on one store): their times are slower than "
                   "alone; rerun them with --force when one driver runs")
    return out


# ---------------------------------------------------------------- the terminal table
#
# The files keep every column; the terminal gets the key ones in a width that fits: one row
# per seed group, means (± std over seeds), per-class recall in % in one cell in the
# dataset's class order, and the least needed columns left out while the table is too wide.

# While too wide, in this order: shorten failure reasons to N characters (the files and the
# run's end lines keep them whole), or leave a column out.
TERMINAL_NOTE = ("Cells: mean ± sample sd over the group's finished runs (n seeds); recall % per "
                 "class. The 95% t intervals of the means and every other column are in the "
                 "report files (summary.md, summary.csv) and in --format md.")
TERMINAL_SHRINK: list[int | str] = [24, "peak_memory_bytes", "nfe_forward", "n", 8, "test_macro_f1",
                                    "epoch_ratio", 0]


def _short(value: Any, digits: int = 3) -> str:
    return "" if value is None or value != value else f"{value:.{digits}f}"


def _terminal_cell(column: str, row: pd.Series) -> str:
    mean, std = row.get(f"{column}_mean"), row.get(f"{column}_std")
    if column in ("test_accuracy", "test_macro_f1"):
        text = _short(mean)
        if text and std is not None and std == std:
            text += f"±{_short(std)}"
    elif column == "epoch_ratio":
        text = _short(mean, 2)
    else:
        text = _cell(column, mean)
    return _busy(column, text, row)


def terminal_columns(summary: pd.DataFrame) -> list[tuple[str, str]]:
    """(column, title) of the terminal table: those with something to show."""
    classes = [c[len("recall_"):-len("_mean")] for c in summary.columns
               if c.startswith("recall_") and c.endswith("_mean")]
    columns = [("run", "run"), ("solver", "solver")]
    if "dataset" in summary.columns and summary["dataset"].nunique() > 1:
        columns.append(("dataset", "dataset"))
    if summary["device"].nunique() > 1:
        columns.append(("device", "device"))
    if (summary["runs"] > 1).any():
        columns.append(("n", "n"))
    columns += [("status", "status"), ("test_accuracy", "test acc")]
    if "validity_gap_mean" in summary.columns and summary["validity_gap_mean"].notna().any():
        columns.append(("validity_gap", "gap pts"))  # the solver-swap check: still an ODE?
    columns += [("test_macro_f1", "macro-F1"), ("epoch_seconds", "epoch s")]
    if "epoch_ratio_mean" in summary.columns:
        columns.append(("epoch_ratio", "epoch ×"))
    for column, title in (("nfe_forward", "NFE fwd"), ("peak_memory_bytes", "peak mem")):
        if f"{column}_mean" in summary.columns and summary[f"{column}_mean"].notna().any():
            columns.append((column, title))
    if classes:
        widths = [max(3, len(c)) for c in classes]
        columns.append(("recall", "recall %\n" + " ".join(c.rjust(w) for c, w in zip(classes, widths)).lstrip()))
    if not summary["solver"].astype(bool).any():
        columns.remove(("solver", "solver"))
    return columns


def _terminal_row(row: pd.Series, columns: list[tuple[str, str]], reason_chars: int) -> list[str]:
    cells = []
    for column, _title in columns:
        if column == "run":
            cells.append(" ".join(str(row[c]) for c in ("model", "params", "train") if row.get(c)))
        elif column in ("solver", "dataset", "device", "n"):
            cells.append("" if row.get(column) is None else str(row[column]))
        elif column == "status":
            reason = str(row.get("reason") or "")
            if len(reason) > reason_chars:
                reason = reason[:reason_chars - 1] + "…" if reason_chars > 1 else ""
            cells.append((f"{row['status']}: {reason}" if reason else str(row["status"]))
                         + _shared_marker(row))
        elif column == "recall":
            classes = _title.split("\n")[1].split()
            values = [row.get(f"recall_{c}_mean") for c in classes]
            cells.append(" ".join(("--" if v is None or v != v else f"{100 * v:.0f}").rjust(max(3, len(c)))
                                  for c, v in zip(classes, values)))
        else:
            cells.append(_terminal_cell(column, row))
    return cells


def terminal_table(summary: pd.DataFrame, width: int = 120) -> str:
    """The summary (see ``aggregate``) as a plain table of its key columns, at most ``width``
    characters wide where shortening failure reasons and leaving out columns
    (``TERMINAL_SHRINK``, in order) gets it there; the notes of ``result_notes`` below it."""
    if summary.empty:
        return "(no runs)"
    columns = terminal_columns(summary)
    reason_chars = 40
    steps = list(TERMINAL_SHRINK)
    while True:
        body = [_terminal_row(row, columns, reason_chars) for _, row in summary.iterrows()]
        text = tabulate(body, headers=[t for _, t in columns], tablefmt="simple",
                        disable_numparse=True,
                        colalign=["left" if c in ("run", "solver", "device", "status") else "right"
                                  for c, _ in columns])
        if max(len(line) for line in text.splitlines()) <= width or not steps:
            break  # fits, or the labels alone are wider: let the terminal wrap
        step = steps.pop(0)
        if isinstance(step, int):
            reason_chars = min(reason_chars, step)
        else:
            columns = [c for c in columns if c[0] != step]
    notes = [textwrap.fill(note, width, subsequent_indent="  ") for note in result_notes(summary)]
    return text + ("\n\n" + "\n".join(notes) if notes else "")
