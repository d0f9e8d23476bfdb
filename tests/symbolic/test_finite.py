"""Finite-width shallow closed forms (T2) and the authors' factor 3 (Methods: the authors' curvature): every route
against the brute-force Christoffel route, symbolic identities for a generic activation."""
import pytest
import sympy as sp
import torch

from geomlib.symbolic import sigmoid, tanh
from geomlib.symbolic.autodiff import scalar_curvature_autodiff
from geomlib.symbolic.checks import check_finite_shallow
from geomlib.symbolic.finite import (authors_curvature_2d, cauchy_binet_det, curvature_m_form_2d, curvature_t_form,
                                     derivative_fns, finite_shallow_metric, t2_identity)


def test_reference_net_c4_c5_c6():
    c = check_finite_shallow(random_nets=3)
    assert c.passed, c


def test_generic_identity_with_symbolic_weights():
    # T-form for ANY activation and ANY weights (n = 2, d = 2: fully symbolic W)
    W = sp.Matrix(2, 2, sp.symbols("w0:4", real=True))
    assert t2_identity(W, form="T") == 0


def test_routes_agree_on_random_nets(device):
    d1, d2 = derivative_fns(tanh())
    gen = torch.Generator().manual_seed(7)
    for d in (2, 3, 4):
        W = torch.randn(9, d, generator=gen).to(device)
        b = torch.randn(9, generator=gen).to(device)
        x = torch.randn(4, d, generator=gen).to(device)
        g = finite_shallow_metric(W, b, x, d1)
        assert torch.allclose(cauchy_binet_det(W, b, x, d1), torch.linalg.det(g), rtol=1e-10)
        R = curvature_t_form(W, b, x, d1, d2)
        gf = lambda xv: finite_shallow_metric(W, b, xv[None], d1)[0]
        assert torch.allclose(R, scalar_curvature_autodiff(gf, x), rtol=1e-8, atol=1e-10)
        if d == 2:
            assert torch.allclose(curvature_m_form_2d(W, b, x, d1, d2), R, rtol=1e-9)
            assert torch.allclose(authors_curvature_2d(W, b, x, d1, d2) / R, torch.full_like(R, 3.0), rtol=1e-9)


def test_bad_shapes_and_m_form_dimension():
    d1, d2 = derivative_fns(sigmoid())
    with pytest.raises(ValueError, match="shapes"):
        finite_shallow_metric(torch.zeros(3, 2), torch.zeros(2), torch.zeros(1, 2), d1)
    with pytest.raises(ValueError, match="d = 2"):
        curvature_m_form_2d(torch.ones(3, 3), torch.zeros(3), torch.zeros(1, 3), d1, d2)
    assert cauchy_binet_det(torch.ones(1, 2), torch.zeros(1), torch.zeros(1, 2), d1).item() == 0.0  # n < d


def test_flipped_pattern_split_is_exact_for_any_activation():
    from geomlib.symbolic.finite import t2_gamma_split

    W = [[1, sp.Rational(1, 2)], [sp.Rational(-3, 10), sp.Rational(6, 5)], [sp.Rational(7, 10), sp.Rational(-9, 10)]]
    assert t2_gamma_split(W) == (0, 0)
