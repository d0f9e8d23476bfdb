"""Settings shared by the deep chapters (40-42): the recipe of one image training run, the network
of each profile, and the per-profile grids of the plane and line scans with the authors' class
triples.

Each method's optimiser, batch, epochs and snapshots per profile are in its figure group:
:mod:`geomlib.experiments.deep.settings` (supervised) and :mod:`geomlib.experiments.ssl.settings`
(Barlow Twins, SimCLR); both build their recipes with :func:`make_recipe`.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from ...book.profiles import PROFILES, ConfigError

METHODS = ("supervised", "barlow", "simclr")

# network per profile: the authors' ResNet-34 for ``paper``; ResNet-18 at a width multiplier otherwise
NETS = {"paper": dict(depth=34, width=1.0), "quick": dict(depth=18, width=0.125),
        "tiny": dict(depth=18, width=0.0625)}

# Methods: ResNet protocol (scans): the authors' class triples (x1, x2, x3) of the planes, and the classes of the line
TRIPLES = ((5, 6, 1), (5, 6, 7), (7, 6, 1))
LINE_CLASSES = (7, 6)


@dataclass(frozen=True)
class DeepRecipe:
    """Everything that defines one training run (hashed into its checkpoint name)."""

    method: str
    profile: str
    depth: int
    width: float
    act: str
    n_train: int | None  # None: the whole training set
    n_test: int | None   # held-out images used for accuracy and the probe's test score
    epochs: int
    batch_size: int
    snapshot_epochs: tuple
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    drop_last: bool = False
    amp: bool = False       # bfloat16 autocast for training on CUDA (geometry stays float32/64)
    num_workers: int = 0    # DataLoader workers for the per-image augmentations
    proj_dim: int = 256     # Barlow projector output [U]
    out_dim: int = 10       # SimCLR head output (the authors reuse the 10-way classifier)
    seed: int = 401

    def describe(self) -> str:
        data = "all" if self.n_train is None else f"{self.n_train}"
        return (f"{self.method}: ResNet-{self.depth} x{self.width:g} {self.act.upper()} "
                f"({int(512 * self.width)}-d features), {data} training images, {self.epochs} epochs, "
                f"batch {self.batch_size}, SGD lr {self.lr} mom {self.momentum} wd {self.weight_decay}, seed {self.seed}")


def make_recipe(method: str, profile: str, per_profile: dict, *, act: str = "gelu", seed: int = 401,
                device: torch.device | str = "cpu", **overrides) -> DeepRecipe:
    """The recipe of ``method`` under ``profile``: the network of :data:`NETS`, the method's settings
    ``per_profile[profile]`` (a dict of :class:`DeepRecipe` fields), bfloat16 autocast and 8
    DataLoader workers for ``paper`` on CUDA; ``overrides`` replace single fields."""
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}: choose one of {', '.join(METHODS)}")
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}")
    cuda = torch.device(device).type == "cuda"
    base = dict(n_train=None, n_test=None) if profile == "paper" else {}
    kw = dict(method=method, profile=profile, act=act, seed=seed, **NETS[profile], **base, **per_profile[profile],
              amp=profile == "paper" and cuda, num_workers=8 if (profile == "paper" and cuda) else 0)
    r = DeepRecipe(**kw)
    return replace(r, **overrides) if overrides else r


@dataclass(frozen=True)
class ScanConfig:
    """Grid sizes of one profile: ``n`` (plane, induced area), ``n_eff`` (plane, authors'
    effective volume, full Jacobians), ``line_steps``, ``draws`` (anchor draws per class triple,
    for the spread), geometry ``dtype``."""

    n: int
    n_eff: int
    line_steps: int
    draws: int
    dtype: str
    n_triples: int = 3  # how many of TRIPLES (and of the same-class controls, at most 2) to scan
    eff_all: bool = True  # effective volume on every plane (else only on the figure's full scans)

    @property
    def triples(self) -> tuple:
        return TRIPLES[: self.n_triples]

    @property
    def torch_dtype(self) -> torch.dtype:
        return getattr(torch, self.dtype)


def scan_config(profile: str, device: torch.device | str = "cpu") -> ScanConfig:
    """tiny: 5x5 / 3x3 planes, one class triple; quick: 16x16 / 6x6 (effective volume on the
    figure's plane only), two class triples; paper: the authors' 80x80 induced-area planes,
    effective volume on 40x40 (full 512-row Jacobians: 4x cheaper than 80x80), 5 anchor draws.
    Geometry in float64, except float32 for the paper profile on a GPU (stated on the pages)."""
    gpu = torch.device(device).type == "cuda"
    table = {"tiny": ScanConfig(5, 3, 6, 1, "float64", n_triples=1, eff_all=False),
             "quick": ScanConfig(16, 6, 16, 1, "float64", n_triples=2, eff_all=False),
             "paper": ScanConfig(80, 40, 64, 5, "float32" if gpu else "float64")}
    return table[profile]
