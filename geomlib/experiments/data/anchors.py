"""Anchor images for lines and planes through input space (Methods: anchors; ours): drawn from the
held-out split, deterministic in ``(seed, classes)``, indices returned so chapters can save them."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch


def choose_anchors(labels, classes: Sequence[int], seed: int) -> torch.Tensor:
    """Indices (int64, ``[len(classes)]``) of one example per entry of ``classes`` in ``labels``.

    Deterministic in ``(seed, classes)`` (its own NumPy generator; the global RNGs are untouched);
    repeated classes (same-class planes) get distinct examples. Raises ``ValueError`` naming the
    class if it has too few examples.
    """
    y = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
    rng = np.random.default_rng([int(seed), *map(int, classes)])
    picked: dict[int, list[int]] = {}
    out = []
    for c in classes:
        pool = np.flatnonzero(y == c)
        need = list(classes).count(c)
        if len(pool) < need:
            raise ValueError(f"class {c} has {len(pool)} example(s), {need} needed")
        if c not in picked:
            picked[c] = rng.choice(pool, size=need, replace=False).tolist()
        out.append(picked[c].pop(0))
    return torch.tensor(out, dtype=torch.int64)
