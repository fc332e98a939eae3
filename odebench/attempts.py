"""Attempts outside the store: ``attempts.jsonl`` files and the pending folder.

- ``odebench report`` writes every attempt of a suite to ``<suite>/attempts.jsonl``, one JSON
  object a line with the fields of ``store.attempt_record`` (tracebacks cut to their last
  lines). Stores are not committed; these files are, next to the tables.
- ``odebench import FILE...`` loads such files into a store. An attempt the store holds
  already (same run, status, start and end time) is skipped, so importing twice changes
  nothing, and ``odebench run`` then resumes where the imported attempts left off.
- It also takes a committed ``runs.csv`` (the report's table of runs, for results written
  before attempts.jsonl existed): each row becomes an attempt with its config, status, code
  version and metrics (per-class scores included). What a table row does not hold is not
  invented: no per-epoch history (the epochs are listed without values), no confusion
  matrix, no start or end time; the machine is what the row names (cpu, gpu, torch and the
  busy flag), with ``imported_from`` naming the file.
- The pending folder: the driver writes each finished run's attempt there before inserting
  it into the store and removes it after. One left behind (the insert failed: disk full,
  store deleted or replaced) is imported by the next ``odebench run``. When the results
  folder cannot take it either, it goes to ``$XDG_CACHE_HOME/odebench/pending/<store hash>``
  (else the temp folder), which the next run of the same store looks at too.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from .store import Store
from .types import FINISHED, RERUN, OdebenchError

ATTEMPTS = "attempts.jsonl"
PENDING = "odebench-pending"
TRACEBACK_LINES = 25  # of a traceback in attempts.jsonl: the end says where it failed
FIELDS: dict[str, type | tuple[type, ...]] = {
    "suite": str, "run_key": str, "status": str, "config": dict, "metrics": dict, "machine": dict,
    "epochs": list, "reason": (str, type(None)), "traceback": (str, type(None)),
    "code_version": (str, type(None)), "executor": (str, type(None)),
    "started_at": (int, float, type(None)), "finished_at": (int, float, type(None)),
}


def _cut(traceback: str | None) -> str | None:
    lines = (traceback or "").splitlines()
    if len(lines) <= TRACEBACK_LINES:
        return traceback
    kept = TRACEBACK_LINES - 1  # with the marker line: cutting a cut traceback changes nothing
    return "\n".join([f"... ({len(lines) - kept} lines cut)"] + lines[-kept:])


def _write_atomic(path: Path, text: str) -> None:
    """Write a whole file or none (temp file, fsync, rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------- attempts.jsonl

def write_attempts(store: Store, suite: str, folder: Path) -> Path:
    """Write every attempt of ``suite`` (oldest first) to ``folder/attempts.jsonl``."""
    lines = []
    for attempt in store.attempts(suite):
        attempt.pop("id", None)  # the store's own numbering; an import numbers anew
        attempt["traceback"] = _cut(attempt.get("traceback"))
        lines.append(json.dumps(attempt, sort_keys=True) + "\n")
    path = folder / ATTEMPTS
    folder.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, "".join(lines))
    return path


def check_record(record: Any, where: str) -> dict[str, Any]:
    """The record, or an OdebenchError naming ``where`` and what is wrong with it."""
    fix = "give a file written by odebench report (attempts.jsonl)"
    if not isinstance(record, dict):
        raise OdebenchError(f"{where}: not a JSON object; {fix}")
    for name, kind in FIELDS.items():
        if name not in record:
            raise OdebenchError(f"{where}: no {name!r} field; {fix}")
        if not isinstance(record[name], kind):
            raise OdebenchError(f"{where}: {name!r} has the wrong type ({type(record[name]).__name__}); {fix}")
    if record["status"] not in FINISHED | RERUN:
        raise OdebenchError(f"{where}: unknown status {record['status']!r}; {fix}")
    if record["config"].get("suite") != record["suite"]:
        raise OdebenchError(f"{where}: its config belongs to suite {record['config'].get('suite')!r}, "
                            f"not {record['suite']!r}; {fix}")
    if not all(isinstance(e, dict) and isinstance(e.get("epoch"), int) for e in record["epochs"]):
        raise OdebenchError(f"{where}: every epoch needs an integer 'epoch'; {fix}")
    return record


def read_attempts(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The checked records of an attempts.jsonl file (OdebenchError naming file:line)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise OdebenchError(f"cannot read {str(path)!r} ({reason}); give attempts.jsonl files "
                            "written by odebench report") from None
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise OdebenchError(f"{path}:{number}: not JSON ({exc}); give a file written by "
                                "odebench report (attempts.jsonl)") from None
        records.append(check_record(record, f"{path}:{number}"))
    return records


# ---------------------------------------------------------------- runs.csv of older results

# The inverse of report.labels.flatten: the machine keys it copies into a row, and the row's
# columns that are neither metrics nor machine (labels, identity; ratios the report adds).
_MACHINE_FIELDS = ("busy", "cpu", "gpu", "torch")
_ROW_FIELDS = {"suite", "model", "params", "solver", "train", "gradient", "dataset", "device", "seed",
               "status", "reason", "epochs", "code_version", "executor", "run_key", "config",
               "epoch_ratio", "eval_ratio", *_MACHINE_FIELDS}
_PER_CLASS = ("recall", "precision", "f1")


def _cell(value: Any) -> Any:
    """A runs.csv cell as JSON: empty cells are None, whole floats of counters stay floats."""
    if value is None or (isinstance(value, float) and value != value):  # NaN: an empty cell
        return None
    return value.item() if hasattr(value, "item") else value


def read_runs_csv(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The attempts a report's runs.csv stands for (see the module doc); OdebenchError naming
    the file and row when a row lacks what an attempt needs."""
    import pandas as pd

    fix = "give a runs.csv written by odebench report, or an attempts.jsonl"
    try:
        # round_trip: every float exactly as written (the default parser may be off in the last digit)
        frame = pd.read_csv(path, dtype={"run_key": str, "status": str, "reason": str}, float_precision="round_trip")
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise OdebenchError(f"cannot read {str(path)!r} ({exc}); {fix}") from None
    for column in ("suite", "run_key", "status", "config"):
        if column not in frame.columns:
            raise OdebenchError(f"{path}: no {column!r} column; {fix}")
    classes = [c[len("recall_"):] for c in frame.columns if c.startswith("recall_")]
    records = []
    for number, row in enumerate(frame.to_dict("records"), 2):  # line 1 is the header
        where = f"{path}:{number}"
        try:
            config = json.loads(row["config"])
        except (TypeError, ValueError):
            raise OdebenchError(f"{where}: the config cell is not JSON; {fix}") from None
        metrics = {k: _cell(v) for k, v in row.items() if k not in _ROW_FIELDS
                   and not k.startswith(tuple(f"{p}_" for p in _PER_CLASS)) and _cell(v) is not None}
        per_class = {name: {p: _cell(row.get(f"{p}_{name}")) for p in _PER_CLASS} for name in classes
                     if _cell(row.get(f"recall_{name}")) is not None}
        if per_class:
            metrics["per_class"] = per_class
            metrics["class_names"] = list(per_class)
        epochs = int(_cell(row.get("epochs")) or 0)
        record = {
            "suite": row["suite"], "run_key": str(row["run_key"]), "status": row["status"],
            "config": config, "metrics": metrics,
            "machine": {k: _cell(row.get(k)) for k in _MACHINE_FIELDS if _cell(row.get(k)) is not None}
            | {"imported_from": Path(path).name},
            "epochs": [{"epoch": e} for e in range(1, epochs + 1)],
            "reason": _cell(row.get("reason")), "traceback": None,
            "code_version": _cell(row.get("code_version")), "executor": _cell(row.get("executor")),
            "started_at": None, "finished_at": None,
        }
        records.append(check_record(record, where))
    return records


# ---------------------------------------------------------------- the pending folder

def pending_dirs(store: Store) -> list[Path]:
    """Where a finished run's attempt waits for its insert, in the order tried."""
    digest = hashlib.sha1(str(store.path.absolute()).encode()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return [store.directory / PENDING, cache / "odebench" / "pending" / digest,
            Path(tempfile.gettempdir()) / "odebench-pending" / digest]


def keep(store: Store, record: dict[str, Any]) -> Path | None:
    """Write ``record`` to the first pending folder that takes it; None when none does."""
    name = f"{record['finished_at']!r}-{record['run_key'][:16]}-{os.getpid()}.json"
    text = json.dumps(record, sort_keys=True)
    for folder in pending_dirs(store):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            _write_atomic(folder / name, text)
            return folder / name
        except OSError:
            continue
    return None


def discard(path: Path | None) -> None:
    if path is not None:
        try:
            path.unlink()
        except OSError:
            pass  # imported again next time, and skipped there as present


def import_pending(store: Store) -> tuple[int, list[Path]]:
    """Insert the attempts left in the pending folders (skipping those the store holds),
    then remove their files; returns (attempts added, files read)."""
    files = sorted(p for folder in pending_dirs(store) if folder.is_dir() for p in folder.glob("*.json"))
    if not files:
        return 0, []
    records = []
    for path in files:
        try:
            records.append(check_record(json.loads(path.read_text(encoding="utf-8")), str(path)))
        except (OSError, ValueError) as exc:
            raise OdebenchError(f"cannot read the pending outcome {str(path)!r} ({exc}); move it "
                                "away and rerun") from None
    added, _present = store.add_missing(records)
    for path in files:
        discard(path)
    for folder in {path.parent for path in files}:
        try:
            folder.rmdir()  # only when empty
        except OSError:
            pass
    return added, files


# ---------------------------------------------------------------- odebench import

def cmd_import(args) -> int:
    # All checked before any write.
    batches = [(path, read_runs_csv(path) if str(path).endswith(".csv") else read_attempts(path))
               for path in args.files]
    store = Store(args.results)
    store.open()
    for path, records in batches:
        added, present = store.add_missing(records)
        print(f"{path}: {added} attempt(s) imported, {present} already in {store.path}", file=sys.stderr)
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("import", help="load attempts.jsonl files (written by odebench report), or the "
                       "runs.csv of older results, into the results store; attempts it holds already "
                       "are skipped")
    p.add_argument("files", nargs="+", metavar="FILE", help="e.g. results/*/attempts.jsonl or results/ecg/runs.csv")
    p.add_argument("--results", default="results", help="results directory (default: results)")
    p.set_defaults(func=cmd_import)


__all__ = ["add_commands", "import_pending", "keep", "read_attempts", "read_runs_csv", "write_attempts"]
