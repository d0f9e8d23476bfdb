"""Curvature engine: lowered Riemann from independent components, jets, autodiff route, staged
simplification, bad input. Oracle: a slow textbook implementation kept here (Gamma of the second
kind differentiated directly, every component, no shortcuts)."""
import math

import pytest
import sympy as sp
import torch

from geomlib.symbolic import (christoffel, ricci, riemann, riemann_lowered, scalar_curvature, scalar_curvature_at,
                              scalar_curvature_from_jet, volume_element)
from geomlib.symbolic.autodiff import scalar_curvature_autodiff
from geomlib.symbolic.bridge import metric_to_torch
from geomlib.symbolic.curvature import scalar_curvature_flipped_gamma_terms


def oracle_R(g, x):
    """Textbook route of Methods: curvature conventions, written out with no symmetry shortcuts (slow; reference only)."""
    d = len(x)
    gi = g.inv()
    Gam = [[[sum(gi[a, b] * (sp.diff(g[b, n], x[m]) + sp.diff(g[b, m], x[n]) - sp.diff(g[m, n], x[b])) / 2
                 for b in range(d)) for n in range(d)] for m in range(d)] for a in range(d)]
    R = 0
    for b in range(d):
        for n in range(d):
            ric = sum(sp.diff(Gam[a][n][b], x[a]) - sp.diff(Gam[a][a][b], x[n])
                      + sum(Gam[a][a][l] * Gam[l][n][b] - Gam[a][n][l] * Gam[l][a][b] for l in range(d))
                      for a in range(d))
            R += gi[b, n] * ric
    return R


X3 = sp.symbols("x1:4", real=True)


def test_lowered_riemann_symmetries_and_oracle():
    x1, x2, x3 = X3
    g = sp.Matrix([[1 + x2**2, x1 * x3 / 5, 0], [x1 * x3 / 5, 2 + x1**3 / 4, x2 / 7], [0, x2 / 7, 1 + x3**2 / 3]])
    Rl = riemann_lowered(g, X3, simplify=False)
    pt = {x1: 0.3, x2: -0.4, x3: 0.7}
    ev = lambda e: float(sp.sympify(e).subs(pt))
    for a in range(3):
        for b in range(3):
            for m in range(3):
                for n in range(3):
                    v = ev(Rl[a][b][m][n])
                    assert v == pytest.approx(-ev(Rl[b][a][m][n]), abs=1e-12)
                    assert v == pytest.approx(ev(Rl[m][n][a][b]), abs=1e-12)
                    assert ev(Rl[a][b][m][n] + Rl[a][m][n][b] + Rl[a][n][b][m]) == pytest.approx(0, abs=1e-12)
    R = scalar_curvature(g, X3, simplify=False)
    assert float(R.subs(pt)) == pytest.approx(float(oracle_R(g, X3).subs(pt)), rel=1e-10)
    assert float(scalar_curvature_at(g, X3, pt)) == pytest.approx(float(R.subs(pt)), rel=1e-12)
    # ricci contracted with g^{-1} is R; riemann (mixed) lowered equals riemann_lowered
    Ric = ricci(g, X3, simplify=False)
    gi = g.inv()
    assert float(sum(gi[i, j] * Ric[i, j] for i in range(3) for j in range(3)).subs(pt)) == pytest.approx(float(R.subs(pt)), rel=1e-10)
    Rm = riemann(g, X3, simplify=False)
    lowered = sum(g[0, p] * Rm[p][1][0][2] for p in range(3))
    assert float(lowered.subs(pt)) == pytest.approx(ev(Rl[0][1][0][2]), abs=1e-12)


def test_two_sphere_lowered_component_and_modes():
    th, ph = sp.symbols("theta phi", positive=True)
    g = sp.diag(1, sp.sin(th) ** 2)
    Rl = riemann_lowered(g, (th, ph))
    assert sp.simplify(Rl[0][1][0][1] - sp.sin(th) ** 2) == 0
    for mode in (True, "final"):
        assert scalar_curvature(g, (th, ph), simplify=mode) == 2
    assert sp.simplify(scalar_curvature(g, (th, ph), simplify=False) - 2) == 0
    G = christoffel(g, (th, ph))
    assert sp.simplify(G[0][1][1] + sp.sin(th) * sp.cos(th)) == 0
    with pytest.raises(ValueError, match="simplify must be"):
        scalar_curvature(g, (th, ph), simplify="always")


def test_one_dimension_is_flat_and_singular_metric_raises():
    t = sp.Symbol("t", real=True)
    assert scalar_curvature(sp.Matrix([[1 + t**2]]), (t,)) == 0
    x, y = sp.symbols("x y", real=True)
    with pytest.raises(ValueError, match="singular"):
        scalar_curvature(sp.Matrix([[1, x], [x, x**2]]), (x, y))
    with pytest.raises(TypeError, match="symbols"):
        scalar_curvature(sp.eye(2), (x, 2))
    with pytest.raises(ValueError, match="distinct"):
        scalar_curvature(sp.eye(2), (x, x))


def test_jet_route_on_hyperbolic_space_h3():
    # upper half-space y^-2 I in d = 3: R = -d(d-1) = -6, from values of the 2-jet at a point
    x1, x2, x3 = X3
    g = sp.eye(3) / x3**2
    assert float(scalar_curvature_at(g, X3, {x1: 0.2, x2: 1.0, x3: 0.7})) == pytest.approx(-6, abs=1e-12)
    assert scalar_curvature_at(g, X3, {x1: 0, x2: 0, x3: sp.Rational(1, 2)}, exact=True) == -6
    with pytest.raises(ValueError, match="jet shapes"):
        scalar_curvature_from_jet(sp.eye(2), [sp.zeros(2)], [[sp.zeros(2)]])


def test_volume_element():
    r, ph = sp.symbols("r phi", positive=True)
    assert sp.simplify(volume_element(sp.diag(1, r**2), (r, ph)) - r) == 0


def test_flipped_gamma_pattern_equals_R_on_sphere_and_hyperbolic_plane():
    th, ph = sp.symbols("theta phi", positive=True)
    x, y = sp.symbols("x y", real=True)
    assert sp.simplify(scalar_curvature_flipped_gamma_terms(sp.diag(1, sp.sin(th) ** 2), (th, ph)) - 2) == 0
    assert sp.simplify(scalar_curvature_flipped_gamma_terms(sp.diag(1 / y**2, 1 / y**2), (x, y)) + 2) == 0
    # ... and not a curvature in general: graph surface differs from R
    f = x**2 * y / 3 + sp.sin(x) * y**2 / 2
    grad = sp.Matrix([f.diff(x), f.diff(y)])
    g = sp.eye(2) + grad * grad.T
    pt = {x: 0.4, y: -0.3}
    assert abs(float(scalar_curvature_at(g, (x, y), pt, flipped_gamma_terms=True))
               - float(scalar_curvature_at(g, (x, y), pt))) > 1e-4


def test_autodiff_route_matches_symbolic(device):
    th, ph = sp.symbols("theta phi", positive=True)
    sphere = metric_to_torch(sp.diag(1, sp.sin(th) ** 2), (th, ph))
    pts = torch.rand(5, 2, device=device) + 0.4
    assert torch.allclose(scalar_curvature_autodiff(sphere, pts), torch.full((5,), 2.0, device=device), atol=1e-10)
    x1, x2, x3 = X3
    g = sp.Matrix([[1 + x2**2, x1 * x3 / 5, 0], [x1 * x3 / 5, 2 + sp.sin(x1), x2 / 7], [0, x2 / 7, 1 + x3**2 / 3]])
    fn = metric_to_torch(g, X3)
    p = torch.tensor([[0.3, -0.4, 0.7]], device=device)
    ref = float(scalar_curvature_at(g, X3, {x1: 0.3, x2: -0.4, x3: 0.7}))
    assert scalar_curvature_autodiff(fn, p).item() == pytest.approx(ref, rel=1e-10)
    # graph surface (C1) through the same bridge
    f = x1**2 * x2 / 3 + sp.sin(x1) * x2**2 / 2
    grad = sp.Matrix([f.diff(x1), f.diff(x2)])
    fn2 = metric_to_torch(sp.eye(2) + grad * grad.T, (x1, x2))
    assert scalar_curvature_autodiff(fn2, torch.tensor([[0.4, -0.3]], device=device)).item() == pytest.approx(
        -0.1677456523, abs=1e-10)
    assert math.isfinite(scalar_curvature_autodiff(fn2, torch.zeros(1, 2, device=device)).item())
