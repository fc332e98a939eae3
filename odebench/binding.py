"""Binding a run's config to what the plugins registered: the dataset (with odebench's
stratified subsample), the solver with its options, the model built on both.

Used by the run process, ``odebench check`` and ``odebench data``; needs torch and numpy,
imported by whoever calls it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .params import split_subsample
from .plugins import Registry
from .types import DataError, Dataset, Solver


def stratified_subsample(y: torch.Tensor, size: int | None, seed: int) -> torch.Tensor | None:
    """Indices of a stratified subsample of ``size`` (every class kept in proportion, at least
    one sample of each where possible), or None when no subsampling is needed."""
    n = len(y)
    if size is None or size >= n:
        return None
    rng = np.random.default_rng(seed)
    labels = y.numpy()
    classes, counts = np.unique(labels, return_counts=True)
    quota = np.maximum(1, np.floor(counts * size / n)).astype(int)
    quota = np.minimum(quota, counts)
    while quota.sum() > size:
        quota[np.argmax(quota)] -= 1
    remainder = size - quota.sum()
    order = np.argsort(-(counts * size / n - quota))
    for c in order[:remainder]:
        quota[c] = min(quota[c] + 1, counts[c])
    picked = [rng.choice(np.flatnonzero(labels == c), q, replace=False) for c, q in zip(classes, quota)]
    return torch.from_numpy(np.sort(np.concatenate(picked)))


def load_dataset(registry: Registry, spec: dict[str, Any], measurable: bool = True) -> Dataset:
    """Load the dataset ``spec`` names, validate it and subsample it where the loader did not.
    Raises DataError when a set is empty or the test set lacks a class the train set has
    (its recall and the macro F1 would be made up): a run on it would not measure anything.
    ``measurable=False`` skips that check (to describe a dataset, not to train on it)."""
    entry = registry.datasets[spec["name"]]
    params, sizes = split_subsample(entry.obj, {k: v for k, v in spec.items() if k != "name"})
    data = entry.obj(**params)
    data.validate(spec["name"])
    for split in ("train", "test"):
        idx = stratified_subsample(getattr(data, f"y_{split}"), sizes.get(f"{split}_size"), 0)
        if idx is not None:
            setattr(data, f"x_{split}", getattr(data, f"x_{split}")[idx])
            setattr(data, f"y_{split}", getattr(data, f"y_{split}")[idx])
    if measurable:
        check_measurable(data, spec["name"])
    return data


def check_measurable(data: Dataset, name: str) -> None:
    """DataError unless both sets have samples and every class of the train set is in the
    test set."""
    for split in ("train", "test"):
        if len(getattr(data, f"y_{split}")) == 0:
            raise DataError(f"dataset {name!r}: the {split} set is empty; give it samples "
                            f"(check the dataset's params, e.g. {split}_size or its records)")
    missing = sorted(set(data.y_train.unique().tolist()) - set(data.y_test.unique().tolist()))
    if missing:
        names = ", ".join(repr(data.class_names[c]) for c in missing)
        raise DataError(f"dataset {name!r}: the test set has no sample of class{'es' if len(missing) > 1 else ''} "
                        f"{names} (the train set "
                        f"has), so its recall and the macro F1 would be meaningless; give a larger "
                        f"test_size or a split with every class in the test set")


def bind_solver(registry: Registry, spec: dict[str, Any]) -> Solver:
    """The registered solver named in ``spec`` with the spec's other keys as its options."""
    entry = registry.solvers[spec["name"]]
    return Solver(
        name=spec["name"],
        solve=entry.obj,
        options={k: v for k, v in spec.items() if k != "name"},
        solve_adjoint=entry.extra.get("adjoint"),
    )


def build_model(registry: Registry, config: dict[str, Any], data: Dataset) -> torch.nn.Module:
    """The run's model for ``data``'s shape, given its bound solver (and eval solver)."""
    factory = registry.models[config["model"]].obj
    kwargs = dict(config["params"])
    for key in ("solver", "eval_solver"):
        if config.get(key) is not None:
            kwargs[key] = bind_solver(registry, config[key])
    return factory(data.shape, **kwargs)
