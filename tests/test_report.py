"""Report files, seed aggregation and plots, on hand-made stores (no training)."""

from __future__ import annotations

import ast
import csv
import io
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from odebench import report
from odebench.report.labels import flatten, group_key
from odebench.report.plots import best_run, integer_settings, pareto_points
from odebench.report.tables import aggregate, summary_markdown, table
from odebench.store import Store

PNG = b"\x89PNG\r\n\x1a\n"
CLASSES = ["N", "S", "V"]


def config(model="resnet", params=None, solver=None, seed=0, suite="s", device="cpu"):
    return {"model": model, "params": params or {}, "solver": solver,
            "dataset": {"name": "synthetic", "train_size": 64, "test_size": 32},
            "train": {"epochs": 2, "batch_size": 32}, "seed": seed, "device": device,
            "threads": None, "suite": suite}


def outcome(acc, seconds=1.0, memory=100 * 2**20, nfe=None, status="done"):
    epochs = []
    for e in (1, 2):
        row = {"epoch": e, "train_loss": 1.0 / e, "train_accuracy": acc - 0.1 / e,
               "test_accuracy": acc - 0.1 * (2 - e), "epoch_seconds": seconds * e,
               "eval_seconds": 0.1}
        if nfe is not None:
            row.update(nfe_forward=nfe + e, nfe_backward=0.0)
        epochs.append(row)
    if status != "done":
        return {"status": status, "reason": "loss became nan in epoch 2", "epochs": epochs[:1],
                "metrics": {}, "machine": {"cpu": "test cpu"}}
    metrics = {"test_accuracy": acc, "test_macro_f1": acc - 0.05, "train_accuracy": acc,
               "epoch_seconds": seconds, "eval_seconds": 0.1, "peak_memory_bytes": memory,
               "n_params": 1000, "class_names": CLASSES,
               "confusion_matrix": [[10, 1, 0], [2, 8, 0], [0, 0, 11]],
               "per_class": {c: {"precision": acc, "recall": acc, "f1": acc, "support": 10}
                             for c in CLASSES}}
    if nfe is not None:
        metrics.update(nfe_forward=nfe + 1.5, nfe_backward=0.0)
    return {"status": status, "metrics": metrics, "epochs": epochs,
            "machine": {"cpu": "test cpu", "torch": "2.x"}}


def add(store, cfg, out):
    key = group_key(cfg) + str(cfg["seed"]) + cfg["suite"]
    store.add(cfg, key, out, "0.1.0+test")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """resnet blocks=1 over three seeds (acc .5/.6/.7), resnet blocks=4 one seed, node rk4
    steps=1/4 over two seeds, node dopri5 with one diverged seed."""
    s = Store(tmp_path / "results")
    for seed, acc, sec in ((0, 0.5, 1.0), (1, 0.6, 2.0), (2, 0.7, 3.0)):
        add(s, config(params={"blocks": 1}, seed=seed), outcome(acc, sec, memory=100 * 2**20))
    add(s, config(params={"blocks": 4}), outcome(0.8, 4.0, memory=140 * 2**20))
    for steps in (1, 4):
        for seed in (0, 1):
            add(s, config("node", {"gradient": "backprop"}, {"name": "rk4", "steps": steps}, seed),
                outcome(0.6 + 0.05 * steps, 2.0 * steps, memory=steps * 50 * 2**20, nfe=4 * steps))
    dopri = {"name": "dopri5", "rtol": 1e-3, "atol": 1e-3}
    add(s, config("node", {"gradient": "adjoint"}, dopri, 0), outcome(0, status="diverged"))
    add(s, config("node", {"gradient": "adjoint"}, dopri, 1), outcome(0.9, 10.0, nfe=20))
    return s


def summary_of(store: Store) -> pd.DataFrame:
    return aggregate(table([flatten(r) for r in store.latest("s")]))


def test_aggregate_mean_std_and_n(store):
    summary = summary_of(store)
    assert len(summary) == 5  # 10 runs in 5 seed groups
    r = summary[summary["params"] == "blocks=1"].iloc[0]
    assert (r["n"], r["runs"], r["seeds"], r["status"]) == (3, 3, "0,1,2", "done")
    assert r["test_accuracy_mean"] == pytest.approx(0.6)
    assert r["test_accuracy_std"] == pytest.approx(0.1)  # sample std, ddof=1
    assert r["epoch_seconds_std"] == pytest.approx(1.0)
    single = summary[summary["params"] == "blocks=4"].iloc[0]
    assert single["n"] == 1 and pd.isna(single["test_accuracy_std"])
    mixed = summary[summary["solver"].str.startswith("dopri5")].iloc[0]
    assert mixed["status"] == "1 diverged, 1 done" and "nan" in mixed["reason"]
    assert mixed["n"] == 1 and mixed["test_accuracy_mean"] == pytest.approx(0.9)  # done runs only
    text = summary_markdown(summary)
    assert "0.6000 ± 0.1000" in text
    assert "n" in [h.strip() for h in text.splitlines()[0].split("|")]


def test_report_writes_valid_files(store, cli):
    code, out, err = cli("report", "--results", store.directory)
    assert code == 0
    assert "0.600±0.100" in out  # the summary's key columns go to stdout
    folder = store.directory / "s"
    assert str(folder / "report.html") in err
    for name in ("summary.md", "summary.csv", "runs.csv", "report.html", "learning_curves.png",
                 "epoch_time_nfe.png", "accuracy_vs_time.png", "memory_vs_depth.png",
                 "confusion_best.png"):
        assert (folder / name).stat().st_size > 0, name
        if name.endswith(".png"):
            assert (folder / name).read_bytes()[:8] == PNG, name

    summary = list(csv.DictReader(open(folder / "summary.csv")))
    assert len(summary) == 5
    assert {"model", "params", "solver", "n", "seeds", "test_accuracy_mean", "test_accuracy_std",
            "epoch_seconds_mean", "peak_memory_bytes_mean", "config"} <= set(summary[0])
    runs = list(csv.DictReader(open(folder / "runs.csv")))
    assert len(runs) == 10 and {"seed", "test_accuracy", "config"} <= set(runs[0])

    class Page(HTMLParser):
        def __init__(self):
            super().__init__()
            self.images, self.external, self.tables = [], [], 0

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "table":
                self.tables += 1
            if tag == "img":
                self.images.append(attrs["src"])
            if tag in ("link", "script") or (tag == "img" and not attrs["src"].startswith("data:")):
                self.external.append(tag)

    page = Page()
    page.feed((folder / "report.html").read_text())
    page.close()
    assert len(page.images) == 5 and not page.external and page.tables >= 2
    assert all(src.startswith("data:image/png;base64,iVBORw0KGgo") for src in page.images)


def test_report_csv_stdout_and_no_files(store, cli):
    code, out, _ = cli("report", "--results", store.directory, "--format", "csv", "--no-files")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 10 and rows[0]["seed"] == "0"  # one row per run, seeds kept
    assert not (store.directory / "s").exists()


def test_report_out_dir_and_memory_plot_skipped(tmp_path, cli):
    s = Store(tmp_path / "r")
    add(s, config("node", {}, {"name": "dopri5"}, suite="no depth"), outcome(0.7, nfe=8))
    code, _, err = cli("report", "--results", s.directory, "--out", tmp_path / "out")
    assert code == 0
    folder = tmp_path / "out" / "no_depth"
    assert (folder / "report.html").exists() and (folder / "learning_curves.png").exists()
    assert not (folder / "memory_vs_depth.png").exists()  # no integer setting varies
    assert "memory_vs_depth" not in err


def test_report_unwritable_out_is_one_line_error(store, tmp_path, cli):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = cli("report", "--results", store.directory, "--out", blocker)
    assert code == 2 and "--no-files" in err and len(err.strip().splitlines()) == 1


def test_pareto_frontier():
    # (time, accuracy): 0 fast+poor, 1 dominated by 2, 2 slower+better, 3 slowest+best
    points = [(1.0, 0.5), (3.0, 0.6), (2.0, 0.7), (5.0, 0.9), (5.0, 0.8)]
    assert pareto_points(points) == [0, 2, 3]


def test_integer_settings_and_best_run(store):
    assert integer_settings(config(params={"blocks": 6, "norm": True})) == [("params", "blocks", 6)]
    assert integer_settings(config("node", {"gradient": "adjoint"}, {"name": "rk4", "steps": 4})) == [
        ("solver", "steps", 4)]
    assert integer_settings(config("node", {}, {"name": "dopri5", "rtol": 1e-3})) == []
    best = best_run(store.latest("s"))
    assert best["metrics"]["test_accuracy"] == pytest.approx(0.9)


def test_runs_differing_only_in_eval_solver_get_their_own_rows(tmp_path):
    s = Store(tmp_path / "results")
    dopri = {"name": "dopri5", "rtol": 1e-3, "atol": 1e-3}
    for i, eval_solver in enumerate((None, {**dopri, "rtol": 0.1, "atol": 0.1})):
        cfg = {**config("node", {"gradient": "adjoint"}, dopri), "eval_solver": eval_solver}
        s.add(cfg, f"k{i}", outcome(0.9 - 0.1 * i, nfe=20), "0.1.0+test")
    summary = summary_of(s)
    assert sorted(summary["solver"]) == ["dopri5 atol=0.001 rtol=0.001",
                                         "dopri5 atol=0.001 rtol=0.001 (eval atol=0.1 rtol=0.1)"]
    assert sorted(summary["test_accuracy_mean"]) == pytest.approx([0.8, 0.9])


def test_baseline_ratios_pair_runs_of_the_same_seed(store, cli):
    code, out, _ = cli("report", "--results", store.directory, "--format", "csv", "--no-files",
                       "--baseline", "resnet blocks=1")
    assert code == 0
    rows = {(r["params"], r["solver"], r["seed"]): r for r in csv.DictReader(io.StringIO(out))}
    # resnet blocks=1 takes 1, 2, 3 s per epoch on seeds 0, 1, 2; rk4 steps=4 8 s on seeds 0, 1.
    assert float(rows[("blocks=1", "", "1")]["epoch_ratio"]) == pytest.approx(1.0)
    assert float(rows[("gradient=backprop", "rk4 steps=4", "0")]["epoch_ratio"]) == pytest.approx(8.0)
    assert float(rows[("gradient=backprop", "rk4 steps=4", "1")]["epoch_ratio"]) == pytest.approx(4.0)
    assert float(rows[("gradient=backprop", "rk4 steps=4", "1")]["eval_ratio"]) == pytest.approx(1.0)
    assert rows[("gradient=adjoint", "dopri5 atol=0.001 rtol=0.001", "0")]["epoch_ratio"] == ""  # diverged
    # Quality: the difference in points from the baseline of the same seed (0.5/0.6/0.7 on
    # seeds 0/1/2; rk4 steps=4 scores 0.8 on every seed; macro-F1 is accuracy - 0.05).
    assert float(rows[("gradient=backprop", "rk4 steps=4", "0")]["test_accuracy_delta"]) == pytest.approx(30.0)
    assert float(rows[("gradient=backprop", "rk4 steps=4", "1")]["test_accuracy_delta"]) == pytest.approx(20.0)
    assert float(rows[("gradient=backprop", "rk4 steps=4", "1")]["test_macro_f1_delta"]) == pytest.approx(20.0)

    code, out, _ = cli("report", "--results", store.directory, "--baseline", "resnet blocks=1",
                       "--format", "md")
    assert code == 0
    header = [h.strip() for h in out.splitlines()[2].split("|")]
    assert header.index("epoch ×") == header.index("epoch s") + 1
    rk4 = next(line for line in out.splitlines() if "rk4 steps=4" in line)
    assert "6.00 ± 2.83" in rk4  # mean and sample std of 8 and 4
    # Δ acc: +30 and +20 points, mean 25, sd 7.07, paired t interval 25 ± 12.706·7.07/√2.
    assert "+25.00 ± 7.07 [-38.53, +88.53]" in rk4
    assert "epoch ×" in (store.directory / "s" / "summary.md").read_text()


def test_a_ratio_across_two_cpus_is_flagged_and_a_group_of_two_cpus_noted(tmp_path, cli):
    """A suite resumed on another machine: the NODE's seed 1 ran on CPU A, the baseline of
    seed 1 on CPU B (its × compares the machines too: a warning); the baseline's own seeds
    ran on A and B (its seconds mix machines: a note). A group with no finished run is no
    trouble. Same model name, other vector unit (AVX2 vs AVX512): another CPU too. One
    machine for all: neither, and no column."""
    def on(cpu, out, capability=None):
        out["machine"].update(cpu=cpu, cpu_capability=capability)
        return out

    s = Store(tmp_path / "results")
    add(s, config(params={"blocks": 1}, seed=0), on("A", outcome(0.5, 1.0)))
    add(s, config(params={"blocks": 1}, seed=1), on("B", outcome(0.6, 2.0)))
    rk4 = {"name": "rk4", "steps": 1}
    add(s, config("node", {"gradient": "backprop"}, rk4, 0), on("A", outcome(0.7, 4.0, nfe=4)))
    add(s, config("node", {"gradient": "backprop"}, rk4, 1), on("A", outcome(0.7, 4.0, nfe=4)))
    add(s, config("node", {"gradient": "adjoint"}, rk4, 1), on("A", outcome(0, status="diverged")))
    code, out, err = cli("report", "--results", s.directory, "--baseline", "resnet blocks=1", "--no-files")
    assert code == 0, err
    text = " ".join(out.split())
    assert "warning: node gradient=backprop rk4 steps=1: seed(s) 1 ran on another CPU than the baseline" in text
    assert "note: resnet blocks=1: its seeds ran on different CPUs (A: seed 0; B: seed 1)" in text
    assert "gradient=adjoint rk4 steps=1: seed(s)" not in text
    code, out, _ = cli("report", "--results", s.directory, "--baseline", "resnet blocks=1",
                       "--format", "csv", "--no-files")
    rows = {(r["model"], r["params"], r["seed"]): r for r in csv.DictReader(io.StringIO(out))}
    assert rows[("node", "gradient=backprop", "1")]["baseline_cpu"] == "B"
    assert rows[("node", "gradient=backprop", "0")]["baseline_cpu"] == ""

    vector = Store(tmp_path / "vector")
    add(vector, config(params={"blocks": 1}), on("A", outcome(0.5, 1.0), "AVX512"))
    add(vector, config("node", {"gradient": "backprop"}, rk4, 0), on("A", outcome(0.7, 4.0, nfe=4), "AVX2"))
    code, out, _ = cli("report", "--results", vector.directory, "--baseline", "resnet blocks=1", "--no-files")
    assert "seed(s) 0 ran on another CPU" in " ".join(out.split())

    one = Store(tmp_path / "one")
    for seed in (0, 1):
        add(one, config(params={"blocks": 1}, seed=seed), outcome(0.5, 1.0))
        add(one, config("node", {"gradient": "backprop"}, rk4, seed), outcome(0.7, 4.0, nfe=4))
    code, out, _ = cli("report", "--results", one.directory, "--baseline", "resnet blocks=1",
                       "--format", "csv", "--no-files")
    assert code == 0 and "baseline_cpu" not in out.splitlines()[0]
    code, out, _ = cli("report", "--results", one.directory, "--baseline", "resnet blocks=1", "--no-files")
    assert "CPU" not in out


def test_unknown_baseline_is_a_one_line_error(store, cli):
    code, _, err = cli("report", "--results", store.directory, "--baseline", "resnet blocks=7")
    assert code == 2
    assert err.strip().count("\n") == 0
    assert "'resnet blocks=1'" in err and "--baseline 'resnet blocks=7'" in err


def test_ambiguous_baseline_is_an_error(store, cli):
    # The same label on two runs of one dataset and seed (here: another thread count, which the
    # label does not show) cannot be a baseline. (Another dataset pairs with its own baseline.)
    cfg = config(params={"blocks": 1})
    cfg["threads"] = 1
    add(store, cfg, outcome(0.5))
    code, _, err = cli("report", "--results", store.directory, "--baseline", "resnet blocks=1", "--no-files")
    assert code == 2 and "several runs" in err


def test_driver_labels_import_no_pandas():
    # The driver's progress lines use report.labels; pandas stays out of the driver process.
    code = "import sys, odebench.driver, odebench.report.labels; sys.exit('pandas' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_report_modules_import_one_way():
    """labels <- tables <- plots, html <- __init__, data_plots, frontier: a module imports only earlier ones."""
    order = {"labels": 0, "tables": 1, "plots": 2, "html": 2, "__init__": 3, "data_plots": 3, "frontier": 3}
    folder = Path(report.__file__).parent
    assert {p.stem for p in folder.glob("*.py")} == set(order)
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                assert node.module in order and order[node.module] < order[path.stem], (path.name, node.module)


def test_summary_confidence_intervals(store, cli):
    from scipy import stats as sp

    summary = summary_of(store)
    r = summary[summary["params"] == "blocks=1"].iloc[0]
    # accuracy 0.5/0.6/0.7: mean 0.6 ± t(0.975, 2) · 0.1 / √3 = 0.6 ± 0.248414
    assert (r["test_accuracy_ci_low"], r["test_accuracy_ci_high"]) == pytest.approx((0.351586, 0.848414), abs=1e-6)
    low, high = sp.t.interval(0.95, 2, loc=2.0, scale=sp.sem([1.0, 2.0, 3.0]))
    assert (r["epoch_seconds_ci_low"], r["epoch_seconds_ci_high"]) == pytest.approx((low, high))
    single = summary[summary["params"] == "blocks=4"].iloc[0]
    assert pd.isna(single["test_accuracy_ci_low"]) and pd.isna(single["test_accuracy_ci_high"])
    assert "0.6000 ± 0.1000 [0.3516, 0.8484]" in summary_markdown(summary)

    code, out, _ = cli("report", "--results", store.directory, "--baseline", "resnet blocks=1")
    assert code == 0 and "t interval" in out
    folder = store.directory / "s"
    assert "0.6000 ± 0.1000 [0.3516, 0.8484]" in (folder / "summary.md").read_text()
    assert "[0.3516, 0.8484]" in (folder / "report.html").read_text()
    rows = {(r["params"], r["solver"]): r for r in csv.DictReader(open(folder / "summary.csv"))}
    # rk4 steps=4 runs 8x and 4x its seed's resnet blocks=1: the ratio's interval pairs by seed
    rk4 = rows[("gradient=backprop", "rk4 steps=4")]
    low, high = sp.t.interval(0.95, 1, loc=6.0, scale=sp.sem([8.0, 4.0]))
    assert (float(rk4["epoch_ratio_ci_low"]), float(rk4["epoch_ratio_ci_high"])) == pytest.approx((low, high))
    assert rows[("blocks=4", "")]["epoch_ratio_ci_low"] == ""  # one seed: no interval


def test_summary_md_has_se_and_plus_p_per_class(tmp_path):
    """Se is the recall, +P the precision, mean ± sd over seeds, in the dataset's class order."""
    s = Store(tmp_path / "results")
    for seed, (recall_b, precision_b) in enumerate(((0.2, 0.5), (0.4, 0.7))):
        out = outcome(0.8)
        out["metrics"]["per_class"] = {
            "A": {"precision": 0.9, "recall": 0.95, "f1": 0.92, "support": 10},
            "B": {"precision": precision_b, "recall": recall_b, "f1": 0.3, "support": 10},
            "C": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 10}}
        add(s, config(params={"blocks": 1}, seed=seed), out)
    from odebench.report.tables import per_class_markdown

    text = per_class_markdown(summary_of(s))
    header, _, row = text.splitlines()[2:5]
    titles = [h.strip() for h in header.strip("|").split("|")]
    cells = dict(zip(titles, [c.strip() for c in row.strip("|").split("|")]))
    assert titles[titles.index("n"):] == ["n", "Se A", "+P A", "Se B", "+P B", "Se C", "+P C"]
    assert cells["Se B"] == "0.3000 ± 0.1414" and cells["+P B"] == "0.6000 ± 0.1414"
    assert cells["Se A"] == "0.9500 ± 0.0000" and cells["n"] == "2"
    report.write_report(s.latest("s"), tmp_path / "out", "t", plots=False)
    written = (tmp_path / "out" / "summary.md").read_text()
    assert "## Per class: sensitivity (Se = recall)" in written and "0.3000 ± 0.1414" in written


def test_a_run_stored_before_its_plugin_gained_params_groups_with_a_new_one(cli, write_suite, tmp_path):
    """Seed 0 stored when configs held only what the suite wrote (no defaults, no
    ``explicit``), seed 1 stored today: one group of n = 2, labelled as the suite wrote it."""
    from tests.conftest import FAST_HEAD

    results = tmp_path / "results"
    suite = write_suite(f"name: old\n{FAST_HEAD}seeds: [1]\nruns:\n  - model: resnet\n    blocks: 0\n")
    assert cli("run", suite, "--results", results, "--no-report")[0] == 0
    store = Store(results)
    [new] = store.latest("old")
    assert set(new["config"]["params"]) > {"blocks"} and "explicit" in new["config"]
    old = {k: v for k, v in new["config"].items() if k != "explicit"}
    old.update(seed=0, params={"blocks": 0}, dataset={"name": "synthetic", "train_size": 64, "test_size": 32})
    store.add(old, "old-key", outcome(0.5), "0.1.0+old")
    code, out, err = cli("report", "--results", results, "--suite", "old", "--format", "csv", "--no-files")
    assert code == 0, err
    rows = pd.read_csv(io.StringIO(out))
    assert sorted(rows["seed"]) == [0, 1] and set(rows["params"]) == {"blocks=0"}
    code, out, err = cli("report", "--results", results, "--suite", "old", "--format", "md", "--no-files")
    assert code == 0 and out.count("| resnet ") == 1 and "width=" not in out
