"""``odebench compare BASELINE CANDIDATE``: match the runs of two result sets and show, per
matching run, the candidate/baseline ratio of time, memory and NFE and the accuracy
difference; ``--metric NAME --fail-above PCT`` exits 1 when the candidate is worse than the
baseline by more than PCT percent on NAME (for CI).

A result set is a results directory (or its ``odebench.sqlite``), optionally narrowed to a
suite as ``DIR:SUITE``, or a CSV exported by odebench (``runs.csv``, ``summary.csv`` or
``odebench report --format csv``). Runs match when their configs are equal without the
suite name (model, params, solver, dataset, train settings, device, threads, seed); the code
version and the machine never take part.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .types import OdebenchError

if TYPE_CHECKING:  # pandas and the report are imported when the command runs, not by `odebench --help`
    import pandas as pd

HIGHER_IS_BETTER = ("accuracy", "f1", "precision", "recall", "samples_per_second")
RATIOS = [("epoch_seconds", "time ×"), ("eval_seconds", "eval time ×"),
          ("peak_memory_bytes", "memory ×"), ("nfe_forward", "NFE fwd ×"),
          ("nfe_backward", "NFE bwd ×")]
DIFFS = [("test_accuracy", "Δ acc (pp)"), ("test_macro_f1", "Δ macro-F1 (pp)")]


def higher_is_better(metric: str) -> bool:
    return any(word in metric for word in HIGHER_IS_BETTER)


def worse_percent(metric: str, baseline: float, candidate: float) -> float:
    """How much worse the candidate is than the baseline, in percent of the baseline
    (negative when it is better). Lower is better for times, memory and NFE; higher for
    accuracy, F1, precision, recall and throughput."""
    change = candidate - baseline
    if higher_is_better(metric):
        change = -change
    if baseline == 0:
        return 0.0 if change == 0 else math.copysign(math.inf, change)
    return 100.0 * change / abs(baseline)


# ---------------------------------------------------------------- loading

def _split_spec(spec: str) -> tuple[Path, str | None]:
    path = Path(spec)
    if not path.exists() and ":" in spec:
        head, suite = spec.rsplit(":", 1)
        if Path(head).exists() and suite:
            return Path(head), suite
    if not path.exists():
        raise OdebenchError(f"{spec!r} does not exist; give a results directory, DIR:SUITE, or a CSV "
                            "written by odebench report")
    return path, None


def load_rows(spec: str, suite: str | None = None) -> tuple[pd.DataFrame, bool]:
    """The rows of a result set and whether they are per-seed aggregates (summary.csv)."""
    import pandas as pd

    from .report.labels import flatten
    from .report.tables import table
    from .store import FILENAME, Store

    path, spec_suite = _split_spec(spec)
    suite = spec_suite or suite
    if path.is_dir() or path.name == FILENAME:
        store = Store(path if path.is_dir() else path.parent)
        runs = store.latest(suite)
        if suite and not runs:
            raise OdebenchError(f"no runs of suite {suite!r} in {store.path}; known: "
                                f"{', '.join(store.suites()) or 'none'}")
        return table([flatten(r) for r in runs]), False
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise OdebenchError(f"cannot read {str(path)!r} as CSV ({exc}); give an odebench CSV or a "
                            "results directory") from None
    if "config" not in frame.columns:
        raise OdebenchError(f"{str(path)!r} has no 'config' column; export it with odebench report "
                            "(runs.csv, summary.csv or --format csv)")
    summary = "n" in frame.columns and "test_accuracy" not in frame.columns
    if summary:  # summary.csv: <metric>_mean is the value compared
        frame = frame.rename(columns={c: c[:-len("_mean")] for c in frame.columns if c.endswith("_mean")})
    if suite and "suite" in frame.columns:
        frame = frame[frame["suite"] == suite]
        if frame.empty:
            raise OdebenchError(f"no rows of suite {suite!r} in {str(path)!r}")
    return frame.reset_index(drop=True), summary


def _drop(config: dict[str, Any], dotted: str) -> None:
    *parents, last = dotted.split(".")
    node: Any = config
    for p in parents:
        node = node.get(p) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(last, None)


def match_key(config: str | dict[str, Any], ignore: list[str] = ()) -> str:
    """What two runs must share to be compared: the config without the suite name and the
    ``ignore``d keys (dotted, e.g. ``dataset.path``)."""
    config = json.loads(config) if isinstance(config, str) else dict(config)
    config.pop("suite", None)
    for key in ignore:
        _drop(config, key)
    return json.dumps(config, sort_keys=True)


def _clean(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def _label(row: dict[str, Any]) -> str:
    from .report.labels import run_label

    row = {k: ("" if _clean(v) is None else v) for k, v in row.items()}
    text = run_label(row)
    seed, n = row.get("seed", ""), row.get("n", "")
    if seed != "":
        text += f" seed={int(seed) if isinstance(seed, float) and seed.is_integer() else seed}"
    elif n != "":
        text += f" (n={int(n) if isinstance(n, float) else n})"
    return f"{text} {row.get('device', '')}".strip()


def _index(frame: pd.DataFrame, ignore: list[str], side: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for row in frame.to_dict("records"):
        key = match_key(row["config"], ignore)
        if key in out:
            raise OdebenchError(f"the {side} has two runs with the same config ({_label(row)}), "
                                "probably from two suites; name one as DIR:SUITE or pass --suite")
        out[key] = row
    return out


# ---------------------------------------------------------------- comparing

def compare(baseline: pd.DataFrame, candidate: pd.DataFrame, ignore: list[str] = (),
            metric: str | None = None) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """Matched rows (label, statuses, ratios, differences, the metric's worse-%), and the
    labels of the baseline's and the candidate's unmatched runs."""
    a, b = _index(baseline, ignore, "baseline"), _index(candidate, ignore, "candidate")
    matched = []
    for key, ra in a.items():
        if key not in b:
            continue
        rb = b[key]
        out: dict[str, Any] = {"run": _label(ra), "baseline status": ra["status"],
                               "candidate status": rb["status"]}
        for name, title in RATIOS:
            va, vb = _clean(ra.get(name)), _clean(rb.get(name))
            out[title] = vb / va if va and vb is not None else None
        for name, title in DIFFS:
            va, vb = _clean(ra.get(name)), _clean(rb.get(name))
            out[title] = 100.0 * (vb - va) if va is not None and vb is not None else None
        if metric:
            va, vb = _clean(ra.get(metric)), _clean(rb.get(metric))
            out["metric"] = metric
            out["baseline"], out["candidate"] = va, vb
            out["worse %"] = worse_percent(metric, float(va), float(vb)) \
                if va is not None and vb is not None else None
        matched.append(out)
    only_a = [_label(r) for k, r in a.items() if k not in b]
    only_b = [_label(r) for k, r in b.items() if k not in a]
    return matched, only_a, only_b


def _fmt(value: Any, digits: str = ".3f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return format(value, digits)
    return str(value)


def cmd_compare(args) -> int:
    import pandas as pd
    from tabulate import tabulate

    if args.fail_above is not None and args.metric is None:
        raise OdebenchError("--fail-above needs --metric NAME, e.g. --metric epoch_seconds --fail-above 10")
    base, base_summary = load_rows(args.baseline, args.suite)
    cand, cand_summary = load_rows(args.candidate, args.suite)
    if args.mean_over_seeds or base_summary != cand_summary:
        # Compare group means when either side is already aggregated over seeds.
        base = base if base_summary else _as_summary(base)
        cand = cand if cand_summary else _as_summary(cand)
    matched, only_a, only_b = compare(base, cand, args.ignore or [], args.metric)
    if not matched:
        raise OdebenchError(
            f"no run of {args.candidate!r} matches one of {args.baseline!r} ({len(base)} vs "
            f"{len(cand)} runs); configs must be equal but for the suite name (see --ignore KEY)")
    frame = pd.DataFrame(matched)
    if args.format == "csv":
        sys.stdout.write(frame.to_csv(index=False))
    else:
        columns = [c for c in frame.columns if c != "metric"]
        body = [[_fmt(r[c], ".2f" if c == "worse %" else ".3f") for c in columns]
                for r in matched]
        print(tabulate(body, headers=columns, tablefmt="github"))
        print("\n× = candidate / baseline (below 1: the candidate uses less); Δ = candidate − "
              "baseline in percentage points" + (f"; worse % = how much worse the candidate is on "
                                                  f"{args.metric}" if args.metric else ""))
    where = sys.stderr if args.format == "csv" else sys.stdout
    print(f"\n{len(matched)} run(s) matched; {len(only_a)} only in the baseline, "
          f"{len(only_b)} only in the candidate", file=where)
    for title, labels in (("only in the baseline", only_a), ("only in the candidate", only_b)):
        for label in labels[:20]:
            print(f"  {title}: {label}", file=where)
        if len(labels) > 20:
            print(f"  ... and {len(labels) - 20} more {title}", file=where)
    if args.metric:
        if all(m["baseline"] is None and m["candidate"] is None for m in matched):
            known = sorted(c for c in base.columns if pd.api.types.is_numeric_dtype(base[c]))
            raise OdebenchError(f"metric {args.metric!r} is in no matched run; try one of: "
                                f"{', '.join(known[:15])}")
    if args.fail_above is None:
        return 0
    failed = []
    for m in matched:
        if m["baseline status"] == "done" and m["candidate status"] != "done":
            failed.append(f"{m['run']}: candidate {m['candidate status']} (baseline done)")
        elif m["worse %"] is not None and m["worse %"] > args.fail_above:
            failed.append(f"{m['run']}: {args.metric} {_fmt(m['baseline'], '.4g')} -> "
                          f"{_fmt(m['candidate'], '.4g')} ({m['worse %']:.1f}% worse)")
    if failed:
        print(f"\nFAIL: {len(failed)} run(s) worse than the baseline by more than "
              f"{args.fail_above:g}% on {args.metric}:", file=sys.stderr)
        for line in failed:
            print(f"  {line}", file=sys.stderr)
        return 1
    print(f"\nOK: no matched run is worse than the baseline by more than {args.fail_above:g}% "
          f"on {args.metric}", file=where)
    return 0


def _as_summary(frame: pd.DataFrame) -> pd.DataFrame:
    from .report.labels import group_key
    from .report.tables import aggregate

    summary = aggregate(frame)
    summary = summary.rename(columns={c: c[:-len("_mean")] for c in summary.columns
                                      if c.endswith("_mean")})
    summary["config"] = summary["config"].map(group_key)
    return summary


def add_commands(sub) -> None:
    p = sub.add_parser(
        "compare", help="compare two result sets run by run (time, memory, NFE ratios; accuracy "
        "difference); --metric/--fail-above for CI")
    p.add_argument("baseline", help="results directory, DIR:SUITE, or an odebench CSV")
    p.add_argument("candidate", help="results directory, DIR:SUITE, or an odebench CSV")
    p.add_argument("--suite", help="only this suite (on both sides, unless given as DIR:SUITE)")
    p.add_argument("--metric", help="the metric checked by --fail-above, e.g. epoch_seconds, "
                   "peak_memory_bytes, nfe_forward, test_accuracy")
    p.add_argument("--fail-above", type=float, metavar="PCT",
                   help="exit 1 when a candidate run is worse than its baseline by more than PCT "
                   "percent on --metric (or did not finish while the baseline did)")
    p.add_argument("--ignore", action="append", metavar="KEY",
                   help="leave a config key out of matching, dotted: device, threads, dataset.path")
    p.add_argument("--mean-over-seeds", action="store_true",
                   help="compare the mean over seeds of each group instead of run by run")
    p.add_argument("--format", choices=["md", "csv"], default="md")
    p.set_defaults(func=cmd_compare)
