"""The committed results regenerate identically: every ``results/<suite>/runs.csv`` (the
flattened per-run rows) aggregates, with today's report code, into the committed
``summary.md`` and ``summary.csv`` of that suite. The baseline ratios are recomputed too:
the baseline is the run label whose ``epoch_ratio`` is 1 on every seed."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest

from odebench.report.labels import run_label
from odebench.report.tables import add_ratios, aggregate, summary_document

RESULTS = Path(__file__).resolve().parent.parent / "results"
SUITES = sorted(p.parent for p in RESULTS.glob("*/runs.csv"))
RATIOS = ["epoch_ratio", "eval_ratio"]
DELTAS = ["test_accuracy_delta", "test_macro_f1_delta"]  # in runs.csv files written since they exist
# columns that flatten() fills with text; pandas would read an all-empty one as NaN floats
TEXT = ["suite", "model", "params", "solver", "dataset", "device", "status", "reason"]


def committed_runs(folder: Path) -> pd.DataFrame:
    """runs.csv as the report's rows: label cells stay text (an empty cell is ''), numbers
    numbers, and a column empty in every run holds None (as in rows from the store)."""
    # round_trip: the floats exactly as written (pandas 3.0's default parser is off in the last digit)
    frame = pd.read_csv(folder / "runs.csv", dtype={c: object for c in TEXT}, float_precision="round_trip")
    frame[TEXT] = frame[TEXT].fillna("")
    for column in frame.columns[frame.isna().all()]:  # None in every run: not a metric
        frame[column] = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    return frame


def baseline_of(frame: pd.DataFrame) -> str | None:
    if "epoch_ratio" not in frame.columns:
        return None
    labels = {run_label(row) for _, row in frame[frame["epoch_ratio"] == 1.0].iterrows()}
    assert len(labels) == 1, labels
    return labels.pop()


@pytest.mark.parametrize("folder", SUITES, ids=[p.name for p in SUITES])
def test_committed_summaries_regenerate_from_runs_csv(folder):
    runs = committed_runs(folder)
    baseline = baseline_of(runs)
    frame = runs.drop(columns=[c for c in RATIOS + DELTAS if c in runs.columns])
    if baseline:
        frame = add_ratios(frame, baseline)
        # the recomputed ratios (and differences) are the committed ones (same pairing of runs)
        derived = RATIOS + [c for c in DELTAS if c in runs.columns]
        pd.testing.assert_frame_equal(frame[derived], runs[derived])
    summary = aggregate(frame)
    title = json.dumps(folder.name)[1:-1]
    expected_md = (folder / "summary.md").read_text(encoding="utf-8")
    assert summary_document(summary, f"odebench report: suite {title}") == expected_md

    text = summary.to_csv(index=False)
    expected = pd.read_csv(folder / "summary.csv")
    pd.testing.assert_frame_equal(pd.read_csv(io.StringIO(text)), expected)
    assert text == (folder / "summary.csv").read_text(encoding="utf-8")


def test_every_committed_suite_is_checked():
    assert {p.name for p in SUITES} >= {"ecg", "ecg-gradients", "ecg-solvers", "memory"}
