"""Readout of the supervised networks for the plane and line scans of
:mod:`geomlib.experiments.imaging.measure`: the classifier's own softmax."""
from __future__ import annotations

from typing import Callable

import torch


def classifier_readout(model: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """Softmax of a supervised ResNet's linear readout ``fc`` (float64 copy), features -> probs."""
    fc = model.fc
    W, b = fc.weight.detach().double(), fc.bias.detach().double()

    def readout(feats: torch.Tensor) -> torch.Tensor:
        return torch.softmax(feats.double() @ W.to(feats.device).T + b.to(feats.device), -1)
    return readout


def readout(run, epoch: int, model: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """The readout of snapshot ``epoch`` of a supervised run: its classifier (``model`` is that snapshot)."""
    return classifier_readout(model)
