"""Shallow infinite-width metrics (T1a, T3, T6): kernel limit = Stein form = Monte Carlo; rotation
equivariance; torch evaluation; bad input."""
import math

import pytest
import sympy as sp
import torch

from geomlib.symbolic import (DegenerateMetricError, RotationInvariantMetric, U, arccos, erf, metric_from_kernel,
                              nngp_kernel, relu, shallow_metric, sigmoid, step, tanh)
from geomlib.symbolic.checks import check_kernel_metric, check_rotation_symmetry, check_shallow_montecarlo
from geomlib.symbolic.montecarlo import random_shallow_metric, relative_error

R = sp.Rational


def test_kernel_route_equals_stein_route_and_c2():
    c = check_kernel_metric(arccos_degrees=(1, 2))
    assert c.passed, c
    kinds = {r["kind"] for r in c.rows}
    assert kinds == {"identity", "value", "fact"}


def test_plain_erf_kernel_metric_equals_t3():
    # Methods: T5 (Williams 1997): for erf(z) the Williams kernel uses 2q in place of q
    sw, sb = sp.symbols("sigma_w sigma_b", positive=True)
    km = nngp_kernel(erf("plain"), sw, sb).metric()
    t3 = shallow_metric(erf("plain"), sw, sb)
    assert sp.simplify(km.A - t3.A) == 0 and sp.simplify(km.B - t3.B) == 0


def test_generic_kernel_limit_and_cusp():
    # x.y - |x-y|^3 is C^2 but its second derivatives are 0/0 on the diagonal: the limit gives I;
    # x.y - |x-y| has a cusp (rough paths): infinite metric, clear error
    x1, x2, y1, y2 = sp.symbols("x1 x2 y1 y2", real=True)
    r2 = (x1 - y1) ** 2 + (x2 - y2) ** 2
    dot = x1 * y1 + x2 * y2
    g = metric_from_kernel(dot - r2 ** R(3, 2), (x1, x2), (y1, y2))
    assert g == sp.eye(2)
    with pytest.raises(DegenerateMetricError, match="diverges"):
        metric_from_kernel(dot - sp.sqrt(r2), (x1, x2), (y1, y2))
    with pytest.raises(ValueError, match="same length"):
        metric_from_kernel(dot, (x1, x2), (y1,))


def test_kernel_values_near_the_diagonal_and_distance_form():
    # regression: SymPy evaluates sin(2*acos(w)) to 0 for rational w near 1; the kernels avoid that form
    import mpmath as mp

    mp.mp.dps = 40
    x1, x2, y1, y2 = sp.symbols("x1 x2 y1 y2", real=True)
    k = nngp_kernel(arccos(2), 1, 1).expr((x1, x2), (y1, y2))

    def k_ref(x, y):  # Cho-Saul J_2 in mpmath, our normalisation (no factor 2)
        a, b, c = (mp.mpf(1) + sum(p * q for p, q in zip(u, v)) for u, v in ((x, x), (y, y), (x, y)))
        th = mp.acos(c / mp.sqrt(a * b))
        return a * b * (3 * mp.sin(th) * mp.cos(th) + (mp.pi - th) * (1 + 2 * mp.cos(th) ** 2)) / (2 * mp.pi)

    t = R(1, 10**6)
    x, y = (R(3, 5), R(-2, 5)), (R(3, 5), R(-2, 5) + t)
    val = sp.N(k.subs({x1: x[0], x2: x[1], y1: y[0], y2: y[1]}), 30)
    assert abs(float(val) - float(k_ref([mp.mpf(v.p) / v.q for v in x], [mp.mpf(v.p) / v.q for v in y]))) < 1e-20
    D = sum(s * k.subs({x1: p[0], x2: p[1], y1: q[0], y2: q[1]}) for s, p, q in ((1, y, y), (-2, x, y), (1, x, x)))
    g22 = shallow_metric(arccos(2), 1, 1).evaluate(torch.tensor([[0.6, -0.4]]))[0, 1, 1].item()
    assert float(sp.N(D / t**2, 40)) == pytest.approx(g22, abs=1e-5)


def test_metric_equals_definition_by_quadrature():
    # oracle: E[phi'(w.x+b)^2 w w^T] by 2-D product Gauss-Hermite over (w parallel to x, b), d = 2
    sw, sb = 1.3, 0.7
    m = shallow_metric(tanh(), sw, sb)
    x = torch.tensor([0.6, -0.8]) * 0.9
    t, wts = [torch.as_tensor(a) for a in __import__("numpy").polynomial.hermite.hermgauss(60)]
    w1 = math.sqrt(2) * sw * t[:, None, None]
    w2 = math.sqrt(2) * sw * t[None, :, None]
    b = math.sqrt(2) * sb * t[None, None, :]
    W = wts[:, None, None] * wts[None, :, None] * wts[None, None, :] / math.pi**1.5
    z = w1 * x[0] + w2 * x[1] + b
    f = (1 - torch.tanh(z) ** 2) ** 2
    ws = [w1.expand_as(z), w2.expand_as(z)]
    g_ref = torch.tensor([[(W * f * ws[i] * ws[j]).sum().item() for j in range(2)] for i in range(2)])
    assert torch.allclose(m.evaluate(x[None])[0], g_ref, rtol=1e-8, atol=1e-12)


def test_rotation_equivariance_volume_and_torch_parts():
    m = shallow_metric(erf("sqrt2"), R(13, 10), R(7, 10))
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(4, 3, generator=gen)
    Q, _ = torch.linalg.qr(torch.randn(3, 3, generator=gen))
    g, gq = m.evaluate(x), m.evaluate(x @ Q.T)
    assert torch.allclose(gq, Q @ g @ Q.T, atol=1e-13)
    assert torch.allclose(m.volume(x), torch.linalg.det(g).sqrt(), rtol=1e-12)
    assert torch.allclose(m.log_volume(x), 0.5 * torch.logdet(g), rtol=1e-12)
    vol_sym = m.volume_element(3)
    assert float(vol_sym.subs(U, float((x[0] ** 2).sum()))) == pytest.approx(m.volume(x)[0].item(), rel=1e-12)
    assert m.e_omega is not None  # every shallow metric is of the e^Omega form


def test_numeric_metric_matches_symbolic_when_both_exist():
    from geomlib.symbolic.activations import Activation, Z

    generic = Activation("erf(z/sqrt2), generic", sp.erf(Z / sp.sqrt(2)))
    mn = shallow_metric(generic, 1.3, 0.7, try_sympy=False)
    ms = shallow_metric(erf("sqrt2"), R(13, 10), R(7, 10))
    assert not mn.symbolic and "adaptive" in mn.method
    x = torch.tensor([[0.0, 0.0], [0.3, -0.5], [1.2, 0.9], [6.0, -8.0]])
    assert torch.allclose(mn.evaluate(x), ms.evaluate(x), rtol=1e-12)
    assert torch.allclose(mn.curvature(x), ms.curvature(x), rtol=1e-11, atol=1e-14)
    with pytest.raises(TypeError, match="numeric"):
        mn.scalar_curvature(2)


def test_relu_flat_for_every_bias_and_cho_saul_factor():
    for sb in (0, R(1, 3), 2):
        m = shallow_metric(relu(), R(3, 2), sb)
        assert m.A == R(9, 8) and m.B == 0
    m2 = shallow_metric(relu(), 1, 1, cho_saul=True)
    assert m2.A == 1  # Cho-Saul: g = I at sigma_w = 1
    with pytest.raises(ValueError, match="Cho-Saul"):
        shallow_metric(tanh(), 1, 1, cho_saul=True)


def test_bad_input_messages():
    with pytest.raises(ValueError, match="standard deviation"):
        shallow_metric(tanh(), -1, 1)
    with pytest.raises(ValueError, match="standard deviation"):
        shallow_metric(tanh(), 1, -0.5)
    with pytest.raises(ValueError, match="non-negative"):
        shallow_metric(tanh(), sp.Symbol("s"), 1)
    with pytest.raises(DegenerateMetricError, match="zero"):
        shallow_metric(tanh(), 0, 1)
    with pytest.raises(DegenerateMetricError, match="delta"):
        shallow_metric(step(), 1, 1)
    with pytest.raises(TypeError, match="SymPy expression"):
        shallow_metric(torch.nn.Tanh(), 1, 1)
    m = shallow_metric(erf("sqrt2"), 1, 1)
    with pytest.raises(ValueError, match="d >= 1|integer >= 1"):
        m.scalar_curvature(0)
    with pytest.raises(ValueError, match=r"\[N, d\]"):
        m.volume(torch.zeros(2, 2, 2))
    with pytest.raises(NotImplementedError, match="no closed-form NNGP kernel"):
        nngp_kernel(sigmoid())
    with pytest.raises(TypeError, match="both"):
        RotationInvariantMetric(sp.S.One, lambda u: u)
    with pytest.raises(ValueError, match="free parameters"):
        shallow_metric(relu(), sp.Symbol("s", positive=True), 1).volume(torch.zeros(1, 2))


def test_monte_carlo_c7_and_scaling(device):
    c = check_shallow_montecarlo(device=device, widths=(1000, 4000, 16000), repeats=6)
    assert c.passed, c
    assert c.data["max_abs_err"] < 5e-3  # Methods: reference checks, C7: about 1.6e-3 at n = 4e5
    for act, tol in ((relu(), 1e-2), (arccos(2), 2e-2)):
        m = shallow_metric(act, R(13, 10), R(7, 10))
        x = torch.tensor([[0.5, -0.2, 0.9]], device=device)
        g = random_shallow_metric(act, x, 400_000, 1.3, 0.7, seed=3, device=device)
        assert relative_error(g.cpu(), m.evaluate(x.cpu())).item() < tol
    assert check_rotation_symmetry(width=20000).passed
