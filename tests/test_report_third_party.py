"""A third party's model, with parameters the default plugins do not have (``width``,
``layers``, ``mode``), gets the same report as the default ones: labelled rows, the
memory-vs-parameter figure and baseline ratios."""

from __future__ import annotations

import csv
import io

import pytest

from odebench.report.plots import groups, memory_series
from odebench.store import Store

MLP_PLUGIN = """\
from typing import Literal

from torch import nn

import odebench


def build_mlp(shape, *, width: int = 8, layers: int = 1, mode: Literal["relu", "tanh"] = "relu"):
    act = nn.ReLU if mode == "relu" else nn.Tanh
    body = [nn.Flatten(), nn.Linear(shape.channels * shape.length, width), act()]
    for _ in range(layers - 1):
        body += [nn.Linear(width, width), act()]
    return nn.Sequential(*body, nn.Linear(width, shape.n_classes))


@odebench.hookimpl
def register_models(register):
    register("mlp", build_mlp)
"""

SUITE = """\
name: third-party
plugins: [mlp.py]
dataset: {name: synthetic, train_size: 64, test_size: 32}
train: {epochs: 1, batch_size: 32, max_batches: 1}
seeds: [0, 1]
runs:
  - model: mlp
    layers: [1, 4]
    width: 16
    mode: tanh
"""
BASELINE = "mlp layers=1 mode=tanh width=16"


@pytest.mark.slow
def test_third_party_model_gets_labels_memory_plot_and_baseline(tmp_path, cli, write_suite, core_plugins_only):
    (tmp_path / "mlp.py").write_text(MLP_PLUGIN)
    results = tmp_path / "results"
    code, out, err = cli("run", write_suite(SUITE), "--results", results)
    assert code == 0, err
    assert f"{BASELINE} seed=1 cpu" in out  # the driver's progress line

    code, text, err = cli("report", "--results", results, "--format", "csv", "--no-files",
                          "--baseline", BASELINE)
    assert code == 0, err
    rows = {(r["params"], r["seed"]): r for r in csv.DictReader(io.StringIO(text))}
    assert set(rows) == {(p, s) for p in ("layers=1 mode=tanh width=16", "layers=4 mode=tanh width=16")
                         for s in ("0", "1")}
    for seed in ("0", "1"):  # each run over the baseline run of its own seed
        base, deep = rows["layers=1 mode=tanh width=16", seed], rows["layers=4 mode=tanh width=16", seed]
        assert float(base["epoch_ratio"]) == pytest.approx(1.0)
        assert float(deep["epoch_ratio"]) == pytest.approx(
            float(deep["epoch_seconds"]) / float(base["epoch_seconds"]))

    code, out, err = cli("report", "--results", results, "--baseline", BASELINE)
    assert code == 0, err
    folder = results / "third-party"
    assert (folder / "memory_vs_depth.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = (folder / "summary.md").read_text()
    assert "epoch ×" in summary and "| layers=4 mode=tanh width=16 |" in summary

    # The memory figure's one panel: peak memory against ``layers``, the setting that varies.
    panels = memory_series(groups(Store(results).latest("third-party")))
    assert list(panels) == [("params", "layers")]
    (series,) = panels["params", "layers"]
    assert [n for n, _ in series] == [1, 4]
    assert [len(g.done) for _, g in series] == [2, 2]
