"""Gaussian expectations by adaptive quadrature (issue 11, case 1 and its kind): every numerically
computed expectation, shallow and deep metric and u-derivative reaches relative 1e-10 in float64 for
any variance, against slow obviously-correct oracles kept here (mpmath.quad at 30 digits; derivatives
in u by finite differences of the quadrature itself, an independent route from the heat-equation
identity the library uses), or warns with its estimated error."""
import math
import warnings

import mpmath as mp
import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given, settings, strategies as st

from geomlib.symbolic import Z, activation, deep_metric, erf, gelu, shallow_metric, sigmoid, tanh
from geomlib.symbolic.quadrature import GaussianIntegral, QuadratureAccuracyWarning, kinks
from geomlib.symbolic.rotation import t4a_scalar_curvature

DPS = 25
ACTS = {"tanh": tanh(), "sigmoid": sigmoid(), "gelu": gelu()}


# ------------------------------------------------------------------------------ the oracle
def mp_fn(expr):
    return sp.lambdify(Z, expr, "mpmath", cse=True)


def mp_expect(f, s, breaks=()):
    """E_{z~N(0,s)}[f(z)] by mpmath.quad (tanh-sinh), the line split at 0, +-1 (the activation's scale),
    +-4 sqrt(s) (the Gaussian's) and the kinks of f, at the current mpmath precision."""
    s = mp.mpf(s)
    sq = mp.sqrt(s)
    pts = {mp.mpf(0), mp.mpf(1), mp.mpf(-1), 4 * sq, -4 * sq} | {mp.mpf(b) for b in breaks}
    return mp.quad(lambda z: f(z) * mp.exp(-z * z / (2 * s)), [-mp.inf] + sorted(pts) + [mp.inf]) / mp.sqrt(2 * mp.pi * s)


def mp_stein(expr, s, k, breaks=()):
    """d^k/ds^k E_s[f] = 2^-k E_s[f^(2k)] (heat equation) evaluated by mp_expect (smooth f only)."""
    return mp_expect(mp_fn(sp.diff(expr, Z, 2 * k) / 2**k), s, breaks)


def fd_jet(F, u, h):
    """F(u), F'(u), F''(u) by 5-point central differences (error O(h^4)); F may return a tuple."""
    u, h = mp.mpf(u), mp.mpf(h)
    vals = [F(u + j * h) for j in (-2, -1, 0, 1, 2)]
    if not isinstance(vals[0], tuple):
        vals = [(v,) for v in vals]
    out = []
    for c in range(len(vals[0])):
        fm2, fm1, f0, f1, f2 = (v[c] for v in vals)
        out.append((f0, (fm2 - 8 * fm1 + 8 * f1 - f2) / (12 * h), (-fm2 + 16 * fm1 - 30 * f0 + 16 * f1 - f2) / (12 * h * h)))
    return out if len(out) > 1 else out[0]


def mp_shallow_parts(act, sw, sb, u, breaks=()):
    """(A, A', A'', B, B') of the shallow metric: A(u) = sw^2 E[phi'^2](sw^2 u + sb^2) by mp_expect; its
    u-derivatives by finite differences of that quadrature (not by the heat-equation identity)."""
    f = mp_fn(act.prime() ** 2)
    sw, sb = mp.mpf(sw), mp.mpf(sb)
    h = mp.mpf("1e-3") * (sw**2 * u + sb**2) / sw**2  # relative step 1e-3 in the variance
    A0, A1, A2 = fd_jet(lambda uu: sw**2 * mp_expect(f, sw**2 * uu + sb**2, breaks), u, h)
    return A0, A1, A2, 2 * A1, 2 * A2


def mp_deep_parts(act, sws, sbs, u):
    """(A, A', A'', B, B') of layer L of the recursion A_l = s^2 E1 A_{l-1}, B_l = s^2 E1 B_{l-1} +
    E[(phi'^2)''] q'^2, K_l = E[phi^2](q_l) (K_l' = 1/2 E[(phi^2)''] q'): values by mp_expect, the
    u-derivatives of A_L, B_L by finite differences."""
    f1, f0 = act.prime() ** 2, act.expr**2
    F1, F1pp, F0, F0pp = (mp_fn(e) for e in (f1, sp.diff(f1, Z, 2), f0, sp.diff(f0, Z, 2)))

    def layers(uu):
        A, B, K, Kp = mp.mpf(1), mp.mpf(0), uu, mp.mpf(1)
        for sw, sb in zip(sws, sbs):
            sw, sb = mp.mpf(sw), mp.mpf(sb)
            q, qp = sw**2 * K + sb**2, sw**2 * Kp
            e1 = mp_expect(F1, q)
            A, B = sw**2 * e1 * A, sw**2 * e1 * B + mp_expect(F1pp, q) * qp**2
            K, Kp = mp_expect(F0, q), mp_expect(F0pp, q) / 2 * qp
        return A, B

    (A0, A1, A2), (B0, B1, _) = fd_jet(layers, u, mp.mpf("2e-4") * u)
    return A0, A1, A2, B0, B1


def mp_R_and_logvol(parts, u, d=2):
    """R by T4a (plain arithmetic on mpf; T4a itself is checked against Christoffel symbols elsewhere) and
    1/2 log det(A I + B x x^T) = d/2 log A + 1/2 log(1 + u B / A)."""
    A, Ap, App, B, Bp = parts
    u = mp.mpf(u)
    return t4a_scalar_curvature(A, Ap, App, B, Bp, u, d), d * mp.log(A) / 2 + mp.log(1 + u * B / A) / 2


def rel(a, b):
    return abs(float(a) - float(b)) / max(abs(float(b)), 1e-300)


# ------------------------------------------------------------------------------ case 1 (issue 11)
def test_case1_values_tanh_and_sigmoid_at_large_variance():
    """Right values from the issue (a width-4e5 tanh net gives -3.722); ours reach the 30-digit oracle."""
    mp.mp.dps = DPS
    cases = [  # (act, sigma_w, sigma_b, x, quantity, value stated in the issue)
        (tanh(), 1, 1, (2.0, 2.0), "R", -3.727133),
        (tanh(), 3, 1, (0.6, 0.8), "logvol", -0.6295),
        (tanh(), 5, 1, (0.6, 0.8), "logvol", -0.5435),
        (sigmoid(), 10, 1, (0.6, 0.8), "logvol", -2.3201),
    ]
    for act, sw, sb, x, what, stated in cases:
        m = shallow_metric(act, sw, sb)
        xt = torch.tensor([x], dtype=torch.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no singular-metric or accuracy warning may appear
            got = (m.curvature(xt) if what == "R" else m.log_volume(xt)).item()
        u = x[0] ** 2 + x[1] ** 2
        R_ref, lv_ref = mp_R_and_logvol(mp_shallow_parts(act, sw, sb, u), u)
        ref = R_ref if what == "R" else lv_ref
        assert math.isfinite(got)
        assert rel(got, ref) < 1e-10, (act.name, sw, what, got, ref)
        assert got == pytest.approx(stated, abs=0.6 * 10 ** -(len(str(stated).split(".")[1])))


def test_overflow_never_poisons_values_or_autograd():
    """sigmoid at sigma_w = 30 (variance ~ 900): finite A, B, R and finite autograd derivatives of A."""
    m = shallow_metric(sigmoid(), 30, 1)
    x = torch.tensor([[0.6, 0.8], [3.0, -4.0]], dtype=torch.float64)
    assert torch.isfinite(m.curvature(x)).all() and torch.isfinite(m.log_volume(x)).all()
    u = torch.tensor([1.0, 25.0], dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(m.A(u).sum(), u, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), u)
    parts = m.parts(u.detach())
    assert torch.allclose(g, parts[1], rtol=1e-12) and torch.allclose(h, parts[2], rtol=1e-12)


# ------------------------------------------------------------------------------ the kind: expectations
@pytest.mark.parametrize("name", list(ACTS))
def test_expectations_and_variance_derivatives_against_mpmath(name):
    """E[phi'^2] (k = 0, 1, 2) and E[phi^2] (k = 0, 2) in the variance, s = 0.1 .. 100 (and 1e-3, 1e4)."""
    mp.mp.dps = DPS
    act = ACTS[name]
    for f, ks, svals in ((act.prime() ** 2, (0, 1, 2), [1e-3, 0.1, 3.0, 100.0]), (act.expr**2, (0, 2), [0.1, 1e4])):
        Q = GaussianIntegral(f)
        for k in ks:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                got = Q.derivative(torch.tensor(svals, dtype=torch.float64), k)
            est = Q.last_error  # estimated relative error, max over the batch
            ref = [mp_stein(f, s, k) for s in svals]
            for s, g, r in zip(svals, got.tolist(), ref):
                assert rel(g, r) < max(1e-10, 3 * est), (name, str(f), k, s, g, float(r), est)
            warned = any(issubclass(w.category, QuadratureAccuracyWarning) for w in caught)
            assert warned == (est > 1e-10), (name, str(f), k, est)  # 1e-10 reached, or a warning says by how much


@pytest.mark.parametrize("name,sw,sb", [("tanh", 0.4, 0.3), ("sigmoid", 2, 0.5), ("gelu", 7, 2)])
def test_shallow_metrics_against_mpmath_diff(name, sw, sb):
    """A, B, R, log volume at two radii (variances from ~0.1 to ~100+) against finite differences of mpmath.quad."""
    mp.mp.dps = DPS
    act = ACTS[name]
    m = shallow_metric(act, sw, sb)
    for x in ((0.3, -0.4), (1.2, 1.6)):
        u = x[0] ** 2 + x[1] ** 2
        parts = m.parts(torch.tensor([u], dtype=torch.float64))
        ref = mp_shallow_parts(act, sw, sb, u)
        for p, r in zip(parts, ref):
            assert rel(p.item(), r) < 1e-10
        R_ref, lv_ref = mp_R_and_logvol(ref, u)
        xt = torch.tensor([x], dtype=torch.float64)
        assert rel(m.curvature(xt).item(), R_ref) < 1e-10
        assert rel(m.log_volume(xt).item(), lv_ref) < 1e-10


@pytest.mark.slow
@pytest.mark.parametrize("name,sws,sbs,u", [("tanh", [1.5, 2.0, 1.2], [0.5, 0.3, 0.2], 0.8),
                                          ("sigmoid", [3.0, 4.0], [1.0, 0.5], 1.3),
                                          ("gelu", [1.0, 2.5], [0.3, 0.6], 0.5)])
def test_deep_metrics_against_mpmath(name, sws, sbs, u):
    """Depth 2-3: A, A', A'', B, B' of the last layer and R against the mpmath recursion (finite differences in u)."""
    mp.mp.dps = 20
    act = ACTS[name]
    m = deep_metric(act, sws, sbs)[-1]
    parts = m.parts(torch.tensor([u], dtype=torch.float64))
    ref = mp_deep_parts(act, sws, sbs, u)
    for p, r in zip(parts, ref):
        assert rel(p.item(), r) < 1e-10, (name, p.item(), float(r))
    R_ref, _ = mp_R_and_logvol(ref, u)
    x = torch.tensor([[math.sqrt(u), 0.0]], dtype=torch.float64)
    assert rel(m.curvature(x).item(), R_ref) < 1e-10
    # the autograd route through the same quadrature (A, B callables) agrees with the jet route
    uu = torch.tensor([u], dtype=torch.float64, requires_grad=True)
    (dA,) = torch.autograd.grad(m.A(uu).sum(), uu)
    assert rel(dA.item(), parts[1].item()) < 1e-12


def test_kinked_activations_split_at_their_kinks():
    """Leaky ReLU (Max), ELU (Piecewise), hard tanh (Min/Max), shifted |z|: metric parts against mpmath,
    derivatives by finite differences (the library integrates by parts onto the Gaussian there)."""
    mp.mp.dps = 25
    acts = {"leaky": sp.Max(Z, Z / 10), "elu": sp.Piecewise((Z, Z > 0), (sp.exp(Z) - 1, True)),
            "hardtanh": sp.Min(sp.Max(Z, -1), 1), "softsign": Z / (1 + sp.Abs(Z - sp.Rational(1, 2)))}
    for (name, phi), u in zip(acts.items(), (0.2, 3.0, 0.2, 3.0)):  # variances 0.7 and 7
        act = activation(phi, name=name)
        f = act.prime() ** 2
        brk = kinks(f)
        m = shallow_metric(act, 1.5, 0.5, try_sympy=False)
        ref = mp_shallow_parts(act, 1.5, 0.5, u, brk)[:3]
        parts = m.parts(torch.tensor([u], dtype=torch.float64))
        scale = abs(ref[0]) / (1.5**2 * u + 0.25) ** 2  # natural size of the derivatives
        for p, r in zip(parts[:3], ref):
            assert abs(p.item() - float(r)) <= 1e-10 * max(abs(float(r)), 1e-4 * float(scale)), (name, u)


def test_accuracy_warning_states_the_estimate():
    Q = GaussianIntegral(sp.tanh(Z) ** 2, rtol=1e-17)  # below float64 rounding: cannot be met
    with pytest.warns(QuadratureAccuracyWarning, match=r"estimated relative error \d\.\de-\d\d > rtol 1e-17"):
        Q.derivative(torch.tensor([2.0], dtype=torch.float64), 1)
    with pytest.raises(ValueError, match="s = 0"):
        GaussianIntegral(sp.tanh(Z) ** 2).derivative(torch.tensor([0.0, 1.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="rtol"):
        GaussianIntegral(sp.tanh(Z), rtol=0)
    with pytest.warns(DeprecationWarning, match="nodes"):
        shallow_metric(tanh(), 1, 1, nodes=200)


def test_dtype_follows_the_points_never_the_default():
    m = shallow_metric(tanh(), 2, 0.5)
    x64 = torch.tensor([[0.3, -0.7], [1.5, 0.2]], dtype=torch.float64)
    old = torch.get_default_dtype()
    try:
        torch.set_default_dtype(torch.float32)
        R64 = m.curvature(x64)
        R32 = m.curvature(x64.float())
        R_list = m.curvature([[0.3, -0.7], [1.5, 0.2]])
    finally:
        torch.set_default_dtype(old)
    assert R64.dtype == torch.float64 and R32.dtype == torch.float32 and R_list.dtype == torch.float64
    assert torch.equal(R_list, R64)
    assert torch.allclose(R32.double(), R64, rtol=1e-6)  # computed in float64, rounded once to float32


# ------------------------------------------------------------------------------ property tests
SMOOTH = {"tanh(a z)": lambda a: sp.tanh(a * Z), "sigmoid(a z)": lambda a: 1 / (1 + sp.exp(-a * Z)),
          "gelu(a z)": lambda a: a * Z * (1 + sp.erf(a * Z / sp.sqrt(2))) / 2,
          "softplus(a z)": lambda a: sp.log(1 + sp.exp(a * Z)), "swish(a z)": lambda a: a * Z / (1 + sp.exp(-a * Z))}


@settings(max_examples=8, deadline=None, derandomize=True)
@given(name=st.sampled_from(sorted(SMOOTH)), a=st.sampled_from([sp.Rational(1, 2), 1, 3]),
       log_s=st.floats(math.log(0.05), math.log(300)), k=st.integers(0, 2), square=st.booleans())
def test_property_quadrature_matches_mpmath(name, a, log_s, k, square):
    mp.mp.dps = 20
    phi = SMOOTH[name](a)
    f = sp.diff(phi, Z) ** 2 if square else phi**2
    s = math.exp(log_s)
    got = GaussianIntegral(f).derivative(torch.tensor([s], dtype=torch.float64), k).item()
    ref = mp_stein(f, s, k)
    absref = mp_expect(mp_fn(abs(sp.diff(f, Z, 2 * k)) / 2**k), s)  # E|integrand|: scale of a zero crossing
    assert abs(got - float(ref)) <= 1e-10 * max(abs(float(ref)), 1e-4 * float(absref)), (name, a, s, k, got, float(ref))


@settings(max_examples=12, deadline=None, derandomize=True)
@given(sw=st.floats(0.2, 6.0), sb=st.floats(0.0, 3.0), r=st.floats(0.05, 4.0), ang=st.floats(0, 2 * math.pi),
       conv=st.sampled_from(["sqrt2", "plain"]))
def test_property_quadrature_metric_equals_closed_form(sw, sb, r, ang, conv):
    """erf activations with SymPy integration switched off take the quadrature route; the closed form
    (Williams 1997) is the oracle: A, B, R and log volume to 1e-10."""
    from geomlib.symbolic.activations import Activation

    ref = erf(conv)
    generic = Activation("erf, generic", ref.expr)
    mn = shallow_metric(generic, sw, sb, try_sympy=False)
    ms = shallow_metric(ref, sp.Float(sw, 17), sp.Float(sb, 17))
    x = torch.tensor([[r * math.cos(ang), r * math.sin(ang)]], dtype=torch.float64)
    for a, b in zip(mn.parts((x * x).sum(-1)), ms.parts((x * x).sum(-1))):
        assert abs(a.item() - b.item()) <= 1e-10 * abs(b.item()) + 1e-15
    assert rel(mn.curvature(x).item(), ms.curvature(x).item()) < 1e-10
    assert rel(mn.log_volume(x).item(), ms.log_volume(x).item()) < 1e-10 or abs(ms.log_volume(x).item()) < 1e-12
