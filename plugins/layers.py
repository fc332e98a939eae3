"""The trunk and head shared by the seed study's ResNet and Neural ODE (torchdiffeq's
examples/odenet_mnist.py ported to 1-D)."""

from __future__ import annotations

from torch import nn

import odebench

MIN_LENGTH = 6  # the shortest series the trunk's three convolutions take (6 -> 4 -> 2 -> 1)


def norm(width: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(32, width), width)


def trunk(channels: int, width: int, length: int | None = None) -> nn.Sequential:
    """Length L -> L-2 -> (L-2)//2 -> (L-2)//4: 187 -> 185 -> 92 -> 46 (24 -> 22 -> 11 -> 5).
    A ``length`` under ``MIN_LENGTH`` raises Unsupported (the run is skipped, with the reason)."""
    if length is not None and length < MIN_LENGTH:
        raise odebench.Unsupported(
            f"series of {length} samples are too short for the trunk (downsamples by 4; needs "
            f">= {MIN_LENGTH}); pad the dataset's series (e.g. ucr: unequal: pad)")
    return nn.Sequential(
        nn.Conv1d(channels, width, 3, 1),
        norm(width),
        nn.ReLU(inplace=True),
        nn.Conv1d(width, width, 4, 2, 1),
        norm(width),
        nn.ReLU(inplace=True),
        nn.Conv1d(width, width, 4, 2, 1),
    )


def head(width: int, n_classes: int) -> nn.Sequential:
    return nn.Sequential(
        norm(width),
        nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool1d(1),
        nn.Flatten(),
        nn.Linear(width, n_classes),
    )
