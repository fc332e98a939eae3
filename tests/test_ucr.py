"""The ``ucr`` dataset plugin (UCR/UEA archive through aeon): the archive's splits offline for
problems bundled with aeon, unequal lengths, z-normalisation, missing values, the errors, and
short and multivariate series through both seed models."""

from __future__ import annotations

import sys

import numpy as np
import pytest

pytest.importorskip("aeon", reason="the ucr plugin needs aeon: pip install -e '.[ucr]'")

from odebench_plugins import ucr  # noqa: E402

from odebench import DataError, Unsupported  # noqa: E402
from odebench.binding import bind_solver, load_dataset  # noqa: E402
from odebench.plugins import load_registry  # noqa: E402
from odebench.runner import train_and_evaluate  # noqa: E402
from odebench.suite import TRAIN_DEFAULTS  # noqa: E402

# Split sizes, channels, lengths and classes as the archive's pages give them
# (timeseriesclassification.com; Dau et al. 2019 for UCR 2018, Bagnall et al. 2018 for UEA).
ARCHIVE = {
    "GunPoint": (50, 150, 1, (150, 150), 2),
    "ItalyPowerDemand": (67, 1029, 1, (24, 24), 2),
    "ArrowHead": (36, 175, 1, (251, 251), 3),
    "BasicMotions": (40, 40, 6, (100, 100), 4),
    "JapaneseVowels": (270, 370, 12, (7, 29), 9),
}


@pytest.fixture(scope="module")
def registry():
    return load_registry()


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No downloads: aeon's downloader fails loudly, the cache is empty."""
    import aeon.datasets

    def no_network(*args, **kwargs):
        raise AssertionError("the test tried to download")

    monkeypatch.setattr(aeon.datasets, "load_classification", no_network)
    monkeypatch.setenv("ODEBENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ODEBENCH_UCR_DIR", raising=False)


@pytest.mark.parametrize("problem", sorted(ARCHIVE))
def test_bundled_problems_load_offline_with_the_archives_split(problem):
    n_train, n_test, channels, (shortest, longest), n_classes = ARCHIVE[problem]
    if ucr.bundled_folder() is None or not ucr._has(ucr.bundled_folder(), problem):
        pytest.skip(f"{problem} is not bundled with this aeon version")
    data = ucr.load_ucr(problem=problem)
    data.validate("ucr")
    assert tuple(data.x_train.shape) == (n_train, channels, longest)
    assert tuple(data.x_test.shape) == (n_test, channels, longest)
    assert len(data.class_names) == n_classes
    assert set(data.y_train.tolist()) == set(range(n_classes)) == set(data.y_test.tolist())
    assert data.info["lengths"] == [shortest, longest]


# ---------------------------------------------------------------- the options, on files of our own

def write_ts(folder, problem, rows, labels, equal=False, missing=False):
    """A tiny multivariate .ts problem: ``rows`` per split, each a list of channels."""
    (folder / problem).mkdir(parents=True, exist_ok=True)
    for split, cases in rows.items():
        lines = [f"@problemName {problem}", "@timeStamps false", f"@missing {str(missing).lower()}",
                 f"@univariate {str(len(cases[0][0]) == 1).lower()}", f"@equalLength {str(equal).lower()}",
                 f"@classLabel true {' '.join(labels)}", "@data"]
        for channels, label in cases:
            lines.append(":".join(",".join("?" if v is None else repr(float(v)) for v in c)
                                  for c in channels) + f":{label}")
        (folder / problem / f"{problem}_{split}.ts").write_text("\n".join(lines) + "\n")


@pytest.fixture
def tiny(tmp_path):
    rows = {
        "TRAIN": [([[1, 2, 3, 4, 5, 6, 7], [0, 0, 0, 0, 0, 0, 0]], "10"),
                  ([[2, 4, 6, 8, 10, 12, 14, 16], [1, 1, 1, 1, 1, 1, 1, 1]], "2")],
        "TEST": [([[5, 4, 3, 2, 1, 0, -1, -2, -3], [1, 2, 1, 2, 1, 2, 1, 2, 1]], "2"),
                 ([[1, None, 3, 3, 3, 3, 3], [1, 1, 1, 1, 1, 1, 1]], "10")],
    }
    write_ts(tmp_path / "archive", "Tiny", rows, ["2", "10"], missing=True)
    return tmp_path / "archive"


def test_unequal_lengths_are_padded_at_the_end_by_default(tiny):
    data = ucr.load_ucr(problem="Tiny", path=str(tiny))
    assert tuple(data.x_train.shape) == (2, 2, 9) and tuple(data.x_test.shape) == (2, 2, 9)
    assert data.x_train[0, 0].tolist() == [1, 2, 3, 4, 5, 6, 7, 0, 0]
    assert data.class_names == ["2", "10"]  # numeric labels sorted as numbers
    assert data.y_train.tolist() == [1, 0] and data.y_test.tolist() == [0, 1]
    assert data.x_test[1, 0, 1] == 0  # the missing value
    assert data.info["missing_values"] == 1 and data.info["unequal"] == "pad"


def test_truncate_cuts_every_series_to_the_shortest(tiny):
    data = ucr.load_ucr(problem="Tiny", path=str(tiny), unequal="truncate")
    assert tuple(data.x_train.shape) == (2, 2, 7)
    assert data.x_test[0, 0].tolist() == [5, 4, 3, 2, 1, 0, -1]


def test_resample_stretches_every_series_to_the_longest_by_linear_interpolation(tiny):
    data = ucr.load_ucr(problem="Tiny", path=str(tiny), unequal="resample")
    assert tuple(data.x_train.shape) == (2, 2, 9) and data.info["unequal"] == "resample"
    # 1..7 on 7 points, read at 9 evenly spaced points from the first to the last: 1 + 6k/8.
    assert np.allclose(data.x_train[0, 0].numpy(), 1 + 6 * np.arange(9) / 8)
    assert data.x_train[1, 1].tolist() == [1] * 9  # a constant channel stays constant
    assert data.x_test[0, 0].tolist() == [5, 4, 3, 2, 1, 0, -1, -2, -3]  # the longest is untouched
    # The missing value (index 1 of 7) counts as 0, and the ends are kept.
    series = np.array([1, 0, 3, 3, 3, 3, 3], dtype=float)
    want = np.interp(np.linspace(0, 6, 9), np.arange(7), series)
    assert np.allclose(data.x_test[1, 0].numpy(), want) and want[0] == 1 and want[-1] == 3


def test_znorm_normalises_each_series_and_channel_before_padding(tiny):
    data = ucr.load_ucr(problem="Tiny", path=str(tiny), znorm=True)
    first = data.x_train[0, 0, :7].double()
    assert first.mean().item() == pytest.approx(0, abs=1e-6)
    assert first.std(unbiased=False).item() == pytest.approx(1, abs=1e-6)
    assert data.x_train[0, 0, 7:].tolist() == [0, 0]  # padding after
    expected = (np.arange(1, 8) - 4) / np.std(np.arange(1, 8))
    assert np.allclose(first.numpy(), expected, atol=1e-6)
    assert data.x_train[0, 1].tolist() == [0] * 9  # a constant channel becomes 0
    # The missing value is left out of its series' mean and sd, then set to 0.
    observed = np.array([1, 3, 3, 3, 3, 3], dtype=float)
    want = (observed - observed.mean()) / observed.std()
    got = data.x_test[1, 0, [0, 2, 3, 4, 5, 6]].double().numpy()
    assert np.allclose(got, want, atol=1e-6) and data.x_test[1, 0, 1] == 0


# ---------------------------------------------------------------- errors, in one line

def test_no_problem_or_a_bad_name_is_a_one_line_error():
    with pytest.raises(DataError, match="no problem named.*problem: GunPoint"):
        ucr.load_ucr()
    with pytest.raises(DataError, match="not an archive name"):
        ucr.load_ucr(problem="../etc")


def test_a_problem_not_bundled_without_network_says_how_to_provide_it(monkeypatch):
    import aeon.datasets

    def unreachable(*args, **kwargs):
        raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(aeon.datasets, "load_classification", unreachable)
    with pytest.raises(DataError) as err:
        ucr.load_ucr(problem="NotInTheWheel")
    message = str(err.value)
    assert "\n" not in message and "could not be downloaded" in message and "ODEBENCH_UCR_DIR" in message


def test_without_aeon_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "aeon", None)
    monkeypatch.setitem(sys.modules, "aeon.datasets", None)
    with pytest.raises(DataError, match=r"pip install 'odebench\[ucr\]'"):
        ucr.load_ucr(problem="GunPoint")


def test_a_path_that_is_not_a_folder_is_named(tmp_path):
    with pytest.raises(DataError, match="dataset.path .* is not a folder"):
        ucr.load_ucr(problem="GunPoint", path=str(tmp_path / "nowhere"))


# ---------------------------------------------------------------- any length, any channels

def _config(model, dataset, **params):
    solver = {"name": "rk4", "steps": 1} if model == "node" else None
    return {"suite": "t", "model": model, "seed": 0, "device": "cpu", "threads": None,
            "params": {"gradient": "backprop", **params} if model == "node" else params,
            "solver": solver, "dataset": dataset,
            "train": {**TRAIN_DEFAULTS, "epochs": 1, "batch_size": 16}}


@pytest.mark.parametrize("model", ["resnet", "node"])
@pytest.mark.parametrize("problem", ["ItalyPowerDemand", "BasicMotions"])
def test_short_and_multivariate_series_run_through_both_models(registry, model, problem):
    if not ucr._has(ucr.bundled_folder(), problem):
        pytest.skip(f"{problem} is not bundled with this aeon version")
    dataset = {"name": "ucr", "problem": problem, "znorm": True, "train_size": 32, "test_size": 32}
    result = train_and_evaluate(_config(model, dataset), registry)
    assert result["status"] == "done"
    assert 0 <= result["metrics"]["test_accuracy"] <= 1
    assert result["metrics"]["n_params"] > 0


def test_series_too_short_for_the_trunk_are_unsupported_with_the_reason(registry, tmp_path):
    rows = {s: [([[1, 2, 3, 4, 5]], "a"), ([[5, 4, 3, 2, 1]], "b")] for s in ("TRAIN", "TEST")}
    write_ts(tmp_path, "Short", rows, ["a", "b"], equal=True)
    data = load_dataset(registry, {"name": "ucr", "problem": "Short", "path": str(tmp_path)})
    with pytest.raises(Unsupported, match="too short for the trunk"):
        registry.models["resnet"].obj(data.shape)
    with pytest.raises(Unsupported, match="too short for the trunk"):
        registry.models["node"].obj(data.shape, bind_solver(registry, {"name": "rk4", "steps": 1}),
                                    gradient="backprop")
    # The ECG models keep their parameter counts (the study's numbers).
    shape = type(data.shape)(channels=1, length=187, n_classes=5)
    resnet = registry.models["resnet"].obj(shape)
    assert sum(p.numel() for p in resnet.parameters()) == 182_853
