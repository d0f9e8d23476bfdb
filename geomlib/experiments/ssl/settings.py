"""Settings of the self-supervised experiments (Barlow Twins, SimCLR) per profile (``paper``: the
authors' settings).

| method | profile | network | training images | epochs | batch (drop_last) | snapshots |
|---|---|---|---|---|---|---|
| ``barlow`` | ``paper`` | ResNet-34 + Linear(512, 256) | all | 1000 | 1024 | 0, 50, 200, 500, 1000 |
| ``simclr`` | ``paper`` | ResNet-34 + 512-512-10 head | all | 1000 | 512 | 0, 50, 200, 1000 |
| both | ``quick`` | ResNet-18 x1/8 | 2000 (1000 held out) | 6 | 128 | 0, 6 |
| both | ``tiny`` | ResNet-18 x1/16 | 128 (128 held out) | 1 | 64 | 0, 1 |

SGD lr 0.01, momentum 0.9, weight decay 1e-4 in every profile; snapshot 0 is the true
initialisation. Scan grids and class triples: :mod:`geomlib.experiments.imaging.settings`.
"""
from __future__ import annotations

import torch

from ...book.profiles import ConfigError
from ..imaging.settings import DeepRecipe, make_recipe

METHODS = ("barlow", "simclr")
BARLOW = {
    "paper": dict(epochs=1000, batch_size=1024, snapshot_epochs=(50, 200, 500, 1000), drop_last=True),
    "quick": dict(n_train=2000, n_test=1000, epochs=6, batch_size=128, snapshot_epochs=(6,), drop_last=True),
    "tiny": dict(n_train=128, n_test=128, epochs=1, batch_size=64, snapshot_epochs=(1,), drop_last=True),
}
SIMCLR = {
    "paper": dict(epochs=1000, batch_size=512, snapshot_epochs=(50, 200, 1000), drop_last=True),
    "quick": dict(n_train=2000, n_test=1000, epochs=6, batch_size=128, snapshot_epochs=(6,), drop_last=True),
    "tiny": dict(n_train=128, n_test=128, epochs=1, batch_size=64, snapshot_epochs=(1,), drop_last=True),
}


def ssl_recipe(method: str, profile: str, *, act: str = "gelu", seed: int = 401,
               device: torch.device | str = "cpu", **overrides) -> DeepRecipe:
    """The recipe of ``method`` (``barlow`` or ``simclr``) under ``profile`` (``overrides``
    replace single fields)."""
    if method not in METHODS:
        raise ConfigError(f"unknown self-supervised method {method!r}: choose one of {', '.join(METHODS)}")
    table = BARLOW if method == "barlow" else SIMCLR
    return make_recipe(method, profile, table, act=act, seed=seed, device=device, **overrides)
