"""Curvature of an explicit metric with SymPy: Christoffel symbols, Riemann, Ricci, scalar.

Conventions (SPEC §2.4; sign chosen so that the unit 2-sphere has R = +2)::

    Gamma^a_{mn} = 1/2 g^{ab} (d_m g_{bn} + d_n g_{bm} - d_b g_{mn})
    R^a_{bmn}    = d_m Gamma^a_{nb} - d_n Gamma^a_{mb} + Gamma^a_{ml} Gamma^l_{nb} - Gamma^a_{nl} Gamma^l_{mb}
    R_{bn}       = R^a_{ban}
    R            = g^{bn} R_{bn}

Index order of arrays: ``christoffel(...)[a][m][n] = Gamma^a_{mn}``,
``riemann(...)[a][b][m][n] = R^a_{bmn}``. In d = 2, R = 2K (K the Gaussian curvature).
"""
from __future__ import annotations

from typing import Sequence

import sympy as sp


def _as_metric(g, coords: Sequence[sp.Symbol]) -> tuple[sp.Matrix, tuple[sp.Symbol, ...]]:
    g = sp.Matrix(g)
    coords = tuple(coords)
    d = len(coords)
    if d < 1:
        raise ValueError("a metric needs at least one coordinate (dimension d >= 1)")
    if g.shape != (d, d):
        raise ValueError(f"metric has shape {g.shape} but there are {d} coordinates: expected ({d}, {d})")
    if any(not isinstance(c, sp.Symbol) for c in coords):
        raise TypeError("coordinates must be SymPy symbols")
    if (g - g.T).applyfunc(sp.simplify) != sp.zeros(d, d):
        raise ValueError("metric is not symmetric")
    return g, coords


def christoffel(g, coords, *, simplify: bool = True):
    """Christoffel symbols of the second kind, ``Gamma[a][m][n]`` (symmetric in m, n).

    ``g``: SymPy matrix, shape=[d, d]; ``coords``: d SymPy symbols.
    Only the d * d(d+1)/2 independent components are computed.
    """
    g, x = _as_metric(g, coords)
    d = len(x)
    ginv = g.inv()
    if simplify:
        ginv = ginv.applyfunc(sp.simplify)
    dg = [[[sp.diff(g[i, j], x[k]) for k in range(d)] for j in range(d)] for i in range(d)]
    gam = [[[sp.S.Zero] * d for _ in range(d)] for _ in range(d)]
    for a in range(d):
        for m in range(d):
            for n in range(m, d):
                expr = sp.Rational(1, 2) * sum(
                    ginv[a, b] * (dg[b][n][m] + dg[b][m][n] - dg[m][n][b]) for b in range(d)
                )
                expr = sp.simplify(expr) if simplify else expr
                gam[a][m][n] = gam[a][n][m] = expr
    return gam


def riemann(g, coords, *, simplify: bool = True, gamma=None):
    """Riemann tensor ``R[a][b][m][n] = R^a_{bmn}`` (antisymmetric in m, n; only m < n computed)."""
    g, x = _as_metric(g, coords)
    d = len(x)
    gam = gamma if gamma is not None else christoffel(g, x, simplify=simplify)
    R = [[[[sp.S.Zero] * d for _ in range(d)] for _ in range(d)] for _ in range(d)]
    for a in range(d):
        for b in range(d):
            for m in range(d):
                for n in range(m + 1, d):
                    expr = (sp.diff(gam[a][n][b], x[m]) - sp.diff(gam[a][m][b], x[n])
                            + sum(gam[a][m][l] * gam[l][n][b] - gam[a][n][l] * gam[l][m][b] for l in range(d)))
                    expr = sp.simplify(expr) if simplify else expr
                    R[a][b][m][n] = expr
                    R[a][b][n][m] = -expr
    return R


def ricci(g, coords, *, simplify: bool = True, gamma=None) -> sp.Matrix:
    """Ricci tensor ``R_{bn} = R^a_{ban}``, shape=[d, d] (symmetric)."""
    g, x = _as_metric(g, coords)
    d = len(x)
    gam = gamma if gamma is not None else christoffel(g, x, simplify=simplify)
    Ric = sp.zeros(d, d)
    for b in range(d):
        for n in range(b, d):
            expr = sum(
                sp.diff(gam[a][n][b], x[a]) - sp.diff(gam[a][a][b], x[n])
                + sum(gam[a][a][l] * gam[l][n][b] - gam[a][n][l] * gam[l][a][b] for l in range(d))
                for a in range(d)
            )
            expr = sp.simplify(expr) if simplify else expr
            Ric[b, n] = Ric[n, b] = expr
    return Ric


def scalar_curvature(g, coords, *, simplify: bool = True) -> sp.Expr:
    """Ricci scalar ``R = g^{bn} R_{bn}`` (unit 2-sphere: +2)."""
    g, x = _as_metric(g, coords)
    Ric = ricci(g, x, simplify=simplify)
    ginv = g.inv()
    d = len(x)
    expr = sum(ginv[b, n] * Ric[b, n] for b in range(d) for n in range(d))
    return sp.simplify(expr) if simplify else expr


def volume_element(g, coords) -> sp.Expr:
    """sqrt(det g) (the Riemannian volume element / magnification factor)."""
    g, _ = _as_metric(g, coords)
    return sp.sqrt(sp.simplify(g.det()))
