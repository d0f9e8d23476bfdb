"""Metric induced on a slice of input space: ``G = V^T g V = (J~ V)^T (J~ V)`` (Methods: slice elements, slices).

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
model uses an op the stacked engine does not support, and to ``"jacobian"`` (the full Jacobian
by reverse mode, :func:`geomlib.numeric.jacobian` and its own fallbacks, then ``J V``) if
forward mode cannot run (e.g. fused attention kernels have no forward-mode rule). Fallbacks
other than stacked -> jvp are noted once per route and model class (:class:`RouteFallbackWarning`).

Precision: the tangents come from the model in its dtype; ``G`` and its log-determinant are
formed in float64, and the rank cut-off follows the working dtype (``k eps``: 2.2e-16 k in float64,
1.2e-7 k in float32). A float32 model's log area element is accurate to ~1e-7 cond(G).
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch.func import jvp, vmap

from ._inputs import RouteChain, as_points, auto_chunk, probe_model
from .jacobian import closed_form_supported, jacobian_chunks
from .linops import SequentialJacobian, gram_of_tangents
from .metric import _warn_singular, logdet_and_rank
from .stacked import UnsupportedOp, stacked_jvp

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


def _chunk_gram(f, xc, Vc, shared, route, normalize, in_shape, n):
    """Induced metric at the chunk, shape=[B, k, k] (float64)."""
    if route == "closed":
        op = SequentialJacobian(f, xc, normalize)
        if shared:
            return op.induced_gram_shared(Vc).double()
        T = op.jvp(Vc)
    elif route == "jacobian":
        J = torch.cat([Jc for _, Jc in jacobian_chunks(f, xc, in_shape, mode="rev", n=n)]).double()
        Vf = Vc.reshape(Vc.shape[0], -1).double() if shared else Vc.reshape(Vc.shape[0], Vc.shape[1], -1).double()
        T = (J @ Vf.T).permute(2, 0, 1) if shared else torch.einsum("bnd,kbd->kbn", J, Vf)
        if normalize:
            T = T / math.sqrt(n)
    else:
        T = _tangent_outputs(f, xc, Vc, shared, route, normalize)
    return gram_of_tangents(T.double())


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
    ``f`` is probed once for batch coupling (:class:`BatchCouplingError`). Returned in the dtype
    of ``x`` (computed in float64, see the module docstring for float32 accuracy).
    """
    G, single, _, xdt = _induced(f, x, V, normalize, chunk_size, mode, in_shape)
    G = G.to(xdt)
    return G[0] if single else G


_CHAINS = {"closed": ("closed", "jacobian"), "stacked": ("stacked", "jvp", "jacobian"), "jvp": ("jvp", "jacobian")}


def _induced(f, x, V, normalize, chunk_size, mode, in_shape):
    """``(G float64 [N, k, k], single, working dtype, dtype of x)``."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}: choose one of {', '.join(MODES)}")
    xb, single, in_shape = as_points(x, in_shape)
    V, shared = _check_directions(V, xb, in_shape, single)
    n, wdt = probe_model(f, xb)
    closed = closed_form_supported(f)
    if mode == "closed" and not closed:
        raise ValueError("mode='closed' needs an nn.Sequential of Linear layers and elementwise activations")
    route = "closed" if (mode in ("auto", "closed") and closed) else ("stacked" if mode in ("auto", "stacked") else "jvp")
    k = V.shape[0]
    N = xb.shape[0]
    step = auto_chunk(chunk_size, (k + 1) * (n + xb[0].numel()) * 4, N)
    out = torch.empty(N, k, k, dtype=torch.float64, device=xb.device)
    chain = RouteChain("induced-metric", f, _CHAINS[route], quiet=(("stacked", UnsupportedOp),))
    for s in range(0, N, step):
        xc = xb[s:s + step]
        Vc = V if shared else V[:, s:s + step]
        if mode == "stacked":  # asked for explicitly: no fallback
            G = _chunk_gram(f, xc, Vc, shared, "stacked", normalize, in_shape, n)
        else:
            G = chain.run(lambda r: _chunk_gram(f, xc, Vc, shared, r, normalize, in_shape, n))
        out[s:s + step] = 0.5 * (G + G.transpose(-1, -2))
    bad = ~torch.isfinite(out).reshape(N, -1).all(dim=1)
    if bad.any():
        raise ValueError(f"J v is not finite at {int(bad.sum())} point(s), first index {int(bad.nonzero()[0])}: "
                         "f or its derivative is not finite there")
    return out, single, wdt, xb.dtype


def induced_log_volume(f: Callable, x, V, *, normalize: bool = True, chunk_size: int | None = None,
                       mode: str = "auto", in_shape: Sequence[int] | None = None,
                       rtol: float | None = None) -> torch.Tensor:
    """``1/2 log det(V^T g V)`` at each point, shape=[N] (natural log): log area element per unit
    chart area on a plane (k = 2), log length element per unit t on a line (k = 1).

    ``-inf`` with a :class:`SingularMetricWarning` where ``J~ V`` loses column rank (the slice is
    crushed to lower dimension there); finite wherever ``J~ V`` has full column rank, even when
    g itself is singular (n < d). Arguments as :func:`induced_metric`.
    """
    G, single, wdt, xdt = _induced(f, x, V, normalize, chunk_size, mode, in_shape)
    rt = G.shape[-1] * torch.finfo(wdt).eps if rtol is None else float(rtol)
    ld, rank = logdet_and_rank(G, rt)
    _warn_singular(rank, G.shape[-1], "induced_log_volume")
    ld = (0.5 * ld).to(xdt)
    return ld[0] if single else ld
