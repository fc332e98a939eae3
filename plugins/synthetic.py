"""``synthetic``: a deterministic, fast, ECG-like 5-class dataset for smoke tests and examples.

Beats look like the Kaggle rows: (1, 187) at 125 Hz, starting at an R-peak, 1.2 x a random
R-R interval long, min-max scaled to [0, 1], zero-padded. Each class has its own wave shapes
(N normal, S premature narrow, V wide with inverted T, F fusion, Q paced) with per-beat
jitter and noise, so models must learn something but can reach high accuracy quickly.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
import torch
from annotated_types import Ge

import odebench

CLASSES = ["N", "S", "V", "F", "Q"]
LENGTH = 187

# (centre as a fraction of the R-R interval, width in samples, amplitude) per wave.
WAVES = {
    "N": [(0.0, 2.5, 1.0), (0.40, 9.0, 0.30), (0.80, 5.0, 0.12)],
    "S": [(0.0, 2.5, 1.0), (0.35, 8.0, 0.25), (0.62, 4.0, -0.10)],
    "V": [(0.0, 7.0, 1.0), (0.12, 8.0, -0.55), (0.45, 12.0, -0.35)],
    "F": [(0.0, 4.5, 1.0), (0.10, 6.0, -0.25), (0.42, 10.0, 0.15)],
    "Q": [(0.0, 1.2, 1.0), (0.06, 9.0, 0.55), (0.45, 11.0, -0.25)],
}
RR_SAMPLES = {"N": (95, 115), "S": (68, 85), "V": (80, 112), "F": (88, 110), "Q": (90, 100)}


def _beats(label: int, n: int, rng: np.random.Generator, noise: float) -> np.ndarray:
    name = CLASSES[label]
    out = np.zeros((n, LENGTH), dtype=np.float32)
    lo, hi = RR_SAMPLES[name]
    for i in range(n):
        rr = rng.integers(lo, hi + 1)
        length = min(LENGTH, int(1.2 * rr))
        x = np.arange(length, dtype=np.float64)
        signal = np.zeros(length)
        for centre, width, amplitude in WAVES[name]:
            c = centre * rr + rng.normal(0, 1.5)
            w = width * rng.uniform(0.8, 1.25)
            a = amplitude * rng.uniform(0.8, 1.2)
            signal += a * np.exp(-0.5 * ((x - c) / w) ** 2)
        signal += np.exp(-0.5 * ((x - rr) / 2.5) ** 2)  # the next beat's R-peak
        signal += rng.normal(0, noise, length) + 0.05 * np.sin(x / rng.uniform(15, 40))
        signal = (signal - signal.min()) / (signal.max() - signal.min())
        out[i, :length] = signal
    return out


def _split(size: int, rng: np.random.Generator, noise: float):
    labels = np.arange(size) % len(CLASSES)
    rng.shuffle(labels)
    x = np.zeros((size, 1, LENGTH), dtype=np.float32)
    for label in range(len(CLASSES)):
        idx = np.flatnonzero(labels == label)
        x[idx, 0] = _beats(label, len(idx), rng, noise)
    return torch.from_numpy(x), torch.from_numpy(labels.astype(np.int64))


def load_synthetic(
    *,
    train_size: Annotated[int, Ge(1)] = 1024,
    test_size: Annotated[int, Ge(1)] = 512,
    seed: Annotated[int, Ge(0)] = 0,
    noise: Annotated[float, Ge(0)] = 0.08,
) -> odebench.Dataset:
    if train_size < 1 or test_size < 1:
        raise odebench.DataError("synthetic: train_size and test_size must be at least 1")
    rng = np.random.default_rng(seed)
    x_train, y_train = _split(train_size, rng, noise)
    x_test, y_test = _split(test_size, rng, noise)
    return odebench.Dataset(x_train, y_train, x_test, y_test, list(CLASSES), {"sampling_hz": 125})


@odebench.hookimpl
def register_datasets(register):
    register("synthetic", load_synthetic)
