"""PNG figures of a dataset itself (``odebench data plot``): example beats of each class and
the class balance of the train and test splits, classes in the dataset's order."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .plots import _figure, _log_if_spread, _save


def _grid(nrows: int, ncols: int, width: float, height: float):
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False, sharex=True,
                             sharey=True)
    return fig, axes.ravel()


def examples(y: np.ndarray, k: int, per_class: int, seed: int = 0) -> list[np.ndarray]:
    """Indices of up to ``per_class`` samples of each of the ``k`` classes, drawn at random
    (``seed``) so that the examples are not all from one record's start."""
    rng = np.random.default_rng(seed)
    out = []
    for label in range(k):
        idx = np.flatnonzero(y == label)
        out.append(np.sort(rng.choice(idx, size=min(per_class, len(idx)), replace=False)))
    return out


def beats(x: np.ndarray, y: np.ndarray, class_names: list[str], path: Path, title: str,
          per_class: int = 12, sampling_hz: float | None = None) -> Path:
    """One panel per class: ``per_class`` examples overlaid (thin) and the class mean over
    all its samples (bold), channel 0; the same y range everywhere so classes compare."""
    k = len(class_names)
    ncols = min(k, 5)
    nrows = math.ceil(k / ncols)
    fig, axes = _grid(nrows, ncols, 3.0 * ncols, 2.6 * nrows + 0.6)
    signal = x[:, 0, :]
    t = np.arange(signal.shape[1]) / sampling_hz if sampling_hz else np.arange(signal.shape[1])
    for label, (ax, idx) in enumerate(zip(axes, examples(y, k, per_class))):
        name = class_names[label]
        total = int((y == label).sum())
        for i in idx:
            ax.plot(t, signal[i], color="tab:blue", alpha=0.35, linewidth=0.7)
        if total:
            ax.plot(t, signal[y == label].mean(0), color="black", linewidth=1.6)
        ax.set_title(f"{name}: {len(idx)} of {total:,}", fontsize=9)
        ax.grid(alpha=0.3)
    for ax in axes[k:]:
        ax.set_visible(False)
    for ax in axes[(nrows - 1) * ncols:k]:
        ax.set_xlabel("seconds" if sampling_hz else "sample")
    channels = f" (channel 0 of {x.shape[1]})" if x.shape[1] > 1 else ""
    fig.suptitle(f"{title}: example beats per class{channels}, class mean in black", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def balance(counts: dict[str, np.ndarray], class_names: list[str], path: Path, title: str) -> Path:
    """Grouped bars: samples per class in each split, counts and shares written on the bars;
    a log scale when the classes differ by more than 20x."""
    fig, (ax,) = _figure(1, max(5.0, 1.1 * len(class_names) + 2), 4.2)
    width = 0.8 / len(counts)
    where = np.arange(len(class_names))
    for i, (split, values) in enumerate(counts.items()):
        bars = ax.bar(where + (i - (len(counts) - 1) / 2) * width, values, width,
                      label=f"{split} ({int(values.sum()):,})", color=f"C{i}")
        total = max(1, int(values.sum()))
        for bar, value in zip(bars, values):
            ax.annotate(f"{int(value):,}\n{100 * value / total:.1f}%",
                        (bar.get_x() + bar.get_width() / 2, max(value, 1)), ha="center",
                        va="bottom", fontsize=7)
    ax.set_xticks(where, class_names)
    ax.set(xlabel="class", ylabel="samples")
    _log_if_spread(ax, "y", [float(v) for values in counts.values() for v in values])
    bottom, top = ax.get_ylim()
    ax.set_ylim(bottom, top * (3 if ax.get_yscale() == "log" else 1.15))  # room for the labels
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(f"{title}: class balance", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)
