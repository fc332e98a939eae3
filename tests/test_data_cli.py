"""``odebench data describe``: class counts per split for any registered dataset."""

from __future__ import annotations

import io
import os

import pandas as pd
import pytest
import wfdb

from .test_mitbih import PEAKS, write_record

pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword")


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ODEBENCH_CACHE_DIR", str(tmp_path / "cache"))


def test_describe_any_dataset_as_csv(cli):
    code, out, err = cli("data", "describe", "synthetic", "--param", "train_size=50",
                         "--param", "test_size=25", "--format", "csv")
    assert code == 0, err
    frame = pd.read_csv(io.StringIO(out))
    assert list(frame.columns) == ["split", "class", "count"]
    assert len(frame) == 3 * 6  # (N S V F Q + all) x (train, test, all)
    totals = frame[frame["class"] == "all"].set_index("split")["count"]
    assert totals.to_dict() == {"train": 50, "test": 25, "all": 75}


def test_describe_mitbih_inter_patient_compares_with_the_annotations(tmp_path, cli):
    folder = tmp_path / "records"
    write_record(folder, "101", symbols=["N"] * len(PEAKS))  # DS1
    write_record(folder, "100", symbols=["V"] * len(PEAKS))  # DS2
    code, out, err = cli("data", "describe", "mitbih", "--split", "inter-patient",
                         "--param", f"path={folder}", "--param", "records=[100, 101]")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"## mitbih path={folder} records=[100, 101] split=inter-patient"
    assert [c.strip() for c in lines[2].split("|")[1:6]] == [
        "split", "class", "count", "annotations", "count - annotations"]
    n = len(PEAKS)
    train_n = next(x for x in lines if x.startswith("| train ") and "| N " in x)
    test_v = next(x for x in lines if x.startswith("| test ") and "| V " in x)
    # one beat per annotation, the last one lost at the record's end
    assert [c.strip() for c in train_n.split("|")[3:6]] == [str(n - 1), str(n), "-1"]
    assert [c.strip() for c in test_v.split("|")[3:6]] == [str(n - 1), str(n), "-1"]
    assert "dropped at record end: 2" in out


def test_unknown_dataset_or_param_is_a_one_line_error(cli):
    code, _, err = cli("data", "describe", "mitbh")
    assert code == 2 and "unknown dataset 'mitbh'; did you mean 'mitbih'?" in err
    code, _, err = cli("data", "describe", "synthetic", "--split", "kaggle")
    assert code == 2 and "split: unknown parameter of dataset 'synthetic'" in err


def test_describe_mitbih_without_records_or_network_says_how_to_provide_them(cli, monkeypatch):
    monkeypatch.delenv("ODEBENCH_DATA_DIR", raising=False)

    def offline(*args, **kwargs):
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(wfdb, "dl_database", offline)
    code, out, err = cli("data", "describe", "mitbih")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "cannot download record 100 from PhysioNet" in err and "ODEBENCH_DATA_DIR" in err


@pytest.mark.slow
def test_all_48_records_match_the_kaggle_totals_within_half_a_percent(cli):
    if not os.environ.get("ODEBENCH_DATA_DIR"):
        pytest.skip("set ODEBENCH_DATA_DIR to the MIT-BIH records (CI: ../shared/data/mitdb)")
    code, out, err = cli("data", "describe", "mitbih")
    assert code == 0, err
    kaggle = {"N": 90589, "S": 2779, "V": 7236, "F": 803, "Q": 8039, "all": 109446}
    rows = [[c.strip() for c in x.split("|")[1:4]] for x in out.splitlines() if x.startswith("| all ")]
    counts = {cls: int(count) for _, cls, count in rows}
    assert counts.keys() == kaggle.keys()
    for cls, expected in kaggle.items():
        assert abs(counts[cls] - expected) <= 0.005 * expected, (cls, counts[cls], expected)


def test_plot_writes_beats_and_class_balance(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("data", "plot", "synthetic", "--param", "train_size=60",
                         "--param", "test_size=30", "--per-class", "3")
    assert code == 0, err
    folder = tmp_path / "results" / "data" / "synthetic"
    written = [line.strip() for line in out.splitlines()]
    assert written == [str(folder.relative_to(tmp_path) / "beats.png"),
                       str(folder.relative_to(tmp_path) / "class_balance.png")]
    for name in ("beats.png", "class_balance.png"):
        assert (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, out, err = cli("data", "plot", "synthetic", "--param", "train_size=20", "--out",
                         tmp_path / "elsewhere")
    assert code == 0, err and (tmp_path / "elsewhere" / "beats.png").exists()


def test_plot_examples_are_drawn_per_class_in_the_dataset_order():
    import numpy as np

    from odebench.report.data_plots import examples

    y = np.array([2, 0, 2, 2, 1, 2, 0])
    picked = examples(y, 4, per_class=2)
    assert [len(p) for p in picked] == [2, 1, 2, 0]  # class 3 has no sample
    assert all((y[p] == label).all() for label, p in enumerate(picked))


def test_plot_bad_input_is_a_one_line_error(cli):
    code, _, err = cli("data", "plot", "synthetic", "--per-class", "0")
    assert code == 2 and "--per-class 0: give at least 1" in err
    code, _, err = cli("data", "plot", "synthetc")
    assert code == 2 and "unknown dataset 'synthetc'" in err
