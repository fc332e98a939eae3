"""`odebench frontier`: one accuracy vs epoch-ratio frontier across suites, from summaries
written by `odebench report --baseline` on hand-made stores (no training)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from odebench.report.frontier import classify, frontier
from odebench.store import Store
from tests.test_report import PNG, add, config, outcome


def _node(solver, gap=None):
    return ("node", {"gradient": "backprop"}, solver, gap)


def _write(store: Store, suite: str, groups, seeds=(0, 1), train=None, base_sec=1.0):
    """Each group (model, params, solver, gap) with accuracy ``acc`` and epoch seconds
    ``sec`` per seed; the baseline resnet blocks=6 at ``base_sec``."""
    for seed in seeds:
        cfg = config(params={"blocks": 6}, seed=seed, suite=suite)
        if train:
            cfg["train"] = train
        add(store, cfg, outcome(0.90, base_sec))
        for (model, params, solver, gap), acc, sec in groups:
            cfg = config(model, params, solver, seed, suite=suite)
            if train:
                cfg["train"] = train
            out = outcome(acc + 0.001 * seed, sec, nfe=4 if solver else None)
            if gap is not None:
                out["metrics"]["validity_gap"] = gap
                out["metrics"]["validity_reference_accuracy"] = acc - gap / 100
            add(store, cfg, out)


@pytest.fixture
def two_suites(tmp_path: Path, cli):
    """Suite a: a cheap midpoint NODE that is not an ODE (gap 3 points), a rk4 NODE that is
    (gap 0.1); suite b, whose baseline takes 2 s an epoch, not 1: a cheaper ResNet, a dopri5
    NODE without the check, and an euler NODE that diverged in every seed. Each suite's
    summary is written with --baseline."""
    store = Store(tmp_path / "results")
    _write(store, "a", [(_node({"name": "midpoint", "steps": 1}, gap=3.0), 0.95, 0.5),
                        (_node({"name": "rk4", "steps": 1}, gap=0.1), 0.92, 0.9)])
    _write(store, "b", [(("resnet", {"blocks": 1}, None, None), 0.85, 0.6),
                        (_node({"name": "dopri5", "rtol": 1e-3, "atol": 1e-3}), 0.93, 20.0)], base_sec=2.0)
    for seed in (0, 1):
        add(store, config("node", {"gradient": "backprop"}, {"name": "euler", "steps": 1}, seed, suite="b"),
            outcome(0, status="diverged"))
    for suite in ("a", "b"):
        code, _, err = cli("report", "--results", store.directory, "--suite", suite,
                           "--baseline", "resnet blocks=6")
        assert code == 0, err
    return store.directory


def test_frontier_leaves_invalid_and_unchecked_odes_off(two_suites):
    frame = frontier([two_suites / "a", two_suites / "b" / "summary.csv"])
    by = {(r.suite, r.solver if isinstance(r.solver, str) else r.params): r for r in frame.itertuples()}
    assert len(by) == len(frame) == 6
    midpoint = by[("a", "midpoint steps=1")]
    rk4 = by[("a", "rk4 steps=1")]
    dopri = by[("b", "dopri5 atol=0.001 rtol=0.001")]
    cheap = by[("b", "blocks=1")]
    assert (midpoint.kind, rk4.kind, dopri.kind, cheap.kind) == ("not an ODE", "ODE", "unchecked", "no ODE")
    # The midpoint NODE is cheaper and more accurate than rk4, yet not an ODE: off the frontier.
    assert not midpoint.on_frontier and not dopri.on_frontier
    assert cheap.on_frontier and rk4.on_frontier
    assert rk4.epoch_ratio_mean == pytest.approx(0.9)  # paired within each suite
    assert cheap.epoch_ratio_mean == pytest.approx(0.3) and dopri.epoch_ratio_mean == pytest.approx(10.0)
    assert frame.attrs["left_out"] == ["b: node backprop euler steps=1 (2 diverged: no finished run)"]
    assert list(frame["epoch_ratio_mean"]) == sorted(frame["epoch_ratio_mean"])
    # A looser bar lets the midpoint NODE in, and then it beats rk4.
    loose = frontier([two_suites / "a", two_suites / "b"], max_gap=5.0)
    on = set(loose.loc[loose["on_frontier"], "solver"].dropna())
    assert "midpoint steps=1" in on and "rk4 steps=1" not in on


def test_frontier_command_writes_plot_table_and_csv(two_suites, cli, tmp_path):
    out = tmp_path / "fr"
    code, stdout, err = cli("frontier", str(two_suites / "a"), str(two_suites / "b"), "--out", str(out))
    assert code == 0, err
    assert "not an ODE" in stdout and "unchecked" in stdout
    assert "left out: b: node backprop euler steps=1 (2 diverged: no finished run)" in err
    assert (out / "frontier.png").read_bytes()[:8] == PNG
    assert "Accuracy vs cost" in (out / "frontier.md").read_text()
    rows = pd.read_csv(out / "frontier.csv")
    assert rows["on_frontier"].sum() >= 2 and set(rows["suite"]) == {"a", "b"}


def test_frontier_refuses_another_recipe(tmp_path, cli):
    store = Store(tmp_path / "results")
    _write(store, "full", [(_node({"name": "rk4", "steps": 1}, gap=0.0), 0.9, 0.9)])
    _write(store, "pilot", [(_node({"name": "rk4", "steps": 1}, gap=0.0), 0.8, 0.9)],
           train={"epochs": 3, "batch_size": 32})
    for suite in ("full", "pilot"):
        assert cli("report", "--results", store.directory, "--suite", suite, "--baseline", "resnet blocks=6")[0] == 0
    code, _, err = cli("frontier", str(store.directory / "full"), str(store.directory / "pilot"))
    assert code == 2
    assert "another recipe" in err
    assert "train.epochs = 3, not 2" in err and len(err.strip().splitlines()) == 1


def test_frontier_needs_the_ratio_column(tmp_path, cli):
    store = Store(tmp_path / "results")
    _write(store, "plain", [(_node({"name": "rk4", "steps": 1}, gap=0.0), 0.9, 0.9)])
    assert cli("report", "--results", store.directory, "--suite", "plain")[0] == 0
    code, _, err = cli("frontier", str(store.directory / "plain"))
    assert code == 2 and "--baseline" in err and "odebench report --suite plain" in err
    code, _, err = cli("frontier", str(tmp_path / "nowhere"))
    assert code == 2 and "no such file" in err


def test_classify_uses_the_size_of_the_mean_gap():
    frame = pd.DataFrame({"solver": ["euler steps=1", "euler steps=2", None, "dopri5", "bosh3"],
                          "validity_gap_mean": [3.3, 0.5, None, None, -3.0]})
    assert list(classify(frame)) == ["not an ODE", "ODE", "no ODE", "unchecked", "not an ODE"]
    assert list(classify(frame, max_gap=0.3)) == ["not an ODE", "not an ODE", "no ODE", "unchecked", "not an ODE"]


def test_suites_with_different_baselines_are_refused(two_suites, cli):
    assert cli("report", "--results", two_suites, "--suite", "b", "--baseline", "resnet blocks=1")[0] == 0
    code, _, err = cli("frontier", str(two_suites / "a"), str(two_suites / "b"))
    assert code == 2 and "its ratios are to 'resnet blocks=1'" in err and "'resnet blocks=6'" in err


@pytest.mark.parametrize("bad", ["nan", "-1", "inf", "half"])
def test_max_gap_must_be_a_finite_number_of_points(bad, cli, two_suites):
    with pytest.raises(SystemExit) as exc:
        cli("frontier", str(two_suites / "a"), "--max-gap", bad)
    assert exc.value.code == 2


def test_recipe_compares_configs_with_defaults_filled(tmp_path):
    """A summary written before a dataset gained a parameter matches a newer one when the
    registry fills today's defaults in; without it, the two differ."""
    from odebench.plugins import registry_for
    from odebench.types import OdebenchError

    def summary(path, dataset):
        cfg = {"model": "resnet", "params": {"blocks": 6}, "solver": None, "dataset": dataset,
               "train": {"epochs": 1}}
        pd.DataFrame([{"suite": path.stem, "model": "resnet", "params": "blocks=6", "solver": None, "n": 1,
                       "status": "done", "test_accuracy_mean": 0.9, "test_macro_f1_mean": 0.8,
                       "epoch_ratio_mean": 1.0, "config": json.dumps(cfg)}]).to_csv(path, index=False)
        return path

    old = summary(tmp_path / "old.csv", {"name": "synthetic"})
    new = summary(tmp_path / "new.csv", {"name": "synthetic", "noise": 0.08})
    registry = registry_for()
    defaults = {p.name: p.default for p in __import__("inspect").signature(
        registry.datasets["synthetic"].obj).parameters.values()}
    assert defaults.get("noise") == 0.08, "the test assumes synthetic's default noise"
    assert len(frontier([old, new], registry=registry)) == 2
    with pytest.raises(OdebenchError, match="dataset.noise"):
        frontier([old, new])
