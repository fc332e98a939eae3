"""What the measurements claim: peak memory probes, the memory ordering theory predicts,
per-class quality metrics, CUDA (skipped without a GPU)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import torch

from odebench.runner import _peak_rss_bytes, _reset_peak_rss, _rss_bytes, classification_metrics

from .conftest import TINY


def test_peak_rss_reset_isolates_a_later_peak():
    if not _reset_peak_rss():
        pytest.skip("this kernel cannot reset the peak-RSS mark (/proc/self/clear_refs)")
    block = np.ones(300 * 2**20 // 8)  # 300 MiB, touched
    del block
    peak_with_block = _peak_rss_bytes(True)
    assert _reset_peak_rss()
    after_reset = _peak_rss_bytes(True)
    assert peak_with_block - after_reset > 250 * 2**20
    assert after_reset <= (_rss_bytes("VmRSS") or 0) + 50 * 2**20


def test_classification_metrics_by_hand():
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([0, 0, 1, 1, 2, 2])
    m = classification_metrics(y_true, y_pred, ["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert m["per_class"]["a"] == {"precision": 1.0, "recall": pytest.approx(2 / 3), "f1": pytest.approx(0.8),
                                   "support": 3}
    assert m["per_class"]["b"]["precision"] == 0.5 and m["per_class"]["c"]["recall"] == 1.0
    f1 = [0.8, 0.5, 2 / 3]
    assert m["macro_f1"] == pytest.approx(sum(f1) / 3)


MEMORY = """\
name: memory-small
dataset: {name: synthetic, train_size: 128, test_size: 32}
train: {epochs: 1, batch_size: 128, max_batches: 1}
runs:
  - model: node
    solver: {name: rk4, steps: [1, 16]}
    gradient: [backprop, adjoint]
"""


def test_adjoint_memory_stays_flat_while_backprop_grows(write_suite, cli, tmp_path):
    path = write_suite(MEMORY)
    code, _, err = cli("run", path, "--results", tmp_path)
    assert code == 0, err
    _, csv, _ = cli("report", "--results", tmp_path, "--format", "csv", "--no-files")
    table = pd.read_csv(io.StringIO(csv))
    peak = {(r.params, r.solver): r.peak_rss_increase_bytes for r in table.itertuples()}
    backprop_1, backprop_16 = peak["gradient=backprop", "rk4 steps=1"], peak["gradient=backprop", "rk4 steps=16"]
    adjoint_1, adjoint_16 = peak["gradient=adjoint", "rk4 steps=1"], peak["gradient=adjoint", "rk4 steps=16"]
    # Backprop keeps every stage of every step for the backward pass: 64 evaluations of a
    # (128, 64, 46) state. The adjoint keeps none of them.
    assert adjoint_16 < backprop_16
    assert backprop_16 - backprop_1 > 100 * 2**20
    assert adjoint_16 - adjoint_1 < (backprop_16 - backprop_1) / 4


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_run_end_to_end(write_suite, cli, tmp_path):
    path = write_suite(TINY + "devices: [cuda]\nruns:\n  - model: resnet\n    blocks: 1\n"
                       "  - model: node\n    solver: {name: rk4, steps: 2}\n    gradient: [backprop, adjoint]\n")
    code, _, err = cli("run", path, "--results", tmp_path)
    assert code == 0, err
    _, csv, _ = cli("report", "--results", tmp_path, "--format", "csv", "--no-files")
    table = pd.read_csv(io.StringIO(csv))
    assert set(table["device"]) == {"cuda"} and set(table["status"]) == {"done"}
    assert (table["cuda_peak_allocated_bytes"] > 0).all()
    assert (table["peak_memory_bytes"] == table["cuda_peak_allocated_bytes"]).all()
    assert table["gpu"].notna().all()
