"""Curvature conventions (Methods: curvature conventions, C1): sphere +2, hyperbolic plane -2, polar plane 0."""
import pytest
import sympy as sp

from geomlib.symbolic import christoffel, ricci, riemann, scalar_curvature


def test_textbook_metrics():
    th, ph, r, a = sp.symbols("theta phi r a", positive=True)
    x, y = sp.symbols("x y", real=True)
    assert scalar_curvature(sp.diag(1, sp.sin(th) ** 2), (th, ph)) == 2
    assert sp.simplify(scalar_curvature(sp.diag(a**2, a**2 * sp.sin(th) ** 2), (th, ph)) - 2 / a**2) == 0
    assert scalar_curvature(sp.diag(1 / y**2, 1 / y**2), (x, y)) == -2
    assert scalar_curvature(sp.diag(1, r**2), (r, ph)) == 0


def test_three_sphere_and_riemann_symmetries():
    c = sp.symbols("c0:3", positive=True)
    g = sp.diag(1, sp.sin(c[0]) ** 2, sp.sin(c[0]) ** 2 * sp.sin(c[1]) ** 2)
    assert sp.simplify(scalar_curvature(g, c) - 6) == 0  # S^3: d(d-1)
    R = riemann(g, c)
    Ric = ricci(g, c)
    for b in range(3):
        for n in range(3):
            assert sp.simplify(sum(R[a][b][a][n] for a in range(3)) - Ric[b, n]) == 0
            for m in range(3):
                for a in range(3):
                    assert sp.simplify(R[a][b][m][n] + R[a][b][n][m]) == 0
                    # first Bianchi identity
                    assert sp.simplify(R[a][b][m][n] + R[a][m][n][b] + R[a][n][b][m]) == 0


def test_graph_surface_reference_value():
    x1, x2 = sp.symbols("x1 x2", real=True)
    f = x1**2 * x2 / 3 + sp.sin(x1) * x2**2 / 2
    grad = sp.Matrix([f.diff(x1), f.diff(x2)])
    R = scalar_curvature(sp.eye(2) + grad * grad.T, (x1, x2), simplify=False)
    val = float(R.subs({x1: sp.Rational(2, 5), x2: sp.Rational(-3, 10)}))
    assert val == pytest.approx(-0.1677456523, abs=1e-10)


def test_christoffel_flat_polar():
    r, ph = sp.symbols("r phi", positive=True)
    G = christoffel(sp.diag(1, r**2), (r, ph))
    assert G[0][1][1] == -r and sp.simplify(G[1][0][1] - 1 / r) == 0


def test_bad_metric_input():
    x, y = sp.symbols("x y")
    with pytest.raises(ValueError, match="expected \\(2, 2\\)"):
        scalar_curvature(sp.eye(3), (x, y))
    with pytest.raises(ValueError, match="not symmetric"):
        scalar_curvature(sp.Matrix([[1, x], [0, 1]]), (x, y))
    with pytest.raises(ValueError, match="d >= 1"):
        scalar_curvature(sp.Matrix(0, 0, []), ())
