"""The authors' curvature conventions, reproduced for comparison only (Methods: the authors' curvature).

Re-implemented from the formulas documented in Methods: the authors' curvature (not copied from their code):

- ``ricci_analytic`` (their 2-D shallow closed form): the m-form with prefactor -3 instead of -1,
  i.e. exactly ``3 R`` (:func:`authors_shallow_curvature_2d`);
- their autograd ``ricci``: derivative terms standard but Gamma-Gamma terms with flipped signs,
  ``R_bn = d_a G^a_bn - d_b G^a_an + G^l_an G^a_bl - G^l_bn G^a_al``, with a pseudo-inverse metric
  (:func:`authors_curvature`). It equals ``3 R`` on shallow nets and ``R`` on the sphere and the
  hyperbolic plane, but neither on deeper nets (deterministic deep tanh net of Methods: reference checks, C5:
  -20.3369684 instead of -3.5296179).

geomlib reports the standard R everywhere else; use these only to show the factor.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch

from ._inputs import as_points, probe_model
from .curvature import (_conditioning, _pullback_metric_autograd, _ricci_scalar, default_max_cond,
                        metric_derivatives, pullback_metric_fn)
from .shallow import shallow_curvature_2d


def authors_curvature(f: Callable, x, *, normalize: bool = True, chunk_size: int | None = None,
                      in_shape: Sequence[int] | None = None, max_cond: float | None = None,
                      on_singular: str = "raise") -> torch.Tensor:
    """The authors' autograd curvature pattern (flipped Gamma-Gamma signs, pinv) of the pullback
    metric of ``f``, shape=[N]. Shallow nets: ``3 R``; deeper nets: not a multiple of R.

    Arguments as :func:`geomlib.numeric.scalar_curvature`; nested autodiff (third derivatives).
    We still refuse ill-conditioned metrics (they silently pseudo-invert); the default ``max_cond``
    follows the working dtype as in :func:`geomlib.numeric.scalar_curvature`.
    """
    xb, single, in_shape = as_points(x, in_shape)
    wdt = probe_model(f, xb)[1]
    max_cond = default_max_cond(wdt) if max_cond is None else max_cond
    g, dg, ddg = metric_derivatives(pullback_metric_fn(f, in_shape, normalize=normalize),
                                    xb.reshape(xb.shape[0], -1), chunk_size,
                                    fallback=_pullback_metric_autograd(f, in_shape, normalize), owner=f)
    g = 0.5 * (g + g.transpose(-1, -2))
    good = _conditioning(g, max_cond, on_singular, "authors_curvature")
    R = torch.full((xb.shape[0],), math.nan, dtype=g.dtype, device=g.device)
    if bool(good.any()):
        R[good] = _ricci_scalar(g[good], dg[good], ddg[good], authors=True, pinv=True)
    return R[0] if single else R


def authors_curvature_from_metric(metric_fn: Callable, x, *, chunk_size: int | None = None) -> torch.Tensor:
    """The authors' autograd pattern applied to any metric function ``[N, d] -> [N, d, d]``, shape=[N]."""
    xb, single, _ = as_points(x)
    g, dg, ddg = metric_derivatives(metric_fn, xb, chunk_size)
    R = _ricci_scalar(0.5 * (g + g.transpose(-1, -2)), dg, ddg, authors=True, pinv=True)
    return R[0] if single else R


def authors_shallow_curvature_2d(W, b, x, activation, *, normalize: bool = True) -> torch.Tensor:
    """The authors' ``ricci_analytic``: the 2-D shallow m-form with prefactor -3, i.e. ``3 R``, shape=[N]."""
    return shallow_curvature_2d(W, b, x, activation, normalize=normalize, prefactor=-3.0)
