"""Deterministic minibatching for :func:`geomlib.experiments.training.fit`.

:func:`minibatches` returns the ``batches(epoch)`` callable that ``fit`` wants: the shuffle of
epoch ``e`` depends only on ``(seed, e)`` (through :func:`epoch_seed`), so a resumed run sees the
same batches.
"""
from __future__ import annotations

import math

import torch


def epoch_seed(seed: int, epoch: int) -> int:
    """A 63-bit seed that depends only on ``(seed, epoch)`` (splitmix64-style mixing)."""
    z = (int(seed) * 0x9E3779B97F4A7C15 + int(epoch) * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) % 2**64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % 2**64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % 2**64
    return (z ^ (z >> 31)) >> 1


def minibatches(x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int, *,
                shuffle: bool = True, drop_last: bool = True):
    """Return ``batches(epoch) -> list[(x_b, y_b)]``, deterministic in ``(seed, epoch)``.

    With ``drop_last`` (the authors' setting for the sinusoid: 400 points, batch 50, 8 steps per
    epoch) an incomplete last batch is dropped. ``batch_size >= len(x)`` gives full-batch steps.
    """
    n = len(x)
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    bs = min(batch_size, n)
    n_batches = n // bs if drop_last else math.ceil(n / bs)
    if n_batches == 0:
        raise ValueError(f"no full batch of {batch_size} in {n} points with drop_last=True")

    def batches(epoch: int):
        if shuffle and bs < n:  # a full batch needs no shuffle
            gen = torch.Generator().manual_seed(epoch_seed(seed, epoch))
            order = torch.randperm(n, generator=gen).to(x.device)
            xs, ys = x[order], y[order]
        else:
            xs, ys = x, y
        return [(xs[i * bs:(i + 1) * bs], ys[i * bs:(i + 1) * bs]) for i in range(n_batches)]

    batches.steps_per_epoch = n_batches
    return batches
