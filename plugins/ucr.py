"""``ucr``: any classification problem of the UCR/UEA time-series archive, through aeon.

Needs the optional extra: ``pip install 'odebench[ucr]'`` (aeon). A suite names the problem::

    dataset: {name: ucr, problem: GunPoint, znorm: true}

- **Split:** the archive's own ``_TRAIN``/``_TEST`` files, never re-split.
- **Where the files come from**, first found: ``path`` (a folder holding
  ``<problem>/<problem>_TRAIN.ts``, e.g. the unzipped archive), ``$ODEBENCH_UCR_DIR``, the
  problems bundled in aeon's wheel (offline: ArrowHead, GunPoint, ItalyPowerDemand, OSULeaf,
  ACSF1, BasicMotions, JapaneseVowels, PLAID, ...), the cache ``$ODEBENCH_CACHE_DIR/ucr``. A
  problem found nowhere is downloaded into the cache by aeon; without a network that is a
  one-line DataError.
- **Univariate and multivariate:** a series is ``(channels, length)``; the models see all
  channels.
- **Unequal lengths** (e.g. JapaneseVowels, 7-29 samples): ``unequal: pad`` (default) pads
  every series with zeros at its end to the longest series of train and test together;
  ``truncate`` cuts every series to the shortest; ``resample`` stretches every series by
  linear interpolation to the longest (what Fawaz et al. 2019 did for the multivariate
  archive, with cubic interpolation). Padding keeps every sample; zero is each series' mean
  when ``znorm`` is on. Resampling keeps no padding for the model to learn around, but
  changes each series' time scale by its own factor.
- **z-normalisation** (``znorm: true``): each series, each channel on its own, to mean 0 and
  standard deviation 1 (a constant channel to 0), before padding. Off by default: the data
  as the archive gives it (most univariate problems are z-normalised already).
- **Missing values** (``?`` in the files) become 0 after normalisation.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from odebench_plugins.mitbih_common import cache_root

import odebench
from odebench import DataError
from odebench.types import one_line

INSTALL = "pip install 'odebench[ucr]'"
ARCHIVE = "https://timeseriesclassification.com"


def _aeon():
    try:
        import aeon.datasets
    except ImportError:
        raise DataError(f"ucr: the UCR/UEA plugin needs aeon, which is not installed; run {INSTALL}") from None
    return aeon.datasets


def _has(folder: Path, problem: str) -> bool:
    return all((folder / problem / f"{problem}_{split}.ts").is_file() for split in ("TRAIN", "TEST"))


def bundled_folder() -> Path | None:
    """aeon's folder of the problems bundled in its wheel (None without aeon)."""
    try:
        import aeon.datasets
    except ImportError:
        return None
    return Path(aeon.datasets.__file__).parent / "data"


def locate(problem: str, path: str | None) -> Path:
    """The folder holding ``<problem>/<problem>_TRAIN.ts`` and ``_TEST.ts``, downloading the
    problem into the cache when it is nowhere else."""
    for value, where in ((path, "dataset.path"), (os.environ.get("ODEBENCH_UCR_DIR"), "ODEBENCH_UCR_DIR")):
        if not value:
            continue
        folder = Path(value).expanduser()
        if not folder.is_dir():
            raise DataError(f"ucr: {where} = {value!r} is not a folder; point it at a folder holding "
                            f"{problem}/{problem}_TRAIN.ts and _TEST.ts (the unzipped archive)")
        if _has(folder, problem):
            return folder
    datasets = _aeon()
    bundled = bundled_folder()
    if bundled is not None and _has(bundled, problem):
        return bundled
    cache = cache_root() / "ucr"
    if _has(cache, problem):
        return cache
    try:
        cache.mkdir(parents=True, exist_ok=True)
        datasets.load_classification(problem, split="train", extract_path=str(cache))
    except Exception as exc:  # aeon raises URLError, ValueError (unknown name), zip errors...
        raise DataError(
            f"ucr: problem {problem!r} is not bundled with aeon and could not be downloaded into "
            f"{cache} ({one_line(exc)}); check the name against the archive ({ARCHIVE}), or, "
            f"without internet, put {problem}/{problem}_TRAIN.ts and _TEST.ts in a folder and set "
            "dataset.path or ODEBENCH_UCR_DIR to it"
        ) from None
    if not _has(cache, problem):
        raise DataError(f"ucr: aeon downloaded {problem!r} but {cache / problem} holds no "
                        f"{problem}_TRAIN.ts and _TEST.ts; is it a classification problem of {ARCHIVE}?")
    return cache


def read_split(file: Path) -> tuple[list[np.ndarray], np.ndarray]:
    """The series of one ``.ts`` file as a list of float64 ``(channels, length)`` arrays, and
    their labels as strings."""
    datasets = _aeon()
    reader = datasets.load_from_ts_file
    try:
        x, y = reader(str(file))
    except Exception as exc:
        raise DataError(f"ucr: cannot read {file} ({one_line(exc)}); download the problem again") from None
    series = [np.asarray(s, dtype=np.float64).reshape(np.shape(s)[0], -1) for s in x]
    return series, np.asarray(y).astype(str)


def znormalise(series: np.ndarray) -> np.ndarray:
    """Each channel of a ``(channels, length)`` series to mean 0, sd 1 (NaNs ignored; a constant
    channel becomes 0)."""
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(series, axis=1, keepdims=True)
        sd = np.nanstd(series, axis=1, keepdims=True)
    mean = np.nan_to_num(mean)
    return (series - mean) / np.where(np.nan_to_num(sd) > 0, sd, 1.0)


def to_array(series: list[np.ndarray], length: int) -> np.ndarray:
    """Series padded with zeros at their end, or cut, to ``length``: float32 ``(n, channels, length)``."""
    out = np.zeros((len(series), series[0].shape[0], length), dtype=np.float32)
    for i, s in enumerate(series):
        n = min(length, s.shape[1])
        out[i, :, :n] = s[:, :n]
    return np.nan_to_num(out, nan=0.0)


def resample(series: np.ndarray, length: int) -> np.ndarray:
    """A ``(channels, n)`` series linearly interpolated to ``length`` samples, first and last
    kept (a missing value counts as 0)."""
    n = series.shape[1]
    if n == length:
        return series
    values = np.nan_to_num(series, nan=0.0)
    if n == 1:
        return np.repeat(values, length, axis=1)
    old, new = np.linspace(0.0, 1.0, n), np.linspace(0.0, 1.0, length)
    return np.stack([np.interp(new, old, channel) for channel in values])


def class_order(labels: np.ndarray) -> list[str]:
    """The problem's labels, numerically sorted when they are all numbers (1, 2, 10), else as text."""
    unique = sorted(set(labels.tolist()))
    try:
        return sorted(unique, key=float)
    except ValueError:
        return unique


def load_ucr(
    *,
    problem: str | None = None,
    path: str | None = None,
    znorm: bool = False,
    unequal: Literal["pad", "truncate", "resample"] = "pad",
) -> odebench.Dataset:
    """The archive's train and test sets of ``problem``."""
    if not problem:
        raise DataError("ucr: no problem named; add one to the suite, e.g. dataset: {name: ucr, problem: GunPoint}")
    if not all(c.isalnum() or c in "_-" for c in problem):
        raise DataError(f"ucr: problem {problem!r} is not an archive name (letters, digits, _ and -); "
                        "e.g. GunPoint, BasicMotions")
    folder = locate(problem, path)
    (x_train, y_train), (x_test, y_test) = (read_split(folder / problem / f"{problem}_{s}.ts")
                                            for s in ("TRAIN", "TEST"))
    channels = {s.shape[0] for s in x_train + x_test}
    if len(channels) != 1:
        raise DataError(f"ucr: {problem}'s series have different numbers of channels {sorted(channels)}; "
                        "odebench needs one")
    if znorm:
        x_train, x_test = [znormalise(s) for s in x_train], [znormalise(s) for s in x_test]
    lengths = [s.shape[1] for s in x_train + x_test]
    length = min(lengths) if unequal == "truncate" else max(lengths)
    if unequal == "resample":
        x_train, x_test = ([resample(s, length) for s in x] for x in (x_train, x_test))
    classes = class_order(np.concatenate([y_train, y_test]))
    index = {c: i for i, c in enumerate(classes)}
    info: dict[str, Any] = {
        "source": str(folder / problem),
        "problem": problem,
        "channels": channels.pop(),
        "lengths": [min(lengths), max(lengths)],
        "unequal": unequal if min(lengths) != max(lengths) else "all equal",
        "znorm": znorm,
        "missing_values": int(sum(np.isnan(s).sum() for s in x_train + x_test)),
    }
    return odebench.Dataset(
        torch.from_numpy(to_array(x_train, length)), torch.tensor([index[c] for c in y_train]),
        torch.from_numpy(to_array(x_test, length)), torch.tensor([index[c] for c in y_test]),
        classes, info,
    )


@odebench.hookimpl
def register_datasets(register):
    register("ucr", load_ucr)
