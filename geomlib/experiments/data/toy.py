"""Two-dimensional training sets (SPEC §4.1 F1, F2) and deterministic minibatching.

* XOR: the four corners ``(±1, ±1)``, labels ``0, 1, 1, 0`` (class 1 where the signs differ).
* Sinusoid: ``n`` points uniform on ``[-1, 1]^2``, label ``1[x2 > 0.6 sin(7 x1 - 1)]``; the points
  are drawn from a generator seeded by the run seed (the authors' draw is tied to their global
  torch seed; ours is reproducible on its own) [U].

:func:`minibatches` returns the ``batches(epoch)`` callable that :func:`geomlib.train.fit` wants:
the shuffle of epoch ``e`` depends only on ``(seed, e)``, so a resumed run sees the same batches.
"""
from __future__ import annotations

import math

import torch

SINUSOID_AMPLITUDE, SINUSOID_FREQUENCY, SINUSOID_PHASE = 0.6, 7.0, -1.0


def xor_data(*, dtype=None, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The XOR set: ``x`` shape ``[4, 2]``, labels ``y`` int64 shape ``[4]`` = (0, 1, 1, 0)."""
    x = torch.tensor([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]], dtype=dtype, device=device)
    y = torch.tensor([0, 1, 1, 0], dtype=torch.int64, device=device)
    return x, y


def sinusoid_boundary(x1):
    """The true boundary ``x2 = 0.6 sin(7 x1 - 1)`` (works on floats, NumPy arrays and tensors)."""
    sin = torch.sin if isinstance(x1, torch.Tensor) else __import__("numpy").sin
    return SINUSOID_AMPLITUDE * sin(SINUSOID_FREQUENCY * x1 + SINUSOID_PHASE)


def sinusoid_labels(x: torch.Tensor) -> torch.Tensor:
    """Labels ``1[x2 > 0.6 sin(7 x1 - 1)]`` of points ``x [N, 2]`` (int64 ``[N]``)."""
    return (x[..., 1] > sinusoid_boundary(x[..., 0])).to(torch.int64)


def sinusoid_data(n: int = 400, seed: int = 401, *, dtype=None, device=None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points uniform on ``[-1, 1]^2`` (``[n, 2]``) and their sinusoid labels (``[n]``).

    Deterministic in ``seed`` (its own ``torch.Generator`` on CPU; the global RNG is untouched).
    """
    if n < 1:
        raise ValueError(f"n must be positive, got {n}")
    gen = torch.Generator().manual_seed(int(seed))
    x = 2.0 * torch.rand(n, 2, generator=gen, dtype=dtype or torch.get_default_dtype()) - 1.0
    x = x.to(device)
    return x, sinusoid_labels(x)


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
