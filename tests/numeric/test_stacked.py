"""The stacked-batch forward-mode engine (geomlib.numeric.stacked) against torch.func.jvp."""
import math

import pytest
import torch
from torch import nn
from torch.func import jvp, vmap

import geomlib.numeric as gn
from geomlib.numeric.stacked import UnsupportedOp, stacked_jvp
from numeric_oracles import randomize_bn


def reference(f, X, V):
    with torch.no_grad():
        return f(X), vmap(lambda v: jvp(f, (X,), (v.expand_as(X),))[1])(V)


def check(f, X, V):
    P, T = stacked_jvp(f, X, V)
    P0, T0 = reference(f, X, V)
    torch.testing.assert_close(P, P0, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(T, T0, rtol=1e-11, atol=1e-14)


@pytest.mark.parametrize("act", ["gelu", "relu"])
def test_resnet_matches_torch_func(device, act):
    from geomlib.experiments.models import feature_map, resnet18

    torch.manual_seed(0)
    net = randomize_bn(resnet18(width=0.0625, act=act), torch.Generator().manual_seed(0))
    phi = feature_map(net)
    phi.module.to(device)
    X = torch.rand(3, 3, 32, 32, device=device)
    V = torch.randn(2, 3, 32, 32, device=device)
    check(phi, X, V)
    for stage in (1, 3):
        ps = feature_map(net, stage)
        ps.module.to(device)
        check(ps, X, V)


class Quirky(nn.Module):
    """Residual adds, in-place ops, scalar arithmetic, products, eval dropout, pooling."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)
        self.act = nn.ReLU(inplace=True)
        self.drop = nn.Dropout(0.3)
        self.lin = nn.Linear(3, 4)

    def forward(self, x):
        h = self.act(self.bn(self.conv(x)))
        h += 0.5 * self.conv(x)  # __iadd__ of two stacked tensors
        h = self.drop(1.0 - torch.tanh(h) / 3)  # __rsub__, __truediv__ by a scalar
        h = nn.functional.avg_pool2d(h, 2).mean(dim=(-1, -2))
        h = self.lin(h) * torch.sigmoid(h.sum(dim=1, keepdim=True))  # product rule
        return torch.nn.functional.gelu(h - 0.1)


def test_quirky_ops(device):
    torch.manual_seed(1)
    m = randomize_bn(Quirky(), torch.Generator().manual_seed(1)).to(device).double().eval()
    X = torch.randn(4, 2, 6, 6, device=device)
    V = torch.randn(2, 2, 6, 6, device=device)
    check(m, X, V)
    # per-point tangents
    Vp = torch.randn(2, 4, 2, 6, 6, device=device)
    P, T = stacked_jvp(m, X, Vp, shared=False)
    with torch.no_grad():
        T0 = torch.stack([jvp(m, (X,), (Vp[a],))[1] for a in range(2)])
    torch.testing.assert_close(T, T0, rtol=1e-11, atol=1e-14)


def test_deep_mlp_partial_features(device):
    from geomlib.experiments.models import DeepMLP

    torch.manual_seed(2)
    m = DeepMLP((5, 8, 8, 3)).to(device)
    f = m.feature_map(-1)
    X, V = torch.randn(6, 5, device=device), torch.randn(2, 5, device=device)
    check(f, X, V)
    G = gn.induced_metric(f, X, V, mode="stacked")
    torch.testing.assert_close(G, gn.induced_metric(f, X, V, mode="jvp"), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("fn", [
    lambda x: torch.nn.functional.max_pool2d(x, 2).flatten(1),
    lambda x: torch.softmax(x.flatten(1), dim=1),
    lambda x: torch.cat([x.flatten(1), x.flatten(1) ** 2], dim=1),
    lambda x: x.flatten(1) + torch.ones(x.shape[0], x[0].numel(), dtype=x.dtype),  # per-sample constant
    lambda x: x.flatten(1).mean(dim=0, keepdim=True).expand(x.shape[0], -1),  # mixes samples
    lambda x: nn.functional.dropout(x, 0.5, training=True).flatten(1),
])
def test_unsupported_ops_raise_and_induced_falls_back(fn):
    X = torch.rand(3, 2, 4, 4)
    V = torch.randn(2, 2, 4, 4)
    with pytest.raises(UnsupportedOp):
        stacked_jvp(fn, X, V)


def test_auto_route_falls_back_to_jvp_for_unsupported_ops():
    f = lambda x: torch.tanh(nn.functional.max_pool2d(x, 2).flatten(1) * 3)  # noqa: E731
    X, V = torch.rand(3, 1, 4, 4), torch.randn(2, 1, 4, 4)
    G = gn.induced_metric(f, X, V)
    J = torch.stack([torch.autograd.functional.jacobian(lambda z: f(z.unsqueeze(0))[0], x).reshape(4, 16) for x in X])
    JV = J @ V.reshape(2, 16).T / math.sqrt(4)
    torch.testing.assert_close(G, JV.transpose(-1, -2) @ JV, rtol=1e-12, atol=1e-15)
    with pytest.raises(UnsupportedOp):
        gn.induced_metric(f, X, V, mode="stacked")


def test_batchnorm_training_mode_rejected():
    m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten()).double().train()
    with pytest.raises(ValueError, match="eval"):
        gn.induced_metric(m, torch.rand(2, 1, 4, 4), torch.randn(1, 1, 4, 4))
