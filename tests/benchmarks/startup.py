"""How long do odebench's commands take to start? Median wall time of N runs of
``odebench --help``, ``odebench plugins --help``, ``odebench report --no-files`` on a small
store, and of a bare ``python -c pass`` for reference, each in a fresh interpreter.

    python tests/benchmarks/startup.py [--repeats 7]
    python tests/benchmarks/startup.py --before OTHER/.venv/bin/python   # before/after

``--before PYTHON`` times the same commands with another interpreter too, one whose odebench
is another checkout (e.g. main's venv, with its editable install), so the two columns compare
like with like on this machine. Run it on a quiet machine: a busy one adds its load to every
number.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = {
    "python -c pass": ["-c", "pass"],
    "odebench --help": ["-m", "odebench.cli", "--help"],
    "odebench plugins --help": ["-m", "odebench.cli", "plugins", "--help"],
    "odebench report --no-files": ["-m", "odebench.cli", "report", "--no-files", "--results", "{store}"],
}


def make_store(directory: Path, runs: int = 12) -> None:
    """A small store of ``runs`` finished runs, written directly (no training: only its
    reading is timed)."""
    from odebench.store import Store
    from odebench.suite import TRAIN_DEFAULTS
    from odebench.types import outcome

    store = Store(directory)
    names = ["F", "N", "Q", "S", "V"]
    for i in range(runs):
        config = {"suite": "startup", "model": "resnet", "params": {"blocks": i % 4},
                  "solver": None, "dataset": {"name": "synthetic"}, "train": dict(TRAIN_DEFAULTS),
                  "seed": i // 4, "device": "cpu", "threads": None}
        metrics = {"test_accuracy": 0.5 + i / 100, "epoch_seconds": 1.0 + i, "eval_seconds": 0.1,
                   "class_names": names,
                   "per_class": {n: {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 10}
                                 for n in names}}
        store.add(config, f"key{i}", outcome("done", metrics=metrics,
                                             epochs=[{"epoch": 1, "test_accuracy": 0.5}]), "bench")


def median_seconds(argv: list[str], repeats: int, env: dict[str, str], cwd: Path) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(argv, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(python: str, store: Path, repeats: int) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # Run outside any checkout: `python -c`/`-m` put the working directory first on sys.path.
    cwd = store.parent
    where = subprocess.run([python, "-c", "import odebench; print(odebench.__file__)"], env=env,
                           cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()
    print(f"  odebench from {where}", file=sys.stderr)
    return {name: median_seconds([python] + [a.replace("{store}", str(store)) for a in args],
                                 repeats, env, cwd)
            for name, args in COMMANDS.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--before", metavar="PYTHON",
                        help="also time the odebench that this interpreter imports")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "results"
        make_store(store)
        results = {}
        if args.before:
            print("before:", file=sys.stderr)
            results["before"] = measure(args.before, store, args.repeats)
        print("now:", file=sys.stderr)
        results["now"] = measure(args.python, store, args.repeats)
    print(f"median of {args.repeats} runs, seconds (× = over python -c pass)")
    print(f"{'command':<28}" + "".join(f"{name:>18}" for name in results))
    for name in COMMANDS:
        cells = []
        for times in results.values():
            cells.append(f"{times[name]:7.3f} ({times[name] / times['python -c pass']:4.1f}×)")
        print(f"{name:<28}" + "".join(f"{c:>18}" for c in cells))


if __name__ == "__main__":
    main()
