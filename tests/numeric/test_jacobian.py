"""Batched Jacobians and Hessians (geomlib.numeric.jacobian) against per-point autograd loops and
finite differences; BatchNorm in eval mode; CPU and CUDA."""
import pytest
import torch
from torch import nn

import geomlib.numeric as gn
from numeric_oracles import TinyConvBN, hessian_loop, jacobian_fd, jacobian_loop, randomize_bn


def mlp(d, widths, act=nn.Tanh, device="cpu", seed=0):
    torch.manual_seed(seed)
    layers, a = [], d
    for w in widths:
        layers += [nn.Linear(a, w), act()]
        a = w
    return nn.Sequential(*layers).to(device)


@pytest.mark.parametrize("mode", ["auto", "fwd", "rev", "closed"])
def test_mlp_jacobian_all_routes_match_loop(device, mode):
    f = mlp(5, [7, 4], device=device)
    X = torch.randn(6, 5, device=device)
    J = gn.jacobian(f, X, mode=mode)
    assert J.shape == (6, 4, 5) and J.dtype == torch.float64 and J.device.type == device.type
    torch.testing.assert_close(J, jacobian_loop(f, X), rtol=1e-12, atol=1e-13)


def test_generic_function_and_finite_differences(device):
    W = torch.randn(9, 3, device=device)

    def f(x):  # not a module: a plain function of a batch
        return torch.sin(x @ W.T) * torch.exp(-x.pow(2).sum(-1, keepdim=True))

    X = torch.randn(5, 3, device=device)
    J = gn.jacobian(f, X)
    torch.testing.assert_close(J, jacobian_fd(f, X), rtol=1e-7, atol=1e-8)
    torch.testing.assert_close(gn.jacobian(f, X, mode="rev"), J, rtol=1e-12, atol=1e-13)


def test_single_point_drops_batch_dim(device):
    f = mlp(3, [4], device=device)
    x = torch.randn(3, device=device)
    J = gn.jacobian(f, x)
    assert J.shape == (4, 3)
    torch.testing.assert_close(J, gn.jacobian(f, x[None])[0])


def test_chunking_does_not_change_result(device):
    f = mlp(4, [6, 5], device=device)
    X = torch.randn(11, 4, device=device)
    torch.testing.assert_close(gn.jacobian(f, X, mode="fwd", chunk_size=3), gn.jacobian(f, X, mode="fwd"))
    torch.testing.assert_close(gn.jacobian(f, X, mode="rev", chunk_size=4, tangent_chunk=2),
                               gn.jacobian(f, X, mode="rev"))


def test_conv_batchnorm_eval_images(device):
    gen = torch.Generator().manual_seed(1)
    torch.manual_seed(1)
    net = randomize_bn(TinyConvBN(), gen).to(device).double().eval()
    X = torch.randn(3, 3, 5, 5, device=device)
    J = gn.jacobian(net, X)  # d = 75 > n = 6: reverse mode
    assert J.shape == (3, 6, 75)
    torch.testing.assert_close(J, jacobian_loop(net, X), rtol=1e-11, atol=1e-12)
    torch.testing.assert_close(gn.jacobian(net, X, mode="fwd", tangent_chunk=16), J, rtol=1e-11, atol=1e-12)
    # one image [C, H, W]
    torch.testing.assert_close(gn.jacobian(net, X[0]), J[0])


def test_batchnorm_in_training_mode_is_refused(device):
    net = TinyConvBN().to(device).double().train()
    X = torch.randn(2, 3, 5, 5, device=device)
    with pytest.raises(ValueError, match="eval"):
        gn.jacobian(net, X)
    with pytest.raises(ValueError, match="eval"):
        gn.jacobian(net.forward, X)  # bound method of a training-mode module
    net.eval()
    gn.jacobian(net, X)


def test_hessian_matches_loop_and_is_symmetric(device):
    f = mlp(3, [5, 4], device=device)
    X = torch.randn(4, 3, device=device)
    J, H = gn.jacobian_hessian(f, X)
    assert H.shape == (4, 4, 3, 3)
    torch.testing.assert_close(J, jacobian_loop(f, X), rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(H, hessian_loop(f, X), rtol=1e-11, atol=1e-12)
    torch.testing.assert_close(H, H.transpose(-1, -2))


def test_float32_input_gives_float32(device):
    f = mlp(3, [4], device=device).float()
    J = gn.jacobian(f, torch.randn(2, 3, device=device, dtype=torch.float32))
    assert J.dtype == torch.float32


@pytest.mark.parametrize("bad, err, msg", [
    (torch.ones(2, 3, dtype=torch.int64), TypeError, "dtype"),
    (torch.tensor([[0.0, float("nan"), 1.0]]), ValueError, "non-finite"),
    (torch.ones(2, 2, 2, 3, 1), ValueError, "cannot tell"),
    (torch.ones(0, 3), ValueError, "empty"),
    ("abc", TypeError, "Tensor"),
])
def test_bad_inputs_raise_clearly(bad, err, msg):
    f = mlp(3, [4])
    with pytest.raises(err, match=msg):
        gn.jacobian(f, bad)


def test_bad_outputs_and_modes_raise():
    X = torch.randn(2, 3)
    with pytest.raises(ValueError, match="non-finite"):
        gn.jacobian(lambda x: torch.log(x), X - 10)
    with pytest.raises(ValueError, match="mode"):
        gn.jacobian(mlp(3, [4]), X, mode="magic")
    with pytest.raises(ValueError, match="closed"):
        gn.jacobian(lambda x: x * 2, X, mode="closed")
    with pytest.raises(ValueError, match="f returned shape"):
        gn.jacobian(lambda x: x.sum(), X)
    # finite at the first point, infinite derivative at the second (sqrt at 0)
    with pytest.raises(ValueError, match="non-finite"):
        gn.jacobian(lambda x: torch.sqrt(x.abs()), torch.tensor([[1.0, 2.0], [0.0, 1.0]]))


def test_explicit_in_shape_for_one_2d_image():
    conv = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Tanh()).double()
    x = torch.randn(4, 4)  # one [H, W] image: ndim 2 would read as a batch without in_shape
    J = gn.jacobian(lambda z: conv(z.unsqueeze(1)), x, in_shape=(4, 4))
    assert J.shape == (8, 16)
    with pytest.raises(ValueError, match="expected"):
        gn.jacobian(lambda z: conv(z.unsqueeze(1)), x, in_shape=(5, 5))
