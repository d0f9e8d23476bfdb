"""Pullback metric, log volume element, spectra and the authors' effective volume
(geomlib.numeric.metric / spectrum) against per-point autograd loops and dense linear algebra."""
import math
import warnings

import pytest
import torch
from torch import nn

import geomlib.numeric as gn
from numeric_oracles import TinyConvBN, jacobian_loop, metric_loop, randomize_bn


def net(d, n, act=nn.Sigmoid, device="cpu", seed=0, scale=1.0):
    torch.manual_seed(seed)
    f = nn.Sequential(nn.Linear(d, n), act()).to(device)
    with torch.no_grad():
        f[0].weight.mul_(scale)
    return f


def test_pullback_metric_normalisation_and_symmetry(device):
    f = net(3, 8, device=device)
    X = torch.randn(5, 3, device=device)
    g = gn.pullback_metric(f, X)
    torch.testing.assert_close(g, metric_loop(f, X), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(gn.pullback_metric(f, X, normalize=False), 8 * g)
    torch.testing.assert_close(g, g.transpose(-1, -2), rtol=0, atol=0)
    # generic autodiff route gives the same metric as the closed form
    torch.testing.assert_close(gn.pullback_metric(lambda x: f(x), X), g, rtol=1e-12, atol=1e-15)


def test_log_volume_matches_slogdet(device):
    f = net(4, 10, act=nn.Tanh, device=device)
    X = torch.randn(7, 4, device=device)
    g = metric_loop(f, X)
    ref = 0.5 * torch.linalg.slogdet(g).logabsdet
    torch.testing.assert_close(gn.log_volume_element(g), ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gn.log_volume(f, X, chunk_size=2), ref, rtol=1e-12, atol=1e-12)
    assert gn.log_volume(f, X[0]).ndim == 0


def test_singular_metric_gives_minus_inf_with_rank_warning(device):
    f = net(5, 3, device=device)  # n = 3 < d = 5: rank 3
    X = torch.randn(4, 5, device=device)
    with pytest.warns(gn.SingularMetricWarning, match=r"rank 3\.\.3 < d = 5"):
        lv = gn.log_volume(f, X)
    assert torch.isneginf(lv).all()
    # an exactly rank-1 metric given directly
    v = torch.tensor([1.0, 2.0, -1.0], device=device)
    g = torch.stack([torch.outer(v, v), torch.eye(3, device=device)])
    with pytest.warns(gn.SingularMetricWarning, match="1 of 2"):
        lv = gn.log_volume_element(g)
    assert torch.isneginf(lv[0]) and lv[1] == 0
    assert not torch.isnan(lv).any()


def test_saturated_units_make_metric_singular_not_nan(device):
    # huge weights: sigmoid'(z) underflows to exactly 0 for every unit at |x| large
    f = net(2, 6, device=device, scale=1e3)
    with torch.no_grad():
        f[0].bias.zero_()
    X = torch.tensor([[5.0, 5.0], [0.001, -0.002]], device=device)
    with pytest.warns(gn.SingularMetricWarning):
        lv = gn.log_volume(f, X)
    assert torch.isneginf(lv[0]) and torch.isfinite(lv[1])


def test_ill_conditioned_but_regular_metric_is_finite(device):
    g = torch.diag(torch.tensor([1.0, 1e-9, 1e-3], device=device))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lv = gn.log_volume_element(g)
    assert lv.item() == pytest.approx(0.5 * math.log(1e-12), rel=1e-12)


def test_log_volume_from_jacobian_survives_cond_g_beyond_float64(device):
    # J with singular values 1 and 1e-10: g = J^T J / n has cond 1e20, beyond float64, yet the
    # metric is regular and log det g = 2 log(1e-10) - 2 log 3 exactly.
    A = torch.tensor([[1.0, 0.0], [0.0, 1e-10], [0.0, 0.0]], device=device)
    f = lambda x: x @ A.T
    X = torch.randn(5, 2, device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lv = gn.log_volume(f, X)
    expected = 0.5 * (2 * math.log(1e-10) - 2 * math.log(3.0))
    torch.testing.assert_close(lv, torch.full_like(lv, expected), rtol=1e-13, atol=1e-13)
    # the g route cannot resolve it: the same metric given as g is numerically singular
    with pytest.warns(gn.SingularMetricWarning):
        assert torch.isneginf(gn.log_volume_element(gn.pullback_metric(f, X))).all()


@pytest.mark.parametrize("g, err, msg", [
    (torch.ones(2, 3), ValueError, "expected"),
    (torch.tensor([[1.0, 2.0], [0.0, 1.0]]), ValueError, "symmetric"),
    (torch.tensor([[1.0, float("inf")], [float("inf"), 1.0]]), ValueError, "non-finite"),
    (torch.eye(2, dtype=torch.int64), TypeError, "dtype"),
])
def test_log_volume_element_rejects_bad_metrics(g, err, msg):
    with pytest.raises(err, match=msg):
        gn.log_volume_element(g)


def test_spectrum_uses_smaller_gram_and_is_descending(device):
    for d, n in ((6, 4), (4, 6)):
        f = net(d, n, act=nn.Tanh, device=device, seed=d)
        X = torch.randn(3, d, device=device)
        lam = gn.metric_spectrum(f, X)
        assert lam.shape == (3, min(n, d))
        ref = torch.linalg.eigvalsh(metric_loop(f, X)).flip(-1)[:, : min(n, d)]
        torch.testing.assert_close(lam, ref.clamp_min(0), rtol=1e-10, atol=1e-14)
        assert (lam[:, :-1] >= lam[:, 1:]).all()
        torch.testing.assert_close(gn.metric_spectrum(f, X, method="svd"), lam, rtol=1e-10, atol=1e-14)


def authors_effective_volume(f, X, k, thr=-math.inf):
    """Oracle in the authors' style: per-point autograd Jacobian, svdvals, top-k log10, threshold."""
    J = jacobian_loop(f, X) / math.sqrt(f(X[:1]).shape[1])
    s = torch.linalg.svdvals(J)[:, :k].log10()
    return torch.where(s >= thr, s, torch.zeros_like(s)).sum(-1)


@pytest.mark.parametrize("method", ["gram", "svd", "lanczos", "auto"])
def test_effective_volume_matches_authors_style_oracle(device, method):
    f = net(40, 150, device=device, seed=3)
    X = torch.rand(4, 40, device=device)
    ref = authors_effective_volume(f, X, 5)
    out = gn.effective_log10_volume(f, X, 5, method=method)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-10)
    # generic (autodiff) operator for Lanczos gives the same
    if method == "lanczos":
        torch.testing.assert_close(gn.effective_log10_volume(lambda x: f(x), X, 5, method=method), ref,
                                   rtol=0, atol=1e-10)


def test_effective_volume_threshold_and_full_rank_equals_log_volume(device):
    f = net(4, 9, act=nn.Tanh, device=device)
    X = torch.randn(5, 4, device=device)
    full = gn.effective_log10_volume(f, X, 4)
    torch.testing.assert_close(full, gn.log_volume(f, X) / math.log(10), rtol=1e-11, atol=1e-12)
    thr = -1.0
    torch.testing.assert_close(gn.effective_log10_volume(f, X, 4, threshold=thr),
                               authors_effective_volume(f, X, 4, thr), rtol=0, atol=1e-12)


def test_effective_volume_caps_k_at_rank_with_warning(device):
    f = net(6, 3, device=device)  # rank 3
    X = torch.randn(2, 6, device=device)
    with pytest.warns(gn.RankCapWarning, match="k = 5 exceeds the numerical rank"):
        v, used = gn.effective_log10_volume(f, X, 5, return_rank=True)
    assert (used == 3).all() and torch.isfinite(v).all()
    torch.testing.assert_close(v, authors_effective_volume(f, X, 3), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="k must be"):
        gn.effective_log10_volume(f, X, 0)


def test_lanczos_topk_against_dense_eigvalsh(device):
    torch.manual_seed(5)
    A = torch.randn(3, 60, 40, device=device)
    G = A.transpose(1, 2) @ A
    theta, ok = gn.lanczos_topk(lambda v: (G @ v.unsqueeze(-1)).squeeze(-1), 3, 40, 6, device=device)
    assert ok.all()
    ref = torch.linalg.eigvalsh(G).flip(-1)[:, :6]
    torch.testing.assert_close(theta, ref, rtol=1e-11, atol=0)
    # rank-deficient operator: the Krylov space becomes invariant, exact zeros beyond the rank
    B = torch.randn(2, 3, 40, device=device)
    G2 = B.transpose(1, 2) @ B
    theta2, ok2 = gn.lanczos_topk(lambda v: (G2 @ v.unsqueeze(-1)).squeeze(-1), 2, 40, 5, device=device)
    assert ok2.all()
    torch.testing.assert_close(theta2[:, :3], torch.linalg.eigvalsh(G2).flip(-1)[:, :3], rtol=1e-11, atol=0)
    assert (theta2[:, 3:].abs() <= 1e-10 * theta2[:, :1]).all()


def test_conv_batchnorm_spectrum_and_volume(device):
    gen = torch.Generator().manual_seed(2)
    torch.manual_seed(2)
    m = randomize_bn(TinyConvBN(c=1, width=3, n=8), gen).to(device).double().eval()
    X = torch.randn(2, 1, 3, 3, device=device)  # d = 9 > n = 8; 3 pooled channels: rank 3
    lam = gn.metric_spectrum(m, X)
    ref = torch.linalg.eigvalsh(metric_loop(m, X)).flip(-1)[:, :8]
    torch.testing.assert_close(lam, ref.clamp_min(0), rtol=1e-9, atol=1e-15)
    v = gn.effective_log10_volume(m, X, 3)
    torch.testing.assert_close(v, 0.5 * torch.log10(ref[:, :3]).sum(-1), rtol=1e-9, atol=1e-10)
    with pytest.warns(gn.RankCapWarning, match="rank 3"):
        torch.testing.assert_close(gn.effective_log10_volume(m, X, 8), v)
