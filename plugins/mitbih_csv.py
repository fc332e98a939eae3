"""``mitbih-csv``: the Kaggle "heartbeat" files ``mitbih_train.csv`` / ``mitbih_test.csv``
(Kachuee et al. 2018, kaggle.com/datasets/shayanfazeli/heartbeat), exactly as the study used them.

Each file has no header and 188 comma-separated values per line: 187 samples at 125 Hz in
[0, 1], then the label 0..4 (N S V F Q) as a float. The folder comes from ``path`` or
``$ODEBENCH_KAGGLE_DIR``; file names are params (``train_file``/``test_file``), and the
10-row samples ``mitbih_train_head.csv``/``mitbih_test_head.csv`` are found when the full
files are absent. Parsed files are cached as ``.npz`` under ``$ODEBENCH_CACHE_DIR/mitbih-csv``
(keyed by path, size and mtime), so a rerun skips the CSV parsing.
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
from pathlib import Path

import numpy as np
import torch
from odebench_plugins.mitbih_common import CLASSES, KAGGLE_COUNTS, cache_root, save_cache

import odebench
from odebench import DataError

COLUMNS = 188
KAGGLE_URL = "https://www.kaggle.com/datasets/shayanfazeli/heartbeat"

def diagnose(file: Path) -> str:
    """The first problem in a CSV file, as 'FILE line N: what is wrong' ('' if none found)."""
    with open(file, "rb") as fh:
        for number, line in enumerate(fh, start=1):
            try:
                line.decode("ascii")
            except UnicodeDecodeError as exc:
                return (f"{file} line {number}: byte 0x{line[exc.start]:02x} is not text "
                        "(the file holds only numbers, commas and newlines)")
    with open(file, newline="", encoding="ascii") as fh:
        for number, row in enumerate(csv.reader(fh), start=1):
            if len(row) != COLUMNS:
                return f"{file} line {number}: {len(row)} values, expected {COLUMNS} (187 samples + label)"
            for column, text in enumerate(row, start=1):
                try:
                    value = float(text)
                except ValueError:
                    return f"{file} line {number} column {column}: {text.strip()!r} is not a number"
                if not math.isfinite(value):
                    return f"{file} line {number} column {column}: {text.strip()!r} is not finite"
            label = float(row[-1])
            if label != int(label) or not 0 <= label <= len(CLASSES) - 1:
                return (f"{file} line {number}: label {row[-1].strip()!r} is not an integer in "
                        f"0..{len(CLASSES) - 1}")
    return ""


def read_csv(file: Path) -> tuple[np.ndarray, np.ndarray]:
    """Samples float32 (N, 1, 187) and labels int64 (N,) of one file, validated."""
    import pandas as pd

    try:
        frame = pd.read_csv(file, header=None, dtype=np.float64, engine="c")
        values = frame.to_numpy()
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):  # UnicodeDecodeError too
        values = None
    if values is None or values.ndim != 2 or values.shape[1] != COLUMNS or not len(values) \
            or not np.isfinite(values).all():
        problem = diagnose(file) or f"{file}: no rows; expected {COLUMNS} values per line"
        raise DataError(f"mitbih-csv: {problem}; use the original file from {KAGGLE_URL}")
    labels = values[:, -1]
    bad = np.flatnonzero((labels != np.round(labels)) | (labels < 0) | (labels > len(CLASSES) - 1))
    if len(bad):
        problem = diagnose(file) or f"{file} line {bad[0] + 1}: label {float(labels[bad[0]])} is " \
            f"not an integer in 0..{len(CLASSES) - 1}"
        raise DataError(f"mitbih-csv: {problem}; use the original file from {KAGGLE_URL}")
    return values[:, None, :-1].astype(np.float32), labels.astype(np.int64)


def load_file(file: Path) -> tuple[np.ndarray, np.ndarray]:
    """``read_csv`` through the .npz cache."""
    stat = file.stat()
    key = f"{file.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|v1"
    cached = cache_root() / "mitbih-csv" / f"{file.stem}-{hashlib.sha256(key.encode()).hexdigest()[:20]}.npz"
    if cached.is_file():
        try:
            with np.load(cached) as data:
                return data["x"], data["y"]
        except Exception:  # a damaged cache file is rebuilt, never trusted
            cached.unlink(missing_ok=True)
    x, y = read_csv(file)
    save_cache(cached, "mitbih-csv", x=x, y=y)
    return x, y


def _find(folder: Path, name: str) -> Path:
    file = folder / name
    if file.is_file():
        return file
    head = folder / name.replace(".csv", "_head.csv")
    if head.is_file():
        return head
    raise DataError(f"mitbih-csv: {file} not found; download {name} from {KAGGLE_URL} into "
                    f"{folder} (or set dataset.train_file/test_file)")


def load_mitbih_csv(
    *,
    path: str | None = None,
    train_file: str = "mitbih_train.csv",
    test_file: str = "mitbih_test.csv",
) -> odebench.Dataset:
    folder = path or os.environ.get("ODEBENCH_KAGGLE_DIR")
    if not folder:
        raise DataError("mitbih-csv: no folder given; set dataset.path in the suite or "
                        f"ODEBENCH_KAGGLE_DIR to the folder with {train_file} and {test_file} "
                        f"(from {KAGGLE_URL})")
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DataError(f"mitbih-csv: {folder} is not a folder; point dataset.path or "
                        f"ODEBENCH_KAGGLE_DIR at the folder with {train_file} and {test_file}")
    train, test = _find(folder, train_file), _find(folder, test_file)
    if train.resolve() == test.resolve():
        raise DataError(f"mitbih-csv: train_file and test_file are both {train}, which would put the "
                        "same beats in train and test; give two different files")
    x_train, y_train = load_file(train)
    x_test, y_test = load_file(test)
    info = {"source": str(folder), "files": [str(train), str(test)], "sampling_hz": 125}
    if len(y_train) + len(y_test) == 109_446:
        info["reference_counts"] = {"kaggle": KAGGLE_COUNTS}
    return odebench.Dataset(torch.from_numpy(x_train), torch.from_numpy(y_train),
                            torch.from_numpy(x_test), torch.from_numpy(y_test), list(CLASSES), info)


@odebench.hookimpl
def register_datasets(register):
    register("mitbih-csv", load_mitbih_csv)
