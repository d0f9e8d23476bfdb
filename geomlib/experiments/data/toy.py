"""Two-dimensional training sets (Methods: 2-D protocols, F1, F2).

* XOR: the four corners ``(±1, ±1)``, labels ``0, 1, 1, 0`` (class 1 where the signs differ).
* Sinusoid: ``n`` points uniform on ``[-1, 1]^2``, label ``1[x2 > 0.6 sin(7 x1 - 1)]``; the points
  are drawn from a generator seeded by the run seed (the authors' draw is tied to their global
  torch seed; ours is reproducible on its own) [U].
"""
from __future__ import annotations

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
