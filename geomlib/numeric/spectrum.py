"""Spectra of the pullback metric and the authors' effective top-k log volume (Methods: effective volume).

``s_i`` are the singular values of ``J~ = J / sqrt(n)`` in descending order, ``s_i^2 = lambda_i(g)``.
Effective volume (authors): ``log10 vol_k = sum_{i <= k} log10 s_i * 1[log10 s_i >= threshold]``
(their scripts pass threshold = -inf; their default -8 is never used).

Exact routes (``method``):
- ``"gram"``: eigvalsh of the smaller Gram matrix (``J~ J~^T`` if n < d, else ``J~^T J~``),
  float64. Absolute eigenvalue error ~ eps * lambda_max, so singular values far below
  sqrt(eps) * s_max lose relative accuracy (use ``"svd"`` when those matter).
- ``"svd"``: ``torch.linalg.svdvals(J~)`` (what the authors do; slower).
- ``"lanczos"``: matrix-free Lanczos on ``g`` with full reorthogonalisation, batched over points,
  using only ``J v`` / ``J^T u`` products (linops.py), iterated until every top-k Ritz value has
  converged by its residual (:func:`lanczos_topk`; relative eigenvalue error ~1e-13 in float64).
  An invariant Krylov subspace (breakdown: identity or orthogonal Jacobians, low rank) is not
  read as rank: the process restarts orthogonally to it until the multiplicities of the top k
  are known, and a spot check looks for eigenvalues the Krylov space missed. Points that do not
  converge, or where the answer is in doubt, are redone densely (``"gram"``); so are all points
  if the model has no Jacobian-vector product (no forward-mode rule), with a one-time
  :class:`RouteFallbackWarning`. Fastest when k << min(n, d).

Precision: Gram matrices, eigenvalues and Lanczos arithmetic are float64 whatever the model's
dtype; the rank cut-off (``max(n, d) eps``) and the Lanczos tolerance (``450 eps``) use the
working dtype (the least precise of the points, parameters and outputs). A float32 model's J
carries relative error ~1e-7, so its eigenvalues are accurate to ~1e-7 lambda_max absolute
(effective volumes to ~1e-7 lambda_1 / lambda_k relative in lambda_k, ~5e-5 relative via Lanczos).
"""
from __future__ import annotations

import math
import warnings
from typing import Callable, Sequence

import torch

from ._inputs import RouteChain, as_points, auto_chunk, probe_model, prod
from .jacobian import jacobian_chunks
from .lanczos import lanczos_topk
from .linops import jacobian_operator

__all__ = ["RankCapWarning", "effective_log10_volume", "lanczos_topk", "metric_spectrum"]

METHODS = ("auto", "gram", "svd", "lanczos")


class RankCapWarning(UserWarning):
    """k exceeded the numerical rank of the metric; the effective volume used fewer values."""


def _gram_eigs(J: torch.Tensor, normalize: bool) -> torch.Tensor:
    """Eigenvalues of g (descending, clamped at 0), shape=[B, min(n, d)] from J shape=[B, n, d]."""
    n, d = J.shape[-2:]
    J = J.double()
    Jt = J / math.sqrt(n) if normalize else J
    G = Jt @ Jt.transpose(-1, -2) if n < d else Jt.transpose(-1, -2) @ Jt
    G = 0.5 * (G + G.transpose(-1, -2))
    return torch.linalg.eigvalsh(G).flip(-1).clamp_min(0)


def _svd_eigs(J: torch.Tensor, normalize: bool) -> torch.Tensor:
    n = J.shape[-2]
    J = J.double()
    s = torch.linalg.svdvals(J / math.sqrt(n) if normalize else J)
    return s * s


def metric_spectrum(f: Callable, x, *, normalize: bool = True, chunk_size: int | None = None,
                    method: str = "gram", mode: str = "auto",
                    in_shape: Sequence[int] | None = None) -> torch.Tensor:
    """Eigenvalues of the pullback metric g at each point, descending, shape=[N, min(n, d)].

    The remaining ``d - min(n, d)`` eigenvalues are exactly zero and not returned. Values are
    clamped at 0 (round-off can make a zero eigenvalue slightly negative). ``log10 sqrt(lambda_i)
    = log10 s_i`` is what spectrum figures show. ``method``: ``"gram"`` (default) or ``"svd"``.
    Computed in float64, returned in the dtype of ``x`` (see the module docstring for float32).
    """
    if method not in ("gram", "svd"):
        raise ValueError(f"metric_spectrum method must be 'gram' or 'svd', got {method!r}")
    xb, single, in_shape = as_points(x, in_shape)
    eig = _gram_eigs if method == "gram" else _svd_eigs
    parts = [eig(J, normalize) for _, J in jacobian_chunks(f, xb, in_shape, mode=mode, chunk_size=chunk_size)]
    lam = torch.cat(parts).to(xb.dtype)
    return lam[0] if single else lam


def _topk_from_eigs(lam: torch.Tensor, k: int, threshold: float, rtol: float):
    """``(log10 vol_k, used)`` from descending eigenvalues lam shape=[B, m] (m >= k not required)."""
    kk = min(k, lam.shape[-1])
    top = lam[:, :kk]
    lmax = lam[:, :1].clamp_min(0)
    valid = top > rtol * lmax
    rank_used = valid.sum(-1)
    log10s = 0.5 * torch.log10(top.clamp_min(torch.finfo(lam.dtype).tiny))
    keep = valid & (log10s >= threshold)
    return torch.where(keep, log10s, torch.zeros_like(log10s)).sum(-1), rank_used


def _lanczos_chunk(f, xc, d, kk, normalize, op_mode, lanczos_rtol, wdt):
    op = jacobian_operator(f, xc, normalize=normalize, mode=op_mode)
    return lanczos_topk(op.gram, xc.shape[0], d, kk, dtype=torch.float64, device=xc.device, rtol=lanczos_rtol,
                        op_dtype=xc.dtype, precision=wdt, matvec_rows=getattr(op, "gram_rows", None))


def _pick_method(method: str, k: int, n: int, d: int) -> str:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: choose one of {', '.join(METHODS)}")
    if method == "auto":
        r = min(n, d)
        return "lanczos" if (r >= 128 and 4 * k <= r) else "gram"
    return method


def effective_log10_volume(f: Callable, x, k: int, *, threshold: float = -math.inf,
                           normalize: bool = True, chunk_size: int | None = None,
                           method: str = "auto", mode: str = "auto",
                           in_shape: Sequence[int] | None = None, rtol: float | None = None,
                           lanczos_rtol: float | None = None, return_rank: bool = False):
    """Authors' effective top-k log volume ``sum_{i<=k} log10 s_i * 1[log10 s_i >= threshold]``, shape=[N].

    ``s_i``: descending singular values of ``J~ = J / sqrt(n)`` (``normalize=True``), so the result
    equals ``1/2 sum_{i<=k} log10 lambda_i(g)``; with k = d and full rank it is
    ``log10 sqrt(det g)``. ``k`` is capped at each point's numerical rank (eigenvalues above
    ``rtol * lambda_max``, rtol = max(n, d) * eps by default) with a :class:`RankCapWarning`;
    ``return_rank=True`` also returns the number of values used per point, shape=[N].
    ``method``: ``"auto"`` (Lanczos when k <= min(n, d) / 4 and min(n, d) >= 128, else
    ``"gram"``), ``"gram"``, ``"svd"`` or ``"lanczos"`` (see module docstring: breakdown,
    restarts, dense fallback). ``rtol`` and ``lanczos_rtol`` (default ``450 eps``) follow the
    working dtype. ``f`` is probed once for batch coupling (:class:`BatchCouplingError`).
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    threshold = float(threshold)
    if math.isnan(threshold):
        raise ValueError("threshold is NaN")
    xb, single, in_shape = as_points(x, in_shape)
    d = prod(in_shape)
    n, wdt = probe_model(f, xb)
    route = _pick_method(method, k, n, d)
    rt = max(n, d) * torch.finfo(wdt).eps if rtol is None else float(rtol)
    N = xb.shape[0]
    vol = torch.empty(N, dtype=torch.float64, device=xb.device)
    used = torch.empty(N, dtype=torch.long, device=xb.device)
    if route in ("gram", "svd"):
        eig = _gram_eigs if route == "gram" else _svd_eigs
        for s, J in jacobian_chunks(f, xb, in_shape, mode=mode, chunk_size=chunk_size, n=n):
            v, u = _topk_from_eigs(eig(J, normalize), k, threshold, rt)
            vol[s:s + len(v)], used[s:s + len(v)] = v, u
    else:
        kk = min(k, n, d)
        op_mode = "autodiff" if mode in ("fwd", "rev") else mode
        dense_mode = mode if mode in ("fwd", "rev") else "auto"
        m_est = 2 * kk + 64
        step = auto_chunk(chunk_size, m_est * d + 4 * n, N, budget=2**25)
        chain = RouteChain("effective-volume", f, ("Lanczos (matrix-free J v)", "dense Gram eigvalsh"))
        for s in range(0, N, step):
            xc = xb[s:s + step]
            theta, ok = chain.run(lambda r: _lanczos_chunk(f, xc, d, kk, normalize, op_mode, lanczos_rtol, wdt)
                                  if r.startswith("Lanczos") else (
                                      torch.zeros(xc.shape[0], kk, dtype=torch.float64, device=xb.device),
                                      torch.zeros(xc.shape[0], dtype=torch.bool, device=xb.device)))
            if not bool(ok.all()):  # not converged, or in doubt: redo those points densely
                bad = (~ok).nonzero().flatten()
                J = torch.cat([Jc for _, Jc in jacobian_chunks(f, xc[bad], in_shape, mode=dense_mode, n=n)])
                theta[bad] = _gram_eigs(J, normalize)[:, :kk]
            v, u = _topk_from_eigs(theta, kk, threshold, rt)
            vol[s:s + len(v)], used[s:s + len(v)] = v, u
    vol = vol.to(xb.dtype)
    capped = used < k
    if capped.any():
        warnings.warn(
            f"effective_log10_volume: k = {k} exceeds the numerical rank at {int(capped.sum())} of {N} "
            f"point(s) (rank {int(used[capped].min())}..{int(used[capped].max())}, n = {n}, d = {d}); "
            "summed over the nonzero singular values only", RankCapWarning, stacklevel=2)
    if single:
        vol, used = vol[0], used[0]
    return (vol, used) if return_rank else vol
