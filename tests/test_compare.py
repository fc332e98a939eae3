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


# ---------------------------------------------------------------- significance
#
# One configuration, three seeds a side. The per-epoch times of a run are its repeats: epoch 1
# (warm-up, 3 s) then four steady epochs.

NOISE_BASE = {0: (0.81, [2.00, 2.10, 1.95, 2.05]), 1: (0.85, [2.02, 1.98, 2.08, 2.01]),
              2: (0.83, [1.97, 2.06, 2.03, 1.99])}
NOISE_CAND = {3: (0.80, [2.03, 2.07, 1.96, 2.09]), 4: (0.86, [2.00, 2.04, 2.10, 1.98]),
              5: (0.81, [2.05, 1.99, 2.02, 2.06])}


def timed(acc, steady, slower=1.0):
    """A finished run with per-epoch times (a 3 s warm-up epoch, then ``steady``)."""
    times = [3.0 * slower] + [t * slower for t in steady]
    out = outcome(acc=acc, seconds=sorted(times[1:])[len(steady) // 2])
    out["epochs"] = [{"epoch": i + 1, "epoch_seconds": t, "eval_seconds": 0.5, "test_accuracy": acc}
                     for i, t in enumerate(times)]
    return out


def seeds_store(directory, runs, slower=1.0, acc_shift=0.0):
    return fill(directory, [({"blocks": 1}, seed, timed(acc + acc_shift, steady, slower))
                            for seed, (acc, steady) in runs.items()])


@pytest.fixture
def noise(tmp_path):
    """The same configuration twice: seeds 0-2 and seeds 3-5, differing only by noise."""
    return seeds_store(tmp_path / "base", NOISE_BASE), seeds_store(tmp_path / "cand", NOISE_CAND)


@pytest.mark.parametrize("metric", ["test_accuracy", "epoch_seconds"])
def test_seed_noise_does_not_fail(noise, cli, metric):
    # The candidate is worse on both metrics by more than 0.5% (accuracy 0.830 -> 0.823, 0.8%;
    # steady epochs 2.020 -> 2.0325 s, 0.6%), but by noise: no test finds it.
    rc, out, _ = cli("compare", *noise, "--metric", metric, "--fail-above", 0.5)
    assert rc == 0, out
    assert "OK: no seed group is worse" in out and "(1 past the threshold but not significant)" in out
    row = next(line for line in out.splitlines() if line.startswith("| resnet"))
    assert "seeds=0,1,2 vs 3,4,5" in row
    assert ("Welch t, 3 vs 3 seeds" if metric == "test_accuracy" else "Mann-Whitney U, 12 vs 12 epochs") in row
    # the plain threshold (as before) fires on that noise
    rc, _, err = cli("compare", *noise, "--metric", metric, "--fail-above", 0.5, "--no-significance")
    assert rc == 1 and "FAIL: 1 seed group(s)" in err


def test_seed_noise_statistics_in_csv(noise, cli):
    rc, out, _ = cli("compare", *noise, "--metric", "epoch_seconds", "--format", "csv")
    row = next(csv.DictReader(io.StringIO(out)))
    assert rc == 0 and row["n"] == "12 vs 12" and row["test"] == "Mann-Whitney U, 12 vs 12 epochs"
    base = [t for _, steady in NOISE_BASE.values() for t in steady]
    cand = [t for _, steady in NOISE_CAND.values() for t in steady]
    from scipy import stats as sp
    assert float(row["p"]) == pytest.approx(sp.mannwhitneyu(cand, base, alternative="two-sided").pvalue)
    assert float(row["baseline"]) == pytest.approx(sum(base) / 12)  # epoch 1 (warm-up) left out
    assert float(row["worse %"]) == pytest.approx(100 * (sum(cand) / sum(base) - 1))
    ci = sp.ttest_ind(cand, base, equal_var=False).confidence_interval(0.95)
    mean = sum(base) / 12
    assert (float(row["worse % low"]), float(row["worse % high"])) == pytest.approx(
        (100 * ci.low / mean, 100 * ci.high / mean))
    assert float(row["worse % low"]) < 0 < float(row["worse % high"])  # zero is inside: noise


@pytest.mark.parametrize("metric, pct", [("test_accuracy", 5), ("epoch_seconds", 10)])
def test_real_regression_fails(tmp_path, cli, metric, pct):
    # 12 points less accurate, or 30% slower on every epoch: past the threshold and significant
    base = seeds_store(tmp_path / "base", NOISE_BASE)
    cand = seeds_store(tmp_path / "cand", NOISE_CAND, **({"acc_shift": -0.12} if metric == "test_accuracy"
                                                         else {"slower": 1.3}))
    rc, out, err = cli("compare", base, cand, "--metric", metric, "--fail-above", pct)
    assert rc == 1
    assert "FAIL: 1 seed group(s) worse than the baseline by more than" in err and "p < 0.05" in err
    assert "resnet blocks=1 seeds=0,1,2 vs 3,4,5 cpu" in err and "95% CI [" in err
    # and a candidate that is better by as much passes
    assert cli("compare", cand, base, "--metric", metric, "--fail-above", pct)[0] == 0


def test_paired_seeds_summary_csv_and_alpha(tmp_path, cli):
    base = seeds_store(tmp_path / "base", NOISE_BASE)
    cand = seeds_store(tmp_path / "cand", {s: v for s, v in zip(NOISE_BASE, NOISE_CAND.values())},
                       acc_shift=-0.08)
    rc, out, _ = cli("compare", base, cand, "--metric", "test_accuracy", "--format", "csv")
    row = next(csv.DictReader(io.StringIO(out)))
    assert rc == 0 and row["run"] == "resnet blocks=1 seeds=0,1,2 cpu" and row["n"] == "3 vs 3"
    # from summary.csv (n, mean, sd only) Welch gives the same p
    assert cli("report", "--results", base)[0] == 0
    rc, out2, _ = cli("compare", base / "s" / "summary.csv", cand, "--metric", "test_accuracy",
                      "--format", "csv")
    row2 = next(csv.DictReader(io.StringIO(out2)))
    assert rc == 0 and float(row2["p"]) == pytest.approx(float(row["p"]))
    assert row2["test"] == "Welch t, 3 vs 3 seeds"
    # a stricter alpha turns a significant 10% drop (0.830 -> 0.743, p = 0.023) into "not significant"
    p = float(row["p"])
    assert p == pytest.approx(0.023378, abs=1e-6)
    assert cli("compare", base, cand, "--metric", "test_accuracy", "--fail-above", 5)[0] == 1
    assert cli("compare", base, cand, "--metric", "test_accuracy", "--fail-above", 5, "--alpha", 0.01)[0] == 0
    rc, _, err = cli("compare", base, cand, "--metric", "test_accuracy", "--alpha", 5)
    assert rc == 2 and "--alpha" in err and len(err.strip().splitlines()) == 1


def test_disjoint_seeds_compare_groups_without_metric(noise, cli):
    rc, out, _ = cli("compare", *noise)
    assert rc == 0 and "no run matches seed for seed: comparing the seed groups" in out
    assert "1 group(s) matched" in out
