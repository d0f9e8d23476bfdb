"""Activations and Gaussian expectations: the known closed forms re-derived two other ways
(SymPy integration where it can, Gauss-Hermite quadrature and plain Monte Carlo otherwise)."""
import math

import numpy as np
import pytest
import sympy as sp
import torch

from geomlib.symbolic import (DegenerateMetricError, Z, activation, arccos, erf, expect_phi_prime_sq, expect_phi_sq,
                              gelu, relu, sigmoid, step, tanh)
from geomlib.symbolic.gaussian import S, hermite_expectation, integrate_gaussian

SV = [0.3, 1.0, 2.7]


def mc_expectation(fn, s, n=2_000_000, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, generator=g) * math.sqrt(s)
    return fn(z).mean().item(), fn(z).std().item() / math.sqrt(n)


@pytest.mark.parametrize("m", [1, 2, 3])
def test_arccos_moments_closed_form_vs_integration(m):
    E1, E2 = expect_phi_prime_sq(arccos(m)), expect_phi_sq(arccos(m))
    assert E1.exact and "known" in E1.method
    # independent: integrate m^2 z^(2m-2) on z > 0 against the Gaussian density
    dens = sp.exp(-Z**2 / (2 * S)) / sp.sqrt(2 * sp.pi * S)
    I1 = sp.integrate(m**2 * Z ** (2 * m - 2) * dens, (Z, 0, sp.oo))
    I2 = sp.integrate(Z ** (2 * m) * dens, (Z, 0, sp.oo))
    assert sp.simplify(E1.expr - I1) == 0 and sp.simplify(E2.expr - I2) == 0
    assert sp.simplify(E1.expr - sp.Rational(m * m, 2) * sp.factorial2(2 * m - 3) * S ** (m - 1)) == 0


@pytest.mark.parametrize("conv", ["sqrt2", "plain"])
def test_erf_moments_vs_quadrature_and_monte_carlo(conv):
    act = erf(conv)
    E1, E2 = expect_phi_prime_sq(act), expect_phi_sq(act)
    dphi = lambda z: (2 / math.sqrt(math.pi)) * torch.exp(-(z / (math.sqrt(2) if conv == "sqrt2" else 1)) ** 2) / (
        math.sqrt(2) if conv == "sqrt2" else 1)
    phi = lambda z: torch.special.erf(z / (math.sqrt(2) if conv == "sqrt2" else 1))
    for s in SV:
        st = torch.tensor(s)
        assert E1.torch(st).item() == pytest.approx(hermite_expectation(lambda z: dphi(z) ** 2, st).item(), rel=1e-10)
        mean, se = mc_expectation(lambda z: phi(z) ** 2, s)
        assert abs(E2.torch(st).item() - mean) < 5 * se


def test_generic_routes_say_how():
    cubic = activation(Z + Z**3 / 3)
    E = expect_phi_prime_sq(cubic)
    assert E.exact and E.method == "closed form (SymPy integration)"
    assert sp.simplify(E.expr - (1 + 2 * S + 3 * S**2)) == 0  # E(1+z^2)^2 = 1 + 2s + 3s^2
    Es = expect_phi_prime_sq(sigmoid())
    assert not Es.exact and "adaptive" in Es.method and "rtol 1e-10" in Es.method
    assert "<numeric>" in repr(Es)
    mean, se = mc_expectation(lambda z: (torch.sigmoid(z) * (1 - torch.sigmoid(z))) ** 2, 1.0)
    assert abs(Es.torch(torch.tensor(1.0)).item() - mean) < 5 * se
    for act in (tanh(), gelu()):
        E = expect_phi_prime_sq(act)
        assert not E.exact
        assert np.all(np.isfinite(E.numpy([0.5, 2.0])))
    assert integrate_gaussian(sp.tanh(Z) ** 2) is None  # not attempted: no closed form to find


def test_quadrature_is_differentiable_and_guards_nonfinite():
    s = torch.tensor([0.5, 1.5], requires_grad=True)
    f = lambda z: z**4
    E = hermite_expectation(f, s)  # = 3 s^2
    assert torch.allclose(E, 3 * s.detach() ** 2, rtol=1e-12)
    (g,) = torch.autograd.grad(E.sum(), s)
    assert torch.allclose(g, 6 * s.detach(), rtol=1e-10)
    with pytest.raises(FloatingPointError, match="not finite"):
        hermite_expectation(lambda z: 1 / z**0 / (z - z), torch.tensor([1.0]))
    with pytest.raises(ValueError, match=">= 0"):
        hermite_expectation(f, torch.tensor([-1.0]))
    with pytest.raises(ValueError, match="nodes"):
        hermite_expectation(f, torch.tensor([1.0]), nodes=1)
    # many nodes stay finite (numpy's hermgauss overflows near 400)
    assert torch.allclose(hermite_expectation(f, s.detach(), nodes=600), 3 * s.detach() ** 2, rtol=1e-10)


def test_activation_parsing_and_derivatives():
    assert activation("relu") == relu() and activation("erf_plain") == erf("plain")
    z = sp.Symbol("t", real=True)
    assert activation(z * sp.Heaviside(z)) == relu()  # recognised as the arc-cosine family
    assert activation(sp.erf(Z / sp.sqrt(2))) == erf("sqrt2")
    assert sp.simplify(arccos(2).prime() - 2 * Z * sp.Heaviside(Z)) == 0
    assert sp.simplify(arccos(2).second() - 2 * sp.Heaviside(Z)) == 0  # z delta(z) dropped
    assert sp.simplify(tanh().prime() - (1 - sp.tanh(Z) ** 2)) == 0
    m = sp.Symbol("m", positive=True)
    assert arccos(m).family == "arccos"


def test_bad_activation_input():
    with pytest.raises(TypeError, match="SymPy expression"):
        activation(torch.tanh)
    with pytest.raises(TypeError, match="SymPy expression"):
        activation(torch.nn.ReLU())
    with pytest.raises(TypeError, match="SymPy expression"):
        activation(lambda z: z)
    a, b = sp.symbols("a b")
    with pytest.raises(ValueError, match="free symbols"):
        activation(a * b)
    with pytest.raises(ValueError, match="constant"):
        activation(sp.Integer(3), z=a)
    with pytest.raises(ValueError, match="unknown activation"):
        activation("swish")
    with pytest.raises(ValueError, match="convention"):
        erf("half")
    with pytest.raises(ValueError, match=">= 0"):
        arccos(-1)
    with pytest.raises(ValueError, match="positive"):
        arccos(sp.Symbol("m"))


def test_degree_zero_and_small_degrees_are_degenerate():
    with pytest.raises(DegenerateMetricError, match="delta"):
        step().prime()
    with pytest.raises(DegenerateMetricError, match="infinite"):
        expect_phi_prime_sq(step())
    with pytest.raises(DegenerateMetricError, match="1/2"):
        expect_phi_prime_sq(arccos(sp.Rational(1, 2)))
    E = expect_phi_prime_sq(arccos(sp.Rational(3, 2)))  # fractional degree: Gamma-function form
    mean, se = mc_expectation(lambda z: (1.5 * z.clamp(min=0) ** 0.5) ** 2, 1.3)
    assert abs(E.torch(torch.tensor(1.3)).item() - mean) < 5 * se
