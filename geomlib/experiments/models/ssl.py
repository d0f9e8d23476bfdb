"""Self-supervised heads, losses and training steps: Barlow Twins and SimCLR (Methods: self-supervised protocol, F7, F8).

The feature map studied is always the backbone's pooled features (Methods: feature maps), never the
projector or head output.

Losses (Methods: Barlow Twins, SimCLR), for two views' embeddings ``z1, z2`` of ``shape=[B, D]``:

* Barlow Twins (Zbontar et al. 2021): standardise each embedding dimension over the batch,
  ``z~ = (z - mean_b z) / std_b z`` (biased std, like BatchNorm1d without affine), cross-correlation
  ``c = z~1^T z~2 / B`` (``shape=[D, D]``), loss ``sum_i (1 - c_ii)^2 + lambda sum_{i != j} c_ij^2``
  with ``lambda = 0.005``.
* SimCLR NT-Xent (Chen et al. 2020): ``s`` the cosine similarity between the 2B embeddings,
  ``L = -(1/2B) sum_i log( exp(s(z_i, z_i+)/tau) / sum_{k != i} exp(s(z_i, z_k)/tau) )`` where ``i+``
  is the other view of the same image; ``tau = 0.07``.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..training.distributed import gather, global_mean

BARLOW_LAMBDA = 0.005
SIMCLR_TAU = 0.07


def _check_pair(z1: torch.Tensor, z2: torch.Tensor, min_batch: int) -> None:
    if z1.dim() != 2 or z1.shape != z2.shape:
        raise ValueError(f"expected two embeddings shape=[B, D] of equal shape, got {tuple(z1.shape)}, {tuple(z2.shape)}")
    if z1.shape[0] < min_batch:
        raise ValueError(f"batch of {z1.shape[0]} is too small: the loss needs B >= {min_batch}")


def barlow_twins_loss(z1: torch.Tensor, z2: torch.Tensor, lambd: float = BARLOW_LAMBDA,
                      eps: float = 1e-5) -> torch.Tensor:
    """Barlow Twins loss of two views' embeddings ``shape=[B, D]`` (B >= 2); a scalar.

    ``eps`` is added to the batch variance (as BatchNorm does) so a constant dimension gives a
    finite loss (its c_ii is 0: the loss then pushes it to vary) instead of NaN.
    """
    _check_pair(z1, z2, 2)
    z1 = z1.float() if z1.dtype in (torch.float16, torch.bfloat16) else z1
    z2 = z2.to(z1.dtype)
    B = z1.shape[0]

    def standardise(z):
        return (z - z.mean(0)) / torch.sqrt(z.var(0, unbiased=False) + eps)

    c = standardise(z1).T @ standardise(z2) / B
    on = (1 - torch.diagonal(c)).pow(2).sum()
    off = c.pow(2).sum() - torch.diagonal(c).pow(2).sum()
    return on + lambd * off


def nt_xent_loss(z1: torch.Tensor, z2: torch.Tensor, tau: float = SIMCLR_TAU) -> torch.Tensor:
    """SimCLR NT-Xent loss of two views' embeddings ``shape=[B, D]`` (B >= 1, 2B-1 >= 1 negatives
    incl. the positive); a scalar. ``z1[i]`` and ``z2[i]`` are the positive pair."""
    _check_pair(z1, z2, 1)
    if tau <= 0:
        raise ValueError(f"temperature tau must be positive, got {tau}")
    z1 = z1.float() if z1.dtype in (torch.float16, torch.bfloat16) else z1
    z = F.normalize(torch.cat([z1, z2.to(z1.dtype)]), dim=1)  # [2B, D]
    B = z1.shape[0]
    sim = z @ z.T / tau
    sim = sim.masked_fill(torch.eye(2 * B, dtype=torch.bool, device=z.device), float("-inf"))
    positive = torch.cat([torch.arange(B, 2 * B), torch.arange(0, B)]).to(z.device)
    return F.cross_entropy(sim, positive)


class BarlowTwins(nn.Module):
    """Backbone + linear projector ``Linear(n, proj_dim, bias=False)`` (Methods: Barlow Twins protocol, F7; proj_dim 256 [U])."""

    def __init__(self, backbone: nn.Module, proj_dim: int = 256):
        super().__init__()
        self.backbone = backbone
        self.projector = nn.Linear(backbone.feature_dim, proj_dim, bias=False)

    def features(self, x: torch.Tensor, stage: int | None = None) -> torch.Tensor:
        return self.backbone.features(x, stage=stage)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Projector output ``shape=[B, proj_dim]``."""
        return self.projector(self.backbone.features(x))


class SimCLR(nn.Module):
    """Backbone + head ``Linear(n, n) - GELU - Linear(n, out_dim)`` (Methods: SimCLR protocol, F8: the authors reuse the
    classifier head, so ``out_dim = 10``)."""

    def __init__(self, backbone: nn.Module, out_dim: int = 10):
        super().__init__()
        self.backbone = backbone
        n = backbone.feature_dim
        self.head = nn.Sequential(nn.Linear(n, n), nn.GELU(), nn.Linear(n, out_dim))

    def features(self, x: torch.Tensor, stage: int | None = None) -> torch.Tensor:
        return self.backbone.features(x, stage=stage)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Head output ``shape=[B, out_dim]``."""
        return self.head(self.backbone.features(x))


def _autocast(x: torch.Tensor, amp: bool):
    """bfloat16 autocast on the input's device when ``amp`` (no GradScaler needed with bfloat16).

    The recipes set ``amp`` only for the paper profile on CUDA; on CPU ``amp=True`` runs the same
    bfloat16 autocast (what the CPU tests of the paper path use)."""
    return torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp)


def _upcast(t: torch.Tensor) -> torch.Tensor:
    """float32 for half-precision outputs of autocast; float32/float64 kept as they are."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def supervised_step(amp: bool = False) -> Callable:
    """``step_fn(model, (x, y)) -> cross-entropy loss`` for geomlib.experiments.training.fit.

    Under DDP the mean runs over the global batch (:func:`~geomlib.experiments.training.distributed.global_mean`)."""
    def step(model, batch):
        x, y = batch
        with _autocast(x, amp):
            logits = model(x)
        return global_mean(F.cross_entropy(_upcast(logits), y, reduction="none"))
    return step


def barlow_step(lambd: float = BARLOW_LAMBDA, amp: bool = False) -> Callable:
    """``step_fn(model, (v1, v2)) -> Barlow Twins loss``; each view is its own forward pass, so BN
    normalises each branch separately (as in Zbontar et al.). Under DDP the embeddings of all
    ranks are gathered (with gradients), so the standardisation and the cross-correlation use the
    global batch, as in one process."""
    def step(model, batch):
        v1, v2 = batch
        with _autocast(v1, amp):
            z1, z2 = model(v1), model(v2)
        return barlow_twins_loss(gather(_upcast(z1)), gather(_upcast(z2)), lambd)
    return step


def simclr_step(tau: float = SIMCLR_TAU, amp: bool = False) -> Callable:
    """``step_fn(model, (v1, v2)) -> NT-Xent loss``; both views go through one forward pass. Under
    DDP the embeddings of all ranks are gathered (with gradients), so every image's negatives are
    the other 2B-2 images of the global batch, as in one process."""
    def step(model, batch):
        v1, v2 = batch
        with _autocast(v1, amp):
            z = model(torch.cat([v1, v2]))
        z1, z2 = _upcast(z).chunk(2)
        return nt_xent_loss(gather(z1), gather(z2), tau)
    return step
