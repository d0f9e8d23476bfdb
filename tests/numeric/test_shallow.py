"""Methods: T2 closed forms for shallow nets against autodiff (geomlib.numeric.shallow)."""
import math

import pytest
import torch

import geomlib.numeric as gn


@pytest.mark.parametrize("act", sorted(gn.ACTIVATIONS))
def test_activation_derivatives_match_autograd(act):
    z = torch.linspace(-3, 3, 13, requires_grad=True)
    phi, d1, d2 = gn.shallow.activation_derivatives(act, z)
    g1 = torch.autograd.grad(phi.sum(), z, create_graph=True)[0]
    g2 = torch.autograd.grad(g1.sum(), z)[0]
    torch.testing.assert_close(d1, g1, rtol=1e-12, atol=1e-12)
    if act != "relu":  # relu'' is 0 a.e.; autograd agrees except that it has no graph for it
        torch.testing.assert_close(d2, g2, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("d", [2, 3])
def test_metric_det_and_volume_against_autodiff(device, d):
    torch.manual_seed(d)
    n = 7
    W, b = torch.randn(n, d, device=device), torch.randn(n, device=device)
    X = torch.randn(4, d, device=device)
    f = lambda Z: gn.shallow_features(W, b, Z, "tanh", normalize=False)  # noqa: E731
    g = gn.shallow_metric(W, b, X, "tanh")
    torch.testing.assert_close(g, gn.pullback_metric(f, X), rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(gn.shallow_det_cauchy_binet(W, b, X, "tanh"), torch.linalg.det(g), rtol=1e-10, atol=0)
    torch.testing.assert_close(gn.shallow_log_volume(W, b, X, "tanh"), gn.log_volume(f, X), rtol=1e-12, atol=1e-12)
    # unnormalised: g * n, R / n
    torch.testing.assert_close(gn.shallow_metric(W, b, X, "tanh", normalize=False), n * g)
    torch.testing.assert_close(gn.shallow_curvature(W, b, X, "tanh", normalize=False),
                               gn.shallow_curvature(W, b, X, "tanh") / n)


def test_relu_finite_width_is_flat():
    torch.manual_seed(0)
    W, b = torch.randn(12, 2), torch.randn(12)
    X = torch.randn(5, 2) * 0.3
    R = gn.shallow_curvature(W, b, X, "relu")
    torch.testing.assert_close(R, torch.zeros(5), rtol=0, atol=1e-12)
    torch.testing.assert_close(gn.shallow_curvature_2d(W, b, X, "relu"), torch.zeros(5), rtol=0, atol=1e-12)


def test_custom_activation_tuple_and_bad_input():
    torch.manual_seed(1)
    W, b = torch.randn(5, 2), torch.randn(5)
    x = torch.tensor([0.2, -0.4])
    custom = (torch.sin, torch.cos, lambda z: -torch.sin(z))
    R = gn.shallow_curvature(W, b, x, custom)
    assert R.item() == pytest.approx(gn.scalar_curvature(lambda Z: torch.sin(Z @ W.T + b), x).item(), rel=1e-10)
    with pytest.raises(ValueError, match="unknown activation"):
        gn.shallow_metric(W, b, x, "swish")
    with pytest.raises(ValueError, match="shape"):
        gn.shallow_metric(W, b, torch.ones(3), "tanh")
    with pytest.raises(ValueError, match="d = 2"):
        gn.shallow_curvature_2d(torch.randn(5, 3), b, torch.ones(3), "tanh")
    with pytest.raises(ValueError, match="finite"):
        gn.shallow_metric(W, b, torch.tensor([math.nan, 0.0]), "tanh")
