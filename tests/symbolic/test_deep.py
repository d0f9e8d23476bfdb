"""Deep infinite-width recursion (T7): C14, symbolic vs quadrature routes, wide random nets with
error ~ width^-1/2, ReLU stays flat, bad input."""
import math

import pytest
import sympy as sp
import torch

from geomlib.symbolic import U, deep_metric, erf, relu, shallow_metric, tanh
from geomlib.symbolic.checks import check_deep
from geomlib.symbolic.deep import authors_deep_sigmas
from geomlib.symbolic.montecarlo import random_deep_metrics, relative_error


def test_c14_and_width_scaling(device):
    c = check_deep(widths=(200, 800, 3200), repeats=6, mc_width=2000, device=device)
    assert c.passed, c


def test_numeric_route_for_tanh_against_wide_nets(device):
    sw, sb = [1.0, 1.2, 0.9], [0.5, 0.2, 0.3]
    ms = deep_metric(tanh(), sw, sb)
    assert not ms[0].symbolic and "quadrature" in ms[0].method
    x = torch.tensor([[0.4, -0.7], [1.1, 0.2]])
    gs = random_deep_metrics(tanh(), x.to(device), [3000] * 3, sw, sb, seed=5, device=device)
    for l in range(3):
        assert relative_error(gs[l].cpu(), ms[l].evaluate(x)).max().item() < 0.1
    # layer 1 of the recursion is the shallow metric
    assert torch.allclose(ms[0].evaluate(x), shallow_metric(tanh(), 1.0, 0.5).evaluate(x), rtol=1e-12)
    # rotation invariance of the deep metric itself
    Q = torch.tensor([[0.6, -0.8], [0.8, 0.6]])
    assert torch.allclose(ms[2].evaluate(x @ Q.T), Q @ ms[2].evaluate(x) @ Q.T, atol=1e-12)
    assert torch.isfinite(ms[2].curvature(x)).all()


def test_relu_deep_metric_is_flat_for_any_depth_and_bias():
    ms = deep_metric(relu(), [2, 1, 3], [0, 1, sp.Rational(1, 7)])
    assert ms[-1].A == sp.Rational(4 * 1 * 9, 8) and ms[-1].B == 0


def test_symbolic_deep_curvature_matches_autodiff_of_its_matrix():
    from geomlib.symbolic.autodiff import scalar_curvature_autodiff

    ms = deep_metric(erf("sqrt2"), [sp.Rational(6, 5), sp.Rational(3, 2)], [sp.Rational(1, 2), sp.Rational(3, 10)])
    x = torch.tensor([[0.8, -0.4], [0.2, 0.5]])
    R_auto = scalar_curvature_autodiff(lambda xv: ms[1].evaluate(xv[None])[0], x)
    assert torch.allclose(ms[1].curvature(x), R_auto, rtol=1e-9)


def test_authors_sigmas_and_bad_input():
    sw, sb = authors_deep_sigmas([8, 8, 8])
    assert sw == [1.0] * 3 and sb == pytest.approx([1.0, 8**-0.5, 8**-0.5])
    with pytest.raises(TypeError, match="sequences"):
        deep_metric(tanh(), 1.0, 1.0)
    with pytest.raises(ValueError, match="one sigma_w and one sigma_b"):
        deep_metric(tanh(), [1, 1], [1])
    with pytest.raises(ValueError, match="standard deviation"):
        deep_metric(tanh(), [1, -1], [1, 1])
    with pytest.raises(ValueError, match="metric is zero"):
        deep_metric(tanh(), [1, 0], [1, 1])
    with pytest.raises(ValueError, match="positive integers"):
        authors_deep_sigmas([8, 0])
