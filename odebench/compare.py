"""``odebench compare BASELINE CANDIDATE``: match the runs of two result sets and show, per
matching run, the candidate/baseline ratio of time, memory and NFE and the accuracy
difference; ``--metric NAME --fail-above PCT`` exits 1 when the candidate is worse than the
baseline by more than PCT percent on NAME and the difference is significant (for CI).

With ``--metric`` the comparison is per seed group (runs that differ only in their seed):
the metric's difference gets a confidence interval and a test (see ``odebench.stats``) on
the per-seed values, or, for ``epoch_seconds``/``eval_seconds`` read from a results store,
on every run's per-epoch times as repeats (the warm-up first epoch left out of
``epoch_seconds``, as the runner does). Groups with fewer than two values on a side are
untested: there the threshold alone decides, and the output says so.

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

from .stats import ALPHA, Sample, compare_samples
from .types import OdebenchError

if TYPE_CHECKING:  # pandas and the report are imported when the command runs, not by `odebench --help`
    import pandas as pd

HIGHER_IS_BETTER = ("accuracy", "f1", "precision", "recall", "samples_per_second")
RATIOS = [("epoch_seconds", "time ×"), ("eval_seconds", "eval time ×"),
          ("peak_memory_bytes", "memory ×"), ("nfe_forward", "NFE fwd ×"),
          ("nfe_backward", "NFE bwd ×")]
DIFFS = [("test_accuracy", "Δ acc (pp)"), ("test_macro_f1", "Δ macro-F1 (pp)")]
# Time metrics whose per-epoch values a store keeps: (metric, whether epoch 1 is warm-up and
# left out, as ``runner.final_metrics`` does for the run's median).
REPEATS = [("epoch_seconds", True), ("eval_seconds", False)]
REPEATS_SUFFIX = ":epochs"


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

    from .report.labels import flatten_all
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
        frame = table(flatten_all(runs))
        for metric, warm_up in REPEATS:
            frame[metric + REPEATS_SUFFIX] = [epoch_repeats(r, metric, warm_up) for r in runs]
        return frame, False
    try:
        frame = pd.read_csv(path, float_precision="round_trip")
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


def epoch_repeats(run: dict[str, Any], metric: str, warm_up: bool) -> tuple[float, ...] | None:
    """A stored run's per-epoch values of ``metric`` (without epoch 1 when ``warm_up`` and
    there are more), or None when its epochs do not hold it."""
    values = [float(e[metric]) for e in run.get("epochs") or [] if e.get(metric) is not None]
    if warm_up and len(values) > 1:
        values = values[1:]
    return tuple(values) or None


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
    config.pop("explicit", None)  # how the suite wrote it, not what ran
    for key in ignore:
        _drop(config, key)
    return json.dumps(config, sort_keys=True)


def _dotted(config: Any, prefix: str = "") -> dict[str, Any]:
    """``{"train.epochs": 5, ...}``: a config's leaves by dotted key."""
    if isinstance(config, dict) and config:
        out: dict[str, Any] = {}
        for key, value in config.items():
            out.update(_dotted(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: config}


ABSENT = object()


def config_differences(baseline: Any, candidate: Any, ignore: list[str] = (), limit: int = 5) -> str:
    """The dotted config keys whose values differ between two sides (iterables of configs as
    JSON or dicts), as ``train.epochs (5 vs 2), dataset.train_size (absent vs 1000)``; the
    values each side has, ``a/b`` where a side has several. Keys that vary within each side
    alike (the grid of a suite) are not differences."""
    sides = []
    for configs in (baseline, candidate):
        values: dict[str, set[str]] = {}
        flat = [_dotted(json.loads(match_key(c, ignore))) for c in configs]
        keys = {k for f in flat for k in f}
        for f in flat:
            for key in keys:
                value = f.get(key, ABSENT)
                values.setdefault(key, set()).add(
                    "absent" if value is ABSENT else value if isinstance(value, str) else json.dumps(value))
        sides.append(values)
    a, b = sides
    out = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key, {"absent"}), b.get(key, {"absent"})
        if va != vb:
            out.append(f"{key} ({'/'.join(sorted(va))} vs {'/'.join(sorted(vb))})")
    more = f" and {len(out) - limit} more" if len(out) > limit else ""
    return ", ".join(out[:limit]) + more


def _clean(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def _seeds(row: dict[str, Any]) -> str:
    seeds = _clean(row.get("seeds"))
    if seeds is None:
        return ""
    return str(int(seeds) if isinstance(seeds, float) and seeds.is_integer() else seeds)


def _label(row: dict[str, Any], other: dict[str, Any] | None = None) -> str:
    """A run's label with its seed; a group's with its seeds (``seeds=0,1,2 vs 3,4,5`` when
    ``other``, the matching group, has other seeds)."""
    from .report.labels import run_label

    row = {k: ("" if _clean(v) is None else v) for k, v in row.items()}
    text = run_label(row)
    seed, n, seeds = row.get("seed", ""), row.get("n", ""), _seeds(row)
    if seed != "":
        text += f" seed={int(seed) if isinstance(seed, float) and seed.is_integer() else seed}"
    elif seeds:
        text += f" seed{'s' if ',' in seeds else ''}={seeds}"
        if other is not None and _seeds(other) != seeds:
            text += f" vs {_seeds(other)}"
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
            metric: str | None = None, tests: dict[str, dict[str, Any]] | None = None
            ) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """Matched rows (label, statuses, ratios, differences, the metric's worse-%), and the
    labels of the baseline's and the candidate's unmatched runs. ``tests`` (from
    ``metric_tests``, by match key) replaces the metric's plain values with its statistics."""
    a, b = _index(baseline, ignore, "baseline"), _index(candidate, ignore, "candidate")
    matched = []
    for key, ra in a.items():
        if key not in b:
            continue
        rb = b[key]
        out: dict[str, Any] = {"run": _label(ra, rb), "baseline status": ra["status"],
                               "candidate status": rb["status"]}
        for name, title in RATIOS:
            va, vb = _clean(ra.get(name)), _clean(rb.get(name))
            out[title] = vb / va if va and vb is not None else None
        for name, title in DIFFS:
            va, vb = _clean(ra.get(name)), _clean(rb.get(name))
            out[title] = 100.0 * (vb - va) if va is not None and vb is not None else None
        if metric and tests is not None:
            out["metric"] = metric
            out.update(tests.get(key) or _untested(None, None))
        elif metric:
            va, vb = _clean(ra.get(metric)), _clean(rb.get(metric))
            out["metric"] = metric
            out["baseline"], out["candidate"] = va, vb
            out["worse %"] = worse_percent(metric, float(va), float(vb)) \
                if va is not None and vb is not None else None
        matched.append(out)
    only_a = [_label(r) for k, r in a.items() if k not in b]
    only_b = [_label(r) for k, r in b.items() if k not in a]
    return matched, only_a, only_b


def _sides(frame: pd.DataFrame, summary: bool, metric: str, ignore: list[str]
           ) -> dict[str, tuple[Sample, Sample | None]]:
    """Per seed group (by match key): the metric over its finished runs' seeds, and over
    their per-epoch repeats where every such run has them (None otherwise)."""
    import pandas as pd

    from .report.labels import group_key

    if frame.empty or metric not in frame.columns:
        return {}
    keys = frame["config"].map(lambda c: match_key(group_key(c), ignore))
    values = pd.to_numeric(frame[metric], errors="coerce")
    out: dict[str, tuple[Sample, Sample | None]] = {}
    for key in dict.fromkeys(keys):
        part = frame[keys == key]
        if summary:  # one row per group: n, mean and sd are all there is
            row = part.iloc[0]
            mean, sd = _clean(values[part.index[0]]), _clean(row.get(f"{metric}_std"))
            n = int(row["n"]) if mean is not None and _clean(row.get("n")) is not None else 0
            out[key] = (Sample(n, mean, sd if n > 1 else None), None)
            continue
        done = part["status"] == "done"
        seeds = Sample.of(values[part.index[done]].tolist())
        epochs = None
        column = metric + REPEATS_SUFFIX
        if column in part.columns and done.any():
            repeats = part.loc[done, column].tolist()
            if all(r for r in repeats):
                epochs = Sample.of([v for r in repeats for v in r], unit="epochs")
        out[key] = (seeds, epochs)
    return out


def _untested(a: Sample | None, b: Sample | None, test: str = "none: no value") -> dict[str, Any]:
    return {"n": f"{a.n if a else 0} vs {b.n if b else 0}",
            "baseline": a.mean if a else None, "candidate": b.mean if b else None,
            "worse %": None, "worse % low": None, "worse % high": None, "p": None, "test": test}


def metric_tests(baseline: pd.DataFrame, baseline_summary: bool, candidate: pd.DataFrame,
                 candidate_summary: bool, metric: str, ignore: list[str] = (),
                 alpha: float = ALPHA) -> dict[str, dict[str, Any]]:
    """Per matched seed group (by match key): the sizes, the two means, how much worse the
    candidate is in percent of the baseline mean with its ``1 − alpha`` interval, the
    two-sided p-value and the test used (see ``odebench.stats.compare_samples``). Per-epoch
    repeats are used when both sides have them, per-seed values otherwise."""
    a_sides = _sides(baseline, baseline_summary, metric, ignore)
    b_sides = _sides(candidate, candidate_summary, metric, ignore)
    out = {}
    for key, (a_seeds, a_epochs) in a_sides.items():
        if key not in b_sides:
            continue
        b_seeds, b_epochs = b_sides[key]
        a, b = (a_epochs, b_epochs) if a_epochs and b_epochs else (a_seeds, b_seeds)
        if a.mean is None or b.mean is None:
            out[key] = _untested(a, b)
            continue
        d = compare_samples(a, b, alpha)
        row = _untested(a, b, d.test)
        row["worse %"] = worse_percent(metric, a.mean, b.mean)
        if d.tested and a.mean != 0:
            low, high = 100.0 * d.low / abs(a.mean), 100.0 * d.high / abs(a.mean)
            row["worse % low"], row["worse % high"] = (-high, -low) if higher_is_better(metric) else (low, high)
        row["p"] = d.p
        out[key] = row
    return out


def _fmt(value: Any, digits: str = ".3f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return format(value, digits)
    return str(value)


def _ci_text(low: Any, high: Any) -> str:
    if _clean(low) is None or _clean(high) is None:
        return ""
    return f"[{low:.2f}, {high:.2f}]"


def _verdict(m: dict[str, Any], threshold: float, alpha: float, significance: bool) -> str | None:
    """Why a matched row fails ``--fail-above`` (None when it passes)."""
    if m["baseline status"] == "done" and m["candidate status"] != "done":
        return f"candidate {m['candidate status']} (baseline done)"
    worse = m.get("worse %")
    if worse is None or not worse > threshold:
        return None
    text = f"{m['metric']} {_fmt(m['baseline'], '.4g')} -> {_fmt(m['candidate'], '.4g')} ({worse:.1f}% worse"
    p = _clean(m.get("p"))
    ci = _ci_text(m.get("worse % low"), m.get("worse % high"))
    if not significance:
        return text + ")"
    if p is None:  # nothing to test with: the threshold alone decides, and we say so
        return text + f"; untested, {m.get('test', 'n too small').removeprefix('none: ')})"
    if p < alpha:
        return text + f", {1 - alpha:.0%} CI {ci} %, p={p:.3g}, {m['test']})"
    return None


def cmd_compare(args) -> int:
    import pandas as pd
    from tabulate import tabulate

    if args.fail_above is not None and args.metric is None:
        raise OdebenchError("--fail-above needs --metric NAME, e.g. --metric epoch_seconds --fail-above 10")
    if not 0 < args.alpha < 1:
        raise OdebenchError(f"--alpha {args.alpha:g} is not a probability; give one between 0 and 1, "
                            "e.g. --alpha 0.05")
    ignore = args.ignore or []
    base, base_summary = load_rows(args.baseline, args.suite)
    cand, cand_summary = load_rows(args.candidate, args.suite)
    raw_base, raw_cand = base, cand
    # A metric's test is a statement about seed groups, so --metric compares groups; so does a
    # side that is already aggregated, and two sides whose runs share no seed.
    groups = bool(args.mean_over_seeds or args.metric or base_summary != cand_summary)
    note, tests = "", None
    if not groups:
        matched, only_a, only_b = compare(base, cand, ignore)
        if not matched and not base.empty and not cand.empty:
            groups = True
            note = "no run matches seed for seed: comparing the seed groups (mean over seeds)\n"
    if groups:
        base = base if base_summary else _as_summary(base)
        cand = cand if cand_summary else _as_summary(cand)
        tests = metric_tests(raw_base, base_summary, raw_cand, cand_summary, args.metric, ignore,
                             args.alpha) if args.metric else None
        matched, only_a, only_b = compare(base, cand, ignore, args.metric, tests)
    if not matched:
        differ = config_differences(base["config"], cand["config"], args.ignore or [])
        raise OdebenchError(
            f"no run of {args.candidate!r} matches one of {args.baseline!r} ({len(base)} vs "
            f"{len(cand)} runs)" + (f": they differ in {differ}" if differ else "")
            + "; configs must be equal but for the suite name (leave a key out with --ignore KEY)")
    frame = pd.DataFrame(matched)
    where = sys.stderr if args.format == "csv" else sys.stdout
    level = f"{1 - args.alpha:.0%} CI"
    if args.format == "csv":
        sys.stdout.write(frame.to_csv(index=False))
    else:
        if tests is not None:
            frame.insert(frame.columns.get_loc("worse %") + 1, level,
                         [_ci_text(m["worse % low"], m["worse % high"]) for m in matched])
            frame = frame.drop(columns=["worse % low", "worse % high"])
        columns = [c for c in frame.columns if c != "metric"]
        digits = {"worse %": ".2f", "p": ".3g"}
        body = [[_fmt(r[c], digits.get(c, ".3f")) for c in columns] for r in frame.to_dict("records")]
        print(note + tabulate(body, headers=columns, tablefmt="github", disable_numparse=True))
        print("\n× = candidate / baseline (below 1: the candidate uses less); Δ = candidate − "
              "baseline in percentage points" + (f"; worse % = how much worse the candidate is on "
                                                  f"{args.metric}" if args.metric else ""))
        if args.metric:
            print(f"{args.metric} per seed group: n = values per side (seeds, or per-epoch times "
                  f"for times from a results store); {level} = interval of worse % (Welch); p = "
                  "two-sided p-value (Welch t on seeds; Mann-Whitney U on epochs where enough)")
    if note and args.format == "csv":
        print(note.strip(), file=where)
    print(f"\n{len(matched)} {'group' if groups else 'run'}(s) matched; {len(only_a)} only in the "
          f"baseline, {len(only_b)} only in the candidate", file=where)
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
    significance = not args.no_significance
    failed = [f"{m['run']}: {why}" for m in matched
              if (why := _verdict(m, args.fail_above, args.alpha, significance))]
    rule = (f"by more than {args.fail_above:g}% on {args.metric}"
            + (f" with p < {args.alpha:g}" if significance else ""))
    if failed:
        print(f"\nFAIL: {len(failed)} seed group(s) worse than the baseline {rule}:", file=sys.stderr)
        for line in failed:
            print(f"  {line}", file=sys.stderr)
        return 1
    noise = [m["run"] for m in matched if (_clean(m.get("worse %")) or 0) > args.fail_above]
    print(f"\nOK: no seed group is worse than the baseline {rule}"
          + (f" ({len(noise)} past the threshold but not significant)" if noise else ""), file=where)
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
                   help="exit 1 when a candidate seed group is worse than its baseline by more than "
                   "PCT percent on --metric and the difference is significant (or a run did not "
                   "finish while the baseline's did); untested groups (n < 2) fail on PCT alone")
    p.add_argument("--alpha", type=float, default=ALPHA,
                   help="significance level of --fail-above's test and 1 - the confidence of the "
                   "intervals (default %(default)s)")
    p.add_argument("--no-significance", action="store_true",
                   help="--fail-above on the threshold alone, without the test")
    p.add_argument("--ignore", action="append", metavar="KEY",
                   help="leave a config key out of matching, dotted: device, threads, dataset.path")
    p.add_argument("--mean-over-seeds", action="store_true",
                   help="compare the mean over seeds of each group instead of run by run")
    p.add_argument("--format", choices=["md", "csv"], default="md")
    p.set_defaults(func=cmd_compare)
