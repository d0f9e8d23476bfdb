"""Settings of the deep supervised experiment per profile (``paper``: the authors' settings).

| profile | network | training images | epochs | batch | snapshots |
|---|---|---|---|---|---|
| ``paper`` | ResNet-34 | all | 200 | 1024 | 0, 50, 200 |
| ``quick`` | ResNet-18 x1/8 | 3000 (1000 held out) | 6 | 128 | 0, 1, 6 |
| ``tiny`` | ResNet-18 x1/16 | 256 (256 held out) | 2 | 64 | 0, 2 |

SGD lr 0.01, momentum 0.9, weight decay 1e-4 in every profile; snapshot 0 is the true
initialisation. Scan grids and class triples: :mod:`geomlib.experiments.imaging.settings`.
"""
from __future__ import annotations

import torch

from ..imaging.settings import DeepRecipe, ScanConfig, make_recipe

SUPERVISED = {
    "paper": dict(epochs=200, batch_size=1024, snapshot_epochs=(50, 200), drop_last=False),
    "quick": dict(n_train=3000, n_test=1000, epochs=6, batch_size=128, snapshot_epochs=(1, 6)),
    "tiny": dict(n_train=256, n_test=256, epochs=2, batch_size=64, snapshot_epochs=(2,)),
}
ACTIVATIONS = ("gelu", "relu")  # the network studied and its control (a finite ReLU net's metric is piecewise constant)

# the authors' same-class control planes (three images of one class)
SAME_CLASS = ((0, 0, 0), (6, 6, 6))


def supervised_recipe(profile: str, *, act: str = "gelu", seed: int = 401, device: torch.device | str = "cpu",
                      **overrides) -> DeepRecipe:
    """The supervised run's recipe under ``profile`` (``overrides`` replace single fields)."""
    return make_recipe("supervised", profile, SUPERVISED, act=act, seed=seed, device=device, **overrides)


def same_class(cfg: ScanConfig) -> tuple:
    """The same-class control triples scanned under ``cfg`` (as many as its class triples, at most 2)."""
    return SAME_CLASS[: min(2, cfg.n_triples)]
