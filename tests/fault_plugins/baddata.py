"""Datasets that no run can measure: ``fault-empty`` (an empty test set) and
``fault-corrupt`` (raises DataError, like a corrupt file). The suite stops once, before any
run, instead of recording a fake ``done`` or the same failure for every run."""

import torch

import odebench


def load_empty() -> odebench.Dataset:
    x = torch.rand(8, 1, 16)
    y = torch.arange(8) % 2
    return odebench.Dataset(x, y, x[:0], y[:0], ["a", "b"])


def load_corrupt() -> odebench.Dataset:
    raise odebench.DataError("fault-corrupt: the input file is corrupt; replace it")


@odebench.hookimpl
def register_datasets(register):
    register("fault-empty", load_empty)
    register("fault-corrupt", load_corrupt)
