"""Curvature of an explicit metric with SymPy: Christoffel symbols, Riemann, Ricci, scalar.

Conventions (Methods: curvature conventions; sign chosen so that the unit 2-sphere has R = +2)::

    Gamma^a_{mn} = 1/2 g^{ab} (d_m g_{bn} + d_n g_{bm} - d_b g_{mn})
    R^a_{bmn}    = d_m Gamma^a_{nb} - d_n Gamma^a_{mb} + Gamma^a_{ml} Gamma^l_{nb} - Gamma^a_{nl} Gamma^l_{mb}
    R_{bn}       = R^a_{ban}
    R            = g^{bn} R_{bn}

Index order of arrays: ``christoffel(...)[a][m][n] = Gamma^a_{mn}``,
``riemann(...)[a][b][m][n] = R^a_{bmn}``, ``riemann_lowered(...)[a][b][m][n] = R_{abmn} = g_{ap} R^p_{bmn}``.
In d = 2, R = 2K (K the Gaussian curvature).

How it is computed (no blind ``simplify`` over d^4 loops):

* Everything goes through the fully lowered tensor, which needs no derivative of g^{-1}
  (standard identity, e.g. Carroll, *Spacetime and Geometry*, eq. 3.67, in the sign above)::

      R_{abmn} = 1/2 (d_b d_m g_{an} + d_a d_n g_{bm} - d_a d_m g_{bn} - d_b d_n g_{am})
                 + g^{pq} (Gamma_{q,na} Gamma_{p,mb} - Gamma_{q,ma} Gamma_{p,nb}),
      Gamma_{a,mn} = 1/2 (d_m g_{an} + d_n g_{am} - d_a g_{mn})   (first kind, no inverse).

* Only the independent components are formed: pairs (a<b), (m<n) with (a,b) <= (m,n), i.e.
  N(N+1)/2 with N = d(d-1)/2 (1 in d=2, 6 in d=3, 21 in d=4); the rest follow from
  R_{abmn} = -R_{bamn} = -R_{abnm} = R_{mnab}.
* The inverse is g^{-1} = adj(g) / det(g) with det(g) simplified once ("staged"
  simplification); with ``simplify=True`` each independent component is simplified once and
  the final scalar once; ``"final"`` simplifies only the result; ``False`` none.
* The same core works from a *jet* (g, dg, ddg at one point, :func:`scalar_curvature_from_jet`),
  which is how rotation-invariant metrics are checked in any dimension.
"""
from __future__ import annotations

from itertools import combinations
from typing import Sequence

import sympy as sp

from .simplify import bounded_simplify, is_zero

SIMPLIFY_MODES = (True, False, "final")


STAGE_SECONDS = 120.0  # time limit of each simplification (bounded_simplify): never unbounded


def _simp(expr):
    return bounded_simplify(expr, seconds=STAGE_SECONDS)


def _check_simplify(simplify) -> str:
    if simplify is True:
        return "staged"
    if simplify is False or simplify is None:
        return "none"
    if simplify == "final":
        return "final"
    raise ValueError(f"simplify must be True (staged), False or 'final', got {simplify!r}")


def _as_metric(g, coords: Sequence[sp.Symbol]) -> tuple[sp.Matrix, tuple[sp.Symbol, ...]]:
    coords = tuple(coords)
    d = len(coords)
    if d < 1:
        raise ValueError("a metric needs at least one coordinate (dimension d >= 1)")
    if any(not isinstance(c, sp.Symbol) for c in coords):
        raise TypeError("coordinates must be SymPy symbols")
    if len(set(coords)) != d:
        raise ValueError(f"coordinates must be distinct symbols, got {coords}")
    try:
        g = sp.Matrix(g)
    except Exception as exc:  # noqa: BLE001 - anything SymPy cannot read as a matrix
        raise TypeError(f"metric must be a SymPy matrix (or nested list), got {type(g).__name__}: {exc}") from None
    if g.shape != (d, d):
        raise ValueError(f"metric has shape {g.shape} but there are {d} coordinates: expected ({d}, {d})")
    for i in range(d):
        for j in range(i + 1, d):
            diff = g[i, j] - g[j, i]
            if diff != 0 and not is_zero(diff, seconds=30):
                raise ValueError(f"metric is not symmetric: g[{i},{j}] - g[{j},{i}] = {diff}")
    return g, coords


def _inverse(g: sp.Matrix, mode: str) -> sp.Matrix:
    """g^{-1} as adj(g)/det(g) with det simplified once (staged); plain inverse otherwise."""
    d = g.shape[0]
    if d == 1:
        return sp.Matrix([[1 / g[0, 0]]])
    det = g.det(method="berkowitz")
    if mode == "staged":
        det = bounded_simplify(det, seconds=STAGE_SECONDS, how=lambda e: sp.factor(sp.simplify(e)))
    if det == 0:
        raise ValueError("metric is singular (det g = 0): curvature is undefined (Methods: degenerate metrics)")
    adj = g.adjugate(method="berkowitz")
    return adj / det


def _first_kind(dg) -> list:
    """Gamma_{a,mn} = 1/2 (d_m g_{an} + d_n g_{am} - d_a g_{mn}); ``dg[k][i, j] = d_k g_ij``."""
    d = len(dg)
    G = [[[None] * d for _ in range(d)] for _ in range(d)]
    for a in range(d):
        for m in range(d):
            for n in range(m, d):
                G[a][m][n] = G[a][n][m] = (dg[m][a, n] + dg[n][a, m] - dg[a][m, n]) / 2
    return G


def _pairs(d):
    return list(combinations(range(d), 2))


def _lowered_independent(ginv, dg, ddg, mode: str) -> dict:
    """Independent R_{abmn}, keyed ((a, b), (m, n)) with a<b, m<n, (a,b) <= (m,n).

    ``dg[k][i, j] = d_k g_ij``, ``ddg[k][l][i, j] = d_k d_l g_ij`` (symmetric in k, l).
    """
    d = len(dg)
    G1 = _first_kind(dg)
    pairs = _pairs(d)
    out = {}
    for i, (a, b) in enumerate(pairs):
        for (m, n) in pairs[i:]:
            second = (ddg[b][m][a, n] + ddg[a][n][b, m] - ddg[a][m][b, n] - ddg[b][n][a, m]) / 2
            quad = sum(ginv[p, q] * (G1[q][n][a] * G1[p][m][b] - G1[q][m][a] * G1[p][n][b])
                       for p in range(d) for q in range(d) if ginv[p, q] != 0)
            expr = second + quad
            out[(a, b), (m, n)] = _simp(expr) if mode == "staged" else expr
    return out


def _lowered_component(indep: dict, a, b, m, n):
    if a == b or m == n:
        return sp.S.Zero
    sign = 1
    if a > b:
        a, b, sign = b, a, -sign
    if m > n:
        m, n, sign = n, m, -sign
    key = ((a, b), (m, n)) if (a, b) <= (m, n) else ((m, n), (a, b))
    return sign * indep[key]


def _scalar_from_independent(ginv, indep: dict, d: int):
    """R = g^{am} g^{bn} R_{abmn} = sum_{a<b, m<n} 2 (g^{am} g^{bn} - g^{an} g^{bm}) R_{abmn}."""
    total = sp.S.Zero
    for ((a, b), (m, n)), val in indep.items():
        weight = 2 * (ginv[a, m] * ginv[b, n] - ginv[a, n] * ginv[b, m])
        if (a, b) != (m, n):
            weight = 2 * weight  # the (m,n),(a,b) twin
        total += weight * val
    return total


def _sym_diff(M: sp.Matrix, v) -> sp.Matrix:
    """d M / d v for a symmetric matrix, entry by entry (i <= j only; much faster than Matrix.diff)."""
    d = M.shape[0]
    out = sp.zeros(d, d)
    for i in range(d):
        for j in range(i, d):
            out[i, j] = out[j, i] = sp.diff(M[i, j], v)
    return out


def _jet(g: sp.Matrix, x):
    d = len(x)
    dg = [_sym_diff(g, x[k]) for k in range(d)]
    ddg = [[None] * d for _ in range(d)]
    for k in range(d):
        for l in range(k, d):
            ddg[k][l] = ddg[l][k] = _sym_diff(dg[k], x[l])
    return dg, ddg


def christoffel(g, coords, *, simplify=True):
    """Christoffel symbols of the second kind, ``Gamma[a][m][n] = Gamma^a_{mn}`` (symmetric in m, n).

    ``g``: SymPy matrix, shape=[d, d]; ``coords``: d SymPy symbols. Only the d * d(d+1)/2
    independent components are formed; with ``simplify=True`` each is simplified once.
    """
    mode = _check_simplify(simplify)
    g, x = _as_metric(g, coords)
    d = len(x)
    ginv = _inverse(g, mode)
    G1 = _first_kind([_sym_diff(g, xk) for xk in x])
    gam = [[[sp.S.Zero] * d for _ in range(d)] for _ in range(d)]
    for a in range(d):
        for m in range(d):
            for n in range(m, d):
                expr = sum(ginv[a, b] * G1[b][m][n] for b in range(d))
                expr = _simp(expr) if mode != "none" else expr
                gam[a][m][n] = gam[a][n][m] = expr
    return gam


def riemann_lowered(g, coords, *, simplify=True):
    """Fully lowered Riemann tensor ``R[a][b][m][n] = R_{abmn}`` (nested lists, d^4 entries).

    Only the N(N+1)/2 independent components (N = d(d-1)/2) are computed; the others are filled
    in by the pair (anti)symmetries. Unit 2-sphere: R_{0101} = sin^2(theta).
    """
    mode = _check_simplify(simplify)
    g, x = _as_metric(g, coords)
    d = len(x)
    ginv = _inverse(g, mode)
    indep = _lowered_independent(ginv, *_jet(g, x), mode)
    return [[[[_lowered_component(indep, a, b, m, n) for n in range(d)] for m in range(d)]
             for b in range(d)] for a in range(d)]


def riemann(g, coords, *, simplify=True, gamma=None):
    """Riemann tensor ``R[a][b][m][n] = R^a_{bmn}`` (antisymmetric in m, n).

    Raised from the independent lowered components, ``R^a_{bmn} = g^{ap} R_{pbmn}``.
    ``gamma`` is accepted for backward compatibility and ignored (the lowered route needs none).
    """
    mode = _check_simplify(simplify)
    g, x = _as_metric(g, coords)
    d = len(x)
    ginv = _inverse(g, mode)
    indep = _lowered_independent(ginv, *_jet(g, x), mode)
    R = [[[[sp.S.Zero] * d for _ in range(d)] for _ in range(d)] for _ in range(d)]
    for a in range(d):
        for b in range(d):
            for m in range(d):
                for n in range(m + 1, d):
                    expr = sum(ginv[a, p] * _lowered_component(indep, p, b, m, n) for p in range(d))
                    expr = _simp(expr) if mode != "none" else expr
                    R[a][b][m][n] = expr
                    R[a][b][n][m] = -expr
    return R


def ricci(g, coords, *, simplify=True, gamma=None) -> sp.Matrix:
    """Ricci tensor ``R_{bn} = R^a_{ban} = g^{am} R_{abmn}``, shape=[d, d] (symmetric).

    ``gamma`` is accepted for backward compatibility and ignored.
    """
    mode = _check_simplify(simplify)
    g, x = _as_metric(g, coords)
    d = len(x)
    ginv = _inverse(g, mode)
    indep = _lowered_independent(ginv, *_jet(g, x), mode)
    Ric = sp.zeros(d, d)
    for b in range(d):
        for n in range(b, d):
            expr = sum(ginv[a, m] * _lowered_component(indep, a, b, m, n)
                       for a in range(d) for m in range(d) if ginv[a, m] != 0)
            expr = _simp(expr) if mode != "none" else expr
            Ric[b, n] = Ric[n, b] = expr
    return Ric


def scalar_curvature(g, coords, *, simplify=True) -> sp.Expr:
    """Ricci scalar ``R = g^{bn} R_{bn}`` (unit 2-sphere: +2), from the independent lowered
    Riemann components. ``simplify``: True (staged), ``"final"`` (only the result) or False."""
    mode = _check_simplify(simplify)
    g, x = _as_metric(g, coords)
    d = len(x)
    if d == 1:
        return sp.S.Zero  # a curve is intrinsically flat
    ginv = _inverse(g, mode)
    indep = _lowered_independent(ginv, *_jet(g, x), mode)
    R = _scalar_from_independent(ginv, indep, d)
    return _simp(R) if mode != "none" else R


def scalar_curvature_from_jet(g, dg, ddg, *, simplify=False) -> sp.Expr:
    """Scalar curvature at one point from the metric's 2-jet there.

    ``g``: shape=[d, d] values; ``dg[k]``: shape=[d, d] = d_k g; ``ddg[k][l]``: shape=[d, d] =
    d_k d_l g. Entries may be numbers or SymPy expressions (e.g. symbols standing for A(u), A'(u)).
    Same formula and conventions as :func:`scalar_curvature`.
    """
    g = sp.Matrix(g)
    d = g.shape[0]
    if g.shape != (d, d) or len(dg) != d or len(ddg) != d or any(len(row) != d for row in ddg):
        raise ValueError(f"jet shapes do not match: g {g.shape}, len(dg)={len(dg)}, len(ddg)={len(ddg)}")
    if d == 1:
        return sp.S.Zero
    ginv = g.inv()
    indep = _lowered_independent(ginv, [sp.Matrix(m) for m in dg],
                                 [[sp.Matrix(m) for m in row] for row in ddg], "none")
    R = _scalar_from_independent(ginv, indep, d)
    return _simp(R) if simplify else R


def volume_element(g, coords) -> sp.Expr:
    """sqrt(det g) (the Riemannian volume element / magnification factor)."""
    g, _ = _as_metric(g, coords)
    return sp.sqrt(bounded_simplify(g.det(), seconds=STAGE_SECONDS, how=lambda e: sp.factor(sp.simplify(e))))


def scalar_curvature_flipped_gamma_terms(g, coords) -> sp.Expr:
    """FOR COMPARISON ONLY: the Ricci pattern of the authors' autograd ``ricci`` (Methods: the authors' curvature),
    derivative terms standard but both Gamma-Gamma terms with flipped signs::

        R'_{bn} = d_a Gamma^a_{bn} - d_b Gamma^a_{an} + Gamma^l_{an} Gamma^a_{bl} - Gamma^l_{bn} Gamma^a_{al}

    contracted with g^{bn}. Equals R on the sphere and H^2; not a curvature in general.
    """
    g, x = _as_metric(g, coords)
    d = len(x)
    gam = christoffel(g, x, simplify=False)
    ginv = _inverse(g, "none")
    total = sp.S.Zero
    for b in range(d):
        for n in range(d):
            if ginv[b, n] == 0:
                continue
            ric = sum(sp.diff(gam[a][b][n], x[a]) - sp.diff(gam[a][a][n], x[b])
                      + sum(gam[l][a][n] * gam[a][b][l] - gam[l][b][n] * gam[a][a][l] for l in range(d))
                      for a in range(d))
            total += ginv[b, n] * ric
    return total


def jet_at(g, coords, point: dict, *, exact: bool = False, digits: int = 30):
    """(g, dg, ddg) of an explicit metric evaluated at ``point`` ({symbol: value}); cheap compared
    with simplifying the full curvature expression when only values are needed. Values are
    evaluated to ``digits`` significant digits unless ``exact``."""
    g, x = _as_metric(g, coords)
    d = len(x)
    dg, ddg = _jet(g, x)

    def ev(M):
        M = M.subs(point)
        return M if exact else M.evalf(digits)

    if not exact:
        point = {k: sp.Float(v, digits) if not isinstance(v, sp.Basic) or v.is_Rational else v for k, v in point.items()}

    return ev(g), [ev(m) for m in dg], [[ev(ddg[k][l]) for l in range(d)] for k in range(d)]


def scalar_curvature_at(g, coords, point: dict, *, flipped_gamma_terms: bool = False, exact: bool = False):
    """Scalar curvature of an explicit metric at one point, from its 2-jet there (same conventions
    as :func:`scalar_curvature`); a 30-digit number unless ``exact`` (then simplified).
    ``flipped_gamma_terms=True`` evaluates instead the authors' autograd Ricci pattern (see
    :func:`scalar_curvature_flipped_gamma_terms`), for comparison only."""
    G, dG, ddG = jet_at(g, coords, point, exact=exact)
    if not flipped_gamma_terms:
        R = scalar_curvature_from_jet(G, dG, ddG)
        return _simp(R) if exact else R
    d = G.shape[0]
    ginv = G.inv()
    G1 = _first_kind(dG)
    gam = [[[sum(ginv[a, p] * G1[p][m][n] for p in range(d)) for n in range(d)] for m in range(d)] for a in range(d)]

    def dgam(c, a, m, n):  # d_c Gamma^a_{mn} = g^{ap} d_c Gamma_{p,mn} - g^{ap} (d_c g_{pq}) Gamma^q_{mn}
        dG1 = (ddG[c][m][:, n] + ddG[c][n][:, m] - sp.Matrix([ddG[c][p][m, n] for p in range(d)])) / 2
        return sum(ginv[a, p] * dG1[p] for p in range(d)) - sum(
            ginv[a, p] * dG[c][p, q] * gam[q][m][n] for p in range(d) for q in range(d))

    total = 0
    for b in range(d):
        for n in range(d):
            ric = sum(dgam(a, a, b, n) - dgam(b, a, a, n)
                      + sum(gam[l][a][n] * gam[a][b][l] - gam[l][b][n] * gam[a][a][l] for l in range(d))
                      for a in range(d))
            total += ginv[b, n] * ric
    return total
