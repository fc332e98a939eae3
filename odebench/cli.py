"""odebench: benchmark neural differential-equation models (ResNet vs Neural ODE, any solver)."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from .types import OdebenchError


def cmd_plugins(args) -> int:
    from tabulate import tabulate

    from .plugins import KINDS, registry_for

    registry = registry_for(args.plugins_dir or [])
    rows = []
    for kind in KINDS:
        for name, entry in sorted(registry.of(kind).items()):
            extra = "adjoint" if entry.extra.get("adjoint") else ""
            if kind == "problems":  # the tier odebench bench runs it in
                extra = "quick tier" if entry.extra.get("tier") == "quick" else "full tier"
            rows.append([kind[:-1], name, entry.plugin, entry.version, extra])
    print(tabulate(rows, headers=["kind", "name", "plugin", "version", "supports"], tablefmt="github"))
    if registry.failures:
        print("\nplugins that failed to load:")
        for failure in registry.failures:
            print(f"  {failure.plugin}: {failure.error}")
    return 0


def cmd_run(args) -> int:
    import signal

    from .driver import run_suite, unfinished

    def terminate(signum, frame):  # SIGTERM (kill, a batch system's time limit) = Ctrl-C
        raise KeyboardInterrupt("SIGTERM")

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        rows = run_suite(
            args.suite, results=args.results, plugin_dirs=args.plugins_dir or [],
            overrides=args.set or [], force=args.force, timeout=args.timeout,
            executor=args.executor, max_runs=args.max_runs, rerun_stale=args.rerun_stale,
            executor_options={"workers": args.workers, "scheduler": args.scheduler},
            echo=(lambda _: None) if args.quiet else print,
            progress="off" if args.quiet else args.progress,
        )
    except KeyboardInterrupt as exc:
        print("odebench: interrupted; finished runs are kept, rerun the same command to resume",
              file=sys.stderr)
        return 143 if str(exc) == "SIGTERM" else 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    if rows:
        # The table once, at the end, and the report files of the runs just run.
        from .store import Store

        wanted = {r["run_key"] for r in rows}
        store = Store(args.results)
        runs = [r for r in store.latest(rows[0]["suite"]) if r["run_key"] in wanted]
        if args.quiet:  # the report files still, but neither the table nor where they went
            import contextlib
            import io

            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                _report(runs, None if args.no_report else args.results, fix="pass --no-report", store=store)
        else:
            print()
            _report(runs, None if args.no_report else args.results, fix="pass --no-report", store=store)
    bad = unfinished(rows)
    if bad:
        print(f"\n{len(bad)} run(s) did not finish well:", file=sys.stderr)
        for r in bad:
            print(f"  {r['status']}: {r['model']} {r['params']} {r['solver']} seed={r['seed']}"
                  f" {r['device']} - {r['reason']}", file=sys.stderr)
        return 1
    return 0


def _report(runs: list[dict], out: str | None, fmt: str = "table", baseline: str | None = None,
            fix: str = "pass --out DIR or --no-files", store=None) -> None:
    """Print the table of ``runs`` (stored runs) per suite on stdout and, unless ``out`` is
    None, write each suite's report files into ``out/<suite>/`` (with ``store``, also every
    attempt of the suite as ``attempts.jsonl``)."""
    import shutil
    import textwrap

    from .attempts import write_attempts
    from .report import safe_name, write_report
    from .report.labels import flatten_all
    from .report.tables import (
        SUMMARY_NOTE,
        TERMINAL_NOTE,
        add_ratios,
        aggregate,
        summary_markdown,
        table,
        terminal_table,
        to_csv,
    )
    from .suite import mixed_defaults, with_upgraded_configs

    if mixed_defaults(r["config"] for r in runs):
        # Runs stored before a plugin gained a param beside newer ones: the same config but for
        # the default filled in since. Only then are the plugins (and torch) loaded.
        from .plugins import registry_for

        runs = with_upgraded_configs(runs, registry_for())
    frame = table(flatten_all(runs))
    if baseline:
        frame = add_ratios(frame, baseline)
    if fmt == "csv":
        sys.stdout.write(to_csv(frame))
    else:
        width = max(80, shutil.get_terminal_size((120, 24)).columns)
        for suite, part in frame.groupby("suite", sort=False) if not frame.empty else []:
            summary = aggregate(part)
            print(f"## {suite}\n")
            print(summary_markdown(summary) if fmt == "md" else terminal_table(summary, width))
            print()
        if not frame.empty:
            print(SUMMARY_NOTE if fmt == "md" else textwrap.fill(TERMINAL_NOTE, width), end="\n\n")
    if out is None:
        return
    for suite in dict.fromkeys(r["suite"] for r in runs):
        folder = Path(out) / safe_name(suite)
        try:
            written = write_report([r for r in runs if r["suite"] == suite], folder,
                                   f"odebench report: suite {suite}", baseline=baseline)
            if store is not None:
                # Every attempt in full: committed with the tables, `odebench import` rebuilds the store.
                written.append(write_attempts(store, suite, folder))
        except OSError as exc:
            raise OdebenchError(f"cannot write the report files to {str(folder)!r} "
                                f"({exc.strerror}); {fix}") from None
        print(f"{suite}: wrote {len(written)} files to {folder}/: "
              f"{', '.join(p.name for p in written)}", file=sys.stderr)
        print(f"{suite}: open {folder / 'report.html'}", file=sys.stderr)


def cmd_report(args) -> int:
    from .store import Store

    store = Store(args.results)
    runs = store.latest(args.suite)
    if args.suite and not runs:
        raise OdebenchError(f"no runs of suite {args.suite!r} in {store.path}; "
                            f"known: {', '.join(store.suites()) or 'none'}")
    _report(runs, None if args.no_files else (args.out or args.results), args.format, args.baseline,
            store=store)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="odebench", description=__doc__)
    from . import __version__

    parser.add_argument("--version", action="version", version=f"odebench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run every unfinished run of a YAML suite")
    p.add_argument("suite", help="path to the suite YAML file")
    p.add_argument("--results", default="results", help="results directory (default: results)")
    p.add_argument("--plugins-dir", action="append", metavar="DIR", help="load *.py plugins from DIR")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a suite value, e.g. --set train.epochs=1 --set dataset.train_size=2000")
    p.add_argument("--force", action="store_true", help="rerun finished runs too")
    p.add_argument("--rerun-stale", action="store_true",
                   help="rerun finished runs made with another version of a plugin they used")
    p.add_argument("--max-runs", type=_positive, default=10_000, metavar="N",
                   help="refuse a suite whose grid has more than N runs (default 10000)")
    p.add_argument("--timeout", type=_duration,
                   help="hard per-run timeout: seconds or 90s/10m/2h; wins over the suite's "
                   "timeout:, 0 = none")
    p.add_argument("--executor", default="local", help="local (default) or dask, or a plugin's")
    p.add_argument("--workers", type=int, help="dask: LocalCluster worker processes (default 2)")
    p.add_argument("--scheduler", help="dask: address of an existing scheduler, tcp://HOST:8786")
    p.add_argument("--no-report", action="store_true",
                   help="print the table at the end but write no report files (by default the "
                   "runs' report goes to <results>/<suite>/, as odebench report writes it)")
    p.add_argument("--progress", choices=["auto", "live", "plain", "off"], default="auto",
                   help="auto (default): a live view on a terminal, else plain lines; plain: a line "
                   "per run start and epoch, batches at most every 20 s; off: a line per finished run")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="print nothing on stdout; errors and unfinished runs still go to stderr")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("report", help="print the comparison table; write tables, plots, "
                       "report.html and attempts.jsonl per suite into <results>/<suite>/")
    p.add_argument("--results", default="results")
    p.add_argument("--suite", help="only this suite")
    p.add_argument("--format", choices=["table", "md", "csv"], default="table",
                   help="stdout: table = the key columns of the summary (mean ± std over seeds) "
                   "in the terminal's width, md = the full summary table as markdown, csv = "
                   "one row per run")
    p.add_argument("--out", metavar="DIR", help="write the report files into DIR/<suite>/ "
                   "(default: the results directory)")
    p.add_argument("--no-files", action="store_true", help="only print the table, write no files")
    p.add_argument("--baseline", metavar="LABEL",
                   help='add epoch/eval time ratios to the run labelled LABEL (same suite, device and '
                   'seed), e.g. "resnet blocks=6"')
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("plugins", help="list models, solvers, datasets, executors and their plugins")
    p.add_argument("--plugins-dir", action="append", metavar="DIR")
    p.set_defaults(func=cmd_plugins)

    p = sub.add_parser(
        "check", help="run the conformance checks on a plugin or one model/solver/dataset",
        description="Check a plugin (entry-point name or *.py file) or one model, solver or "
                    "dataset against odebench's plugin contract. Exit 1 if any check fails.")
    p.add_argument("name", help="plugin name, plugin file, or a model/solver/dataset name")
    p.add_argument("--plugins-dir", action="append", metavar="DIR",
                   help="also load *.py plugins from DIR")
    p.add_argument("--solver", metavar="NAME",
                   help="the solver ODE models are checked with (default: the model's default "
                        "solver, else the first registered solver that runs on its defaults)")
    # odebench.check needs torch at import: imported when the command runs, not for --help.
    p.set_defaults(func=_lazy("check", "cmd_check"))

    p = sub.add_parser(
        "frontier", help="one accuracy vs epoch-time frontier across suites of one recipe",
        description="Put the groups of several suites (their summary.csv, written with --baseline) "
                    "on one accuracy vs epoch × baseline plot, each ratio paired within its suite; "
                    "ODE models that fail the solver-swap check are drawn but left off the frontier.")
    p.add_argument("summaries", nargs="+", metavar="SUMMARY",
                   help="a suite's results folder or its summary.csv, e.g. results/ecg")
    p.add_argument("--max-gap", type=_gap, default=0.5, metavar="PTS",
                   help="an ODE model whose mean accuracy gap under the reference solver is above "
                        "PTS points is not an ODE (default 0.5)")
    p.add_argument("--out", metavar="DIR", help="also write frontier.png, frontier.md and frontier.csv into DIR")
    p.add_argument("--plugins-dir", action="append", metavar="DIR",
                   help="also load *.py plugins from DIR (to fill their defaults into old configs)")
    p.set_defaults(func=_lazy("report.frontier", "cmd_frontier"))

    # Further commands live in their own modules, each with add_commands(sub); those modules
    # import nothing heavy at module level (torch, pandas, matplotlib come with the command).
    from . import attempts, bench, compare, data, precision

    for module in (data, compare, precision, bench, attempts):
        module.add_commands(sub)
    return parser


def _lazy(module: str, function: str):
    """A command function that imports ``odebench.<module>`` only when the command runs."""

    def run(args) -> int:
        import importlib

        return getattr(importlib.import_module(f"odebench.{module}"), function)(args)

    return run

def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def _gap(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a number of points ≥ 0, got {text!r}")
    return value


def _duration(text: str) -> float | None:
    from .suite import parse_duration
    from .types import SuiteError

    try:
        seconds = parse_duration(text if not text.replace(".", "", 1).isdigit() else float(text), "--timeout")
        return seconds or 0.0  # --timeout 0: no limit, even when the suite sets one
    except SuiteError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except OdebenchError as exc:
        print(f"odebench: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
