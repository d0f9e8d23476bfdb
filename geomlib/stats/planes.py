"""Statistics that turn "training magnifies areas near decision boundaries" into numbers on a slice
(Methods: statistics, ours): prediction entropy, the correlation of log-volume with entropy, and the
boundary contrast of log-volume.

All functions take torch tensors or NumPy arrays; grids are ``shape=[ny, nx]`` arrays over a
slice (e.g. ``Plane.to_grid(values)``), with an optional boolean ``mask`` of the same shape
(e.g. ``Plane.triangle_mask()``) selecting the points that count. Log-volumes are log10 values
(``log10 sqrt(det g)``, or the authors' effective top-k log10 volume). Points whose log-volume is
``-inf`` (singular metric, Methods: degenerate metrics) are left out with a warning that gives their number.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from scipy import ndimage
from scipy.stats import rankdata


def _np(a) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().double().numpy()
    return np.asarray(a, dtype=np.float64)


def prediction_entropy(probs, *, atol: float = 1e-6):
    """Entropy in log10 units, ``H = -sum_c p_c log10 p_c`` (0 log 0 = 0; Methods: prediction entropy).

    ``probs``: ``shape=[..., C]``, non-negative, rows summing to 1 (within ``atol``); returns
    ``shape=[...]`` in ``[0, log10 C]`` (``[0, 1]`` for 10 classes), as a tensor for tensor input
    (same dtype and device), else as a NumPy array. Use :func:`entropy_from_logits` for logits.
    """
    is_t = isinstance(probs, torch.Tensor)
    p = probs if is_t else torch.as_tensor(np.asarray(probs, dtype=np.float64))
    if p.ndim == 0 or p.shape[-1] < 2:
        raise ValueError(f"probs must have shape [..., C] with C >= 2 classes, got {tuple(p.shape)}")
    if not torch.isfinite(p).all() or (p < -atol).any():
        raise ValueError("probs must be finite and non-negative (pass logits to entropy_from_logits)")
    s = p.sum(-1)
    if (s - 1).abs().max() > atol:
        raise ValueError(f"probability rows must sum to 1 (max deviation {(s - 1).abs().max().item():.2e}); "
                         "pass logits to entropy_from_logits")
    p = p.clamp_min(0)
    h = -torch.where(p > 0, p * torch.log10(torch.where(p > 0, p, torch.ones_like(p))), torch.zeros_like(p)).sum(-1)
    h = h.clamp_min(0)  # rounding can give -1e-17 for one-hot rows
    return h if is_t else h.numpy()


def entropy_from_logits(logits):
    """:func:`prediction_entropy` of ``softmax(logits)``, computed stably from ``log_softmax``.

    ``logits``: ``shape=[..., C]``; returns ``shape=[...]`` in log10 units.
    """
    is_t = isinstance(logits, torch.Tensor)
    z = logits if is_t else torch.as_tensor(np.asarray(logits, dtype=np.float64))
    if not torch.isfinite(z).all():
        raise ValueError("logits must be finite")
    logp = torch.log_softmax(z, dim=-1)
    h = (-(logp.exp() * logp).sum(-1) / math.log(10)).clamp_min(0)
    return h if is_t else h.numpy()


def _finite_selection(logvol: np.ndarray, mask, what: str) -> np.ndarray:
    """Boolean selection: inside ``mask`` and with finite log-volume (warns about -inf points)."""
    sel = np.ones(logvol.shape, dtype=bool) if mask is None else _np(mask).astype(bool)
    if sel.shape != logvol.shape:
        raise ValueError(f"mask shape {sel.shape} does not match {what} shape {logvol.shape}")
    if np.isnan(logvol[sel]).any():
        raise ValueError(f"{what} contains NaN inside the mask")
    bad = sel & ~np.isfinite(logvol)
    if bad.any():
        warnings.warn(f"{int(bad.sum())} of {int(sel.sum())} points have infinite log-volume (singular metric) "
                      "and are left out", RuntimeWarning, stacklevel=3)
    return sel & np.isfinite(logvol)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    den = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
    return float((a * b).sum()) / den if den > 0 else math.nan


def volume_entropy_correlation(logvol, entropy, mask=None) -> dict:
    """Pearson and Spearman correlation of log10 volume with prediction entropy over a slice.

    ``logvol``, ``entropy``: same shape (flat ``[N]`` or a grid); ``mask`` (same shape, bool)
    selects the points (e.g. the anchor triangle). Returns ``dict(pearson, spearman, n)``;
    Spearman is the Pearson correlation of average ranks (ties averaged). With fewer than 3
    points, or a constant input, the correlation is undefined: NaN with a warning.
    """
    lv, h = _np(logvol), _np(entropy)
    if lv.shape != h.shape:
        raise ValueError(f"logvol shape {lv.shape} and entropy shape {h.shape} differ")
    if not np.isfinite(h).all():
        raise ValueError("entropy must be finite")
    sel = _finite_selection(lv, mask, "logvol")
    x, y = lv[sel], h[sel]
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        warnings.warn(f"correlation undefined on {x.size} point(s) with a constant input: returning NaN",
                      RuntimeWarning, stacklevel=2)
        return {"pearson": math.nan, "spearman": math.nan, "n": int(x.size)}
    return {"pearson": _pearson(x, y), "spearman": _pearson(rankdata(x), rankdata(y)), "n": int(x.size)}


def boundary_mask(pred_grid):
    """Cells whose predicted class differs from at least one of their 4 neighbours.

    ``pred_grid``: integer classes, ``shape=[ny, nx]``; returns bool ``shape=[ny, nx]`` (NumPy).
    """
    p = _np(pred_grid) if not isinstance(pred_grid, np.ndarray) else pred_grid
    if p.ndim != 2:
        raise ValueError(f"pred_grid must be a 2-D grid [ny, nx], got shape {p.shape}")
    b = np.zeros(p.shape, dtype=bool)
    dx, dy = p[:, 1:] != p[:, :-1], p[1:, :] != p[:-1, :]
    b[:, 1:] |= dx
    b[:, :-1] |= dx
    b[1:, :] |= dy
    b[:-1, :] |= dy
    return b


def boundary_contrast(logvol_grid, pred_grid, mask=None, *, near: float = 0.0, far: float | None = None) -> float:
    """Mean log10 volume next to a predicted-class change minus the mean elsewhere (Methods: boundary contrast).

    ``logvol_grid``: ``shape=[ny, nx]`` log10 volumes; ``pred_grid``: predicted classes, same
    shape; ``mask`` (bool, same shape) restricts both means (the class change itself may lie just
    outside the mask). "Next to a class change" = the cells of :func:`boundary_mask` plus those
    within ``near`` cells of them (Euclidean grid distance); "elsewhere" = cells farther than
    ``far`` cells (default: every other cell). The 2-D Δ (Methods: the 2-D boundary contrast) uses ``near``/``far`` of 0.06/0.3 in
    chart units divided by the grid step. Positive: magnified along boundaries. With no class
    change, or no cell on one side: NaN with a warning.
    """
    lv = _np(logvol_grid)
    pred = _np(pred_grid)
    if lv.shape != pred.shape or lv.ndim != 2:
        raise ValueError(f"logvol_grid {lv.shape} and pred_grid {pred.shape} must be the same 2-D grid shape")
    if far is not None and far < near:
        raise ValueError(f"far ({far}) must be >= near ({near})")
    sel = _finite_selection(lv, mask, "logvol_grid")
    b = boundary_mask(pred)
    if not b.any():
        warnings.warn("no predicted-class change on this grid: boundary contrast undefined (NaN)",
                      RuntimeWarning, stacklevel=2)
        return math.nan
    dist = ndimage.distance_transform_edt(~b)  # grid-cell distance to the nearest boundary cell
    near_sel = sel & (dist <= near)
    far_sel = sel & (dist > (near if far is None else far))
    if not near_sel.any() or not far_sel.any():
        warnings.warn(f"boundary contrast undefined: {int(near_sel.sum())} cells near a class change and "
                      f"{int(far_sel.sum())} elsewhere inside the mask (NaN)", RuntimeWarning, stacklevel=2)
        return math.nan
    return float(lv[near_sel].mean() - lv[far_sel].mean())
