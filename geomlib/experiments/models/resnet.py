"""CIFAR-style ResNets (He et al. 2016, CIFAR variant) whose feature maps we study.

Architecture (Methods: ResNet architecture, F6): 3x3 stem conv (stride 1, no max-pool) -> BN -> act, four stages of
BasicBlocks with channel counts ``64*width, 128*width, 256*width, 512*width`` and strides 1, 2, 2, 2,
then AvgPool(4) -> flatten. Depth 18 uses blocks [2, 2, 2, 2], depth 34 uses [3, 4, 6, 3]. The
activation is GELU (the paper's main model) or ReLU (control). Initialisation is PyTorch's default.

Feature maps (Methods: feature maps): the readout ``fc`` is never part of Phi.
``features(x)`` is the pooled final-stage output, ``n = 512*width`` numbers (512 at width 1).
``features(x, stage=s)`` for s in 1..4 is stage s's output average-pooled to the same number of
values: for 32x32 inputs the stage outputs are C_s x 32/2^(s-1) squared with C_s = 64*width*2^(s-1),
pooled with kernels (16, 8), (8, 8), (8, 4), (4, 4) to C_s x 2x4, 2x2, 1x2, 1x1 = 512*width values.

Everything is a pure function of the input in eval mode (BN uses its running statistics), so
``features`` works under torch.func transforms (vmap, jvp, jacrev). In train mode BN normalises with
batch statistics and updates buffers: use :func:`feature_map`, which insists on eval mode.
"""
from __future__ import annotations

import copy
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

DEPTHS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}
ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU}
# stage s -> avg-pool kernel that turns its 32/2^(s-1)-sized map into 512*width numbers (Methods: feature maps)
STAGE_POOL = {1: (16, 8), 2: (8, 8), 3: (8, 4), 4: (4, 4)}
INPUT_SIZE = 32


class BasicBlock(nn.Module):
    """Two 3x3 convs with BN; identity shortcut, or 1x1 conv + BN when the shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int, act: str):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.act1 = ACTIVATIONS[act]()
        self.act2 = ACTIVATIONS[act]()
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act2(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """CIFAR ResNet-18/34 with a width multiplier; inputs ``shape=[B, C, 32, 32]``.

    Args:
        depth: 18 or 34.
        width: channel multiplier; 1 gives the standard 64-128-256-512 net (512-d features),
            0.25 the narrow ``quick``-profile net (128-d). ``64*width`` must be a positive integer.
        act: ``"gelu"`` or ``"relu"``.
        num_classes: readout size (logits ``shape=[B, num_classes]``).
        in_channels: 3 (CIFAR-10, and the padded 3-channel substitutes of Methods: CIFAR-10 substitutes).
    """

    def __init__(self, depth: int = 34, width: float = 1.0, act: str = "gelu", num_classes: int = 10,
                 in_channels: int = 3):
        super().__init__()
        if depth not in DEPTHS:
            raise ValueError(f"depth must be one of {sorted(DEPTHS)}, got {depth!r}")
        if act not in ACTIVATIONS:
            raise ValueError(f"act must be one of {sorted(ACTIVATIONS)}, got {act!r}")
        base = 64 * width
        if base < 1 or abs(base - round(base)) > 1e-9:
            raise ValueError(f"64*width must be a positive integer, got width={width!r}")
        base = int(round(base))
        self.depth, self.width, self.act_name = depth, width, act
        self.channels = tuple(base * 2**i for i in range(4))
        self.feature_dim = 8 * base  # = 512 * width
        self.conv1 = nn.Conv2d(in_channels, base, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(base)
        self.act = ACTIVATIONS[act]()
        stages, c_in = [], base
        for i, (n_blocks, c_out) in enumerate(zip(DEPTHS[depth], self.channels)):
            blocks = []
            for b in range(n_blocks):
                blocks.append(BasicBlock(c_in, c_out, (1 if i == 0 else 2) if b == 0 else 1, act))
                c_in = c_out
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.ModuleList(stages)
        self.fc = nn.Linear(self.feature_dim, num_classes)

    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"expected images shape=[B, C, {INPUT_SIZE}, {INPUT_SIZE}], got {tuple(x.shape)}")

    def features(self, x: torch.Tensor, stage: int | None = None) -> torch.Tensor:
        """Feature map Phi(x), ``shape=[B, 512*width]``.

        ``stage=None`` (or 4): pooled final features (what the readout and the SSL heads see).
        ``stage in 1..3``: that stage's output, avg-pooled as in Methods: feature maps to ``512*width`` values.
        """
        self._check_input(x)
        if stage is not None and stage not in STAGE_POOL:
            raise ValueError(f"stage must be None or one of 1, 2, 3, 4, got {stage!r}")
        last = 4 if stage is None else stage
        h = self.act(self.bn1(self.conv1(x)))
        for s in range(last):
            h = self.stages[s](h)
        return F.avg_pool2d(h, STAGE_POOL[last]).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``shape=[B, num_classes]`` = fc(features(x))."""
        return self.fc(self.features(x))


def resnet18(width: float = 1.0, act: str = "gelu", num_classes: int = 10) -> CifarResNet:
    """CIFAR ResNet-18 (3x3 stem, no max-pool; He et al. 2016): inputs shape=[B, 3, 32, 32] -> logits
    shape=[B, num_classes]; ``width`` scales every stage's channels (64, 128, 256, 512)."""
    return CifarResNet(18, width, act, num_classes)


def resnet34(width: float = 1.0, act: str = "gelu", num_classes: int = 10) -> CifarResNet:
    """CIFAR ResNet-34 (stages of 3, 4, 6, 3 basic blocks), otherwise as :func:`resnet18`."""
    return CifarResNet(34, width, act, num_classes)


def _frozen_copy(model: nn.Module, dtype: torch.dtype | None) -> nn.Module:
    """Eval-mode deep copy with gradients off, cast to ``dtype`` (None keeps it): the caller's model is untouched."""
    net = copy.deepcopy(model).eval()
    if dtype is not None:
        net = net.to(dtype)
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def feature_map(model: nn.Module, stage: int | None = None, *,
                dtype: torch.dtype | None = torch.float64) -> Callable[[torch.Tensor], torch.Tensor]:
    """Batch feature map ``x[B, C, 32, 32] -> Phi[B, n]`` of a (copied) eval-mode ``model``,
    ready for geomlib.numeric (pure, torch.func-safe).

    ``model`` is any module with ``features(x, stage=...)`` (a :class:`CifarResNet`, or an SSL
    wrapper whose ``backbone`` is one). The model is deep-copied, put in eval mode and cast to
    ``dtype`` (float64 by default: Methods: precision and tolerances; ``None`` keeps the model's dtype), so
    the caller's model is untouched.
    """
    net = _frozen_copy(getattr(model, "backbone", model), dtype)

    def phi(x: torch.Tensor) -> torch.Tensor:
        return net.features(x, stage=stage)

    phi.module = net  # type: ignore[attr-defined]
    return phi


def logits_map(model: nn.Module, *, dtype: torch.dtype | None = torch.float64) -> Callable[[torch.Tensor], torch.Tensor]:
    """Eval-mode copy of a classifier as a batch map ``x -> logits`` (same conventions as feature_map)."""
    net = _frozen_copy(model, dtype)

    def f(x: torch.Tensor) -> torch.Tensor:
        return net(x)

    f.module = net  # type: ignore[attr-defined]
    return f
