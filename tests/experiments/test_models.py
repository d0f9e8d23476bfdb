"""geomlib.experiments.models: the MLPs (scalings of Methods: feature maps), ResNet feature maps under torch.func,
BN eval behaviour, SSL losses against slow direct computations, augmentations' determinism, the
linear probe."""
import math
import warnings

import numpy as np
import pytest
import torch
from torch.func import jacrev, jvp, vmap

from geomlib.experiments.models import (AugmentedImages, BarlowTwins, CifarResNet, DeepMLP, ShallowMLP, SimCLR,
                                        barlow_step, barlow_transforms, barlow_twins_loss, channel_stats,
                                        epoch_batches, extract_features, feature_map, fit_probe, normalize,
                                        nt_xent_loss, simclr_step, simclr_transforms, supervised_step,
                                        supervised_transform)


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_net(act="gelu", depth=18, seed=0):
    torch.manual_seed(seed)
    net = CifarResNet(depth, width=1 / 16, act=act).float()  # channels 4-8-16-32: n = 32; trained in float32
    # non-trivial BN running statistics, so eval mode really differs from train mode
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.randn(8, 3, 32, 32, dtype=torch.float32))
    return net.eval()


@pytest.mark.parametrize("stage", [None, 1, 2, 3, 4])
def test_stage_features_have_512_width_values(stage):
    for width, n in [(1 / 16, 32), (0.25, 128)]:
        net = CifarResNet(18, width=width).float().eval()
        assert net.feature_dim == n
        with torch.no_grad():
            assert net.features(torch.randn(2, 3, 32, 32, dtype=torch.float32), stage).shape == (2, n)


def test_resnet34_standard_size_and_bad_arguments():
    net = CifarResNet(34, width=1.0)
    assert net.feature_dim == 512 and [len(s) for s in net.stages] == [3, 4, 6, 3]
    # CIFAR ResNet-34 (3x3 stem, no max-pool): 21.28 M parameters with a 10-way readout
    assert abs(sum(p.numel() for p in net.parameters()) - 21_282_122) == 0
    assert net.conv1.kernel_size == (3, 3) and net.conv1.stride == (1, 1)
    with pytest.raises(ValueError, match="depth"):
        CifarResNet(50)
    with pytest.raises(ValueError, match="act"):
        CifarResNet(18, act="tanh")
    with pytest.raises(ValueError, match="width"):
        CifarResNet(18, width=0.3)
    with pytest.raises(ValueError, match="stage"):
        CifarResNet(18, width=1 / 16).float().features(torch.zeros(1, 3, 32, 32, dtype=torch.float32), stage=5)
    with pytest.raises(ValueError, match="32"):
        CifarResNet(18, width=1 / 16).float().features(torch.zeros(1, 3, 28, 28, dtype=torch.float32))


@pytest.mark.parametrize("act,stage", [("gelu", None), ("relu", None), ("gelu", 2)])
def test_feature_jacobian_vmap_jacrev_matches_per_sample_autograd(device, act, stage):
    phi = feature_map(tiny_net(act), stage)  # float64 eval-mode copy
    phi.module.to(device)
    x = torch.randn(3, 3, 32, 32, device=device)
    single = lambda xi: phi(xi[None])[0]  # noqa: E731
    J = vmap(jacrev(single))(x)  # [3, n, 3, 32, 32]
    assert J.shape == (3, 32, 3, 32, 32) and J.dtype == torch.float64
    for i in range(3):  # oracle: plain autograd, one output row at a time
        xi = x[i].clone().requires_grad_(True)
        out = single(xi)
        rows = [torch.autograd.grad(out[j], xi, retain_graph=True)[0] for j in range(out.numel())]
        torch.testing.assert_close(J[i], torch.stack(rows), rtol=1e-10, atol=1e-12)
    # a JVP is J v, for batched tangents too
    v = torch.randn_like(x)
    _, jv = jvp(phi, (x,), (v,))
    torch.testing.assert_close(jv, torch.einsum("bnchw,bchw->bn", J, v), rtol=1e-10, atol=1e-12)


def test_bn_eval_mode_is_per_sample_and_leaves_buffers_alone(device):
    net = tiny_net().to(device)
    before = {k: b.clone() for k, b in net.named_buffers()}
    phi = feature_map(net)
    phi.module.to(device)
    x = torch.randn(5, 3, 32, 32, device=device)
    alone = torch.cat([phi(x[i:i + 1]) for i in range(5)])
    torch.testing.assert_close(phi(x), alone, rtol=1e-12, atol=1e-12)  # no batch coupling
    for k, b in net.named_buffers():
        assert torch.equal(b, before[k]), k
    assert not net.training and next(net.parameters()).dtype == torch.float32  # caller's model untouched
    # train-mode BN normalises with batch statistics: a sample's features depend on its batch
    net.train()
    xf = x.float()
    with torch.no_grad():
        a = net.features(xf)[:1]
        b = net.features(torch.cat([xf[:1], 3 * xf[1:]]))[:1]
    assert (a - b).abs().max() > 1e-3
    # and eval mode uses the running statistics: equal to an explicit affine normalisation
    net.eval()
    bn = net.bn1
    with torch.no_grad():
        z = net.conv1(xf)
        ref = (z - bn.running_mean[:, None, None]) / torch.sqrt(bn.running_var[:, None, None] + bn.eps)
        ref = ref * bn.weight[:, None, None] + bn.bias[:, None, None]
        torch.testing.assert_close(bn(z), ref, rtol=1e-5, atol=1e-5)


def test_ssl_wrappers_expose_backbone_features():
    net = tiny_net()
    for model, out_dim in [(BarlowTwins(net, proj_dim=16), 16), (SimCLR(net), 10)]:
        model.float().eval()
        x = torch.randn(2, 3, 32, 32, dtype=torch.float32)
        with torch.no_grad():
            assert model(x).shape == (2, out_dim)
            torch.testing.assert_close(feature_map(model, dtype=None)(x), net.features(x))


# ---- SSL losses against slow, direct computations ----

def barlow_slow(z1, z2, lambd):
    B, D = z1.shape
    std = []
    for z in (z1, z2):
        cols = []
        for i in range(D):
            col = [float(z[b, i]) for b in range(B)]
            m = sum(col) / B
            s = math.sqrt(sum((c - m) ** 2 for c in col) / B + 1e-5)
            cols.append([(c - m) / s for c in col])
        std.append(cols)
    loss = 0.0
    for i in range(D):
        for j in range(D):
            c = sum(std[0][i][b] * std[1][j][b] for b in range(B)) / B
            loss += (1 - c) ** 2 if i == j else lambd * c ** 2
    return loss


def nt_xent_slow(z1, z2, tau):
    z = [v / np.linalg.norm(v) for v in np.concatenate([z1.numpy(), z2.numpy()])]
    B, total = len(z1), 0.0
    for i in range(2 * B):
        pos = (i + B) % (2 * B)
        num = math.exp(float(z[i] @ z[pos]) / tau)
        den = sum(math.exp(float(z[i] @ z[k]) / tau) for k in range(2 * B) if k != i)
        total += -math.log(num / den)
    return total / (2 * B)


@pytest.mark.parametrize("B,D", [(4, 3), (7, 5)])
def test_barlow_twins_loss_matches_direct_computation(device, B, D):
    g = torch.Generator().manual_seed(B * 10 + D)
    z1, z2 = torch.randn(B, D, generator=g), torch.randn(B, D, generator=g)
    for lambd in (0.005, 0.7):
        got = barlow_twins_loss(z1.to(device), z2.to(device), lambd)
        assert abs(float(got) - barlow_slow(z1, z2, lambd)) < 1e-10
    # invariances: per-dimension affine maps of the embeddings change nothing (up to eps)
    a, b = torch.rand(D) + 0.5, torch.randn(D)
    torch.testing.assert_close(barlow_twins_loss(z1 * a + b, z2), barlow_twins_loss(z1, z2), rtol=1e-4, atol=1e-6)
    # perfectly correlated, decorrelated dimensions: c = I up to eps, loss ~ 0
    m = torch.randn(B, B, generator=g)
    m[:, 0] = 1.0
    q, _ = torch.linalg.qr(m)
    z = q[:, 1:D + 1] * math.sqrt(B)  # orthonormal columns orthogonal to ones: zero mean, unit variance
    assert float(barlow_twins_loss(z, z)) < 1e-3


@pytest.mark.parametrize("B,D,tau", [(3, 4, 0.07), (6, 2, 0.5)])
def test_nt_xent_loss_matches_direct_computation(device, B, D, tau):
    g = torch.Generator().manual_seed(B + D)
    z1, z2 = torch.randn(B, D, generator=g), torch.randn(B, D, generator=g)
    got = nt_xent_loss(z1.to(device), z2.to(device), tau)
    assert abs(float(got) - nt_xent_slow(z1, z2, tau)) < 1e-9 * max(1.0, nt_xent_slow(z1, z2, tau))
    torch.testing.assert_close(nt_xent_loss(3 * z1, 0.5 * z2, tau), got.cpu())  # cosine: scale-free
    # swapping the views, or permuting the pairs together, is a symmetry
    perm = torch.randperm(B, generator=g)
    torch.testing.assert_close(nt_xent_loss(z2, z1, tau), got.cpu())
    torch.testing.assert_close(nt_xent_loss(z1[perm], z2[perm], tau), got.cpu())
    # aligned positive pairs give a lower loss than random ones
    assert float(nt_xent_loss(z1, z1 + 1e-3 * z2, tau)) < float(got)


def test_losses_reject_bad_input():
    with pytest.raises(ValueError, match="B >= 2"):
        barlow_twins_loss(torch.randn(1, 3), torch.randn(1, 3))
    with pytest.raises(ValueError, match="equal shape"):
        nt_xent_loss(torch.randn(3, 3), torch.randn(4, 3))
    with pytest.raises(ValueError, match="tau"):
        nt_xent_loss(torch.randn(3, 3), torch.randn(3, 3), tau=0.0)
    z = torch.randn(4, 3)
    z[:, 0] = 1.0  # a constant dimension: finite, not NaN
    assert torch.isfinite(barlow_twins_loss(z, z))


def test_training_steps_give_differentiable_scalars():
    net = CifarResNet(18, width=1 / 16).float()
    x = torch.rand(4, 3, 32, 32, dtype=torch.float32)
    y = torch.tensor([0, 1, 2, 3])
    for model, step, batch in [(net, supervised_step(), (x, y)),
                               (BarlowTwins(net, 8).float(), barlow_step(), (x, x.flip(-1))),
                               (SimCLR(net).float(), simclr_step(), (x, x.flip(-1)))]:
        model.train()
        loss = step(model, batch)
        assert loss.dim() == 0 and torch.isfinite(loss)
        loss.backward()
        assert net.conv1.weight.grad is not None and net.conv1.weight.grad.abs().sum() > 0
        net.zero_grad()


# ---- augmentations ----

def test_augmented_batches_are_deterministic_per_epoch():
    x = torch.rand(10, 3, 32, 32, dtype=torch.float32)
    y = torch.arange(10)
    data = AugmentedImages(x, barlow_transforms(), y=y, seed=3)
    run = lambda e: list(epoch_batches(data, e, 4))  # noqa: E731
    a, b, c = run(1), run(1), run(2)
    assert [len(t) for t in a] == [3, 3, 3] and [t[0].shape[0] for t in a] == [4, 4, 2]
    for ta, tb in zip(a, b):
        for u, v in zip(ta, tb):
            assert torch.equal(u, v)
    assert not torch.equal(a[0][0], c[0][0])
    v1, v2, lab = a[0]
    assert v1.dtype == torch.float32 and lab.dtype == torch.int64 and not torch.equal(v1, v2)
    # each view is a transform of the labelled image: recompute one item directly
    item = data[int(lab[0])]
    data.set_epoch(1)
    torch.testing.assert_close(data[int(lab[0])][0], v1[0])
    assert len(item) == 3
    # drop_last for SSL batches
    assert [t[0].shape[0] for t in epoch_batches(data, 0, 4, drop_last=True)] == [4, 4]


def test_transforms_normalise_and_keep_shape():
    x = torch.rand(200, 3, 32, 32, dtype=torch.float32)
    mean, std = channel_stats(x)
    torch.testing.assert_close(torch.tensor(mean), x.double().mean((0, 2, 3)))
    t = supervised_transform(mean, std)
    torch.manual_seed(0)
    out = torch.stack([t(xi) for xi in x])
    assert out.shape == x.shape
    # undoing the normalisation gives a crop/flip of the image: its non-padding values are x's values
    raw = out * torch.tensor(std, dtype=torch.float32)[:, None, None] + torch.tensor(mean, dtype=torch.float32)[:, None, None]
    assert float(raw.min()) > -1e-5 and float(raw.max()) < 1 + 1e-5
    for i in range(3):
        vals = raw[i][raw[i].abs() > 1e-4]
        near = (vals[:, None] - x[i].flatten()[None, :]).abs().min(1).values
        assert float(near.max()) < 1e-5
    torch.testing.assert_close(normalize(x, mean, std)[:, 0].mean().double(), torch.tensor(0.0, dtype=torch.float64), atol=1e-5, rtol=0)
    s1, s2 = simclr_transforms()
    assert s1(x[0]).shape == (3, 32, 32) and float(s1(x[0]).min()) >= 0  # no normalisation


# ---- linear probe ----

def test_probe_separates_separable_data_and_is_at_chance_on_noise():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, 20)) * 6
    y = rng.integers(0, 3, 600)
    X = centers[y] + rng.normal(size=(600, 20))
    probe = fit_probe(X[:400], y[:400], X[400:], y[400:])
    assert probe.converged and probe.train_accuracy == 1.0 and probe.test_accuracy == 1.0
    p = probe.predict_proba(torch.as_tensor(X[400:]))
    assert p.shape == (200, 3) and np.allclose(p.sum(1), 1)
    # labels independent of the features: test accuracy near chance (1/3)
    noise = fit_probe(X[:400], rng.integers(0, 3, 400), X[400:], rng.integers(0, 3, 200))
    assert noise.test_accuracy < 0.5
    with pytest.raises(ValueError, match="max_iter"):
        fit_probe(X, y, max_iter=100)
    with pytest.raises(ValueError, match="NaN"):
        fit_probe(np.full((4, 2), np.nan), np.array([0, 1, 0, 1]))


def test_extract_features_matches_eval_forward():
    net = tiny_net()
    x = torch.rand(7, 3, 32, 32, dtype=torch.float32)
    f = extract_features(net, x, batch_size=3)
    with torch.no_grad():
        torch.testing.assert_close(f, net.features(x))
    assert not net.training


# ---------------------------------------------------------------- MLPs
def test_shallow_forward_matches_formula(device):
    torch.manual_seed(0)
    m = ShallowMLP(2, 7, 3, device=device)
    x = torch.randn(5, 2, device=device)
    W1, b1 = m.hidden.weight, m.hidden.bias
    W2, b2 = m.readout.weight, m.readout.bias
    phi = torch.sigmoid(x @ W1.T + b1)
    assert torch.allclose(m.features(x), phi)
    assert torch.allclose(m(x), (phi @ W2.T + b2) / math.sqrt(7))
    assert m.hidden.weight.dtype == torch.float64


def test_deep_forward_matches_formula(device):
    torch.manual_seed(1)
    m = DeepMLP((2, 8, 8, 8, 2), device=device)
    x = torch.randn(4, 2, device=device)
    L = m.layers
    h1 = x @ L[0].weight.T + L[0].bias
    p1 = torch.sigmoid(h1)
    p2 = torch.sigmoid((p1 @ L[1].weight.T + L[1].bias) / math.sqrt(8))
    p3 = torch.sigmoid((p2 @ L[2].weight.T + L[2].bias) / math.sqrt(8))
    out = (p3 @ L[3].weight.T + L[3].bias) / math.sqrt(8)
    assert torch.allclose(m.features(x, 1), p1)
    assert torch.allclose(m.features(x, 2), p2)
    assert torch.allclose(m.features(x, -1), p3)
    assert torch.allclose(m(x), out)
    assert torch.allclose(m.feature_map(2)(x), p2)
    with pytest.raises(ValueError, match="layer must be in 1..3"):
        m.features(x, 4)
    with pytest.raises(ValueError, match="one hidden layer"):
        ShallowMLP(2, 3, 2).features(x.cpu(), 2)


def test_init_is_standard_normal_for_weights_and_biases():
    torch.manual_seed(2)
    m = ShallowMLP(2, 20000, 2)
    for t in (m.hidden.weight, m.hidden.bias, m.readout.weight):
        v = t.detach().flatten()
        # N(0,1): sample mean within 5 standard errors of 0, variance within 3 %
        assert abs(v.mean().item()) < 5 / math.sqrt(v.numel())
        assert abs(v.var().item() - 1.0) < 0.03


def test_bad_model_arguments():
    with pytest.raises(ValueError, match="unknown activation"):
        ShallowMLP(2, 3, 2, act="softsign")
    with pytest.raises(ValueError, match="positive"):
        ShallowMLP(2, 0, 2)
    with pytest.raises(ValueError, match="hidden layer"):
        DeepMLP((2, 2))
