"""The seed study's 1-D ResNet: trunk, ``blocks`` residual blocks, head.

blocks=6 (the study) has 182,853 parameters, blocks=1 58,693, blocks=0 (trunk only) 33,861.
"""

from __future__ import annotations

from typing import Annotated

from annotated_types import Ge
from odebench_plugins.layers import head, norm, trunk
from torch import nn

import odebench


class ResBlock(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.norm1 = norm(width)
        self.conv1 = nn.Conv1d(width, width, 3, 1, 1, bias=False)
        self.norm2 = norm(width)
        self.conv2 = nn.Conv1d(width, width, 3, 1, 1, bias=False)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        out = self.conv1(self.relu(self.norm1(x)))
        out = self.conv2(self.relu(self.norm2(out)))
        return out + x


def build_resnet(
    shape: odebench.DatasetShape, *, blocks: Annotated[int, Ge(0)] = 6, width: Annotated[int, Ge(1)] = 64
) -> nn.Module:
    if blocks < 0 or width < 1:
        raise ValueError("blocks must be >= 0 and width >= 1")
    return nn.Sequential(
        trunk(shape.channels, width, shape.length),
        *[ResBlock(width) for _ in range(blocks)],
        head(width, shape.n_classes),
    )


@odebench.hookimpl
def register_models(register):
    register("resnet", build_resnet)
