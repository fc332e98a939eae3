"""``mitbih``: heartbeats built from the PhysioNet MIT-BIH Arrhythmia Database (48 WFDB records).

The beats follow Kachuee, Fazeli & Sarrafzadeh 2018 (arXiv 1805.00794), the procedure behind
the Kaggle "heartbeat" CSVs, with one beat per AAMI-mapped reference annotation:

1. lead MLII (V5 in records 102 and 104, which have no MLII), resampled from 360 Hz to 125 Hz
   with a polyphase filter (``scipy.signal.resample_poly``, up 25 / down 72);
2. non-overlapping 10 s windows from the start of the record; T = the median R-R interval of
   the annotated beats inside the window (a window with fewer than two beats uses the
   record's median R-R);
3. for each annotated beat, the segment of floor(1.2 T) samples (at most 187) starting at the
   annotation's sample (the R-peak), taken from the continuous signal (so a segment may run
   into the next window), min-max scaled to [0, 1] and zero-padded to 187 samples. Scaling
   each 10 s window to [0, 1] first, as the paper says, changes nothing after the per-beat
   scaling, which the Kaggle rows show (each row spans exactly [0, 1]);
4. a beat whose segment runs past the end of the record is dropped;
5. labels from the annotation symbols via AAMI EC57: N <- N L R e j, S <- A a J S,
   V <- V E, F <- F, Q <- / f Q (other symbols are not beats and are skipped).

RR features (``rr_features: true``; off by default, so earlier results stay as they are): six
numbers per beat from the R-R intervals of the record's annotated beats (de Chazal et al.
2004; Mondéjar-Guerra et al. 2019): pre-RR (to the previous beat), post-RR (to the next),
local RR (the mean of the beat's pre-RR and the 9 before it), in seconds, and each of the
three divided by the record's average RR. The first beat's pre-RR is its post-RR, the last
beat's post-RR its pre-RR. They reach the models as six extra input channels, each constant
along the beat (``(N, 7, 187)``): every model, a third party's too, takes them through
``shape.channels`` with no change to the plugin contract, at the price of a slightly wider
first convolution (+1,152 parameters for the seed models).

Splits: ``kaggle`` (stratified random 80/20, seed ``split_seed``, a patient's beats in both
sets, like the Kaggle files) or ``inter-patient`` (de Chazal 2004: DS1 train, DS2 test; the
paced records 102, 104, 107, 217 are left out).

Records are looked for in ``path``, then ``$ODEBENCH_DATA_DIR``, then
``$ODEBENCH_CACHE_DIR/mitdb`` (default ``~/.cache/odebench/mitdb``), where missing records are
downloaded from PhysioNet. Built beats are cached per record under
``$ODEBENCH_CACHE_DIR/mitbih/``, keyed by the record files' sizes and mtimes and every
preprocessing constant, so a rerun loads in about a second.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import torch
from annotated_types import Ge, Gt, Lt, MinLen
from odebench_plugins.mitbih_common import CLASSES, KAGGLE_COUNTS, cache_root, save_cache

import odebench
from odebench import DataError
from odebench.types import one_line

RECORDS = [
    "100", "101", "102", "103", "104", "105", "106", "107", "108", "109", "111", "112", "113",
    "114", "115", "116", "117", "118", "119", "121", "122", "123", "124", "200", "201", "202",
    "203", "205", "207", "208", "209", "210", "212", "213", "214", "215", "217", "219", "220",
    "221", "222", "223", "228", "230", "231", "232", "233", "234",
]
DS1 = ["101", "106", "108", "109", "112", "114", "115", "116", "118", "119", "122", "124",
       "201", "203", "205", "207", "208", "209", "215", "220", "223", "230"]
DS2 = ["100", "103", "105", "111", "113", "117", "121", "123", "200", "202", "210", "212",
       "213", "214", "219", "221", "222", "228", "231", "232", "233", "234"]
AAMI = {**dict.fromkeys("NLRej", 0), **dict.fromkeys("AaJS", 1), **dict.fromkeys("VE", 2),
        "F": 3, **dict.fromkeys("/fQ", 4)}
LEADS = ("MLII", "V5")  # first one present is used (102 and 104 have no MLII)

# The preprocessing; every constant here is part of the cache key.
PREPROCESSING = {
    "version": 1,
    "sampling_hz": 125,
    "resample": "resample_poly",
    "window_seconds": 10,
    "segment_rr": 1.2,
    "length": 187,
    "leads": list(LEADS),
    "aami": AAMI,
    "scale": "per-beat min-max",
}

PHYSIONET = "https://physionet.org/content/mitdb/1.0.0/"
BYTES_PER_SAMPLE = {"212": 1.5, "16": 2, "61": 2, "80": 1, "8": 1, "24": 3, "32": 4}


# ---------------------------------------------------------------- beats from one signal

def beats_from_signal(
    signal: np.ndarray, fs: float, samples: np.ndarray, symbols: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Beats of one lead: ``(x float32 (n, 187), labels int64 (n,), index (n,))`` where
    ``index`` points into ``samples``/``symbols`` (the annotation each beat is anchored on)."""
    from scipy.signal import resample_poly

    hz, length = PREPROCESSING["sampling_hz"], PREPROCESSING["length"]
    ratio = Fraction(hz) / Fraction(fs).limit_denominator(10_000)
    sig = resample_poly(np.asarray(signal, dtype=np.float64), ratio.numerator, ratio.denominator)

    index = np.flatnonzero([s in AAMI for s in symbols])
    labels = np.array([AAMI[symbols[i]] for i in index], dtype=np.int64)
    pos = np.rint(np.asarray(samples)[index] * (hz / fs)).astype(np.int64)
    if len(pos) == 0:
        return np.zeros((0, length), np.float32), labels, index

    window = pos // (PREPROCESSING["window_seconds"] * hz)
    rr = np.diff(pos)
    same = window[1:] == window[:-1]
    record_rr = float(np.median(rr)) if len(rr) else float(length) / PREPROCESSING["segment_rr"]
    period = np.full(int(window.max()) + 1, record_rr)
    grouped, values = window[1:][same], rr[same]
    if len(values):
        uniq, starts = np.unique(grouped, return_index=True)
        period[uniq] = [np.median(v) for v in np.split(values, starts[1:])]
    seg_len = np.minimum(np.floor(PREPROCESSING["segment_rr"] * period[window]).astype(np.int64), length)

    inside = (pos >= 0) & (pos + seg_len <= len(sig)) & (seg_len >= 2)
    pos, seg_len, labels, index = pos[inside], seg_len[inside], labels[inside], index[inside]
    cols = np.arange(length)
    mask = cols < seg_len[:, None]
    seg = sig[np.minimum(pos[:, None] + cols, len(sig) - 1)]
    lo = np.where(mask, seg, np.inf).min(1, keepdims=True)
    hi = np.where(mask, seg, -np.inf).max(1, keepdims=True)
    span = np.where(hi > lo, hi - lo, 1.0)
    x = np.where(mask, (seg - lo) / span, 0.0).astype(np.float32)
    return x, labels, index


RR_FEATURES = ["pre_rr_s", "post_rr_s", "local_rr_s", "pre_rr_ratio", "post_rr_ratio", "local_rr_ratio"]
LOCAL_RR_BEATS = 10


def compute_rr_features(beats: np.ndarray, fs: float) -> np.ndarray:
    """The RR features (``RR_FEATURES``) of every beat of one record, from the beats' sample
    positions ``beats`` (sorted) at ``fs`` Hz: float64 ``(len(beats), 6)``. A record with
    fewer than two beats has no intervals: zeros."""
    beats = np.asarray(beats, dtype=np.float64)
    out = np.zeros((len(beats), len(RR_FEATURES)))
    if len(beats) < 2:
        return out
    rr = np.diff(beats) / fs
    pre = np.concatenate([rr[:1], rr])
    post = np.concatenate([rr, rr[-1:]])
    cumulative = np.concatenate([[0.0], np.cumsum(pre)])
    first = np.maximum(np.arange(len(pre)) - (LOCAL_RR_BEATS - 1), 0)
    local = (cumulative[1:] - cumulative[first]) / (np.arange(len(pre)) + 1 - first)
    average = rr.mean()
    out[:] = np.stack([pre, post, local, pre / average, post / average, local / average], axis=1)
    return out


def record_rr_features(folder: Path, name: str, samples: np.ndarray) -> np.ndarray:
    """The RR features of the beats of record ``name`` anchored at ``samples`` (annotation
    positions, as ``build_record`` keeps them), from all of the record's annotated beats."""
    import wfdb

    ann = wfdb.rdann(str(folder / name), "atr")
    beats = np.asarray(ann.sample)[[s in AAMI for s in ann.symbol]]
    features = compute_rr_features(beats, float(ann.fs or 360.0))
    index = np.searchsorted(beats, samples)
    if len(samples) and (index.max() >= len(beats) or not np.array_equal(beats[index], samples)):
        raise DataError(f"mitbih: the beats cached for record {name} do not match its annotations; "
                        f"delete {cache_root() / 'mitbih'} to rebuild them")
    return features[index]


# ---------------------------------------------------------------- records on disk

def _check_record(folder: Path, name: str):
    """Read and sanity-check a record's header; returns it. DataError names the bad file."""
    import wfdb

    hea, atr = folder / f"{name}.hea", folder / f"{name}.atr"
    for f in (hea, atr):
        if not f.is_file():
            raise DataError(f"mitbih: {f} is missing; copy record {name} (.hea/.dat/.atr from "
                            f"{PHYSIONET}) into {folder}")
    try:
        header = wfdb.rdheader(str(folder / name))
    except Exception as exc:  # wfdb raises many types for a garbled header
        raise DataError(f"mitbih: {hea} is not a valid WFDB header ({one_line(exc)}); "
                        f"replace it with the original from {PHYSIONET}") from None
    if not header.fs or header.fs <= 0 or not header.sig_len or not header.n_sig:
        raise DataError(f"mitbih: {hea} declares no sampling rate, signals or length; "
                        f"replace it with the original from {PHYSIONET}")
    if not any(lead in (header.sig_name or []) for lead in LEADS):
        raise DataError(f"mitbih: {hea} has no MLII or V5 lead (leads: {header.sig_name}); "
                        "is this an MIT-BIH Arrhythmia record?")
    expected: dict[str, float] = {}
    for file, fmt in zip(header.file_name, header.fmt):
        expected[file] = expected.get(file, 0) + BYTES_PER_SAMPLE.get(str(fmt), 0) * header.sig_len
    for file, size in expected.items():
        dat = folder / file
        if not dat.is_file():
            raise DataError(f"mitbih: {dat} is missing; copy it from {PHYSIONET} into {folder}")
        if dat.stat().st_size < int(size):
            raise DataError(f"mitbih: {dat} is truncated ({dat.stat().st_size} bytes, header "
                            f"needs {int(size)}); download it again from {PHYSIONET}")
    return header


def _record_files(folder: Path, name: str) -> list[Path]:
    return sorted(p for p in folder.glob(f"{name}.*") if p.suffix in (".hea", ".dat", ".atr"))


def _cache_file(folder: Path, name: str) -> Path:
    stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in _record_files(folder, name)]
    key = json.dumps({"pre": PREPROCESSING, "record": name, "files": stats}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    return cache_root() / "mitbih" / f"{name}-{digest}.npz"


def build_record(folder: Path, name: str) -> dict[str, np.ndarray]:
    """Beats of one record (no cache): x, y, sample (annotation sample at 360 Hz), annotated
    (AAMI-mapped annotation counts per class) and lead."""
    import wfdb

    header = _check_record(folder, name)
    lead = next(lead for lead in LEADS if lead in header.sig_name)
    try:
        record = wfdb.rdrecord(str(folder / name), channels=[header.sig_name.index(lead)])
    except Exception as exc:
        raise DataError(f"mitbih: cannot read the signal of {folder / name}.hea's .dat file "
                        f"({one_line(exc)}); download record {name} again from {PHYSIONET}") from None
    try:
        ann = wfdb.rdann(str(folder / name), "atr")
    except Exception as exc:
        raise DataError(f"mitbih: {folder / name}.atr is not a valid annotation file "
                        f"({one_line(exc)}); download it again from {PHYSIONET}") from None
    samples = np.asarray(ann.sample)
    if not len(samples) or samples.min() < 0 or samples.max() >= header.sig_len \
            or np.any(np.diff(samples) < 0) or not any(s in AAMI for s in ann.symbol):
        raise DataError(f"mitbih: {folder / name}.atr is not a valid annotation file (no beats, or "
                        f"positions unsorted or outside the record); download it again from {PHYSIONET}")
    signal = record.p_signal[:, 0]
    if not np.isfinite(signal).all():
        signal = np.nan_to_num(signal)  # WFDB marks invalid samples as NaN; none in MIT-BIH
    x, y, index = beats_from_signal(signal, header.fs, ann.sample, list(ann.symbol))
    annotated = np.bincount([AAMI[s] for s in ann.symbol if s in AAMI], minlength=len(CLASSES))
    return {"x": x, "y": y, "sample": np.asarray(ann.sample)[index].astype(np.int64),
            "annotated": annotated.astype(np.int64), "lead": np.array(lead)}


def load_record(folder: Path, name: str) -> dict[str, np.ndarray]:
    """``build_record`` through the cache."""
    _check_files_present(folder, name)
    cached = _cache_file(folder, name)
    if cached.is_file():
        try:
            with np.load(cached) as data:
                return {k: data[k] for k in data.files}
        except Exception:  # a damaged cache file is rebuilt, never trusted
            cached.unlink(missing_ok=True)
    beats = build_record(folder, name)
    save_cache(cached, "mitbih", **beats)
    return beats


def _check_files_present(folder: Path, name: str) -> None:
    for ext in (".hea", ".atr", ".dat"):
        if not (folder / f"{name}{ext}").is_file():
            raise DataError(f"mitbih: {folder / (name + ext)} is missing; copy record {name} "
                            f"(.hea/.dat/.atr from {PHYSIONET}) into {folder}")


def _missing(folder: Path, records: list[str]) -> list[str]:
    return [r for r in records
            if not all((folder / f"{r}{ext}").is_file() for ext in (".hea", ".dat", ".atr"))]


def download(folder: Path, records: list[str]) -> None:
    """Download records from PhysioNet into ``folder``, one at a time with a progress bar; a
    record's files appear only once all of them have arrived."""
    import wfdb
    from tqdm.auto import tqdm

    partial = folder / ".partial"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"mitbih: cannot create {folder} to download the records into "
                        f"({exc.strerror or exc}); set ODEBENCH_CACHE_DIR to a writable folder, or "
                        "ODEBENCH_DATA_DIR / dataset.path to a folder with the records") from None
    for name in tqdm(records, desc="downloading MIT-BIH from PhysioNet", unit="record", disable=None):
        shutil.rmtree(partial, ignore_errors=True)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                wfdb.dl_database("mitdb", str(partial), records=[name], annotators=["atr"])
        except Exception as exc:
            shutil.rmtree(partial, ignore_errors=True)
            raise DataError(
                f"mitbih: cannot download record {name} from PhysioNet into {folder} "
                f"({one_line(exc)}); without internet, copy the 48 records (.hea/.dat/.atr from "
                f"{PHYSIONET}) into a folder and set ODEBENCH_DATA_DIR or dataset.path to it"
            ) from None
        for f in partial.iterdir():
            os.replace(f, folder / f.name)
    shutil.rmtree(partial, ignore_errors=True)


def locate(path: str | None, records: list[str]) -> Path:
    """The folder holding ``records``: ``path``, ``$ODEBENCH_DATA_DIR`` (or its ``mitdb/``),
    or the user cache, downloading what is missing there."""
    explicit = [(path, "dataset.path"), (os.environ.get("ODEBENCH_DATA_DIR"), "ODEBENCH_DATA_DIR")]
    for value, where in explicit:
        if not value:
            continue
        folder = Path(value).expanduser()
        if not (folder / f"{records[0]}.hea").is_file() and (folder / "mitdb").is_dir():
            folder = folder / "mitdb"
        if not folder.is_dir():
            raise DataError(f"mitbih: {where} = {value!r} is not a folder; point it at the "
                            f"folder with the MIT-BIH records (.hea/.dat/.atr)")
        missing = _missing(folder, records)
        if missing:
            raise DataError(f"mitbih: record {missing[0]} (.hea/.dat/.atr) not found in {folder} "
                            f"({where}); copy the records from {PHYSIONET} there or unset {where} "
                            "to download them into the cache")
        return folder
    folder = cache_root() / "mitdb"
    missing = _missing(folder, records)
    if missing:
        download(folder, missing)
    return folder


# ---------------------------------------------------------------- splits and the loader

def kaggle_split(y: np.ndarray, test_fraction: float, seed: int) -> np.ndarray:
    """A boolean test mask: per class, round(test_fraction * n) beats drawn at random."""
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        test[idx[: int(round(test_fraction * len(idx)))]] = True
    return test


def load_mitbih(
    *,
    path: str | None = None,
    split: Literal["kaggle", "inter-patient"] = "kaggle",
    test_fraction: Annotated[float, Gt(0), Lt(1)] = 0.2,
    split_seed: Annotated[int, Ge(0)] = 0,
    records: Annotated[list | None, MinLen(1)] = None,
    rr_features: bool = False,
) -> odebench.Dataset:
    """Beats of the MIT-BIH records (all 48 unless ``records`` names some), split; with
    ``rr_features``, six RR channels after the beat's (see the module's docstring)."""
    names = [str(r) for r in (RECORDS if records is None else records)]
    if not 0 < test_fraction < 1:
        raise DataError(f"mitbih: test_fraction must be between 0 and 1, got {test_fraction}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        # The same beats twice: the kaggle split would put copies in train and test (a leak).
        raise DataError(f"mitbih: records lists {', '.join(repeated)} more than once, which would put "
                        "the same beats in train and test; list each record once")
    if split == "inter-patient":
        names = [r for r in names if r in DS1 or r in DS2]
    if not names:
        raise DataError("mitbih: no records to load; the inter-patient split uses DS1/DS2 records "
                        f"only ({', '.join(DS1 + DS2)})")
    folder = locate(path, names)
    parts = [load_record(folder, name) for name in names]
    x = np.concatenate([p["x"] for p in parts])[:, None]
    if rr_features:
        rr = np.concatenate([record_rr_features(folder, n, p["sample"]) for n, p in zip(names, parts)])
        x = np.concatenate([x, np.repeat(rr.astype(np.float32)[:, :, None], x.shape[2], axis=2)], axis=1)
    y = np.concatenate([p["y"] for p in parts])
    rec = np.concatenate([np.full(len(p["y"]), i) for i, p in enumerate(parts)])
    annotated = {n: p["annotated"] for n, p in zip(names, parts)}

    if split == "kaggle":
        test = kaggle_split(y, test_fraction, split_seed)
        annotations = {"all": _sum_counts(annotated.values())}
        reference = {"annotations": annotations}
        if names == RECORDS or sorted(names) == sorted(RECORDS):
            reference["kaggle"] = KAGGLE_COUNTS
    else:
        test = np.isin(np.array(names)[rec], DS2)
        assert not set(DS1) & set(DS2), "inter-patient: a record in both DS1 and DS2"
        for label, group in (("DS1 (train)", DS1), ("DS2 (test)", DS2)):
            if not any(n in group for n in names):
                raise DataError(f"mitbih: the inter-patient split needs a {label} record; "
                                f"records: {names}")
        reference = {"annotations": {
            "train": _sum_counts(a for n, a in annotated.items() if n in DS1),
            "test": _sum_counts(a for n, a in annotated.items() if n in DS2),
            "all": _sum_counts(annotated.values()),
        }}
    info: dict[str, Any] = {
        "source": str(folder),
        "records": names,
        "split": split,
        "sampling_hz": PREPROCESSING["sampling_hz"],
        "leads": {n: str(p["lead"]) for n, p in zip(names, parts)},
        "record_train": np.array(names)[rec[~test]],
        "record_test": np.array(names)[rec[test]],
        "reference_counts": reference,
        "dropped_at_record_end": int(sum(int(a.sum()) for a in annotated.values()) - len(y)),
        "channels": ["beat"] + (RR_FEATURES if rr_features else []),
    }
    return odebench.Dataset(
        torch.from_numpy(x[~test]), torch.from_numpy(y[~test]),
        torch.from_numpy(x[test]), torch.from_numpy(y[test]),
        list(CLASSES), info,
    )


def _sum_counts(arrays) -> dict[str, int]:
    total = np.zeros(len(CLASSES), dtype=np.int64)
    for a in arrays:
        total += a
    return dict(zip(CLASSES, total.tolist()))


@odebench.hookimpl
def register_datasets(register):
    register("mitbih", load_mitbih)
