"""Closed forms for rotation-invariant metrics g = A(u) I + B(u) x x^T, u = |x|^2 (Methods: T4).

The formulas are written as plain arithmetic so the *same* function evaluates SymPy expressions
and torch tensors. Conventions: Methods: curvature conventions (unit sphere R = +2); ``'`` is d/du.

* T4a (any d)::

    sqrt(det g) = A^{d/2} sqrt(1 + u B / A)
    R = (d-1) / (A^2 (A+uB)^2) * { d (A+uB) [A (B - 2A') - u A'^2]
        + 2u [ -2 A A'' (A+uB) + A B' (A + u A') + A'^2 (3A + 2uB) - A B^2 ] }

  Derivation: in polar coordinates g = (A+uB) dr^2 + A r^2 dOmega_{d-1}^2, a warped product
  d rho^2 + h(rho)^2 dOmega^2 with d rho = sqrt(A+uB) dr, h = r sqrt(A), whose scalar curvature is
  R = -2(d-1) h_{rho rho}/h + (d-1)(d-2)(1 - h_rho^2)/h^2 (:func:`scalar_curvature_warped`, an
  independent route kept for checking).
* T4b: g = e^Omega [I + 2 Omega' x x^T] (every shallow infinite-width metric, T3)::

    R = -(d-1) e^{-Omega} u Omega' [(d+2) Omega' + 2(d-2) u Omega'^2 + 4u Omega''] / (1 + 2u Omega')^2
* T4c: e^Omega = kappa (alpha + beta u)^p (erf, arc-cosine with bias)::

    sqrt(det g) = kappa^{d/2} (alpha+beta u)^{dp/2} sqrt((alpha + (2p+1) beta u)/(alpha + beta u))
    R = -(d-1) p^2 beta^2 u [(d+2) alpha + (d-2)(2p+1) beta u] / (kappa (alpha+beta u)^{p+1} (alpha+(2p+1) beta u)^2)
"""
from __future__ import annotations

import sympy as sp

U = sp.Symbol("u", positive=True)  # |x|^2; formulas are continuous at u = 0


def _check_dim(d):
    if isinstance(d, sp.Symbol):
        return d
    if isinstance(d, bool) or int(d) != d or int(d) < 1:
        raise ValueError(f"input dimension d must be an integer >= 1, got {d!r}")
    return int(d)


def t4a_scalar_curvature(A, Ap, App, B, Bp, u, d):
    """T4a from the values A, A', A'', B, B' at u (SymPy or torch, any broadcastable shapes)."""
    d = _check_dim(d)
    C = A + u * B
    return (d - 1) / (A**2 * C**2) * (
        d * C * (A * (B - 2 * Ap) - u * Ap**2)
        + 2 * u * (-2 * A * App * C + A * Bp * (A + u * Ap) + Ap**2 * (3 * A + 2 * u * B) - A * B**2))


def t4a_volume_element(A, B, u, d):
    """sqrt(det(A I + B x x^T)) = A^{d/2} sqrt(1 + uB/A) (eigenvalues A, d-1 times, and A + uB)."""
    d = _check_dim(d)
    if isinstance(A, sp.Basic) or isinstance(B, sp.Basic):
        return A ** (sp.S(d) / 2) * sp.sqrt(1 + u * B / A)
    import torch

    return torch.exp(t4a_log_volume(A, B, u, d))


def t4a_log_volume(A, B, u, d):
    """1/2 log det g = d/2 log A + 1/2 log(1 + uB/A) (torch or SymPy)."""
    d = _check_dim(d)
    if isinstance(A, sp.Basic) or isinstance(B, sp.Basic):
        return sp.S(d) / 2 * sp.log(A) + sp.log(1 + u * B / A) / 2
    import torch

    return d / 2 * torch.log(A) + 0.5 * torch.log1p(u * B / A)


def scalar_curvature_rotation_invariant(A: sp.Expr, B: sp.Expr, d, u: sp.Symbol = U) -> sp.Expr:
    """T4a for explicit A(u), B(u) (SymPy expressions in ``u``)."""
    return t4a_scalar_curvature(A, sp.diff(A, u), sp.diff(A, u, 2), B, sp.diff(B, u), u, d)


def scalar_curvature_warped(A: sp.Expr, B: sp.Expr, d, u: sp.Symbol = U) -> sp.Expr:
    """Independent route: warped product d rho^2 + h^2 dOmega^2 with h = r sqrt(A), rho_r = sqrt(A + uB)."""
    d = _check_dim(d)
    r = sp.Symbol("r", positive=True)
    Ar, Br = A.subs(u, r**2), B.subs(u, r**2)
    h = r * sp.sqrt(Ar)
    rho_r = sp.sqrt(Ar + r**2 * Br)
    h_rho = sp.diff(h, r) / rho_r
    h_rhorho = sp.diff(h_rho, r) / rho_r
    R = -2 * (d - 1) * h_rhorho / h + (d - 1) * (d - 2) * (1 - h_rho**2) / h**2
    return R.subs(r, sp.sqrt(u))


def scalar_curvature_omega(Omega: sp.Expr, d, u: sp.Symbol = U) -> sp.Expr:
    """T4b: R of g = e^Omega [I + 2 Omega' x x^T] for an explicit Omega(u)."""
    d = _check_dim(d)
    O1, O2 = sp.diff(Omega, u), sp.diff(Omega, u, 2)
    return -(d - 1) * sp.exp(-Omega) * u * O1 * ((d + 2) * O1 + 2 * (d - 2) * u * O1**2 + 4 * u * O2) / (1 + 2 * u * O1) ** 2


def power_law(kappa, alpha, beta, p, d, u: sp.Symbol = U) -> tuple[sp.Expr, sp.Expr]:
    """T4c: (sqrt(det g), R) for e^Omega = kappa (alpha + beta u)^p."""
    d = _check_dim(d)
    vol = kappa ** (sp.S(d) / 2) * (alpha + beta * u) ** (sp.S(d) * p / 2) * sp.sqrt(
        (alpha + (2 * p + 1) * beta * u) / (alpha + beta * u))
    R = -(d - 1) * p**2 * beta**2 * u * ((d + 2) * alpha + (d - 2) * (2 * p + 1) * beta * u) / (
        kappa * (alpha + beta * u) ** (p + 1) * (alpha + (2 * p + 1) * beta * u) ** 2)
    return vol, R


def rotation_invariant_matrix(A: sp.Expr, B: sp.Expr, coords, u: sp.Symbol = U) -> sp.Matrix:
    """The explicit matrix A(|x|^2) I + B(|x|^2) x x^T in coordinates ``coords`` (shape=[d, d])."""
    x = sp.Matrix(list(coords))
    d = len(coords)
    if d < 1:
        raise ValueError("dimension d must be >= 1")
    usub = sum(c**2 for c in coords)
    return (A.subs(u, usub) * sp.eye(d) + B.subs(u, usub) * x * x.T)


def rotation_invariant_jet(d: int):
    """2-jet of A(u) I + B(u) x x^T at x = (r, 0, ..., 0), with symbols for A, A', A'', B, B', B''.

    Returns (g, dg, ddg, symbols) for :func:`geomlib.symbolic.curvature.scalar_curvature_from_jet`.
    By rotation invariance this point is general, so equality with T4a there proves T4a in that d.
    """
    d = _check_dim(d)
    r = sp.Symbol("r", positive=True)
    A0, A1, A2, B0, B1, B2 = sp.symbols("A A1 A2 B B1 B2", real=True)
    x = [r] + [0] * (d - 1)

    def dl(i, j):
        return 1 if i == j else 0

    g = sp.Matrix(d, d, lambda i, j: A0 * dl(i, j) + B0 * x[i] * x[j])
    dg = [sp.Matrix(d, d, lambda i, j: 2 * x[k] * (A1 * dl(i, j) + B1 * x[i] * x[j])
                    + B0 * (dl(i, k) * x[j] + dl(j, k) * x[i])) for k in range(d)]

    def dd(l, k, i, j):  # d_l d_k g_ij
        return (2 * dl(k, l) * (A1 * dl(i, j) + B1 * x[i] * x[j])
                + 4 * x[k] * x[l] * (A2 * dl(i, j) + B2 * x[i] * x[j])
                + 2 * x[k] * B1 * (dl(i, l) * x[j] + dl(j, l) * x[i])
                + 2 * x[l] * B1 * (dl(i, k) * x[j] + dl(j, k) * x[i])
                + B0 * (dl(i, k) * dl(j, l) + dl(j, k) * dl(i, l)))

    ddg = [[sp.Matrix(d, d, lambda i, j: dd(l, k, i, j)) for k in range(d)] for l in range(d)]
    return g, dg, ddg, {"r": r, "A": A0, "A1": A1, "A2": A2, "B": B0, "B1": B1, "B2": B2}
