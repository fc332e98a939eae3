"""The ``mitbih-csv`` dataset plugin: the Kaggle CSV files, validated and cached."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from odebench_plugins import mitbih_csv

from odebench import DataError


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ODEBENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ODEBENCH_KAGGLE_DIR", raising=False)
    return tmp_path / "cache"


@pytest.fixture
def sample() -> Path:
    value = os.environ.get("ODEBENCH_DATA_DIR")
    folder = Path(value).parent / "kaggle-sample" if value else None
    if folder is None or not (folder / "mitbih_train_head.csv").is_file():
        pytest.skip("set ODEBENCH_DATA_DIR to ../shared/data/mitdb (kaggle-sample/ beside it)")
    return folder


def write_csv(folder: Path, name: str, rows: int = 20, seed: int = 0) -> np.ndarray:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    values = np.concatenate([rng.random((rows, 187)), (np.arange(rows) % 5)[:, None]], 1)
    np.savetxt(folder / name, values, delimiter=",", fmt="%.18e")
    return values


def test_reads_the_real_kaggle_rows(sample):
    data = mitbih_csv.load_mitbih_csv(path=str(sample), train_file="mitbih_train_head.csv",
                                      test_file="mitbih_test_head.csv")
    data.validate("mitbih-csv")
    expected = np.loadtxt(sample / "mitbih_train_head.csv", delimiter=",")
    assert data.x_train.shape == (10, 1, 187) and data.x_test.shape == (10, 1, 187)
    assert torch.equal(data.x_train[:, 0], torch.from_numpy(expected[:, :187].astype(np.float32)))
    assert data.y_train.dtype == torch.int64 and data.y_train.tolist() == [0] * 10
    assert data.class_names == ["N", "S", "V", "F", "Q"]


def test_finds_the_head_samples_under_the_default_names(sample, monkeypatch):
    monkeypatch.setenv("ODEBENCH_KAGGLE_DIR", str(sample))
    data = mitbih_csv.load_mitbih_csv()
    assert len(data.y_train) == len(data.y_test) == 10


def test_cache_hit_skips_parsing(tmp_path, cache, monkeypatch):
    folder = tmp_path / "kaggle"
    train = write_csv(folder, "mitbih_train.csv")
    write_csv(folder, "mitbih_test.csv", rows=5, seed=1)
    first = mitbih_csv.load_mitbih_csv(path=str(folder))
    assert len(list((cache / "mitbih-csv").glob("*.npz"))) == 2

    def fail(file):
        raise AssertionError(f"parsed {file} again")

    monkeypatch.setattr(mitbih_csv, "read_csv", fail)
    again = mitbih_csv.load_mitbih_csv(path=str(folder))
    assert torch.equal(first.x_train, again.x_train) and torch.equal(first.y_test, again.y_test)
    assert torch.equal(again.y_train, torch.from_numpy(train[:, -1].astype(np.int64)))


BAD = [
    (lambda r: r[:-1], r"line 3: 187 values, expected 188"),
    (lambda r: r + ["0.5"], r"line 3: 189 values, expected 188"),
    (lambda r: ["abc"] + r[1:], r"line 3 column 1: 'abc' is not a number"),
    (lambda r: r[:5] + ["nan"] + r[6:], r"line 3 column 6: 'nan' is not finite"),
    (lambda r: r[:-1] + ["5.0"], r"line 3: label '5.0' is not an integer in 0..4"),
    (lambda r: r[:-1] + ["1.5"], r"line 3: label '1.5' is not an integer in 0..4"),
]


@pytest.mark.parametrize("damage, match", BAD)
def test_a_bad_file_gets_file_line_and_problem(tmp_path, damage, match):
    folder = tmp_path / "kaggle"
    write_csv(folder, "mitbih_train.csv")
    write_csv(folder, "mitbih_test.csv")
    lines = (folder / "mitbih_test.csv").read_text().splitlines()
    lines[2] = ",".join(damage(lines[2].split(",")))
    (folder / "mitbih_test.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"mitbih_test\.csv " + match) as info:
        mitbih_csv.load_mitbih_csv(path=str(folder))
    assert "\n" not in str(info.value)


def test_missing_folder_or_file_says_where_to_get_it(tmp_path):
    with pytest.raises(DataError, match="ODEBENCH_KAGGLE_DIR"):
        mitbih_csv.load_mitbih_csv()
    with pytest.raises(DataError, match=r"mitbih_train\.csv not found.*kaggle\.com"):
        mitbih_csv.load_mitbih_csv(path=str(tmp_path))


def test_a_suite_runs_on_the_csv_files(tmp_path, cli, write_suite):
    folder = tmp_path / "kaggle"
    write_csv(folder, "mitbih_train.csv", rows=40)
    write_csv(folder, "mitbih_test.csv", rows=20, seed=1)
    suite = write_suite(f"""\
        name: csv-tiny
        dataset: {{name: mitbih-csv, path: {folder}}}
        train: {{epochs: 1, batch_size: 16}}
        runs:
          - model: resnet
            blocks: 0
        """)
    code, out, err = cli("run", suite, "--results", tmp_path / "results")
    assert code == 0, err
    from odebench.store import Store

    [row] = Store(tmp_path / "results").latest("csv-tiny")
    assert row["status"] == "done" and row["metrics"]["test_samples"] == 20
