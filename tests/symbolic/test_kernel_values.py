"""Kernel expressions evaluated numerically (issue 11, case 2 and its kind): every NNGP kernel
expression geomlib returns evaluates finite and accurate through to_torch / to_numpy everywhere it
is defined, including x = y, points next to the diagonal, parallel and antiparallel points and inputs
of zero norm. Oracle: the textbook closed forms (Cho & Saul 2009 J_m; Williams 1997 asin) in mpmath
at 50 digits, themselves checked once against the defining Gaussian integral."""
import math
from functools import lru_cache

import mpmath as mp
import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given, settings, strategies as st

from geomlib.symbolic import arccos, erf, nngp_kernel, relu, to_numpy, to_torch
from geomlib.symbolic.kernels import THETA, arccos_J


def mp_kernel(kind, sw, sb, x, y):
    """Textbook kernel in mpmath (50 digits); theta = pi/2 where a norm vanishes (Heaviside(0) = 1/2)."""
    with mp.workdps(50):
        sw, sb = mp.mpf(sw), mp.mpf(sb)
        x, y = [mp.mpf(v) for v in x], [mp.mpf(v) for v in y]
        a = sw**2 * sum(v * v for v in x) + sb**2
        b = sw**2 * sum(v * v for v in y) + sb**2
        c = sw**2 * sum(p * q for p, q in zip(x, y)) + sb**2
        if kind == "erf_sqrt2":
            return 2 / mp.pi * mp.asin(c / mp.sqrt((1 + a) * (1 + b)))
        if kind == "erf_plain":
            return 2 / mp.pi * mp.asin(2 * c / mp.sqrt((1 + 2 * a) * (1 + 2 * b)))
        m = int(kind[-1])
        if a * b == 0:
            th = mp.pi / 2
        else:
            th = mp.acos(max(-1, min(1, c / mp.sqrt(a * b))))
        return (a * b) ** (mp.mpf(m) / 2) / (2 * mp.pi) * _J(m)(th)


@lru_cache(maxsize=None)
def _J(m):
    return sp.lambdify(THETA, arccos_J(m), "mpmath")


KINDS = {"arccos0": lambda: arccos(0), "arccos1": relu, "arccos2": lambda: arccos(2), "arccos3": lambda: arccos(3),
         "erf_sqrt2": lambda: erf("sqrt2"), "erf_plain": lambda: erf("plain")}


SW, SB = sp.Symbol("sigma_w", positive=True), sp.Symbol("sigma_b", nonnegative=True)


@lru_cache(maxsize=None)
def _compiled(kind, d):
    """The kernel with symbolic sigmas, compiled once per (kind, d); the sigmas are extra arguments."""
    xs, ys = sp.symbols(f"x1:{d + 1}", real=True), sp.symbols(f"y1:{d + 1}", real=True)
    k = nngp_kernel(KINDS[kind](), SW, SB).expr(xs, ys)
    return to_torch(k, xs + ys + (SW, SB)), to_numpy(k, xs + ys + (SW, SB))


def kernel_fns(kind, sw, sb, d):
    ft, fn = _compiled(kind, d)
    return (lambda *a: ft(*a, torch.tensor(float(sw), dtype=a[0].dtype), torch.tensor(float(sb), dtype=a[0].dtype)),
            lambda *a: fn(*a, float(sw), float(sb)))


def test_case2_relu_kernel_on_the_diagonal():
    """nngp_kernel(relu(), 1, 1) in d = 1 at x = y = 0.1: q_xx / 2 = 0.505 (was NaN)."""
    ft, fn = kernel_fns("arccos1", 1, 1, 1)
    v = ft(torch.tensor(0.1, dtype=torch.float64), torch.tensor(0.1, dtype=torch.float64))
    assert v.item() == pytest.approx(0.505, rel=1e-15)
    assert fn(0.1, 0.1) == pytest.approx(0.505, rel=1e-15)
    # first derivatives by autograd are finite on the diagonal: dk/dx = dk/dy = 1/2 dq_xy/dx = y / 2
    x = torch.tensor(0.1, dtype=torch.float64, requires_grad=True)
    y = torch.tensor(0.1, dtype=torch.float64, requires_grad=True)
    gx, gy = torch.autograd.grad(ft(x, y), (x, y))
    assert gx.item() == pytest.approx(0.05, rel=1e-14) and gy.item() == pytest.approx(0.05, rel=1e-14)


def test_textbook_oracle_equals_the_defining_integral():
    """E[phi(u) phi(v)], (u, v) ~ N(0, [[a, c], [c, b]]): for z^m Theta(z) integrate u > 0 with
    E[phi(v) | u] in closed form (v | u is Gaussian); for erf a 2-D Gauss-Hermite rule (smooth)."""
    x, y, sw, sb = (0.7, -0.2), (0.3, 0.5), 1.3, 0.4
    a = sw**2 * np.dot(x, x) + sb**2
    b = sw**2 * np.dot(y, y) + sb**2
    c = sw**2 * np.dot(x, y) + sb**2
    with mp.workdps(30):
        A, B, C = mp.mpf(a), mp.mpf(b), mp.mpf(c)
        sig = mp.sqrt(B - C * C / A)
        for m in (1, 2):
            def cond(u):  # E[relu(v)^m | u], v | u ~ N(mu, sig^2)
                mu = C / A * u
                t = mu / sig
                if m == 1:
                    return mu * mp.ncdf(t) + sig * mp.npdf(t)
                return (mu**2 + sig**2) * mp.ncdf(t) + mu * sig * mp.npdf(t)

            val = mp.quad(lambda u: u**m * cond(u) * mp.npdf(u, 0, mp.sqrt(A)), [0, mp.sqrt(A), mp.inf])
            assert float(val) == pytest.approx(float(mp_kernel(f"arccos{m}", sw, sb, x, y)), rel=1e-20)
    t, w = np.polynomial.hermite.hermgauss(60)
    L = np.linalg.cholesky(np.array([[a, c], [c, b]]))
    g1, g2 = np.meshgrid(np.sqrt(2) * t, np.sqrt(2) * t, indexing="ij")
    u, v = L[0, 0] * g1, L[1, 0] * g1 + L[1, 1] * g2
    from scipy.special import erf as serf

    quad = float(np.sum(np.outer(w, w) / np.pi * serf(u / np.sqrt(2)) * serf(v / np.sqrt(2))))
    assert quad == pytest.approx(float(mp_kernel("erf_sqrt2", sw, sb, x, y)), rel=1e-12)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_diagonal_and_zero_norm_inputs(kind):
    for sb in (0.0, 0.7):
        ft, fn = kernel_fns(kind, 1.3, sb, 2)
        pts = [((0.4, -0.9), (0.4, -0.9)), ((0.0, 0.0), (0.0, 0.0)), ((0.0, 0.0), (0.5, 0.2)),
               ((1e-9, 0.0), (1e-9, 0.0)), ((3.0, 4.0), (3.0, 4.0 + 1e-12)), ((0.5, 0.5), (-0.5, -0.5)),
               ((0.5, 0.5), (1.5, 1.5))]
        for x, y in pts:
            args = [torch.tensor(v, dtype=torch.float64) for v in x + y]
            vt, vn = ft(*args).item(), float(fn(*(x + y)))
            ref = float(mp_kernel(kind, 1.3, sb, x, y))
            scale = float(mp.sqrt(mp_kernel(kind, 1.3, sb, x, x) * mp_kernel(kind, 1.3, sb, y, y)))
            assert math.isfinite(vt) and math.isfinite(vn), (kind, sb, x, y)
            assert abs(vt - ref) <= 4e-15 * scale + 1e-300 and abs(vn - ref) <= 4e-15 * scale + 1e-300, (kind, sb, x, y, vt, ref)


@pytest.mark.parametrize("kind", ["arccos1", "arccos2", "arccos3", "erf_sqrt2"])
def test_first_derivatives_finite_and_right_on_the_diagonal(kind):
    """autograd of the torch kernel at y = x against central differences of the mpmath oracle
    (k is C^1 across the diagonal for these kernels; the step 1e-20 at 50 digits)."""
    d, sw, sb = 2, 1.1, 0.5
    ft, _ = kernel_fns(kind, sw, sb, d)
    x0 = (0.6, -0.3)
    xs = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in x0]
    ys = [torch.tensor(v, dtype=torch.float64) for v in x0]
    grads = torch.autograd.grad(ft(*xs, *ys), xs)
    h = mp.mpf("1e-20")
    for i, g in enumerate(grads):
        with mp.workdps(50):
            xp = [mp.mpf(v) + (h if j == i else 0) for j, v in enumerate(x0)]
            xm = [mp.mpf(v) - (h if j == i else 0) for j, v in enumerate(x0)]
            ref = (mp_kernel(kind, sw, sb, xp, x0) - mp_kernel(kind, sw, sb, xm, x0)) / (2 * h)
        assert torch.isfinite(g) and g.item() == pytest.approx(float(ref), rel=1e-13, abs=1e-15), (kind, i)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(kind=st.sampled_from(sorted(KINDS)), d=st.integers(1, 3), sw=st.floats(0.1, 3.0),
       sb=st.one_of(st.just(0.0), st.floats(0.05, 2.0)),
       x=st.lists(st.floats(-3, 3), min_size=3, max_size=3),
       rel_to=st.sampled_from(["same", "near", "parallel", "antiparallel", "random", "zero"]),
       eps=st.sampled_from([1e-14, 1e-9, 1e-5]), c=st.floats(0.1, 3.0), yr=st.lists(st.floats(-3, 3), min_size=3, max_size=3))
def test_property_kernels_finite_and_accurate_everywhere(kind, d, sw, sb, x, rel_to, eps, c, yr):
    x = x[:d]
    y = {"same": x, "near": [v + eps * (i + 1) for i, v in enumerate(x)], "parallel": [c * v for v in x],
         "antiparallel": [-c * v for v in x], "random": yr[:d], "zero": [0.0] * d}[rel_to]
    ft, fn = kernel_fns(kind, sw, sb, d)
    vt = ft(*[torch.tensor(v, dtype=torch.float64) for v in x + y]).item()
    vn = float(fn(*(x + y)))
    ref = float(mp_kernel(kind, sw, sb, x, y))
    scale = float(mp.sqrt(mp_kernel(kind, sw, sb, x, x) * mp_kernel(kind, sw, sb, y, y)))  # in mpmath: no underflow
    assert math.isfinite(vt) and math.isfinite(vn)
    tol = 1e-14 * scale + 1e-15 * abs(ref) + 1e-300
    assert abs(vt - ref) <= tol and abs(vn - ref) <= tol, (kind, d, sw, sb, x, y, vt, vn, ref)
    # float32 inputs give float32 values (the input's dtype, never the default dtype)
    v32 = ft(*[torch.tensor(v, dtype=torch.float32) for v in x + y])
    assert v32.dtype == torch.float32 and torch.isfinite(v32)
