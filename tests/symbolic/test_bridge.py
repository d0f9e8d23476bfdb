"""Bridges (lambdify to torch / NumPy), the on-disk expression cache, and Check objects."""
import numpy as np
import pytest
import sympy as sp
import torch

from geomlib.symbolic import (U, cached_expr, erf, kernel_metric, metric_to_numpy, metric_to_torch, relu,
                              shallow_metric, to_numpy, to_torch)
from geomlib.symbolic.checks import Check, check_conformal, check_conventions


def test_to_torch_and_numpy_agree_and_broadcast(device):
    a, b = sp.symbols("a b", positive=True)
    e = sp.sqrt(2) * sp.asin(a / (1 + a)) + sp.erf(b) * sp.exp(-a) + sp.Heaviside(a - 1) + sp.pi + sp.gamma(a + 1)
    ft, fn = to_torch(e, (a, b)), to_numpy(e, (a, b))
    av = torch.linspace(0.1, 2.0, 7, device=device)
    bv = torch.tensor(0.3, device=device)
    out = ft(av, bv)
    assert out.shape == (7,) and out.device.type == device.type and out.dtype == torch.float64
    assert np.allclose(out.cpu().numpy(), fn(av.cpu().numpy(), 0.3), rtol=1e-12)
    ref = [float(e.subs({a: float(v), b: 0.3})) for v in av.cpu()]
    assert np.allclose(out.cpu().numpy(), ref, rtol=1e-12)
    const = to_torch(sp.Integer(3), (a,))(av)
    assert const.shape == (7,) and torch.all(const == 3)
    # differentiable
    x = torch.tensor([0.5], requires_grad=True)
    (g,) = torch.autograd.grad(to_torch(a**3, (a,))(x).sum(), x)
    assert g.item() == pytest.approx(0.75)


def test_bridge_rejects_what_it_cannot_translate():
    a = sp.Symbol("a")
    with pytest.raises(NotImplementedError, match="besselj"):
        to_torch(sp.besselj(0, a), (a,))
    with pytest.raises(NotImplementedError, match="Integral"):
        to_numpy(sp.Integral(a, (a, 0, 1)) + a, (a,))
    with pytest.raises(NotImplementedError, match="LambertW"):
        to_numpy(sp.LambertW(a), (a,))
    with pytest.raises(TypeError, match="argument"):
        to_torch(a, (a,))(1.0, 2.0)


def test_metric_functions_shapes(device):
    x = sp.symbols("x1 x2", real=True)
    g = shallow_metric(erf("sqrt2"), 1, 1).matrix(x)
    ft, fn = metric_to_torch(g, x), metric_to_numpy(g, x)
    pts = torch.tensor([[0.1, 0.2], [1.0, -0.3], [0.0, 0.0]], device=device)
    G = ft(pts)
    assert G.shape == (3, 2, 2) and ft(pts[0]).shape == (2, 2)
    assert np.allclose(G.cpu().numpy(), fn(pts.cpu().numpy()), rtol=1e-13)
    assert torch.allclose(G.cpu(), shallow_metric(erf("sqrt2"), 1, 1).evaluate(pts.cpu()), rtol=1e-13)
    with pytest.raises(ValueError, match="does not match"):
        metric_to_torch(g, x[:1])


def test_expression_cache_roundtrip_and_key(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOMLIB_ARTIFACTS", str(tmp_path))
    calls = []

    def derive():
        calls.append(1)
        return {"R": -U / (1 + U), "M": sp.Matrix([[1, U], [U, 2]]), "list": (sp.pi, 3, "x"),
                "metric": shallow_metric(relu(), 1, 1)}

    a = cached_expr("demo", {"p": 1}, derive)
    b = cached_expr("demo", {"p": 1}, derive)
    assert len(calls) == 1
    assert b["R"] == -U / (1 + U) and b["M"] == sp.Matrix([[1, U], [U, 2]]) and b["list"] == (sp.pi, 3, "x")
    assert b["metric"].A == sp.Rational(1, 2) and b["metric"].symbolic
    assert list(tmp_path.rglob("*.pt"))
    cached_expr("demo", {"p": 2}, derive)
    assert len(calls) == 2
    with pytest.raises(TypeError, match="cannot cache"):
        cached_expr("bad", {}, lambda: object())
    m1 = kernel_metric(relu(), 1, 1)
    m2 = kernel_metric(relu(), 1, 1)  # second call loads
    assert m1.A == m2.A == sp.Rational(1, 2) and "limit" in m2.method


def test_check_objects_report_and_fail_loudly():
    c = Check("demo", "claim", "nowhere")
    assert not c.passed  # an empty check proves nothing
    c.identity("zero", sp.sin(U) ** 2 + sp.cos(U) ** 2 - 1)
    c.value("close", 1.0 + 1e-12, 1.0, tol=1e-10)
    assert c.passed and len(c.table()) == 2 and "2/2 passed" in c.summary()
    c.value("far", 1.1, 1.0, tol=1e-3, rel=True)
    assert not c.passed and "FAIL" in repr(c)
    with pytest.raises(AssertionError, match="far"):
        c.assert_passed()
    assert "<table" in c._repr_html_()


def test_conventions_and_conformal_checks():
    assert check_conventions().passed
    c = check_conformal()
    assert c.passed, c
