"""The SymPy -> torch / NumPy bridge (issue 11, kind 8): every elementary function an activation can
contain is translated into vectorised code and agrees with SymPy's own 30-digit evaluation, or the
activation is refused at construction with a message naming the function. Also: overflow-free
logistic forms, dtype rules (kind 7), norms of sums of squares."""
import math

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given, settings, strategies as st

from geomlib.symbolic import DegenerateMetricError, Z, activation, shallow_metric, to_numpy, to_torch

x, y = sp.symbols("x y", real=True)

# (expression in x, domain (lo, hi) for x); every function of the bridge's table appears
TABLE = {
    "exp": (sp.exp(x), (-30, 30)), "log": (sp.log(x), (0.01, 50)), "log2": (sp.log(x, 2), (0.01, 50)),
    "sqrt": (sp.sqrt(x), (0, 50)), "pow3/2": (x ** sp.Rational(3, 2), (0, 20)), "pow-1/3": (x ** sp.Rational(-1, 3), (0.1, 20)),
    "cbrt": (sp.cbrt(x), (0.01, 20)), "sin": (sp.sin(x), (-10, 10)), "cos": (sp.cos(x), (-10, 10)),
    "tan": (sp.tan(x), (-1.5, 1.5)), "cot": (sp.cot(x), (0.1, 3)), "sec": (sp.sec(x), (-1.5, 1.5)),
    "csc": (sp.csc(x), (0.1, 3)), "asin": (sp.asin(x), (-1, 1)), "acos": (sp.acos(x), (-1, 1)),
    "atan": (sp.atan(x), (-50, 50)), "acot": (sp.acot(x), (-50, 50)), "asec": (sp.asec(x), (1, 50)),
    "acsc": (sp.acsc(x), (1, 50)), "sinh": (sp.sinh(x), (-20, 20)), "cosh": (sp.cosh(x), (-20, 20)),
    "tanh": (sp.tanh(x), (-20, 20)), "coth": (sp.coth(x), (0.1, 20)), "sech": (sp.sech(x), (-20, 20)),
    "csch": (sp.csch(x), (0.1, 20)), "asinh": (sp.asinh(x), (-50, 50)), "acosh": (sp.acosh(x), (1, 50)),
    "atanh": (sp.atanh(x), (-0.99, 0.99)), "acoth": (sp.acoth(x), (1.01, 50)), "asech": (sp.asech(x), (0.01, 1)),
    "acsch": (sp.acsch(x), (0.1, 50)), "sinc": (sp.sinc(x), (-20, 20)), "erf": (sp.erf(x), (-5, 5)),
    "erfc": (sp.erfc(x), (-5, 5)), "erfinv": (sp.erfinv(x), (-0.99, 0.99)), "erfcinv": (sp.erfcinv(x), (0.01, 1.99)),
    "gamma": (sp.gamma(x), (-4.9, 6)), "loggamma": (sp.loggamma(x), (0.1, 30)), "digamma": (sp.digamma(x), (0.1, 30)),
    "polygamma": (sp.polygamma(1, x) + sp.polygamma(3, x), (0.1, 30)), "Abs": (sp.Abs(x - 1), (-5, 5)), "sign": (sp.sign(x - 1), (-5, 5)),
    "Heaviside": (sp.Heaviside(x - 1), (-5, 5)), "Heaviside0": (sp.Heaviside(x, 0), (-5, 5)),
    "floor": (sp.floor(x), (-5, 5)), "ceiling": (sp.ceiling(x), (-5, 5)), "frac": (sp.frac(x), (-5, 5)),
    "Min": (sp.Min(x, 2 - x, sp.Rational(1, 2)), (-5, 5)), "Max": (sp.Max(x, x / 10, -1), (-5, 5)),
    "Piecewise": (sp.Piecewise((x, sp.And(x > 0, x < 2)), (sp.exp(x) - 1, sp.Or(x <= 0, x > 3)), (2, True)), (-5, 5)),
    "re_im_conj": (sp.re(x) + sp.im(x) + sp.conjugate(x), (-5, 5)), "atan2": (sp.atan2(x, 1 - x), (-5, 5)),
    "constants": (sp.EulerGamma * x + sp.Catalan + sp.GoldenRatio + sp.E + sp.pi, (-5, 5)),
    "softplus": (sp.log(1 + sp.exp(x)), (-700, 700)), "sigmoid": (1 / (1 + sp.exp(-x)), (-700, 700)),
    "swish''": (sp.diff(x / (1 + sp.exp(-x)), x, 2), (-700, 700)),
}


def sympy_value(expr, v):
    expr = expr.replace(sp.erfcinv, lambda a: sp.erfinv(1 - a))  # SymPy cannot evalf erfcinv itself
    val = sp.N(expr.subs(x, sp.Rational(float(v))), 320)  # exact input; 320 digits resolve log(1 + e^-700)
    return float(sp.re(val))


def close(got, ref, tol=2e-13):
    if math.isnan(ref):
        return math.isnan(got)
    return abs(got - ref) <= tol * max(abs(ref), 1e-300) + 1e-300


@pytest.mark.parametrize("name", sorted(TABLE))
def test_every_function_translates_and_matches_sympy(name):
    expr, (lo, hi) = TABLE[name]
    pts = np.linspace(lo, hi, 9)
    pts = pts[np.abs(pts - np.round(pts)) > 1e-9] if name in ("gamma", "floor", "ceiling", "frac") else pts
    ft, fn = to_torch(expr, (x,)), to_numpy(expr, (x,))
    vt = ft(torch.tensor(pts, dtype=torch.float64))
    vn = fn(pts)
    assert vt.shape == (len(pts),) and vn.shape == (len(pts),)
    for p, a, b in zip(pts, vt.tolist(), vn.tolist()):
        ref = sympy_value(expr, p)
        assert close(a, ref) and close(b, ref), (name, p, a, b, ref)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(name=st.sampled_from(sorted(TABLE)), t=st.floats(0, 1), shape=st.sampled_from([(), (3,), (2, 2)]))
def test_property_functions_vectorise_and_agree(name, t, shape):
    expr, (lo, hi) = TABLE[name]
    v = lo + t * (hi - lo)
    if name in ("gamma", "floor", "ceiling", "frac") and abs(v - round(v)) < 1e-9:
        v += 0.25
    ref = sympy_value(expr, v)
    arr = np.full(shape, v)
    got_t = to_torch(expr, (x,))(torch.tensor(arr, dtype=torch.float64))
    got_n = to_numpy(expr, (x,))(arr)
    assert tuple(got_t.shape) == shape and got_n.shape == shape
    assert all(close(g, ref) for g in np.ravel(got_t.numpy())) and all(close(g, ref) for g in np.ravel(got_n))


def test_two_arguments_broadcast_autograd_and_functorch():
    e = sp.Piecewise((x * y, x > y), (sp.Max(x, 0) - sp.Min(y, 1), True)) + sp.sqrt(x**2 + y**2)
    f = to_torch(e, (x, y))
    xs = torch.linspace(-2, 2, 5, dtype=torch.float64)
    out = f(xs, torch.tensor(0.5, dtype=torch.float64))
    assert out.shape == (5,)
    ref = [float(e.subs({x: float(a), y: 0.5})) for a in xs]
    assert np.allclose(out.numpy(), ref, rtol=1e-14)
    jac = torch.func.vmap(torch.func.jacfwd(lambda v: f(v[0], v[1])))(torch.tensor([[1.0, 0.5], [-1.0, 0.5]], dtype=torch.float64))
    assert jac.shape == (2, 2) and torch.isfinite(jac).all()
    assert torch.allclose(jac[0], torch.tensor([0.5 + 1 / math.sqrt(1.25), 1.0 + 0.5 / math.sqrt(1.25)], dtype=torch.float64))


def test_norm_rule_for_sums_of_squares():
    r = to_torch(sp.sqrt(x**2 + y**2), (x, y))
    a = torch.tensor([0.0, 3e200], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([0.0, 4e200], dtype=torch.float64, requires_grad=True)
    v = r(a, b)
    assert v[0].item() == 0 and v[1].item() == pytest.approx(5e200, rel=1e-15)  # no overflow
    ga, gb = torch.autograd.grad(v[0], (a, b))
    assert ga[0].item() == 0 and gb[0].item() == 0  # the norm's subgradient, not NaN
    sig = sp.Symbol("s", positive=True)
    assert to_numpy(sp.sqrt(sig**2 * ((x - 1) ** 2 + y**2) + 1), (x, y, sig))(1.0, 0.0, 2.0) == 1.0


def test_logistic_family_never_overflows():
    sig = 1 / (1 + sp.exp(-Z))
    for k in range(4):
        f = to_torch(sp.diff(sig, Z, k), (Z,))
        z = torch.tensor([-800.0, -30.0, 0.0, 30.0, 800.0], dtype=torch.float64, requires_grad=True)
        v = f(z)
        (g,) = torch.autograd.grad(v.sum(), z)
        assert torch.isfinite(v).all() and torch.isfinite(g).all(), k
    assert to_torch(sp.log(1 + sp.exp(Z)), (Z,))(torch.tensor(800.0, dtype=torch.float64)).item() == 800.0


def test_refusals_name_the_function():
    with pytest.raises(NotImplementedError, match="besselj"):
        to_torch(sp.besselj(0, x), (x,))
    with pytest.raises(NotImplementedError, match="LambertW"):
        activation(sp.LambertW(Z))  # refused when the activation is built
    with pytest.raises(NotImplementedError, match="besselj"):
        activation(sp.tanh(Z) + sp.besselj(1, Z))
    with pytest.raises(NotImplementedError, match="complex"):
        to_torch(sp.I * x, (x,))
    with pytest.raises(NotImplementedError, match="Integral"):
        to_numpy(sp.Integral(x * y, (y, 0, 1)), (x,))
    with pytest.raises(ValueError, match="complex"):
        activation(Z + sp.I * Z**2)


def test_activations_with_jumps_are_refused_as_degenerate():
    for phi in (sp.Piecewise((1, Z > 0), (0, True)), sp.floor(Z), sp.Piecewise((Z, Z > 1), (Z - 1, True))):
        with pytest.raises(DegenerateMetricError, match="jump"):
            shallow_metric(activation(phi), 1, 1)
    # a kink is fine (continuous phi): leaky ReLU as Max and as Piecewise give the same metric
    m1 = shallow_metric(activation(sp.Max(Z, Z / 5)), 1.2, 0.3, try_sympy=False)
    m2 = shallow_metric(activation(sp.Piecewise((Z, Z > 0), (Z / 5, True))), 1.2, 0.3, try_sympy=False)
    pts = torch.tensor([[0.3, -0.2], [1.0, 2.0]], dtype=torch.float64)
    assert torch.allclose(m1.evaluate(pts), m2.evaluate(pts), rtol=1e-13)
    # leaky ReLU: E[phi'^2] = (1 + 1/25)/2 for every variance: g = 1.44 * 0.52 I, flat
    assert torch.allclose(m1.evaluate(pts), 1.44 * 0.52 * torch.eye(2, dtype=torch.float64), rtol=1e-12)


def test_dtypes_follow_the_inputs_never_the_default():
    f = to_torch(sp.sqrt(2) * x + sp.pi, (x,))
    old = torch.get_default_dtype()
    try:
        torch.set_default_dtype(torch.float32)
        v64 = f(torch.tensor([1.0], dtype=torch.float64))
        vpy = f(1.0)
        v32 = f(torch.tensor([1.0], dtype=torch.float32))
        vint = f(torch.tensor([1]))
    finally:
        torch.set_default_dtype(old)
    assert v64.dtype == vpy.dtype == vint.dtype == torch.float64 and v32.dtype == torch.float32
    assert v64.item() == math.sqrt(2) + math.pi  # constants folded in float64, not the default float32
    assert vpy.item() == vint.item() == v64.item()
