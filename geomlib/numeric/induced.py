"""Metric induced on a slice of input space: ``G = V^T g V = (J~ V)^T (J~ V)`` (SPEC §2.3, §4.3).

V holds k tangent directions (a plane: k = 2, ``[e_r, e_u]``; a line: k = 1, ``x_b - x_a``).
``sqrt(det G)`` is the area (length) element per unit chart area ``da db`` (per unit t): the
affine chart is not orthonormal, divide by ``sqrt(det V^T V)`` (``Plane.chart_area_factor``)
for the Euclidean-area magnification. G only needs k Jacobian-vector products per point, never
the full Jacobian: for image inputs this is ~ (1 + k) forward passes instead of d (or n) passes.

Routes (``mode``):
- ``"closed"``: Linear/activation ``nn.Sequential``: cached activation derivatives, shared
  first-layer tangents ``W v`` computed once per plane (cheaper than one forward pass);
- ``"stacked"``: any model built from the ops of :mod:`geomlib.numeric.stacked` (conv, linear,
  eval BatchNorm, pooling, common activations, residual adds): primal and k tangents stacked
  into one batch of (1 + k) B samples, one forward pass (~1 + k forward-pass equivalents);
- ``"jvp"``: generic ``torch.func.jvp`` vmapped over the k tangents (any torch.func-compatible f).
``"auto"``: ``"closed"`` if it applies, else ``"stacked"``, falling back to ``"jvp"`` if the
model uses an op the stacked engine does not support.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch.func import jvp, vmap

from ._inputs import as_points, auto_chunk, check_eval_mode, output_dim
from .jacobian import closed_form_supported
from .linops import SequentialJacobian
from .stacked import UnsupportedOp, stacked_jvp
from .metric import _warn_singular, logdet_and_rank

MODES = ("auto", "closed", "stacked", "jvp")


def _check_directions(V, xb: torch.Tensor, in_shape: tuple, single: bool) -> tuple[torch.Tensor, bool]:
    """Return ``(V, shared)``: V shape=[k, *in_shape] (shared) or [k, N, *in_shape] (per point)."""
    if not isinstance(V, torch.Tensor):
        V = torch.as_tensor(V, dtype=xb.dtype, device=xb.device)
    if not V.is_floating_point():
        raise TypeError(f"V has dtype {V.dtype}: pass a floating tensor")
    r = len(in_shape)
    N = xb.shape[0]
    if V.ndim == r + 1 and tuple(V.shape[1:]) == in_shape:
        shared = True
    elif V.ndim == r + 2 and tuple(V.shape[2:]) == in_shape and V.shape[0] == N:
        V, shared = V.transpose(0, 1), False
    elif single and V.ndim == r and tuple(V.shape) == in_shape:
        V, shared = V.unsqueeze(0), True
    else:
        raise ValueError(
            f"V has shape {tuple(V.shape)}: expected [k, *{list(in_shape)}] (directions shared by all points)"
            f" or [N={N}, k, *{list(in_shape)}]")
    if V.shape[0] == 0:
        raise ValueError("V holds no directions (k = 0)")
    if not torch.isfinite(V).all():
        raise ValueError("V has non-finite entries")
    V = V.to(dtype=xb.dtype, device=xb.device)
    flat = V.reshape(V.shape[0], -1) if shared else V.reshape(V.shape[0] * V.shape[1], -1)
    if (flat.norm(dim=-1) == 0).any():
        raise ValueError("V has a zero direction: the induced metric would be singular")
    return V, shared


def _chunk_gram(f, xc, Vc, shared, route, normalize):
    """Induced metric at the chunk, shape=[B, k, k]."""
    if route == "closed":
        op = SequentialJacobian(f, xc, normalize)
        if shared:
            return op.induced_gram_shared(Vc)
        T = op.jvp(Vc)
    else:
        T = _tangent_outputs(f, xc, Vc, shared, route, normalize)
    return gram_of_tangents(T)


def gram_of_tangents(T: torch.Tensor) -> torch.Tensor:
    """``G[b, a, c] = T[a, b] . T[c, b]`` for T shape=[k, B, n] -> [B, k, k] (row dot products for
    small k: no transposed copies of T)."""
    k = T.shape[0]
    if k > 4:
        return torch.einsum("abj,cbj->bac", T, T)
    G = T.new_empty(T.shape[1], k, k)
    for a in range(k):
        for c in range(a, k):
            G[:, a, c] = torch.linalg.vecdot(T[a], T[c])
            G[:, c, a] = G[:, a, c]
    return G


def _tangent_outputs(f, xc, Vc, shared, route, normalize):
    """Tangent outputs ``J~ v_a`` at the chunk: shape=[k, B, n]."""
    if route == "stacked":
        T = stacked_jvp(f, xc, Vc, shared=shared)[1]
        T = T.reshape(T.shape[0], T.shape[1], -1)
        return T / math.sqrt(T.shape[-1]) if normalize else T

    def push(v):
        t = v.expand_as(xc) if shared else v
        y = jvp(f, (xc,), (t,))[1]
        return y.reshape(y.shape[0], -1)

    with torch.no_grad():  # forward-mode AD only: keep autograd from recording the pass
        T = vmap(push)(Vc)
    if normalize:
        T = T / math.sqrt(T.shape[-1])
    return T


def induced_metric(f: Callable, x, V, *, normalize: bool = True, chunk_size: int | None = None,
                   mode: str = "auto", in_shape: Sequence[int] | None = None) -> torch.Tensor:
    """Induced metric ``G_ab = (J~ v_a) . (J~ v_b)`` at each point, shape=[N, k, k] (or [k, k]).

    ``f``: ``[B, *in_shape] -> [B, n]`` (eval mode). ``x``: shape=[*in_shape] or [N, *in_shape].
    ``V``: k directions, shape=[k, *in_shape] (shared by all points, e.g. ``Plane.directions``,
    ``Line.direction``) or [N, k, *in_shape]. Cost: k JVPs per point (see module docstring).
    ``normalize``: divide by the width n (``J~ = J / sqrt(n)``), as :func:`pullback_metric`.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}: choose one of {', '.join(MODES)}")
    xb, single, in_shape = as_points(x, in_shape)
    V, shared = _check_directions(V, xb, in_shape, single)
    check_eval_mode(f)
    closed = closed_form_supported(f)
    if mode == "closed" and not closed:
        raise ValueError("mode='closed' needs an nn.Sequential of Linear layers and elementwise activations")
    route = "closed" if (mode in ("auto", "closed") and closed) else ("stacked" if mode in ("auto", "stacked") else "jvp")
    k = V.shape[0]
    n = output_dim(f, xb)
    N = xb.shape[0]
    step = auto_chunk(chunk_size, (k + 1) * (n + xb[0].numel()) * 4, N)
    out = torch.empty(N, k, k, dtype=xb.dtype, device=xb.device)
    for s in range(0, N, step):
        xc = xb[s:s + step]
        Vc = V if shared else V[:, s:s + step]
        try:
            G = _chunk_gram(f, xc, Vc, shared, route, normalize)
        except UnsupportedOp:
            if mode == "stacked":
                raise
            route = "jvp"  # an op the stacked engine cannot split: generic forward mode
            G = _chunk_gram(f, xc, Vc, shared, route, normalize)
        out[s:s + step] = 0.5 * (G + G.transpose(-1, -2))
    bad = ~torch.isfinite(out).reshape(N, -1).all(dim=1)
    if bad.any():
        raise ValueError(f"J v is not finite at {int(bad.sum())} point(s), first index {int(bad.nonzero()[0])}: "
                         "f or its derivative is not finite there")
    return out[0] if single else out


def induced_log_volume(f: Callable, x, V, *, normalize: bool = True, chunk_size: int | None = None,
                       mode: str = "auto", in_shape: Sequence[int] | None = None,
                       rtol: float | None = None) -> torch.Tensor:
    """``1/2 log det(V^T g V)`` at each point, shape=[N] (natural log): log area element per unit
    chart area on a plane (k = 2), log length element per unit t on a line (k = 1).

    ``-inf`` with a :class:`SingularMetricWarning` where ``J~ V`` loses column rank (the slice is
    crushed to lower dimension there); finite wherever ``J~ V`` has full column rank, even when
    g itself is singular (n < d). Arguments as :func:`induced_metric`.
    """
    G = induced_metric(f, x, V, normalize=normalize, chunk_size=chunk_size, mode=mode, in_shape=in_shape)
    Gb = G.unsqueeze(0) if G.ndim == 2 else G
    ld, rank = logdet_and_rank(Gb, rtol)
    _warn_singular(rank, Gb.shape[-1], "induced_log_volume")
    ld = 0.5 * ld
    return ld[0] if G.ndim == 2 else ld
