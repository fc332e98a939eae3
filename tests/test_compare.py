"""odebench compare: matching, ratios, differences and the --fail-above exit code."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from odebench.compare import worse_percent
from odebench.store import Store


def config(params, seed=0, suite="s", path="/a/data"):
    return {"model": "resnet", "params": params, "solver": None,
            "dataset": {"name": "synthetic", "path": path}, "train": {"epochs": 1},
            "seed": seed, "device": "cpu", "threads": None, "suite": suite}


def outcome(acc=0.8, seconds=2.0, memory=100.0, nfe=10.0, status="done"):
    if status != "done":
        return {"status": status, "reason": "loss became nan", "metrics": {}, "epochs": []}
    return {"status": "done", "epochs": [{"epoch": 1, "test_accuracy": acc}],
            "metrics": {"test_accuracy": acc, "test_macro_f1": acc, "epoch_seconds": seconds,
                        "eval_seconds": 0.5, "peak_memory_bytes": memory, "nfe_forward": nfe}}


def fill(directory: Path, runs, suite="s", path="/a/data") -> Path:
    store = Store(directory)
    for i, (params, seed, out) in enumerate(runs):
        store.add(config(params, seed, suite, path), f"{suite}-{i}", out, "0.1.0+test")
    return directory


@pytest.fixture
def pair(tmp_path):
    """Baseline: blocks 1 and 2 (seed 0) and blocks 3 (only there). Candidate: blocks 1 is
    20% slower, 1.5x memory, 2x NFE, 0.05 less accurate; blocks 2 equal; blocks 9 only
    there."""
    base = fill(tmp_path / "base", [({"blocks": 1}, 0, outcome()), ({"blocks": 2}, 0, outcome()),
                                    ({"blocks": 3}, 0, outcome())])
    cand = fill(tmp_path / "cand", [
        ({"blocks": 1}, 0, outcome(acc=0.75, seconds=2.4, memory=150.0, nfe=20.0)),
        ({"blocks": 2}, 0, outcome()), ({"blocks": 9}, 0, outcome())], suite="renamed")
    return base, cand


def test_ratios_differences_and_unmatched(pair, cli):
    code, out, err = cli("compare", *pair, "--format", "csv")
    assert code == 0
    rows = {r["run"]: r for r in csv.DictReader(io.StringIO(out))}
    assert set(rows) == {"resnet blocks=1 seed=0 cpu", "resnet blocks=2 seed=0 cpu"}
    slow = rows["resnet blocks=1 seed=0 cpu"]
    assert float(slow["time ×"]) == pytest.approx(1.2)
    assert float(slow["memory ×"]) == pytest.approx(1.5)
    assert float(slow["NFE fwd ×"]) == pytest.approx(2.0)
    assert float(slow["Δ acc (pp)"]) == pytest.approx(-5.0)
    assert float(rows["resnet blocks=2 seed=0 cpu"]["time ×"]) == pytest.approx(1.0)
    # matched across suite names; the unmatched ones are named
    assert "2 run(s) matched; 1 only in the baseline, 1 only in the candidate" in err
    assert "only in the baseline: resnet blocks=3 seed=0 cpu" in err
    assert "only in the candidate: resnet blocks=9 seed=0 cpu" in err


@pytest.mark.parametrize("metric, pct, code", [
    ("epoch_seconds", 10, 1),     # 20% slower
    ("epoch_seconds", 25, 0),
    ("peak_memory_bytes", 49, 1),
    ("test_accuracy", 5, 1),      # 0.8 -> 0.75 is 6.25% worse
    ("test_accuracy", 7, 0),
])
def test_fail_above_exit_code(pair, cli, metric, pct, code):
    rc, out, err = cli("compare", *pair, "--metric", metric, "--fail-above", pct)
    assert rc == code
    if code:
        assert "FAIL: 1 seed group(s)" in err and "resnet blocks=1 seed=0 cpu" in err
        assert "untested, n too small (1 vs 1 seeds)" in err  # one seed a side: no test
    else:
        assert "OK: no seed group" in out


def test_better_candidate_passes(pair, cli):
    base, cand = pair
    assert cli("compare", cand, base, "--metric", "epoch_seconds", "--fail-above", 1)[0] == 0


def test_candidate_that_did_not_finish_fails(tmp_path, cli):
    base = fill(tmp_path / "b", [({"blocks": 1}, 0, outcome())])
    cand = fill(tmp_path / "c", [({"blocks": 1}, 0, outcome(status="diverged"))])
    rc, _, err = cli("compare", base, cand, "--metric", "epoch_seconds", "--fail-above", 50)
    assert rc == 1 and "candidate 1 diverged (baseline done)" in err


def test_suites_of_one_store_and_csv_exports(tmp_path, cli):
    store = fill(tmp_path / "r", [({"blocks": 1}, 0, outcome(seconds=1.0))], suite="old")
    fill(store, [({"blocks": 1}, 0, outcome(seconds=3.0))], suite="new")
    rc, out, _ = cli("compare", f"{store}:old", f"{store}:new", "--format", "csv")
    assert rc == 0 and float(next(csv.DictReader(io.StringIO(out)))["time ×"]) == pytest.approx(3.0)
    # the same comparison from the CSVs that odebench report writes
    assert cli("report", "--results", store)[0] == 0
    rc, out, _ = cli("compare", store / "old" / "runs.csv", store / "new" / "runs.csv",
                     "--format", "csv")
    assert rc == 0 and float(next(csv.DictReader(io.StringIO(out)))["time ×"]) == pytest.approx(3.0)
    rc, out, _ = cli("compare", store / "old" / "summary.csv", f"{store}:new", "--format", "csv")
    assert rc == 0 and float(next(csv.DictReader(io.StringIO(out)))["time ×"]) == pytest.approx(3.0)


def test_mean_over_seeds(tmp_path, cli):
    base = fill(tmp_path / "b", [({}, 0, outcome(seconds=1.0)), ({}, 1, outcome(seconds=3.0))])
    cand = fill(tmp_path / "c", [({}, 0, outcome(seconds=4.0)), ({}, 1, outcome(seconds=4.0))])
    rc, out, _ = cli("compare", base, cand, "--mean-over-seeds", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rc == 0 and len(rows) == 1 and float(rows[0]["time ×"]) == pytest.approx(2.0)


def test_no_match_and_ignore(tmp_path, cli):
    base = fill(tmp_path / "b", [({"blocks": 1}, 0, outcome())], path="/machine-a/mitdb")
    cand = fill(tmp_path / "c", [({"blocks": 1}, 0, outcome())], path="/machine-b/mitdb")
    rc, _, err = cli("compare", base, cand)
    assert rc == 2 and "--ignore" in err and len(err.strip().splitlines()) == 1
    assert cli("compare", base, cand, "--ignore", "dataset.path")[0] == 0


def test_bad_input_is_a_one_line_error(tmp_path, cli):
    base = fill(tmp_path / "b", [({"blocks": 1}, 0, outcome())])
    rc, _, err = cli("compare", base, tmp_path / "missing")
    assert rc == 2 and "does not exist" in err
    rc, _, err = cli("compare", base, base, "--fail-above", 5)
    assert rc == 2 and "--metric" in err
    rc, _, err = cli("compare", base, base, "--metric", "no_such", "--fail-above", 5)
    assert rc == 2 and "no_such" in err


def test_worse_percent_direction():
    assert worse_percent("epoch_seconds", 2.0, 3.0) == pytest.approx(50.0)
    assert worse_percent("epoch_seconds", 2.0, 1.0) == pytest.approx(-50.0)
    assert worse_percent("test_accuracy", 0.8, 0.6) == pytest.approx(25.0)
    assert worse_percent("test_macro_f1", 0.5, 0.6) == pytest.approx(-20.0)
