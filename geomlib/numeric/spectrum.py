"""Spectra of the pullback metric and the authors' effective top-k log volume (SPEC §2.3).

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
  converged (see :func:`lanczos_topk`; relative eigenvalue error ~1e-13); points that do not
  converge within the iteration cap are redone densely. Fastest when k << min(n, d).
"""
from __future__ import annotations

import math
import warnings
from typing import Callable, Sequence

import torch

from ._inputs import as_points, auto_chunk, check_eval_mode, output_dim, prod
from .jacobian import jacobian_chunks
from .linops import jacobian_operator

METHODS = ("auto", "gram", "svd", "lanczos")


class RankCapWarning(UserWarning):
    """k exceeded the numerical rank of the metric; the effective volume used fewer values."""


def _gram_eigs(J: torch.Tensor, normalize: bool) -> torch.Tensor:
    """Eigenvalues of g (descending, clamped at 0), shape=[B, min(n, d)] from J shape=[B, n, d]."""
    n, d = J.shape[-2:]
    Jt = J / math.sqrt(n) if normalize else J
    G = Jt @ Jt.transpose(-1, -2) if n < d else Jt.transpose(-1, -2) @ Jt
    G = 0.5 * (G + G.transpose(-1, -2))
    return torch.linalg.eigvalsh(G).flip(-1).clamp_min(0)


def _svd_eigs(J: torch.Tensor, normalize: bool) -> torch.Tensor:
    n = J.shape[-2]
    s = torch.linalg.svdvals(J / math.sqrt(n) if normalize else J)
    return s * s


def metric_spectrum(f: Callable, x, *, normalize: bool = True, chunk_size: int | None = None,
                    method: str = "gram", mode: str = "auto",
                    in_shape: Sequence[int] | None = None) -> torch.Tensor:
    """Eigenvalues of the pullback metric g at each point, descending, shape=[N, min(n, d)].

    The remaining ``d - min(n, d)`` eigenvalues are exactly zero and not returned. Values are
    clamped at 0 (round-off can make a zero eigenvalue slightly negative). ``log10 sqrt(lambda_i)
    = log10 s_i`` is what spectrum figures show. ``method``: ``"gram"`` (default) or ``"svd"``.
    """
    if method not in ("gram", "svd"):
        raise ValueError(f"metric_spectrum method must be 'gram' or 'svd', got {method!r}")
    xb, single, in_shape = as_points(x, in_shape)
    eig = _gram_eigs if method == "gram" else _svd_eigs
    parts = [eig(J, normalize) for _, J in jacobian_chunks(f, xb, in_shape, mode=mode, chunk_size=chunk_size)]
    lam = torch.cat(parts)
    return lam[0] if single else lam


def _ritz(alpha: torch.Tensor, beta: torch.Tensor, k: int):
    """Top-k Ritz values (descending) of tridiagonal T (diag alpha [B, m], off-diag beta [B, m-1])
    and the last components of their eigenvectors, shape=[B, k] each, plus the gap of each Ritz
    value to the nearest other one (for the ``res^2 / gap`` error estimate)."""
    B, m = alpha.shape
    if alpha.device.type == "cpu":  # LAPACK stemr per point: much faster than batched dense eigh on CPU
        import numpy as np
        from scipy.linalg import eigh_tridiagonal

        a, b = alpha.numpy(), beta.numpy()
        th = np.empty((B, k)); last = np.empty((B, k)); gap = np.empty((B, k))
        for i in range(B):
            w, v = eigh_tridiagonal(a[i], b[i], select="i", select_range=(m - k - 1 if m > k else 0, m - 1))
            w, v = w[::-1], v[:, ::-1]
            th[i], last[i] = w[:k], np.abs(v[-1, :k])
            diffs = np.abs(np.diff(w))
            gp = np.full(len(w), np.inf)
            gp[:-1] = diffs
            gp[1:] = np.minimum(gp[1:], diffs)
            gap[i] = gp[:k]
        to = dict(dtype=alpha.dtype)
        return torch.from_numpy(th).to(**to), torch.from_numpy(last).to(**to), torch.from_numpy(gap).to(**to)
    T = torch.diag_embed(alpha) + torch.diag_embed(beta, 1) + torch.diag_embed(beta, -1)
    ev, S = torch.linalg.eigh(T)
    kk = min(k + 1, m)
    w = ev[:, -kk:].flip(-1)
    last = S[:, -1, -kk:].flip(-1).abs()
    diffs = (w[:, :-1] - w[:, 1:]).abs()
    gp = torch.full_like(w, math.inf)
    gp[:, :-1] = diffs
    gp[:, 1:] = torch.minimum(gp[:, 1:], diffs)
    return w[:, :k], last[:, :k], gp[:, :k]


def lanczos_topk(matvec: Callable, B: int, d: int, k: int, *, dtype=torch.float64, device=None,
                 rtol: float = 1e-13, max_iter: int | None = None, seed: int = 0):
    """Top-k eigenvalues of B symmetric PSD operators at once (Lanczos, full reorthogonalisation).

    ``matvec``: ``[B, d] -> [B, d]`` (one operator per row). Returns ``(theta, converged)``:
    ``theta`` shape=[B, k] descending Ritz values; ``converged`` shape=[B] bool. A Ritz value
    theta with residual bound ``r = beta_m |s_m|`` (so ``|theta - lambda| <= r``) and distance
    ``gap`` to the other Ritz values counts as converged when ``r <= 1e3 * rtol * theta``
    (rigorous) or when ``r <= 1e-5 theta`` and ``r^2 / gap <= rtol * theta`` (the standard
    quadratic error estimate); a Krylov space that becomes invariant (rank reached) is exact.
    Start vectors are deterministic (``seed``). Convergence is checked every 10 steps from
    ``k + 30`` on, and the iteration stops at ``max_iter`` (default ``min(d, max(3k + 60, 200))``).
    """
    m_max = min(d, max_iter or max(3 * k + 60, 200))
    k = min(k, d)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    q = torch.randn(B, d, generator=gen, dtype=dtype).to(device)
    q = q / q.norm(dim=-1, keepdim=True)
    cap = min(m_max + 1, 2 * k + 64)
    Q = torch.zeros(B, cap, d, dtype=dtype, device=device)
    Q[:, 0] = q
    alpha = torch.zeros(B, m_max, dtype=dtype, device=device)
    beta = torch.zeros(B, m_max, dtype=dtype, device=device)
    dead = torch.zeros(B, dtype=torch.bool, device=device)
    done = torch.zeros(B, dtype=torch.bool, device=device)
    theta = torch.zeros(B, k, dtype=dtype, device=device)
    tiny = torch.finfo(dtype).tiny
    first_check = min(m_max, k + 30)
    for j in range(m_max):
        m = j + 1
        q = Q[:, j]
        w = matvec(q)
        a = (w * q).sum(-1)
        alpha[:, j] = a
        # three-term recurrence, then full reorthogonalisation (classical Gram-Schmidt, repeated
        # only if a row lost more than 30% of its norm: the DGKS "twice is enough" criterion)
        w = w - a.unsqueeze(-1) * q
        if j > 0:
            w = w - beta[:, j - 1].unsqueeze(-1) * Q[:, j - 1]
        Qj = Q[:, :m]
        for _ in range(2):
            before = w.norm(dim=-1)
            w = w - torch.bmm(torch.bmm(w.unsqueeze(1), Qj.transpose(1, 2)), Qj).squeeze(1)
            b = w.norm(dim=-1)
            if not bool((b < 0.7 * before).any()):
                break
        scale = alpha[:, :m].abs().amax(-1).clamp_min(tiny)
        newly_dead = b <= 1e3 * torch.finfo(dtype).eps * scale  # invariant subspace: exact
        if bool(newly_dead.any()):
            dead = dead | newly_dead
        if bool(dead.any()):
            b = b.masked_fill(dead, 0.0)
        beta[:, j] = b
        if m == m_max or (m >= first_check and (m - first_check) % 10 == 0) or bool(dead.all()):
            kk = min(k, m)
            th, last, gap = _ritz(alpha[:, :m].cpu() if alpha.device.type == "cpu" else alpha[:, :m],
                                  beta[:, : m - 1], kk)
            th, last, gap = th.to(device), last.to(device), gap.to(device)
            res = b.unsqueeze(-1) * last
            thp = th.clamp_min(tiny)
            ok = (res <= 1e3 * rtol * thp) | ((res <= 1e-5 * thp) & (res * res <= rtol * thp * gap))
            done = (ok.all(-1) & (m >= k)) | dead
            theta = torch.zeros(B, k, dtype=dtype, device=device)
            theta[:, :kk] = th.clamp_min(0)
            if bool(done.all()):
                break
        if m == m_max:
            break
        if m >= cap:  # grow the basis buffer
            newcap = min(m_max + 1, 2 * cap)
            Q2 = torch.zeros(B, newcap, d, dtype=dtype, device=device)
            Q2[:, :cap] = Q
            Q, cap = Q2, newcap
        Q[:, m] = w / b.clamp_min(tiny).unsqueeze(-1)
        if bool(dead.any()):
            Q[:, m].masked_fill_(dead.unsqueeze(-1), 0.0)
    return theta, done


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
                           lanczos_rtol: float = 1e-13, return_rank: bool = False):
    """Authors' effective top-k log volume ``sum_{i<=k} log10 s_i * 1[log10 s_i >= threshold]``, shape=[N].

    ``s_i``: descending singular values of ``J~ = J / sqrt(n)`` (``normalize=True``), so the result
    equals ``1/2 sum_{i<=k} log10 lambda_i(g)``; with k = d and full rank it is
    ``log10 sqrt(det g)``. ``k`` is capped at each point's numerical rank (eigenvalues above
    ``rtol * lambda_max``, rtol = max(n, d) * eps by default) with a :class:`RankCapWarning`;
    ``return_rank=True`` also returns the number of values used per point, shape=[N].
    ``method``: ``"auto"`` (Lanczos when k <= min(n, d) / 4 and min(n, d) >= 128, else
    ``"gram"``), ``"gram"``, ``"svd"`` or ``"lanczos"`` (see module docstring).
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    threshold = float(threshold)
    if math.isnan(threshold):
        raise ValueError("threshold is NaN")
    xb, single, in_shape = as_points(x, in_shape)
    check_eval_mode(f)
    d = prod(in_shape)
    n = output_dim(f, xb)
    route = _pick_method(method, k, n, d)
    rt = max(n, d) * torch.finfo(xb.dtype).eps if rtol is None else float(rtol)
    N = xb.shape[0]
    vol = torch.empty(N, dtype=xb.dtype, device=xb.device)
    used = torch.empty(N, dtype=torch.long, device=xb.device)
    if route in ("gram", "svd"):
        eig = _gram_eigs if route == "gram" else _svd_eigs
        for s, J in jacobian_chunks(f, xb, in_shape, mode=mode, chunk_size=chunk_size):
            v, u = _topk_from_eigs(eig(J, normalize), k, threshold, rt)
            vol[s:s + len(v)], used[s:s + len(v)] = v, u
    else:
        kk = min(k, n, d)
        op_mode = "autodiff" if mode in ("fwd", "rev") else mode
        m_est = 2 * kk + 64
        step = auto_chunk(chunk_size, m_est * d + 4 * n, N, budget=2**25)
        for s in range(0, N, step):
            xc = xb[s:s + step]
            op = jacobian_operator(f, xc, normalize=normalize, mode=op_mode)
            theta, ok = lanczos_topk(op.gram, xc.shape[0], d, kk, dtype=xb.dtype, device=xb.device,
                                     rtol=lanczos_rtol)
            if not bool(ok.all()):  # rare: clustered spectrum; redo those points densely
                bad = (~ok).nonzero().flatten()
                for _, J in jacobian_chunks(f, xc[bad], in_shape, mode="auto" if mode not in ("fwd", "rev") else mode):
                    theta[bad] = _gram_eigs(J, normalize)[:, :kk]
            v, u = _topk_from_eigs(theta, kk, threshold, rt)
            vol[s:s + len(v)], used[s:s + len(v)] = v, u
    capped = used < k
    if capped.any():
        warnings.warn(
            f"effective_log10_volume: k = {k} exceeds the numerical rank at {int(capped.sum())} of {N} "
            f"point(s) (rank {int(used[capped].min())}..{int(used[capped].max())}, n = {n}, d = {d}); "
            "summed over the nonzero singular values only", RankCapWarning, stacklevel=2)
    if single:
        vol, used = vol[0], used[0]
    return (vol, used) if return_rank else vol
