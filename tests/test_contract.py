"""The executor contract in odebench.types and the parameter rules in odebench.params."""

from __future__ import annotations

import time

import pytest

from odebench.params import SUBSAMPLE, check_dataset_params, split_subsample, suggest
from odebench.types import FINISHED, RERUN, SUCCEEDED, SuiteError, one_line, outcome


def test_every_status_is_either_finished_or_rerun():
    assert FINISHED.isdisjoint(RERUN)
    assert FINISHED | RERUN == {"done", "diverged", "skipped", "failed", "timeout", "interrupted"}
    assert SUCCEEDED == {"done", "skipped"} and SUCCEEDED <= FINISHED


def test_outcome_has_every_key_the_store_reads():
    before = time.time()
    out = outcome("timeout", "killed after 1 s", started=before - 5, traceback="stacks")
    assert out["status"] == "timeout" and out["reason"] == "killed after 1 s"
    assert out["metrics"] == {} and out["epochs"] == [] and out["traceback"] == "stacks"
    assert out["started_at"] == before - 5 and out["finished_at"] >= before
    done = outcome("done", metrics={"a": 1})
    assert "reason" not in done and "traceback" not in done and done["metrics"] == {"a": 1}


def test_one_line_keeps_the_first_line():
    assert one_line(ValueError("bad\nmore")) == "ValueError: bad"
    assert one_line(ValueError("bad\nmore"), named=False) == "bad"
    assert one_line(KeyboardInterrupt(), named=False) == "KeyboardInterrupt"


def test_the_subsample_goes_to_a_loader_that_declares_it_and_to_odebench_otherwise():
    def plain(*, path: str = "x"):
        ...

    def declares(*, train_size: int = 10):
        ...

    def anything(**kwargs):
        ...

    params = {"path": "p", "train_size": 5, "test_size": 3}
    assert split_subsample(plain, params) == ({"path": "p"}, {"train_size": 5, "test_size": 3})
    assert split_subsample(declares, {"train_size": 5, "test_size": 3}) == ({"train_size": 5}, {"test_size": 3})
    assert split_subsample(anything, params) == (params, {})
    assert set(SUBSAMPLE) == {"train_size", "test_size"}


def test_dataset_params_accept_the_subsample_and_reject_the_unknown():
    def plain(*, path: str = "x"):
        ...

    check_dataset_params(plain, {"path": "p", "train_size": 5}, "f: dataset", "d")
    with pytest.raises(SuiteError, match=r"f: dataset.pth: unknown parameter of dataset 'd'; did you mean 'path'"):
        check_dataset_params(plain, {"pth": "p"}, "f: dataset", "d")
    with pytest.raises(SuiteError, match="expected int | null"):
        check_dataset_params(plain, {"train_size": "many"}, "f: dataset", "d")
    assert suggest("x", []) == "(known: none)"
