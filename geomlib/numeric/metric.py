"""Pullback metric and log volume element (Methods: pullback metric, volume element, degenerate metrics).

``g_{mu nu}(x) = (1/n) sum_j dPhi_j/dx_mu dPhi_j/dx_nu = (J^T J / n)_{mu nu}`` (``normalize=True``,
the width normalisation that makes g converge as n -> infinity; ``normalize=False`` drops 1/n).
The primary volume quantity is the log volume element ``l = 1/2 log det g`` (natural log), from a
Cholesky factorisation; figures show ``log10 sqrt(det g) = l / ln 10``.

Degenerate metrics (Methods: degenerate metrics): where g is numerically singular (rank r < d: width n < d,
saturated units, dead ReLUs) the log volume is ``-inf`` and a :class:`SingularMetricWarning`
gives the rank, never NaN. "Numerically singular" means an eigenvalue at or below
``rtol * lambda_max`` with ``rtol = d * eps(dtype)`` by default.
"""
from __future__ import annotations

import math
import warnings
from typing import Callable, Sequence

import torch

from ._inputs import as_points, probe_model
from .jacobian import jacobian_chunks


class SingularMetricWarning(UserWarning):
    """A metric was singular (rank deficient) where a log volume or curvature was asked for."""


def check_metric(g: torch.Tensor, *, name: str = "g") -> torch.Tensor:
    """Validate a batch of metrics, shape=[..., d, d]: floating, square, finite, symmetric."""
    if not isinstance(g, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(g).__name__}")
    if not g.is_floating_point():
        raise TypeError(f"{name} has dtype {g.dtype}: pass a floating tensor (float64 recommended)")
    if g.ndim < 2 or g.shape[-1] != g.shape[-2] or g.shape[-1] == 0:
        raise ValueError(f"{name} has shape {tuple(g.shape)}: expected [..., d, d] with d >= 1")
    if not torch.isfinite(g).all():
        raise ValueError(f"{name} has non-finite entries")
    scale = g.abs().amax(dim=(-1, -2), keepdim=True).clamp_min(torch.finfo(g.dtype).tiny)
    asym = ((g - g.transpose(-1, -2)).abs() / scale).max()
    if asym > 1e3 * torch.finfo(g.dtype).eps * g.shape[-1]:
        raise ValueError(f"{name} is not symmetric (relative asymmetry {float(asym):.2e})")
    return g


def _rank(evals: torch.Tensor, rtol: float) -> torch.Tensor:
    lmax = evals.amax(dim=-1, keepdim=True)
    return (evals > rtol * lmax.clamp_min(0)).sum(dim=-1) * (lmax.squeeze(-1) > 0)


def logdet_and_rank(g: torch.Tensor, rtol: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(log det g, numerical rank)`` for a batch of symmetric PSD matrices, shape=[..., d, d].

    Cholesky first (cheap); points where it fails or where the smallest pivot is below
    sqrt(eps) * max diag (condition number possibly huge) get an eigenvalue check. ``log det`` is
    ``-inf`` where the rank is below d.
    """
    d = g.shape[-1]
    eps = torch.finfo(g.dtype).eps
    rtol = d * eps if rtol is None else float(rtol)
    L, info = torch.linalg.cholesky_ex(g)
    piv = torch.diagonal(L, dim1=-2, dim2=-1)
    ok = info == 0
    logdet = 2.0 * torch.log(piv.abs()).sum(-1)
    dmax = torch.diagonal(g, dim1=-2, dim2=-1).amax(-1)
    suspicious = ~ok | (piv.amin(-1) ** 2 <= math.sqrt(eps) * dmax) | (dmax <= 0)
    rank = torch.full(g.shape[:-2], d, dtype=torch.long, device=g.device)
    if suspicious.any():
        ev = torch.linalg.eigvalsh(g[suspicious])
        r = _rank(ev, rtol)
        ld = torch.where(r == d, torch.log(ev.clamp_min(torch.finfo(g.dtype).tiny)).sum(-1),
                         torch.full_like(r, -math.inf, dtype=g.dtype))
        logdet = logdet.clone()
        logdet[suspicious] = ld
        rank[suspicious] = r
    return logdet, rank


def _warn_singular(rank: torch.Tensor, d: int, what: str, stacklevel: int = 3) -> None:
    bad = rank < d
    if bad.any():
        r = rank[bad]
        warnings.warn(
            f"{what}: metric singular at {int(bad.sum())} of {rank.numel()} point(s) "
            f"(numerical rank {int(r.min())}..{int(r.max())} < d = {d}); log volume set to -inf",
            SingularMetricWarning, stacklevel=stacklevel)


def log_volume_element(g: torch.Tensor, *, rtol: float | None = None) -> torch.Tensor:
    """Log volume element ``1/2 log det g`` (natural log) of metrics g, shape=[..., d, d] -> [...].

    Cholesky (or eigenvalues where g is ill-conditioned). Singular g (numerical rank < d, with
    ``rtol = d * eps`` of g's dtype relative to the largest eigenvalue by default) gives ``-inf``
    and a :class:`SingularMetricWarning` stating the rank. Raises for non-symmetric or non-finite g.
    A float32 g is factorised in float64 (its entries are exact float64 numbers) with the float32
    rank cut-off; the result is returned in g's dtype.
    """
    check_metric(g)
    rt = g.shape[-1] * torch.finfo(g.dtype).eps if rtol is None else float(rtol)
    logdet, rank = logdet_and_rank(g.double(), rt)
    _warn_singular(rank, g.shape[-1], "log_volume_element")
    return (0.5 * logdet).to(g.dtype)


def _metric_from_jacobian(J: torch.Tensor, normalize: bool) -> torch.Tensor:
    g = J.transpose(-1, -2) @ J
    if normalize:
        g = g / J.shape[-2]
    return 0.5 * (g + g.transpose(-1, -2))


def pullback_metric(f: Callable, x, *, normalize: bool = True, chunk_size: int | None = None,
                    mode: str = "auto", in_shape: Sequence[int] | None = None) -> torch.Tensor:
    """Pullback metric ``g = J^T J / n`` of a feature map (Methods: pullback metric), shape=[N, d, d] (or [d, d]).

    ``f``: ``[B, *in_shape] -> [B, n]`` (eval mode); ``x``: shape=[*in_shape] or [N, *in_shape].
    ``normalize``: divide by the width n (default, as the paper); ``chunk_size``: points per
    Jacobian chunk; ``mode``: Jacobian route (see :func:`geomlib.numeric.jacobian`).
    Memory: N d^2 numbers are returned; for image inputs use :func:`log_volume` or
    :func:`metric_spectrum`, which never hold more than one chunk of metrics.
    """
    xb, single, in_shape = as_points(x, in_shape)
    parts = [_metric_from_jacobian(J, normalize)
             for _, J in jacobian_chunks(f, xb, in_shape, mode=mode, chunk_size=chunk_size)]
    g = torch.cat(parts) if len(parts) > 1 else parts[0]
    return g[0] if single else g


def logdet_from_jacobian(J: torch.Tensor, normalize: bool = True,
                         rtol: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(log det g, numerical rank)`` of ``g = J^T J (/ n)`` straight from J, shape=[B, n, d].

    Never forms g: ``log det g = 2 sum_i log s_i(J) - d log n`` with the singular values of the
    triangular factor R of ``J = QR`` (same singular values as J, backward stable), in float64
    (returned as float64; ``rtol`` defaults to J's own dtype: a float32 J keeps float32 cut-offs). Forming
    ``J^T J`` squares the condition number, so a regular metric with ``cond(J) ~ 1e9`` would look
    singular in float64 and lose digits in its log determinant; from J it is exact to ~eps *
    cond(J). Rank: singular values above ``rtol * s_max``, ``rtol = max(n, d) * eps`` by default
    (NumPy's ``matrix_rank`` rule, applied to J).
    """
    n, d = J.shape[-2], J.shape[-1]
    eps = torch.finfo(J.dtype).eps
    rtol = max(n, d) * eps if rtol is None else float(rtol)
    J = J.double()
    R = torch.linalg.qr(J, mode="r").R if n > d else J
    s = torch.linalg.svdvals(R)  # [B, min(n, d)], descending
    rank = (s > rtol * s[..., :1]).sum(-1) * (s[..., 0] > 0)
    logdet = 2.0 * torch.log(s.clamp_min(torch.finfo(torch.float64).tiny)).sum(-1)
    if normalize:
        logdet = logdet - d * math.log(n)
    logdet = torch.where(rank == d, logdet, torch.full_like(logdet, -math.inf))
    return logdet, rank


def log_volume(f: Callable, x, *, normalize: bool = True, chunk_size: int | None = None,
               mode: str = "auto", in_shape: Sequence[int] | None = None,
               rtol: float | None = None) -> torch.Tensor:
    """``1/2 log det g`` of the pullback metric at each point, shape=[N] (or scalar for one point).

    Computed from the Jacobian's singular values (:func:`logdet_from_jacobian`), not from g, so
    ill-conditioned but regular metrics (trained nets with nearly parallel or saturated units)
    stay finite and accurate. Chunked: one chunk of Jacobians is held at a time. Singular metrics
    (rank below d, ``rtol`` relative to the largest singular value of J) give ``-inf`` with one
    :class:`SingularMetricWarning` (ranks stated); when n < d every point is singular (use
    :func:`effective_log10_volume` or :func:`induced_log_volume` instead). ``f`` is probed once
    for batch coupling (:class:`BatchCouplingError`). The cut-off ``rtol`` defaults to
    ``max(n, d) eps`` of the working dtype (float32 models: 1.2e-7 max(n, d)); the SVD runs in
    float64, so a float32 model's log volume is accurate to ~1e-7 cond(J) (Methods: numerical accuracy).
    """
    xb, single, in_shape = as_points(x, in_shape)
    d = xb[0].numel()
    n, wdt = probe_model(f, xb)
    rt = max(n, d) * torch.finfo(wdt).eps if rtol is None else float(rtol)
    out = torch.empty(xb.shape[0], dtype=xb.dtype, device=xb.device)
    ranks = torch.empty(xb.shape[0], dtype=torch.long, device=xb.device)
    for s, J in jacobian_chunks(f, xb, in_shape, mode=mode, chunk_size=chunk_size, n=n):
        ld, r = logdet_from_jacobian(J, normalize, rt)
        out[s:s + len(ld)] = 0.5 * ld
        ranks[s:s + len(ld)] = r
    _warn_singular(ranks, d, "log_volume")
    return out[0] if single else out
