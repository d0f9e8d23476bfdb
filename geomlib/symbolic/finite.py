"""Finite-width shallow networks in closed form (Methods: T2), in torch and SymPy.

Network ``Phi~_j(x) = phi(w_j.x + b_j)/sqrt(n)``, ``W`` shape=[n, d] (rows w_j), ``b`` shape=[n].
With ``z_j = w_j.x + b_j``::

    g            = (1/n) sum_j phi'(z_j)^2 w_j w_j^T
    det g        = n^{-d} sum_{|S|=d} prod_{j in S} phi'(z_j)^2 det(W_S)^2            (Cauchy-Binet)
    T_{a mu nu}  = d_a g_{mu nu} = (2/n) sum_j phi'(z_j) phi''(z_j) w_ja w_jmu w_jnu   (totally symmetric)
    R            = 1/4 (||T||_g^2 - ||tau||_g^2),  tau_a = g^{mu nu} T_{a mu nu} = d_a log det g
    d = 2:  R    = -1/(n^3 det(g)^2) sum_{ijk} m_ij m_ik m_jk^2 phi'(z_i)^2 (phi'phi'')(z_j) (phi'phi'')(z_k),
            m_ij = w_i1 w_j2 - w_i2 w_j1.

Why the T-form holds: each feature Hessian (1/sqrt n) phi''(z_j) w_j w_j^T has rank one, so in the
Gauss equation (Methods: Gauss-equation route) <H, H> is totally symmetric and cancels, and Gamma_{a mu nu} = T/2.

For comparison only, the authors' conventions (Methods: the authors' curvature): ``authors_curvature_2d`` (their
``ricci_analytic``: prefactor -3 instead of -1) and ``authors_t_form`` (their ``scalcurv_shallow``:
-3/4 (||tau||^2 - ||T||^2)); both return exactly 3R.
"""
from __future__ import annotations

from itertools import combinations
from typing import Callable, Sequence

import sympy as sp
import torch

from .activations import Z, activation as _as_activation
from .bridge import to_torch


def _setup(W, b, x):
    # float64 unless W is a floating tensor (then its dtype): never torch's default dtype
    W = W if isinstance(W, torch.Tensor) and W.is_floating_point() else torch.as_tensor(W, dtype=torch.float64)
    b = torch.as_tensor(b, dtype=W.dtype, device=W.device)
    x = torch.as_tensor(x, dtype=W.dtype, device=W.device)
    if x.dim() == 1:
        x = x.unsqueeze(0)
    if W.dim() != 2 or b.shape != (W.shape[0],) or x.dim() != 2 or x.shape[-1] != W.shape[1]:
        raise ValueError(f"shapes must be W [n, d], b [n], x [N, d]; got {tuple(W.shape)}, {tuple(b.shape)}, {tuple(x.shape)}")
    return W, b, x, x @ W.T + b


def derivative_fns(act) -> tuple[Callable, Callable]:
    """(phi', phi'') of an activation as torch functions."""
    act = _as_activation(act)
    return to_torch(act.prime(), (Z,)), to_torch(act.second(), (Z,))


def finite_shallow_metric(W, b, x, dphi) -> torch.Tensor:
    """g at x (shape=[N, d]) -> shape=[N, d, d]; ``dphi``: torch phi'."""
    W, b, x, z = _setup(W, b, x)
    return torch.einsum("nj,ja,jb->nab", dphi(z) ** 2, W, W) / W.shape[0]


def cauchy_binet_det(W, b, x, dphi) -> torch.Tensor:
    """det g by Cauchy-Binet, a sum over all d-subsets of units (small n only) -> shape=[N]."""
    W, b, x, z = _setup(W, b, x)
    n, d = W.shape
    if n < d:
        return torch.zeros(x.shape[0], dtype=W.dtype, device=W.device)
    f = dphi(z) ** 2
    subsets = torch.tensor(list(combinations(range(n), d)), device=W.device)  # [C, d]
    minors = torch.linalg.det(W[subsets]) ** 2  # [C]
    return (f[:, subsets].prod(-1) * minors).sum(-1) / n**d


def _T_and_g(W, b, x, dphi, ddphi):
    W, b, x, z = _setup(W, b, x)
    n = W.shape[0]
    p1, p2 = dphi(z), ddphi(z)
    g = torch.einsum("nj,ja,jb->nab", p1**2, W, W) / n
    T = 2 * torch.einsum("nj,ja,jb,jc->nabc", p1 * p2, W, W, W) / n
    return g, T


def curvature_t_form(W, b, x, dphi, ddphi) -> torch.Tensor:
    """R = 1/4 (||T||_g^2 - ||tau||_g^2), any d, cost O(n d^3) per point -> shape=[N]."""
    g, T = _T_and_g(W, b, x, dphi, ddphi)
    G = torch.linalg.inv(g)
    TT = torch.einsum("nabc,nap,nbq,ncr,npqr->n", T, G, G, G, T)
    tau = torch.einsum("nbc,nabc->na", G, T)
    return (TT - torch.einsum("na,nab,nb->n", tau, G, tau)) / 4


def curvature_m_form_2d(W, b, x, dphi, ddphi, *, prefactor: float = -1.0) -> torch.Tensor:
    """2-D closed form with the minors m_ij (O(n^3) per point) -> shape=[N]."""
    W, b, x, z = _setup(W, b, x)
    n, d = W.shape
    if d != 2:
        raise ValueError(f"the m-form is the d = 2 closed form; got d = {d} (use curvature_t_form)")
    p1, p2 = dphi(z), ddphi(z)
    m = W[:, None, 0] * W[None, :, 1] - W[:, None, 1] * W[None, :, 0]  # [n, n]
    a, c = p1**2, p1 * p2
    s = torch.einsum("ij,ik,jk,ni,nj,nk->n", m, m, m**2, a, c, c)
    g = torch.einsum("nj,ja,jb->nab", a, W, W) / n
    return prefactor * s / (n**3 * torch.linalg.det(g) ** 2)


def authors_curvature_2d(W, b, x, dphi, ddphi) -> torch.Tensor:
    """FOR COMPARISON ONLY: the authors' 2-D analytic formula (prefactor -3): exactly 3R (Methods: the authors' curvature)."""
    return curvature_m_form_2d(W, b, x, dphi, ddphi, prefactor=-3.0)


def authors_t_form(W, b, x, dphi, ddphi) -> torch.Tensor:
    """FOR COMPARISON ONLY: -3/4 (||tau||^2 - ||T||^2), the authors' unused shallow formula: 3R."""
    return 3 * curvature_t_form(W, b, x, dphi, ddphi)


def finite_shallow_metric_symbolic(W: Sequence[Sequence], b: Sequence, act, coords) -> sp.Matrix:
    """SymPy metric (1/n) sum_j phi'(w_j.x + b_j)^2 w_j w_j^T in coordinates ``coords`` (shape=[d, d])."""
    act = _as_activation(act)
    W = sp.Matrix(W)
    n, d = W.shape
    coords = list(coords)
    if len(coords) != d or len(b) != n:
        raise ValueError(f"W is {n}x{d}, b has {len(b)} entries, {len(coords)} coordinates")
    x = sp.Matrix(coords)
    dphi = act.prime()
    g = sp.zeros(d, d)
    for j in range(n):
        w = W[j, :].T
        g += dphi.subs(Z, (w.T * x)[0] + sp.sympify(b[j])) ** 2 * (w * w.T)
    return g / n


def pullback_metric_symbolic(features: Sequence[sp.Expr], coords) -> sp.Matrix:
    """(1/n) J^T J of explicit features Phi_1..Phi_n (already including any 1/sqrt(n) scaling:
    pass ``normalize=False``-style features and divide yourself if needed). shape=[d, d]."""
    Phi = sp.Matrix(list(features))
    J = Phi.jacobian(list(coords))
    return J.T * J


def _generic_jet(W: sp.Matrix):
    """2-jet of g = (1/n) sum_j F(z_j) w_j w_j^T for an activation left generic.

    F_j, F'_j, F''_j are free symbols (F = phi'^2 at unit j); returns ``(F, F1, ws, g, dg, ddg)``
    with ws[j] = w_j (d x 1), dg[k] = d_k g and ddg[k][l] = d_k d_l g (each d x d).
    """
    n, d = W.shape
    F = sp.symbols(f"F0:{n}", positive=True)
    F1 = sp.symbols(f"Fp0:{n}", real=True)
    F2 = sp.symbols(f"Fpp0:{n}", real=True)
    ws = [W[j, :].T for j in range(n)]
    g = sum((F[j] * ws[j] * ws[j].T for j in range(n)), sp.zeros(d, d)) / n
    dg = [sum((F1[j] * ws[j][k] * ws[j] * ws[j].T for j in range(n)), sp.zeros(d, d)) / n for k in range(d)]
    ddg = [[sum((F2[j] * ws[j][k] * ws[j][l] * ws[j] * ws[j].T for j in range(n)), sp.zeros(d, d)) / n
            for l in range(d)] for k in range(d)]
    return F, F1, ws, g, dg, ddg


def t2_identity(W: Sequence[Sequence], *, form: str = "T") -> sp.Expr:
    """Symbolic proof of T2 for ANY activation at a generic point, given the weights ``W`` (n x d).

    The 2-jet of g = (1/n) sum_j F(z_j) w_j w_j^T (F = phi'^2) is written with free symbols
    F_j, F'_j, F''_j; the brute-force (Christoffel/Riemann) scalar curvature of that jet minus the
    T-form (``form="T"``) or the 2-D m-form (``form="m"``), with phi'phi'' = F'/2, is returned
    after simplification: 0 proves the identity for this W (and shows the F'' terms cancel).
    """
    from .curvature import scalar_curvature_from_jet

    W = sp.Matrix(W)
    n, d = W.shape
    F, F1, ws, g, dg, ddg = _generic_jet(W)
    R_brute = scalar_curvature_from_jet(g, dg, ddg)
    ginv = g.inv()
    if form == "T":
        T = [[[sum(F1[j] * ws[j][a] * ws[j][m] * ws[j][q] for j in range(n)) / n for q in range(d)]
              for m in range(d)] for a in range(d)]
        TT = sum(ginv[a, a2] * ginv[m, m2] * ginv[q, q2] * T[a][m][q] * T[a2][m2][q2]
                 for a in range(d) for a2 in range(d) for m in range(d) for m2 in range(d)
                 for q in range(d) for q2 in range(d))
        tau = [sum(ginv[m, q] * T[a][m][q] for m in range(d) for q in range(d)) for a in range(d)]
        R_closed = (TT - sum(ginv[a, c] * tau[a] * tau[c] for a in range(d) for c in range(d))) / 4
    elif form == "m":
        if d != 2:
            raise ValueError("the m-form is for d = 2")
        mm = [[W[i, 0] * W[j, 1] - W[i, 1] * W[j, 0] for j in range(n)] for i in range(n)]
        s = sum(mm[i][j] * mm[i][k] * mm[j][k] ** 2 * F[i] * (F1[j] / 2) * (F1[k] / 2)
                for i in range(n) for j in range(n) for k in range(n))
        R_closed = -s / (n**3 * g.det() ** 2)
    else:
        raise ValueError(f"form must be 'T' or 'm', got {form!r}")
    return sp.simplify(sp.together(R_brute - R_closed))


def t2_gamma_split(W: Sequence[Sequence]) -> tuple[sp.Expr, sp.Expr]:
    """Why the authors' flipped-sign pattern gives exactly 3R on shallow networks (Methods: the authors' curvature).

    Splits R = g^{bn} R_{bn} into its derivative terms g^{bn}(d_a Gamma^a_{nb} - d_n Gamma^a_{ab}) and its
    Gamma-Gamma terms, for the generic-activation jet of :func:`t2_identity`, and returns the residuals
    ``(derivative - 1/2 (||T||^2 - ||tau||^2), GammaGamma + 1/4 (||T||^2 - ||tau||^2))``, both 0: hence
    R = 1/2 - 1/4 = 1/4 and the flipped pattern 1/2 + 1/4 = 3/4 (times ||T||^2 - ||tau||^2).
    """
    from .curvature import _first_kind

    W = sp.Matrix(W)
    n, d = W.shape
    F, F1, ws, g, dg, ddg = _generic_jet(W)
    gi = g.inv()
    G1 = _first_kind(dg)
    gam = [[[sum(gi[a, p] * G1[p][m][q] for p in range(d)) for q in range(d)] for m in range(d)] for a in range(d)]

    def dgam(c, a, m, q):  # d_c Gamma^a_{mq}
        dG1 = [(ddg[c][m][p, q] + ddg[c][q][p, m] - ddg[c][p][m, q]) / 2 for p in range(d)]
        return sum(gi[a, p] * dG1[p] for p in range(d)) - sum(
            gi[a, p] * dg[c][p, r] * gam[r][m][q] for p in range(d) for r in range(d))

    rng = range(d)
    deriv = sum(gi[b, m] * sum(dgam(a, a, m, b) - dgam(m, a, a, b) for a in rng) for b in rng for m in rng)
    gg = sum(gi[b, m] * sum(gam[a][a][l] * gam[l][m][b] - gam[a][m][l] * gam[l][a][b] for a in rng for l in rng)
             for b in rng for m in rng)
    T = [[[sum(F1[j] * ws[j][a] * ws[j][m] * ws[j][q] for j in range(n)) / n for q in rng] for m in rng] for a in rng]
    TT = sum(gi[a, a2] * gi[m, m2] * gi[q, q2] * T[a][m][q] * T[a2][m2][q2]
             for a in rng for a2 in rng for m in rng for m2 in rng for q in rng for q2 in rng)
    tau = [sum(gi[m, q] * T[a][m][q] for m in rng for q in rng) for a in rng]
    K = TT - sum(gi[a, c] * tau[a] * tau[c] for a in rng for c in rng)
    return sp.simplify(sp.together(deriv - K / 2)), sp.simplify(sp.together(gg + K / 4))
