"""Readout of the self-supervised encoders for the plane and line scans of
:mod:`geomlib.experiments.imaging.measure`: a linear probe (standardised logistic regression) on
the backbone's features of each snapshot, cached."""
from __future__ import annotations

from typing import Callable

import torch

from ...cache import cached
from ..imaging.measure import run_params
from ..imaging.run import DeepRun


def probe(run: DeepRun, epoch: int):
    """Cached linear probe (standardised logistic regression) of snapshot ``epoch``."""
    return cached("deep_probe", {**run_params(run), "epoch": epoch}, lambda: run.probe_at(epoch), verbose=False)


def probe_readout(probe) -> Callable[[torch.Tensor], torch.Tensor]:
    """The linear probe's class probabilities, features -> probs (float64, on the input's device)."""
    def readout(feats: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(probe.predict_proba(feats), dtype=torch.float64, device=feats.device)
    return readout


def readout(run: DeepRun, epoch: int, model: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """The readout of snapshot ``epoch`` of a self-supervised run: its cached linear probe."""
    return probe_readout(probe(run, epoch))
