"""The 2-D magnification statistic Delta: does the volume element peak along the decision boundary?

Methods: the 2-D boundary contrast (ours). On a grid over input space with predicted classes ``pred`` and log10 volume
elements ``v = log10 sqrt(det g)``:

* restrict everything to the window ``[-1, 1]^2`` (where the training data live);
* ``B`` = window grid points whose predicted class differs from one of their 4 neighbours (inside
  the window), so ``B`` is a band two points thick straddling the empirical boundary;
* ``dist_B(x)`` = Euclidean distance (input units) from grid point ``x`` to the nearest point of
  ``B`` (0 on ``B``), computed exactly with :func:`scipy.ndimage.distance_transform_edt`;
* ``Delta = mean v over {dist_B < 0.06} - mean v over {dist_B > 0.3}``.

``Delta > 0``: areas near the boundary are magnified relative to areas far from it (by a factor
``10**Delta`` on average, in log terms). The grid should be finer than the ``near`` radius (the
book uses 81 x 81 points on the window: spacing 0.025), otherwise the near set is ``B`` alone.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np
import torch
from scipy import ndimage

from .planes import boundary_mask

NEAR, FAR, WINDOW = 0.06, 0.3, (-1.0, 1.0)


def _np(a) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy()
    return np.asarray(a)


def _spacing(coords: np.ndarray, name: str) -> float:
    if coords.ndim != 1 or coords.size < 2:
        raise ValueError(f"{name} must be a 1-D array of at least 2 grid coordinates, got shape {coords.shape}")
    steps = np.diff(coords)
    h = float(steps.mean())
    if h <= 0 or np.abs(steps - h).max() > 1e-9 * max(1.0, abs(h)):
        raise ValueError(f"{name} must be increasing and evenly spaced")
    return h


def boundary_distance(pred, xs, ys) -> np.ndarray:
    """Distance (input units) from each grid point to the nearest point of ``B``.

    ``pred``: predicted classes ``shape=[ny, nx]`` (rows follow ``ys``, columns ``xs``);
    ``xs``: ``shape=[nx]``, ``ys``: ``shape=[ny]``, evenly spaced. ``B`` = points whose class
    differs from a 4-neighbour. Returns ``shape=[ny, nx]``; all ``inf`` when there is no class change.
    """
    p = _np(pred)
    xs, ys = _np(xs).astype(np.float64), _np(ys).astype(np.float64)
    if p.shape != (ys.size, xs.size):
        raise ValueError(f"pred shape {p.shape} must be [len(ys), len(xs)] = {(ys.size, xs.size)}")
    hx, hy = _spacing(xs, "xs"), _spacing(ys, "ys")
    b = boundary_mask(p)
    if not b.any():
        return np.full(p.shape, np.inf)
    return ndimage.distance_transform_edt(~b, sampling=(hy, hx))


@dataclass
class BoundaryContrast:
    """Result of :func:`boundary_contrast_2d` (means of log10 volume; counts of grid points)."""

    delta: float
    near_mean: float
    far_mean: float
    n_near: int
    n_far: int
    n_boundary: int
    n_window: int
    near: float = NEAR
    far: float = FAR

    def as_dict(self) -> dict:
        return asdict(self)


def boundary_contrast_2d(log10_vol, pred, xs, ys, *, near: float = NEAR, far: float = FAR,
                         window: tuple[float, float] = WINDOW) -> BoundaryContrast:
    """Delta (Methods: the 2-D boundary contrast) on a grid (see the module docstring).

    ``log10_vol``, ``pred``: ``shape=[ny, nx]`` over the grid ``xs`` (``[nx]``) x ``ys`` (``[ny]``),
    rows following ``ys`` (the layout of :class:`geomlib.numeric.Grid2D`). ``window``: the square
    ``[lo, hi]^2`` the statistic is restricted to. Non-finite log-volumes inside the window raise
    (a singular metric has no log-volume to average). With no class change in the window, or an
    empty near or far set, ``delta`` is NaN and a ``RuntimeWarning`` says why.
    """
    v, p = _np(log10_vol).astype(np.float64), _np(pred)
    xs, ys = _np(xs).astype(np.float64), _np(ys).astype(np.float64)
    if v.shape != p.shape:
        raise ValueError(f"log10_vol shape {v.shape} and pred shape {p.shape} differ")
    if not 0 <= near <= far:
        raise ValueError(f"need 0 <= near <= far, got near={near}, far={far}")
    lo, hi = window
    tol = 1e-9
    cx = (xs >= lo - tol) & (xs <= hi + tol)
    cy = (ys >= lo - tol) & (ys <= hi + tol)
    if cx.sum() < 2 or cy.sum() < 2:
        raise ValueError(f"fewer than 2 x 2 grid points inside the window {window}")
    vw, pw = v[np.ix_(cy, cx)], p[np.ix_(cy, cx)]
    if not np.isfinite(vw).all():
        raise ValueError(f"{int((~np.isfinite(vw)).sum())} log-volumes in the window are not finite "
                         "(singular metric or NaN): Delta is undefined there")
    dist = boundary_distance(pw, xs[cx], ys[cy])
    near_sel, far_sel = dist < near, dist > far
    n_b = int((dist == 0).sum()) if np.isfinite(dist).any() else 0
    res = dict(n_near=int(near_sel.sum()), n_far=int(far_sel.sum()), n_boundary=n_b,
               n_window=int(vw.size), near=near, far=far)
    if n_b == 0 or res["n_near"] == 0 or res["n_far"] == 0:
        why = ("no predicted-class change inside the window" if n_b == 0 else
               f"{res['n_near']} points nearer than {near} and {res['n_far']} farther than {far}")
        warnings.warn(f"boundary contrast undefined: {why} (Delta = NaN)", RuntimeWarning, stacklevel=2)
        return BoundaryContrast(math.nan, math.nan, math.nan, **res)
    near_mean, far_mean = float(vw[near_sel].mean()), float(vw[far_sel].mean())
    return BoundaryContrast(near_mean - far_mean, near_mean, far_mean, **res)
