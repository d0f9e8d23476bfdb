"""Closed forms for finite-width shallow networks ``Phi~_j = phi(w_j . x + b_j) / sqrt(n)`` (Methods: T2).

Shapes: ``W`` [n, d] (rows w_j), ``b`` [n], points ``x`` [N, d] (or [d]). ``activation``: a name in
:data:`ACTIVATIONS` or a tuple ``(phi, dphi, d2phi)`` of elementwise torch functions.
``normalize=True`` includes the 1/n of Methods: pullback metric.

- metric: ``g = (1/n) sum_j phi'(z_j)^2 w_j w_j^T``
- determinant (Cauchy-Binet): ``det g = n^{-d} sum_{|S|=d} prod_{j in S} phi'(z_j)^2 det(W_S)^2``
- curvature, any d (T-form): ``T_{amn} = (2/n) sum_j phi' phi''(z_j) w_ja w_jm w_jn``,
  ``R = 1/4 (|T|_g^2 - |tau|_g^2)``, ``tau_a = g^{mn} T_{amn}``
- curvature, d = 2 (m-form): ``R = -1/(n^3 det(g)^2) sum_{ijk} m_ij m_ik m_jk^2 phi'(z_i)^2
  phi'phi''(z_j) phi'phi''(z_k)`` with ``m_jk = w_j1 w_k2 - w_j2 w_k1`` (det g with the 1/n).
"""
from __future__ import annotations

import itertools
import math

import torch

from .metric import logdet_and_rank, _warn_singular

_SQRT2PI = math.sqrt(2 * math.pi)


def _sig(z):
    s = torch.sigmoid(z)
    return s, s * (1 - s), s * (1 - s) * (1 - 2 * s)


def _tanh(z):
    t = torch.tanh(z)
    return t, 1 - t * t, -2 * t * (1 - t * t)


def _erf_authors(z):  # erf(z / sqrt 2)
    p = math.sqrt(2 / math.pi) * torch.exp(-z * z / 2)
    return torch.erf(z / math.sqrt(2)), p, -z * p


def _erf(z):  # erf(z)
    p = 2 / math.sqrt(math.pi) * torch.exp(-z * z)
    return torch.erf(z), p, -2 * z * p


def _cubic(z):  # z + z^3 / 3 (Methods: reference checks, C5)
    return z + z ** 3 / 3, 1 + z * z, 2 * z


def _relu(z):
    return torch.relu(z), (z > 0).to(z.dtype), torch.zeros_like(z)


def _gelu(z):  # z Phi(z), exact
    pdf = torch.exp(-z * z / 2) / _SQRT2PI
    cdf = 0.5 * (1 + torch.erf(z / math.sqrt(2)))
    return z * cdf, cdf + z * pdf, pdf * (2 - z * z)


def _softplus(z):
    s = torch.sigmoid(z)
    return torch.nn.functional.softplus(z), s, s * (1 - s)


#: name -> function z -> (phi, phi', phi''). "erf" is the authors' "Erf" = erf(z / sqrt 2).
ACTIVATIONS = {"sigmoid": _sig, "tanh": _tanh, "erf": _erf_authors, "erf_plain": _erf,
               "cubic": _cubic, "relu": _relu, "gelu": _gelu, "softplus": _softplus}


def activation_derivatives(activation, z: torch.Tensor):
    """``(phi, phi', phi'')`` at z for a name in :data:`ACTIVATIONS` or a tuple of three functions."""
    if isinstance(activation, str):
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}: choose one of {', '.join(ACTIVATIONS)}")
        return ACTIVATIONS[activation](z)
    if isinstance(activation, (tuple, list)) and len(activation) == 3 and all(callable(a) for a in activation):
        return tuple(a(z) for a in activation)
    raise TypeError("activation must be a name or a tuple (phi, dphi, d2phi) of functions")


def _prep(W, b, x):
    W = torch.as_tensor(W)
    if W.ndim != 2:
        raise ValueError(f"W must have shape [n, d], got {tuple(W.shape)}")
    n, d = W.shape
    b = torch.zeros(n, dtype=W.dtype, device=W.device) if b is None else torch.as_tensor(b, dtype=W.dtype, device=W.device)
    if b.shape != (n,):
        raise ValueError(f"b must have shape [{n}], got {tuple(b.shape)}")
    x = torch.as_tensor(x, dtype=W.dtype, device=W.device)
    single = x.ndim == 1
    xb = x.unsqueeze(0) if single else x
    if xb.ndim != 2 or xb.shape[1] != d:
        raise ValueError(f"x must have shape [{d}] or [N, {d}], got {tuple(x.shape)}")
    if not (torch.isfinite(W).all() and torch.isfinite(b).all() and torch.isfinite(xb).all()):
        raise ValueError("W, b and x must be finite")
    return W, b, xb, single, n, d


def shallow_features(W, b, x, activation, *, normalize: bool = True) -> torch.Tensor:
    """``Phi~(x)`` shape=[N, n]: ``phi(W x + b)`` (divided by sqrt(n) when normalised)."""
    W, b, xb, single, n, _ = _prep(W, b, x)
    phi = activation_derivatives(activation, xb @ W.T + b)[0]
    phi = phi / math.sqrt(n) if normalize else phi
    return phi[0] if single else phi


def shallow_metric(W, b, x, activation, *, normalize: bool = True) -> torch.Tensor:
    """``g = (1/n) W^T diag(phi'(z)^2) W`` at each point, shape=[N, d, d]."""
    W, b, xb, single, n, _ = _prep(W, b, x)
    _, d1, _ = activation_derivatives(activation, xb @ W.T + b)
    g = torch.einsum("zj,ja,jb->zab", d1 * d1, W, W) / (n if normalize else 1)
    return g[0] if single else g


def shallow_log_volume(W, b, x, activation, *, normalize: bool = True) -> torch.Tensor:
    """``1/2 log det g`` shape=[N] (Cholesky; ``-inf`` with a warning where singular)."""
    g = shallow_metric(W, b, x, activation, normalize=normalize)
    gb = g.unsqueeze(0) if g.ndim == 2 else g
    ld, rank = logdet_and_rank(gb)
    _warn_singular(rank, gb.shape[-1], "shallow_log_volume")
    return 0.5 * (ld[0] if g.ndim == 2 else ld)


def shallow_det_cauchy_binet(W, b, x, activation, *, normalize: bool = True,
                             max_terms: int = 2_000_000) -> torch.Tensor:
    """``det g`` by the Cauchy-Binet sum over d-subsets of units, shape=[N] (a check; cost C(n, d))."""
    W, b, xb, single, n, d = _prep(W, b, x)
    if math.comb(n, d) > max_terms:
        raise ValueError(f"C({n}, {d}) = {math.comb(n, d)} subsets exceeds max_terms = {max_terms}")
    _, d1, _ = activation_derivatives(activation, xb @ W.T + b)
    S = torch.tensor(list(itertools.combinations(range(n), d)), device=W.device)  # [C, d]
    minors = torch.linalg.det(W[S]) ** 2  # [C]
    a = (d1 * d1)[:, S].prod(-1)  # [N, C]
    det = (a * minors).sum(-1) / (n ** d if normalize else 1)
    return det[0] if single else det


def shallow_curvature(W, b, x, activation, *, normalize: bool = True) -> torch.Tensor:
    """Scalar curvature by the T-form (any d), shape=[N]: ``R = 1/4 (|T|_g^2 - |tau|_g^2)``.

    Standard convention (Methods: curvature conventions). Cost O(N n d^3).
    """
    W, b, xb, single, n, d = _prep(W, b, x)
    _, d1, d2 = activation_derivatives(activation, xb @ W.T + b)
    c = 1.0 / n if normalize else 1.0
    g = c * torch.einsum("zj,ja,jb->zab", d1 * d1, W, W)
    T = 2 * c * torch.einsum("zj,ja,jm,jn->zamn", d1 * d2, W, W, W)
    gi = torch.linalg.inv(g)
    Tsq = torch.einsum("zap,zmq,znr,zamn,zpqr->z", gi, gi, gi, T, T)
    tau = torch.einsum("zmn,zamn->za", gi, T)
    tsq = torch.einsum("zab,za,zb->z", gi, tau, tau)
    R = 0.25 * (Tsq - tsq)
    return R[0] if single else R


def shallow_curvature_2d(W, b, x, activation, *, normalize: bool = True, prefactor: float = -1.0) -> torch.Tensor:
    """2-D scalar curvature by the m-form of Methods: T2, shape=[N] (``d`` must be 2).

    ``R = prefactor / (n^3 det(g)^2) sum_{ijk} m_ij m_ik m_jk^2 a_i c_j c_k`` with ``a = phi'^2``,
    ``c = phi' phi''``; ``prefactor=-1`` is the standard R, the authors' ``ricci_analytic`` uses -3
    (:func:`geomlib.numeric.authors.authors_shallow_curvature_2d`). Cost O(N n^2) (the m_jk^2
    matrix has rank 3: ``m_jk^2 = u_j v_k + v_j u_k - 2 p_j p_k``).
    """
    W, b, xb, single, n, d = _prep(W, b, x)
    if d != 2:
        raise ValueError(f"shallow_curvature_2d needs d = 2 inputs, got d = {d}")
    _, d1, d2 = activation_derivatives(activation, xb @ W.T + b)
    a, c = d1 * d1, d1 * d2
    w1, w2 = W[:, 0], W[:, 1]
    M = torch.outer(w1, w2) - torch.outer(w2, w1)  # m_ij, [n, n]
    u, v, p = w1 * w1, w2 * w2, w1 * w2  # m_jk^2 = u_j v_k + v_j u_k - 2 p_j p_k
    # sum_jk m_ij m_ik m_jk^2 c_j c_k = 2 (Mc u)_i (Mc v)_i - 2 (Mc p)_i^2, with Mc y = M (c * y)
    Mu, Mv, Mp = (c * u) @ M.T, (c * v) @ M.T, (c * p) @ M.T
    inner = 2 * Mu * Mv - 2 * Mp * Mp
    S = (a * inner).sum(-1)
    nn_ = float(n) if normalize else 1.0
    det = 0.5 * torch.einsum("zi,ij,zj->z", a, M * M, a) / nn_ ** 2
    R = prefactor * S / (nn_ ** 3 * det * det)
    return R[0] if single else R
