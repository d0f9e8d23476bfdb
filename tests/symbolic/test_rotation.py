"""Rotation-invariant metrics (T4) and their instances (T5 erf, T6 arc-cosine): closed forms against
the brute-force Christoffel route in d = 2, 3, 4 (and 5), and the reference values C8-C13 (Methods: reference checks)."""
import pytest
import sympy as sp
import torch

from geomlib.symbolic import (RotationInvariantMetric, U, arccos, erf, power_law, scalar_curvature,
                              scalar_curvature_from_jet, scalar_curvature_omega, scalar_curvature_rotation_invariant,
                              shallow_metric)
from geomlib.symbolic.checks import check_arccos, check_erf, check_rotation_invariant
from geomlib.symbolic.rotation import rotation_invariant_jet, t4a_scalar_curvature


def test_t4_closed_forms_against_brute_force_c8():
    c = check_rotation_invariant(dims=(2, 3, 4))
    assert c.passed, c
    assert sum(r["kind"] == "identity" for r in c.rows) >= 7


def test_t4a_jet_identity_in_five_dimensions():
    g, dg, ddg, s = rotation_invariant_jet(5)
    R = scalar_curvature_from_jet(g, dg, ddg)
    closed = t4a_scalar_curvature(s["A"], s["A1"], s["A2"], s["B"], s["B1"], s["r"] ** 2, 5)
    assert sp.simplify(sp.together(R - closed)) == 0


def test_full_symbolic_brute_force_in_two_dimensions():
    # the whole expression, not just a point: arc-cos 2 with bias in d = 2
    x = sp.symbols("x1 x2", real=True)
    m = shallow_metric(arccos(2), 1, 1)
    R_brute = scalar_curvature(m.matrix(x), x)
    R_closed = m.scalar_curvature(2).subs(U, x[0] ** 2 + x[1] ** 2)
    assert sp.simplify(R_brute - R_closed) == 0


def test_sphere_and_hyperbolic_space_as_rotation_invariant_metrics():
    # stereographic sphere 4/(1+u)^2 I: R = d(d-1); Poincare ball 4/(1-u)^2 I: R = -d(d-1)
    for d in (2, 3, 4):
        assert sp.simplify(scalar_curvature_rotation_invariant(4 / (1 + U) ** 2, sp.S.Zero, d) - d * (d - 1)) == 0
        assert sp.simplify(scalar_curvature_rotation_invariant(4 / (1 - U) ** 2, sp.S.Zero, d) + d * (d - 1)) == 0
        # e^Omega form with Omega = -u: g = e^-u (I - 2 x x^T), compare T4b with T4a
        assert sp.simplify(scalar_curvature_omega(-U, d) - scalar_curvature_rotation_invariant(
            sp.exp(-U), -2 * sp.exp(-U), d)) == 0


def test_power_law_reduces_to_flat_for_p_zero():
    vol, R = power_law(3, 1, 2, 0, 3)
    assert R == 0 and sp.simplify(vol - 3 ** sp.Rational(3, 2)) == 0


def test_erf_t5_and_c9_c10():
    c = check_erf()
    assert c.passed, c


def test_arccos_t6_and_c11_c13():
    c = check_arccos()
    assert c.passed, c


def test_erf_volume_peaks_at_origin_and_r_negative(device):
    m = shallow_metric(erf("plain"), 1, 1)
    r = torch.linspace(0, 3, 31, device=device)
    x = torch.stack([r, torch.zeros_like(r), torch.zeros_like(r)], -1)
    v, R = m.volume(x), m.curvature(x)
    assert v.device.type == device.type
    assert torch.all(v[1:] < v[:-1]) and R[0].abs() < 1e-14 and torch.all(R[1:] < 0)


def test_torch_curvature_matches_symbolic_on_a_grid(device):
    m = RotationInvariantMetric((1 + 2 * U) ** sp.Rational(-1, 2) + U / 5, sp.exp(-U) / 3)
    x = torch.randn(10, 4, generator=torch.Generator().manual_seed(0)).to(device)
    Rsym = m.scalar_curvature(4, simplify=False)
    ref = torch.tensor([float(Rsym.subs(U, float((p ** 2).sum()))) for p in x.cpu()])
    assert torch.allclose(m.curvature(x).cpu(), ref, rtol=1e-11)
