"""Solver-swap validity (is a trained Neural ODE still an ODE?), kept weights and
work-precision diagrams. The task (tests/validity_plugins/interval.py) is one where a coarse
solver matters: a 1-D ODE flow is monotone and can classify |x| < 0.5 only ~75% right, one
Euler step (a ResNet block) ~100%."""

from __future__ import annotations

import csv
import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from odebench import validity, weights
from odebench.binding import bind_solver, load_dataset
from odebench.driver import run_suite
from odebench.plugins import load_registry
from odebench.runner import classification_metrics, evaluate
from odebench.store import Store
from odebench.suite import load_suite, run_key
from odebench.types import SuiteError

from .conftest import CORE_PLUGINS

PLUGINS = Path(__file__).parent / "validity_plugins"
PLUGIN = PLUGINS / "interval.py"

GAP = f"""\
name: gap
plugins: [{PLUGIN}]
dataset: {{name: interval, train_size: 512, test_size: 512}}
train: {{epochs: 30, batch_size: 64, optimizer: adam, lr: 0.01}}
runs:
  - {{model: tiny-ode, solver: {{name: euler, steps: 1}}}}
  - {{model: tiny-ode, solver: {{name: euler, steps: 1}}, validity: false}}
  - {{model: tiny-ode, solver: dopri5, train: {{epochs: 5}}}}
  - {{model: tiny-ode, solver: {{name: euler, steps: 1}}, stiffness: 1.0e+8, train: {{epochs: 1}}}}
  - model: tiny-ode
    solver: {{name: euler, steps: 1}}
    stiffness: 1.0e+8
    train: {{epochs: 1}}
    validity: {{max_nfe: 1000000000, max_seconds: 1.0, refine: []}}
  - {{model: tiny-mlp, train: {{epochs: 1}}}}
"""


@pytest.fixture(scope="module")
def gap(tmp_path_factory):
    """The GAP suite, run once: (results dir, {label: stored run})."""
    folder = tmp_path_factory.mktemp("gap")
    path = folder / "gap.yaml"
    path.write_text(GAP)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ODEBENCH_LOAD_PLUGINS", CORE_PLUGINS)
        suite = load_suite(path)
        run_suite(path, results=folder / "results", echo=lambda line: None, suite=suite)
        by_key = {r["run_key"]: r for r in Store(folder / "results").latest("gap")}
    names = ["euler", "euler-unchecked", "dopri5", "stiff", "stiff-timed", "mlp"]
    return folder / "results", {n: by_key[run_key(c)] for n, c in zip(names, suite.runs)}


def test_one_euler_step_trains_a_resnet_not_an_ode(gap):
    _, runs = gap
    run = runs["euler"]
    m = run["metrics"]
    assert run["status"] == "done" and m["validity_status"] == "ok"
    assert m["validity_solver_accuracy"] == m["test_accuracy"]  # the training solver again
    assert m["validity_solver_accuracy"] > 0.9
    # No 1-D flow does better than ~75% here: the gap is the flow's impossibility.
    assert m["validity_reference_accuracy"] < 0.8
    assert m["validity_gap"] == pytest.approx(100 * (m["validity_solver_accuracy"]
                                                     - m["validity_reference_accuracy"]))
    assert m["validity_gap"] > 15
    assert m["validity_rel_error"] > 0.1
    for k in (2, 4, 8):
        assert m[f"validity_steps_x{k}_nfe"] == k  # euler: one evaluation per step
        assert m[f"validity_steps_x{k}_accuracy"] < m["validity_solver_accuracy"]
    assert m["validity_reference_solver"] == "dopri5 atol=1e-06 rtol=1e-06"
    assert m["validity_samples"] == 512 and m["validity_seconds"] > 0


def test_a_well_solved_ode_keeps_its_accuracy(gap):
    m = gap[1]["dopri5"]["metrics"]
    assert m["validity_status"] == "ok"
    assert abs(m["validity_gap"]) <= 1.0
    assert m["validity_rel_error"] < 0.05
    assert not any(k.startswith("validity_steps_x") for k in m)  # adaptive: nothing to refine


def test_the_check_changes_no_training_or_test_metric(gap):
    checked, unchecked = gap[1]["euler"], gap[1]["euler-unchecked"]
    for key in ("train_loss", "train_accuracy", "test_accuracy", "confusion_matrix", "nfe_forward"):
        assert checked["metrics"][key] == unchecked["metrics"][key]
    assert [e["train_loss"] for e in checked["epochs"]] == [e["train_loss"] for e in unchecked["epochs"]]
    assert not any(k.startswith("validity") for k in unchecked["metrics"])


def test_a_reference_past_its_cap_did_not_converge(gap):
    run = gap[1]["stiff"]
    m = run["metrics"]
    assert run["status"] == "done"
    assert m["validity_status"] == "did not converge"
    assert "reference" in m["validity_reason"] and "function evaluations" in m["validity_reason"]
    assert "validity_reference_accuracy" not in m and "validity_gap" not in m
    assert m["validity_solver_accuracy"] == m["test_accuracy"]


def test_the_time_budget_stops_the_check(gap):
    run = gap[1]["stiff-timed"]
    m = run["metrics"]
    assert run["status"] == "done"
    assert m["validity_status"] == "did not converge"
    assert "time budget of 1 s ran out during reference" in m["validity_reason"]
    assert "validity_reference_accuracy" not in m


def test_a_model_without_odebench_ode_is_not_checked(gap):
    run = gap[1]["mlp"]
    assert run["status"] == "done"
    assert not any(k.startswith("validity") for k in run["metrics"])
    assert "validity" not in run["config"]


def test_weights_are_kept_and_reload_to_the_same_predictions(gap, monkeypatch):
    monkeypatch.setenv("ODEBENCH_LOAD_PLUGINS", CORE_PLUGINS)
    results, runs = gap
    run = runs["euler"]
    relative = run["metrics"]["weights_path"]
    assert relative == f"weights/gap/{run['run_key']}.pt"
    assert (results / relative).is_file()
    registry = load_registry([str(PLUGIN)])
    data = load_dataset(registry, run["config"]["dataset"])
    model = weights.rebuild(registry, run, data, results)
    predictions, _, _ = evaluate(model, data.x_test, 256, torch.device("cpu"))
    again = classification_metrics(data.y_test.numpy(), predictions, data.class_names)
    assert again["confusion_matrix"] == run["metrics"]["confusion_matrix"]
    # Rebuilt, the model is still the coarse one: the reference sees the flow's accuracy.
    with torch.no_grad():
        logits, _ = model.odebench_ode(data.x_test, bind_solver(registry, validity.REFERENCE))
    accuracy = float((logits.argmax(1) == data.y_test).float().mean())
    assert accuracy == pytest.approx(run["metrics"]["validity_reference_accuracy"], abs=1e-6)


def test_save_weights_false_keeps_none(tmp_path, write_suite, cli, core_plugins_only):
    path = write_suite(f"""\
        name: noweights
        plugins: [{PLUGIN}]
        dataset: {{name: interval, train_size: 64, test_size: 32}}
        train: {{epochs: 1, batch_size: 32}}
        save_weights: false
        runs: [{{model: tiny-mlp}}]
        """)
    code, _, _ = cli("run", path, "--results", tmp_path / "results")
    assert code == 0
    (run,) = Store(tmp_path / "results").latest("noweights")
    assert "weights_path" not in run["metrics"]
    assert not (tmp_path / "results" / "weights").exists()


def test_precision_writes_csv_and_plots(gap, cli, monkeypatch):
    monkeypatch.setenv("ODEBENCH_LOAD_PLUGINS", CORE_PLUGINS)
    results, runs = gap
    keys = [runs["euler"]["run_key"], runs["mlp"]["run_key"]]
    code, out, err = cli("precision", "--suite", "gap", "--results", results, "--plugins-dir", PLUGINS,
                         "--run", keys[0], "--run", keys[1], "--batch", "16",
                         "--solver", "dopri5", "--solver", "euler", "--solver", "rk4",
                         "--tolerances", "1e-2,1e-4,1e-6", "--max-steps", "8")
    assert code == 0, err
    assert "not an ODE model" in err
    folder = results / "gap"
    assert (folder / f"precision_{keys[0]}.png").stat().st_size > 0
    rows = list(csv.DictReader((folder / "precision.csv").open()))
    assert {r["run_key"] for r in rows} == {keys[0]}
    by_solver = {s: [r for r in rows if r["solver"] == s] for s in ("dopri5", "euler", "rk4")}
    assert [r["setting"] for r in by_solver["dopri5"]] == ["rtol=atol=0.01", "rtol=atol=0.0001",
                                                          "rtol=atol=1e-06"]
    assert [int(r["steps"]) for r in by_solver["euler"]] == [1, 2, 4, 8]
    assert [int(r["nfe"]) for r in by_solver["rk4"]] == [4, 8, 16, 32]
    for points in by_solver.values():
        assert all(r["status"] == "ok" for r in points)
    dopri5 = [float(r["error"]) for r in by_solver["dopri5"]]
    assert dopri5 == sorted(dopri5, reverse=True) and dopri5[-1] < 1e-4  # tighter tolerance, smaller error
    rk4 = [float(r["error"]) for r in by_solver["rk4"]]
    assert rk4[-1] < rk4[0]


# ---------------------------------------------------------------- settings (no runs)

def _suite(write_suite, body: str):
    head = f"name: s\nplugins: [{PLUGIN}]\ndataset: {{name: interval, train_size: 64, test_size: 32}}\n"
    return write_suite(head + textwrap.dedent(body))


def test_validity_settings_join_the_config_only_when_set(write_suite, core_plugins_only):
    plain = load_suite(_suite(write_suite, "runs: [{model: tiny-ode, solver: {name: euler, steps: 1}}]"))
    assert "validity" not in plain.runs[0] and plain.save_weights is True
    suite = load_suite(_suite(write_suite, """\
        validity: {refine: [2], max_nfe: 500}
        runs:
          - {model: tiny-ode, solver: {name: euler, steps: 1}}
          - {model: tiny-ode, solver: {name: euler, steps: 1}, validity: {reference: dopri8, test_size: 16}}
          - {model: tiny-mlp}
        """))
    first, second, mlp = suite.runs
    assert first["validity"]["refine"] == [2] and first["validity"]["max_nfe"] == 500
    assert first["validity"]["reference"] == {"name": "dopri5", "rtol": 1e-6, "atol": 1e-6}
    # An entry's keys override the suite's; a reference named alone gets the tight tolerance.
    assert second["validity"]["reference"] == {"name": "dopri8", "rtol": 1e-6, "atol": 1e-6}
    assert second["validity"]["refine"] == [2] and second["validity"]["test_size"] == 16
    assert "validity" not in mlp
    assert run_key(first) != run_key(plain.runs[0])


@pytest.mark.parametrize("body, message", [
    ("validity: {refine: [1]}", "validity.refine: expected a list of step multipliers of at least 2"),
    ("validity: {reference: {name: nope}}", "validity.reference.name: unknown solver 'nope'"),
    ("validity: {reference: {name: dopri5, step: 3}}", "validity.reference.step: unknown parameter"),
    ("validity: {max_nfe: 0}", "validity.max_nfe: must be positive"),
    ("validity: {enable: true}", "validity.enable: unknown parameter of validity; did you mean 'enabled'?"),
    ("validity: 3", "validity: expected a mapping"),
    ("save_weights: yes please", "save_weights: expected true or false"),
])
def test_bad_validity_settings_are_one_line_errors(write_suite, core_plugins_only, body, message):
    path = _suite(write_suite, body + "\nruns: [{model: tiny-ode, solver: {name: euler, steps: 1}}]\n")
    with pytest.raises(SuiteError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_suite(path)


def test_validity_on_a_model_without_solver_is_an_error(write_suite, core_plugins_only):
    path = _suite(write_suite, "runs: [{model: tiny-mlp, validity: {refine: [2]}}]\n")
    with pytest.raises(SuiteError, match=r"runs\[0\]\.validity: model 'tiny-mlp' takes no solver"):
        load_suite(path)


def test_refined_multiplies_steps_or_divides_step_size(core_plugins_only):
    registry = load_registry()
    assert validity.refined({"name": "euler"}, registry, 4) == {"name": "euler", "steps": 4}
    assert validity.refined({"name": "rk4", "steps": 3}, registry, 2) == {"name": "rk4", "steps": 6}
    assert validity.refined({"name": "rk4", "step_size": 0.5}, registry, 2) == {"name": "rk4", "step_size": 0.25}
    assert validity.refined({"name": "dopri5", "rtol": 1e-3}, registry, 2) is None
    assert validity.solver_kind(registry.solvers["dopri5"].obj) == "adaptive"
    assert validity.solver_kind(registry.solvers["midpoint"].obj) == "fixed"


def test_capped_solver_counts_evaluations_and_stops(core_plugins_only):
    registry = load_registry()
    budget = validity.Budget(max_nfe=5)
    solver = validity.capped(bind_solver(registry, {"name": "rk4", "steps": 1}), budget)
    y = solver(lambda t, y: -y, torch.ones(3), torch.tensor([0.0, 1.0]))[-1]
    assert budget.nfe == 4 and torch.allclose(y, torch.full((3,), 0.375))  # 1 - 1 + 1/2 - 1/6 + 1/24
    with pytest.raises(validity.NotConverged, match="more than 5 function evaluations"):
        validity.capped(bind_solver(registry, {"name": "rk4", "steps": 2}), budget)(
            lambda t, y: -y, torch.ones(3), torch.tensor([0.0, 1.0]))


def test_node_odebench_ode_is_its_forward_with_another_solver(core_plugins_only):
    from odebench.types import DatasetShape

    registry = load_registry()
    config = {"model": "node", "params": {"width": 8, "gradient": "backprop"},
              "solver": {"name": "rk4", "steps": 2}}
    data_shape = DatasetShape(channels=1, length=24, n_classes=3)
    model = registry.models["node"].obj(data_shape, bind_solver(registry, config["solver"]),
                                        **config["params"]).eval()
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(5, 1, 24)).astype(np.float32))
    with torch.no_grad():
        logits = model(x)
        same, state = model.odebench_ode(x, bind_solver(registry, config["solver"]))
        finer, _ = model.odebench_ode(x, bind_solver(registry, {"name": "rk4", "steps": 8}))
    assert torch.equal(logits, same)
    assert state.shape[:2] == (5, 8) and logits.shape == (5, 3)
    assert not torch.equal(logits, finer)
    assert json.dumps(validity.resolved(None)["reference"]) == json.dumps(validity.REFERENCE)


def test_an_entrys_validity_lists_are_not_a_grid(write_suite, core_plugins_only):
    suite = load_suite(_suite(write_suite, """\
        runs:
          - {model: tiny-ode, solver: [euler, rk4], validity: {refine: [2, 16]}}
        """))
    assert [r["solver"]["name"] for r in suite.runs] == ["euler", "rk4"]
    assert all(r["validity"]["refine"] == [2, 16] for r in suite.runs)
