"""The ``mitbih`` dataset plugin: beats built from WFDB records.

Tiny records written with ``wfdb.wrsamp``/``wrann`` in a temp dir test the beat construction
exactly; a few of the shared MIT-BIH records (``$ODEBENCH_DATA_DIR``) test the real thing.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
import wfdb
from odebench_plugins import mitbih

from odebench import DataError
from odebench.binding import load_dataset
from odebench.plugins import load_registry

# wfdb 4.3 calls pandas APIs that pandas deprecates; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword")

FS = 360
# Window 0 (0-10 s): R-peaks every 0.8 s (100 samples at 125 Hz); window 1: every 1.0 s (125).
PEAKS = [144 + 288 * k for k in range(12)] + [3744 + 360 * k for k in range(10)]
LENGTH = 7400  # 20.6 s: the last beat's 1.2 T segment runs past the end
SYMBOLS = list("NLRejAaJSVEF/fQ") + list("NAVFQ/N")
NOT_BEATS = [(1000, "+"), (2000, "~"), (5000, "|"), (5200, "x"), (6000, "!")]
AAMI_OF = {**dict.fromkeys("NLRej", 0), **dict.fromkeys("AaJS", 1), **dict.fromkeys("VE", 2),
           "F": 3, **dict.fromkeys("/fQ", 4)}


def write_record(folder: Path, name: str, lead: str = "MLII", symbols=SYMBOLS, length=LENGTH) -> None:
    """A 2-lead WFDB record with Gaussian R-peaks (and T waves) at PEAKS, annotated with
    ``symbols`` plus a few non-beat annotations."""
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(length)
    ecg = np.zeros(length)
    for p in PEAKS:
        ecg += np.exp(-0.5 * ((t - p) / 3) ** 2) + 0.3 * np.exp(-0.5 * ((t - p - 90) / 15) ** 2)
    wfdb.wrsamp(name, fs=FS, units=["mV", "mV"], sig_name=[lead, "V1"],
                p_signal=np.stack([ecg, -ecg], 1), fmt=["212", "212"], write_dir=str(folder))
    marks = sorted([(p, s) for p, s in zip(PEAKS, symbols)] + NOT_BEATS)
    wfdb.wrann(name, "atr", np.array([m[0] for m in marks]), [m[1] for m in marks],
               fs=FS, write_dir=str(folder))


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ODEBENCH_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def tiny(tmp_path, monkeypatch) -> Path:
    monkeypatch.delenv("ODEBENCH_DATA_DIR", raising=False)
    folder = tmp_path / "records"
    write_record(folder, "101")  # DS1
    write_record(folder, "100")  # DS2
    return folder


@pytest.fixture
def shared() -> Path:
    value = os.environ.get("ODEBENCH_DATA_DIR")
    if not value or not (Path(value) / "100.hea").is_file():
        pytest.skip("set ODEBENCH_DATA_DIR to the MIT-BIH records (CI: ../shared/data/mitdb)")
    return Path(value)


# ---------------------------------------------------------------- tiny records

def test_beats_start_at_their_r_peak_and_span_1_2_median_rr_of_their_window(tiny):
    data = mitbih.load_record(tiny, "100")
    x, sample = data["x"], data["sample"]
    # the last beat's 150-sample segment would pass the record's end: dropped
    assert sample.tolist() == PEAKS[:-1]
    assert x.shape == (len(PEAKS) - 1, 187) and x.dtype == np.float32
    for i, (beat, at) in enumerate(zip(x, sample)):
        rr = 100 if at < 3600 else 125  # at 125 Hz, window 0 / window 1
        length = int(1.2 * rr)
        assert beat[0] == pytest.approx(1.0, abs=0.02)  # starts at its own R-peak
        if PEAKS[i + 1] - at == rr * FS // 125:
            assert beat[rr] == pytest.approx(1.0, abs=0.05)  # the next R-peak, one R-R later
        assert (beat[length:] == 0).all() and beat[length - 1] > 0  # 1.2 T, then zero padding
        assert beat.min() == 0 and beat.max() == pytest.approx(1.0, abs=1e-6)


def test_aami_mapping_labels_beats_and_skips_other_annotations(tiny):
    data = mitbih.load_record(tiny, "100")
    assert data["y"].dtype == np.int64
    assert data["y"].tolist() == [AAMI_OF[s] for s in SYMBOLS[: len(PEAKS) - 1]]
    assert data["annotated"].tolist() == np.bincount(
        [AAMI_OF[s] for s in SYMBOLS], minlength=5).tolist()
    assert mitbih.CLASSES == ["N", "S", "V", "F", "Q"]


def test_a_record_without_mlii_uses_v5(tmp_path):
    write_record(tmp_path, "102", lead="V5")
    data = mitbih.load_record(tmp_path, "102")
    assert str(data["lead"]) == "V5" and len(data["y"]) == len(PEAKS) - 1


def test_loader_returns_float32_beats_and_an_inter_patient_split(tiny):
    data = mitbih.load_mitbih(path=str(tiny), split="inter-patient", records=["100", "101"])
    data.validate("mitbih")
    assert data.x_train.shape == (len(PEAKS) - 1, 1, 187) and data.x_train.dtype == torch.float32
    assert set(data.info["record_train"]) == {"101"} and set(data.info["record_test"]) == {"100"}


def test_cache_hit_skips_the_build_and_a_preprocessing_change_misses(tiny, cache, monkeypatch):
    first = mitbih.load_mitbih(path=str(tiny), records=["100", "101"])
    assert len(list((cache / "mitbih").glob("*.npz"))) == 2

    def fail(*args):
        raise AssertionError("rebuilt despite the cache")

    monkeypatch.setattr(mitbih, "build_record", fail)
    again = mitbih.load_mitbih(path=str(tiny), records=["100", "101"])
    assert torch.equal(first.x_train, again.x_train) and torch.equal(first.y_test, again.y_test)

    monkeypatch.setitem(mitbih.PREPROCESSING, "segment_rr", 1.3)
    with pytest.raises(AssertionError, match="rebuilt"):
        mitbih.load_mitbih(path=str(tiny), records=["100", "101"])


def test_a_changed_record_file_invalidates_the_cache(tiny, cache):
    mitbih.load_mitbih(path=str(tiny), records=["100"])
    write_record(tiny, "100", symbols=["V"] * len(PEAKS))
    os.utime(tiny / "100.atr", ns=(1, 1))  # same size, another mtime
    data = mitbih.load_mitbih(path=str(tiny), records=["100"])
    assert set(torch.cat([data.y_train, data.y_test]).tolist()) == {2}


# ---------------------------------------------------------------- errors

def test_missing_record_names_the_file_and_the_fix(tiny):
    with pytest.raises(DataError, match=r"record 102 .* not found in .*records.*dataset\.path"):
        mitbih.load_mitbih(path=str(tiny), records=["100", "102"])


@pytest.mark.parametrize("damage, match", [
    ("hea", r"100\.hea is not a valid WFDB header"),
    ("dat", r"100\.dat is truncated"),
    ("atr", r"100\.atr is not a valid annotation file"),
])
def test_corrupt_record_names_the_bad_file(tiny, damage, match):
    file = tiny / f"100.{damage}"
    if damage == "dat":
        file.write_bytes(file.read_bytes()[:1000])
    else:
        file.write_bytes(b"\xff\x00garbage\x13" * 7)
    with pytest.raises(DataError, match=match) as info:
        mitbih.load_mitbih(path=str(tiny), records=["100"])
    assert "\n" not in str(info.value)


def test_no_network_gives_one_line_saying_how_to_provide_the_files(tmp_path, monkeypatch):
    monkeypatch.delenv("ODEBENCH_DATA_DIR", raising=False)

    def offline(*args, **kwargs):
        raise ConnectionError("HTTPSConnectionPool(host='physionet.org'): Max retries exceeded\n...")

    monkeypatch.setattr(wfdb, "dl_database", offline)
    with pytest.raises(DataError) as info:
        mitbih.load_mitbih(records=["100"])
    message = str(info.value)
    assert "\n" not in message
    assert "cannot download record 100 from PhysioNet" in message
    assert "ODEBENCH_DATA_DIR" in message and "dataset.path" in message
    assert not (tmp_path / "cache" / "mitdb" / "100.hea").exists()


def test_missing_records_are_downloaded_into_the_cache(tmp_path, monkeypatch, cache):
    monkeypatch.delenv("ODEBENCH_DATA_DIR", raising=False)
    calls = []

    def fake_download(db, dl_dir, records, annotators):
        calls.append((db, records, annotators))
        write_record(Path(dl_dir), records[0])

    monkeypatch.setattr(wfdb, "dl_database", fake_download)
    data = mitbih.load_mitbih(split="inter-patient", records=["100", "101"])
    assert calls == [("mitdb", ["100"], ["atr"]), ("mitdb", ["101"], ["atr"])]
    assert data.info["source"] == str(cache / "mitdb")
    assert sorted(p.name for p in (cache / "mitdb").iterdir()) == [
        "100.atr", "100.dat", "100.hea", "101.atr", "101.dat", "101.hea"]
    calls.clear()
    mitbih.load_mitbih(split="inter-patient", records=["100", "101"])
    assert calls == []  # present now: no second download


# ---------------------------------------------------------------- the shared MIT-BIH records

SUBSET = ["100", "102", "106", "208"]  # DS2, paced (V5 lead), DS1, DS1 (F beats)


def _annotated(folder: Path, name: str) -> Counter:
    ann = wfdb.rdann(str(folder / name), "atr")
    return Counter(mitbih.CLASSES[AAMI_OF[s]] for s in ann.symbol if s in AAMI_OF)


def test_real_records_give_one_beat_per_annotated_beat(shared):
    data = mitbih.load_mitbih(records=SUBSET)
    built = Counter(mitbih.CLASSES[i] for i in torch.cat([data.y_train, data.y_test]).tolist())
    expected = sum((_annotated(shared, r) for r in SUBSET), Counter())
    assert set(built) == set(expected)
    for cls, n in expected.items():
        assert n - 2 * len(SUBSET) <= built[cls] <= n  # a beat or two lost at each record's end
    assert data.info["leads"] == {"100": "MLII", "102": "V5", "106": "MLII", "208": "MLII"}
    x = torch.cat([data.x_train, data.x_test])
    assert x.shape[1:] == (1, 187) and x.dtype == torch.float32
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    assert torch.allclose(x.amax(dim=2), torch.ones(1))  # every beat spans [0, 1]


def test_kaggle_split_is_stratified_80_20_with_patients_in_both(shared):
    data = mitbih.load_mitbih(records=SUBSET)
    train = np.bincount(data.y_train.numpy(), minlength=5)
    test = np.bincount(data.y_test.numpy(), minlength=5)
    assert np.all(np.abs(test - 0.2 * (train + test)) <= 0.5)
    assert set(data.info["record_train"]) == set(data.info["record_test"]) == set(SUBSET)
    other = mitbih.load_mitbih(records=SUBSET, split_seed=1)
    assert not torch.equal(other.y_test, data.y_test) or not torch.equal(other.x_test, data.x_test)


def test_inter_patient_split_keeps_patients_apart(shared):
    data = mitbih.load_mitbih(records=SUBSET, split="inter-patient")
    train, test = set(data.info["record_train"]), set(data.info["record_test"])
    assert train == {"106", "208"} and test == {"100"} and not train & test
    assert "102" not in train | test  # paced records are not in DS1 or DS2
    assert 0 <= sum(_annotated(shared, "100").values()) - len(data.y_test) <= 2


def test_core_subsamples_train_and_test_sizes(shared):
    registry = load_registry()
    data = load_dataset(registry, {"name": "mitbih", "records": SUBSET, "train_size": 300,
                                   "test_size": 100})
    assert len(data.y_train) == 300 and len(data.y_test) == 100
    assert set(data.y_train.tolist()) == {0, 1, 2, 3, 4}  # every class kept


# ---------------------------------------------------------------- RR features

def test_rr_features_of_known_beat_times_equal_the_hand_computed_values():
    # Beats at 0, 1, 2, 3.5, 4.5 s (360 Hz): RR intervals 1, 1, 1.5, 1 s, average 1.125 s.
    features = mitbih.compute_rr_features(np.array([0, 360, 720, 1260, 1620]), 360.0)
    pre = [1.0, 1.0, 1.0, 1.5, 1.0]  # the first beat's pre-RR is its post-RR
    post = [1.0, 1.0, 1.5, 1.0, 1.0]  # the last beat's post-RR is its pre-RR
    local = [1.0, 1.0, 1.0, 4.5 / 4, 5.5 / 5]  # mean of the pre-RRs so far (fewer than 10 here)
    want = np.array([pre, post, local, np.divide(pre, 1.125), np.divide(post, 1.125),
                     np.divide(local, 1.125)]).T
    assert np.allclose(features, want)


def test_local_rr_averages_the_beats_own_and_nine_previous_intervals():
    rr = np.array([1.0] * 9 + [2.0] * 6)  # 15 intervals: 16 beats
    beats = np.concatenate([[0.0], np.cumsum(rr)]) * 100
    features = mitbih.compute_rr_features(beats, 100.0)
    pre = np.concatenate([[1.0], rr])
    for i in range(len(beats)):
        window = pre[max(0, i - 9): i + 1]
        assert features[i, 2] == pytest.approx(window.mean())
    assert features[-1, 2] == pytest.approx(1.6)  # 4 x 1 s and 6 x 2 s
    assert np.allclose(features[:, 5], features[:, 2] / rr.mean())
    assert np.all(mitbih.compute_rr_features(np.array([5]), 360.0) == 0)  # one beat: no interval


def test_rr_features_are_six_constant_channels_after_the_beat(tiny):
    plain = mitbih.load_mitbih(path=str(tiny), records=["100", "101"])
    data = mitbih.load_mitbih(path=str(tiny), records=["100", "101"], rr_features=True)
    assert data.x_train.shape == (plain.x_train.shape[0], 7, 187)
    assert torch.equal(data.x_train[:, :1], plain.x_train) and torch.equal(data.y_test, plain.y_test)
    assert torch.equal(data.x_train[:, 1:], data.x_train[:, 1:, :1].expand(-1, -1, 187))
    assert data.info["channels"] == ["beat"] + mitbih.RR_FEATURES
    # Record 101 (train, inter-patient): beats every 0.8 s, then every 1.0 s from 10.4 s on.
    split = mitbih.load_mitbih(path=str(tiny), records=["100", "101"], rr_features=True, split="inter-patient")
    peaks = np.array(PEAKS)
    expected = mitbih.compute_rr_features(peaks, FS)[: len(split.y_train)]
    assert np.allclose(split.x_train[:, 1:, 0].numpy(), expected, atol=1e-6)
    assert split.x_train[0, 1, 0].item() == pytest.approx(0.8) and split.x_train[-1, 1, 0].item() == pytest.approx(1.0)
