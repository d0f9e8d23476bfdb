"""Issue 11, numeric side: the right number or a clear refusal.

Case 3 (Lanczos breakdown read as rank), case 4 (maps that couple the samples of a batch),
case 5 (fast routes that cannot run where reverse mode can) and kind 7 (tolerances follow the
dtype), each with its right value, against closed forms and the slow oracles of numeric_oracles.
"""
import math
import warnings

import pytest
import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

import geomlib.numeric as gn
from geomlib.numeric.lanczos import lanczos_topk
from numeric_oracles import (brioschi_fd, christoffel_curvature_autograd, gauss_curvature_projector, hessian_loop, jacobian_loop,
                             metric_loop)


def no_warnings():
    ctx = warnings.catch_warnings()
    ctx.__enter__()
    warnings.simplefilter("error")
    return ctx


# --- case 3: breakdown is not rank -------------------------------------------------------------

def test_identity_jacobian_lanczos_gives_both_values(device):
    f = nn.Linear(4, 4, bias=False).to(device)
    with torch.no_grad():
        f.weight.copy_(torch.eye(4))
    x = torch.zeros(4, device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no false RankCapWarning
        v, used = gn.effective_log10_volume(f, x, 2, method="lanczos", return_rank=True)
    # g = I / 4: two singular values 1/2 of J~, log10 vol_2 = 2 log10(1/2) = -0.602 (not -0.301)
    assert int(used) == 2
    assert float(v) == pytest.approx(2 * math.log10(0.5), abs=1e-13)
    assert float(v) == pytest.approx(-0.6020599913, abs=1e-10)


def test_orthogonal_tanh_layer_default_method(device):
    torch.manual_seed(0)
    lin = nn.Linear(256, 512)
    nn.init.orthogonal_(lin.weight)
    nn.init.zeros_(lin.bias)
    f = nn.Sequential(lin, nn.Tanh()).to(device)
    x = torch.zeros(256, device=device)
    closed = 10 * 0.5 * math.log10(1 / 512)  # W^T W = I, tanh'(0) = 1: g = I / 512
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no false "rank 1" warning
        v = gn.effective_log10_volume(f, x, 10)  # default method: Lanczos here (min(n, d) = 256)
        vg = gn.effective_log10_volume(f, x, 10, method="gram")
    assert closed == pytest.approx(-13.5463498049, abs=1e-9)
    assert float(v) == pytest.approx(closed, abs=1e-10)
    assert float(vg) == pytest.approx(closed, abs=1e-10)


@pytest.mark.parametrize("ev, k, top", [
    ([5.0, 5.0, 1.0, 1.0, 1.0, 1.0], 2, [5.0, 5.0]),
    ([5.0, 5.0, 5.0, 1.0, 1.0, 0.0], 4, [5.0, 5.0, 5.0, 1.0]),
    ([2.0] * 12, 5, [2.0] * 5),
    ([3.0, 0.0, 0.0, 0.0, 0.0], 3, [3.0, 0.0, 0.0]),
])
def test_lanczos_restarts_find_multiplicities(device, ev, k, top):
    lam = torch.tensor(ev, device=device)
    torch.manual_seed(1)
    Qm, _ = torch.linalg.qr(torch.randn(len(ev), len(ev), device=device))
    G = Qm @ torch.diag(lam) @ Qm.T
    G = 0.5 * (G + G.T)
    for op in (lambda v: v * lam, lambda v: v @ G):  # exact repeats and rounded ones
        theta, ok = lanczos_topk(op, 1, len(ev), k, device=device)
        assert bool(ok.all())
        torch.testing.assert_close(theta[0], torch.tensor(top, device=device), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("tokens", [2, 3])
def test_hidden_multiplicity_is_exact_or_redone_densely(device, tokens, one_thread):
    """The same 48 -> 60 block on identical tokens: every eigenvalue is repeated `tokens` times
    and no breakdown happens before the top k converge (48 distinct values). The Lanczos route
    must agree with the dense route (its spot check sends such points to the dense route)."""
    torch.manual_seed(2)
    block = nn.Linear(48, 60).to(device)

    def f(x):
        return torch.tanh(block(x.reshape(x.shape[0], tokens, 48))).flatten(1)

    t = torch.randn(48, device=device) * 0.3
    X = torch.stack([t.repeat(tokens), (t + 0.1).repeat(tokens)])
    for k in (2, 10):
        dense = gn.effective_log10_volume(f, X, k, method="gram")
        lz = gn.effective_log10_volume(f, X, k, method="lanczos")
        torch.testing.assert_close(lz, dense, rtol=0, atol=1e-10)
    # the answer really has repeats: top-2 = twice the top singular value of one token
    one = gn.metric_spectrum(lambda z: torch.tanh(block(z)), t.unsqueeze(0))[0] / tokens
    assert float(gn.effective_log10_volume(f, X[:1], 2, method="lanczos")) == pytest.approx(
        float(torch.log10(one[0])), abs=1e-10)


def test_rank_deficient_operator_still_reports_rank(device):
    f = nn.Linear(6, 3).to(device)  # rank 3 < d = 6
    X = torch.randn(2, 6, device=device)
    with pytest.warns(gn.RankCapWarning, match="rank 3"):
        v, used = gn.effective_log10_volume(f, X, 5, method="lanczos", return_rank=True)
    assert (used == 3).all()
    ref = 0.5 * torch.log10(torch.linalg.eigvalsh(metric_loop(f, X)).flip(-1)[:, :3]).sum(-1)
    torch.testing.assert_close(v, ref, rtol=0, atol=1e-11)


# --- case 4: maps that couple the samples of a batch ---------------------------------------------

def bn_free_conv(device):
    torch.manual_seed(3)
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3, track_running_stats=False), nn.Tanh(),
                         nn.Conv2d(3, 2, 3), nn.Flatten(), nn.Linear(8, 5)).to(device).eval()


def test_statistics_free_batchnorm_couples_points_and_is_refused(device):
    net = bn_free_conv(device)
    X = torch.randn(3, 1, 4, 4, device=device)
    # the defect: the same point has a different Jacobian in a batch of 3 than alone
    J3 = torch.autograd.functional.jacobian(lambda z: net(z).sum(0), X).permute(1, 0, 2, 3, 4)[0].reshape(5, 16)
    J1 = jacobian_loop(net, X[:1])[0]
    assert (J3 - J1).abs().max() > 1e-3
    lv = lambda J: 0.5 * torch.linalg.slogdet(J @ J.T / 5).logabsdet  # noqa: E731
    assert abs(float(lv(J3) - lv(J1))) > 1e-3
    V = torch.randn(2, 1, 4, 4, device=device)
    calls = [lambda f: gn.jacobian(f, X), lambda f: gn.pullback_metric(f, X), lambda f: gn.log_volume(f, X),
             lambda f: gn.metric_spectrum(f, X), lambda f: gn.effective_log10_volume(f, X, 2),
             lambda f: gn.induced_metric(f, X, V), lambda f: gn.induced_log_volume(f, X[0], V),
             lambda f: gn.jacobian_hessian(f, X)]
    for call in calls:
        with pytest.raises(gn.BatchCouplingError, match="batch statistics couple the points"):
            call(net)
        # hidden behind a plain function the module check cannot see: the probe catches it
        with pytest.raises(gn.BatchCouplingError, match="batch statistics couple the points"):
            call(lambda z: net(z))


def test_training_mode_message_is_the_shared_one(device):
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Tanh()).to(device).train()
    X = torch.randn(3, 3, device=device)
    with pytest.raises(gn.BatchCouplingError, match=r"training mode: call model\.eval\(\).*batch statistics couple"):
        gn.log_volume(net, X)
    with pytest.raises(gn.BatchCouplingError, match="batch statistics couple the points"):
        gn.log_volume(lambda z: net(z), X)  # probe: BatchNorm1d in training mode behind a lambda


@pytest.mark.parametrize("fn", [
    lambda x: torch.tanh(x - x.mean(0, keepdim=True)),  # batch centring
    lambda x: torch.tanh(x + x[:1]),  # first sample leaks into the others
    lambda x: torch.tanh(x + 1e-3 * torch.randn_like(x)),  # random
    lambda x: torch.tanh(x * x.shape[0]),  # depends on the batch size
])
def test_probe_catches_other_couplings(device, fn):
    X = torch.randn(4, 3, device=device)
    with pytest.raises(gn.BatchCouplingError):
        gn.log_volume(fn, X)
    with pytest.raises(gn.BatchCouplingError):
        gn.log_volume(fn, X[0])  # one point: the probe makes a companion point


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_probe_accepts_honest_models(device, dtype):
    torch.manual_seed(4)
    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.GroupNorm(2, 4), nn.GELU(), nn.Flatten(),
                        nn.LayerNorm(64), nn.Linear(64, 7)).to(device, dtype).eval()
    X = torch.zeros(2, 2, 4, 4, device=device, dtype=dtype)  # identical (constant) points too
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        J = gn.jacobian(net, X)
    assert J.shape == (2, 7, 32)


# --- case 5: fallbacks where reverse mode works ------------------------------------------------

class TokenEncoder(nn.Module):
    """6 inputs -> 3 tokens of 2 -> d_model 16, one TransformerEncoder layer (2 heads) -> 3 x 8 = 24."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Linear(2, 16)
        layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.0, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        self.out = nn.Linear(16, 8)

    def forward(self, x):
        return self.out(self.enc(self.emb(x.reshape(x.shape[0], 3, 2)))).flatten(1)


@pytest.fixture
def transformer(device):
    torch.manual_seed(5)
    return TokenEncoder().to(device).eval()


def test_transformer_every_route_works_and_matches_reverse_mode(device, transformer):
    m = transformer
    X = torch.randn(3, 6, device=device)
    gn._inputs._NOTED.clear()
    with pytest.warns(gn.RouteFallbackWarning, match="'fwd' route cannot run on TokenEncoder"):
        J = gn.jacobian(m, X)
    with sdpa_kernel([SDPBackend.MATH]):
        Jref = jacobian_loop(m, X)
    torch.testing.assert_close(J, Jref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(gn.jacobian(m, X, mode="rev"), Jref, rtol=1e-10, atol=1e-12)
    g = Jref.transpose(1, 2) @ Jref / 24
    torch.testing.assert_close(gn.log_volume(m, X), 0.5 * torch.linalg.slogdet(g).logabsdet, rtol=1e-10, atol=1e-10)
    V = torch.randn(2, 6, device=device)
    G = V @ g @ V.T
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lvi = gn.induced_log_volume(m, X, V)
        eff = gn.effective_log10_volume(m, X, 3, method="lanczos")
    torch.testing.assert_close(lvi, 0.5 * torch.linalg.slogdet(G).logabsdet, rtol=1e-10, atol=1e-10)
    ref_eff = 0.5 * torch.log10(torch.linalg.eigvalsh(g).flip(-1)[:, :3]).sum(-1)
    torch.testing.assert_close(eff, ref_eff, rtol=0, atol=1e-10)
    # once per route and model class: a second call is silent
    with warnings.catch_warnings():
        warnings.simplefilter("error", gn.RouteFallbackWarning)
        gn.jacobian(m, X)


def test_transformer_curvature_matches_gauss_projector_oracle(device, transformer):
    m = transformer
    x = torch.randn(2, 6, device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gn.RouteFallbackWarning)
        R = gn.scalar_curvature(m, x)
    with sdpa_kernel([SDPBackend.MATH]):  # plain autograd needs the decomposed kernel for 2nd derivatives
        J, H = jacobian_loop(m, x) / math.sqrt(24), hessian_loop(m, x) / math.sqrt(24)
    torch.testing.assert_close(R, gauss_curvature_projector(J, H), rtol=1e-8, atol=1e-8)


def test_layernorm_curvature_right_value_or_refusal(device):
    """torch 2.14 gets second derivatives of nn.LayerNorm wrong in forward-over-forward mode and
    third derivatives wrong in every mode. The Gauss route (second derivatives) must give the right
    R (central differences of the metric, Brioschi formula); the metric route (third derivatives)
    must refuse."""
    torch.manual_seed(9)
    m = nn.Sequential(nn.Linear(2, 6), nn.LayerNorm(6), nn.Tanh(), nn.Linear(6, 5), nn.Tanh()).to(device)
    x = torch.tensor([[0.3, -0.5], [1.1, 0.4]], device=device)
    gn._inputs._NOTED.clear()
    with pytest.warns(gn.RouteFallbackWarning, match="forward over forward"):
        R = gn.scalar_curvature(m, x)

    def metric_one(z):
        J = torch.autograd.functional.jacobian(lambda w: m(w[None])[0], z)
        return J.T @ J / 5

    ref = torch.tensor([brioschi_fd(metric_one, xx.cpu()) for xx in x], device=device)
    torch.testing.assert_close(R, ref, rtol=1e-5, atol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gn.RouteFallbackWarning)
        with pytest.raises(ValueError, match="route='gauss'"):
            gn.scalar_curvature(m, x, route="metric")
        with pytest.raises(ValueError, match="route='gauss'"):
            gn.authors_curvature(m, x)


def _buffer_and_cat(device):
    torch.manual_seed(6)
    W, b = torch.randn(30, 3, device=device), torch.randn(30, device=device)

    def buffer_map(x):
        out = torch.zeros(x.shape[0], 30, dtype=x.dtype, device=x.device)
        for i in range(3):
            out[:, 10 * i:10 * (i + 1)] = torch.tanh(x @ W[10 * i:10 * (i + 1)].T + b[10 * i:10 * (i + 1)])
        return out

    def cat_map(x):
        return torch.cat([torch.tanh(x @ W[10 * i:10 * (i + 1)].T + b[10 * i:10 * (i + 1)]) for i in range(3)], 1)

    return buffer_map, cat_map


def test_buffer_filled_by_slices_curvature_equals_cat(device):
    buffer_map, cat_map = _buffer_and_cat(device)
    X = torch.randn(4, 3, device=device) * 0.5
    gn._inputs._NOTED.clear()
    with pytest.warns(gn.RouteFallbackWarning, match="Hessian 'forward over forward' route cannot run.*using 'plain autograd"):
        Rb = gn.scalar_curvature(buffer_map, X)
    Rc = gn.scalar_curvature(cat_map, X)
    torch.testing.assert_close(Rb, Rc, rtol=1e-11, atol=1e-11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gn.RouteFallbackWarning)
        V = torch.randn(2, 3, device=device)
        for fn in (gn.jacobian, gn.log_volume, gn.metric_spectrum):
            torch.testing.assert_close(fn(buffer_map, X), fn(cat_map, X), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(gn.induced_log_volume(buffer_map, X, V), gn.induced_log_volume(cat_map, X, V),
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.slow
def test_buffer_map_curvature_matches_christoffel_oracle(device, one_thread):
    buffer_map, cat_map = _buffer_and_cat(device)
    x = torch.tensor([[0.3, -0.2, 0.4]], device=device)

    def mone(z):  # differentiable metric of the torch.cat map, plain autograd
        J = torch.autograd.functional.jacobian(lambda w: cat_map(w[None])[0], z, create_graph=True)
        return J.T @ J / 30

    Rref = christoffel_curvature_autograd(mone, x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gn.RouteFallbackWarning)
        torch.testing.assert_close(gn.scalar_curvature(buffer_map, x), Rref, rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(gn.scalar_curvature(buffer_map, x, route="metric"), Rref, rtol=1e-9, atol=1e-9)


def test_genuine_errors_are_not_swallowed_by_fallbacks():
    f = nn.Linear(3, 4).double()
    with pytest.raises(ValueError, match="non-finite"):
        gn.scalar_curvature(lambda x: torch.log(x), torch.tensor([[-1.0, 2.0]]))
    with pytest.raises(TypeError, match="cast one to match"):
        gn.jacobian(f, torch.randn(2, 3, dtype=torch.float32))


# --- kind 7: tolerances follow the dtype --------------------------------------------------------

def test_float32_rank_cut_off(device):
    A = torch.tensor([[1.0, 0.0], [0.0, 1e-8], [0.0, 0.0]], device=device)
    f64 = lambda x: x @ A.T  # noqa: E731
    X = torch.randn(2, 2, device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.isfinite(gn.log_volume(f64, X)).all()  # float64: 1e-8 is resolved
    A32 = A.float()
    with pytest.warns(gn.SingularMetricWarning, match="rank 1"):  # float32: 1e-8 is below 3 eps
        assert torch.isneginf(gn.log_volume(lambda x: x @ A32.T, X.float())).all()


def test_float32_model_behind_float64_points_uses_float32_thresholds(device):
    m32 = nn.Linear(2, 3, bias=False).to(device).float()
    with torch.no_grad():
        m32.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1e-8], [0.0, 0.0]]))

    def f(x):
        return m32(x.float()).double()

    f.module = m32
    with pytest.warns(gn.SingularMetricWarning, match="rank 1"):
        gn.log_volume(f, torch.randn(2, 2, device=device))


def test_curvature_condition_cap_follows_dtype(device):
    def f(x):
        return torch.stack([x[:, 0], 1e-3 * x[:, 1], x[:, 0] * x[:, 1] + x[:, 0] ** 2], 1)

    X = torch.tensor([[0.0, 0.2]], device=device)  # g = diag(1.04, 1e-6)
    R64 = gn.scalar_curvature(f, X, normalize=False)  # cond(g) ~ 1e6 <= 1e12
    assert torch.isfinite(R64).all()
    with pytest.raises(gn.IllConditionedMetricError, match="max_cond = 1.9e\\+03"):
        gn.scalar_curvature(f, X.float(), normalize=False)
    from geomlib.numeric.curvature import default_max_cond

    assert default_max_cond(torch.float64) == 1e12
    assert default_max_cond(torch.float32) == pytest.approx(1.86e3, rel=1e-2)


def test_float32_geometry_accuracy_as_stated(device):
    torch.manual_seed(7)
    f64 = nn.Sequential(nn.Linear(3, 12), nn.Tanh(), nn.Linear(12, 8), nn.Tanh()).to(device)
    f32 = nn.Sequential(nn.Linear(3, 12), nn.Tanh(), nn.Linear(12, 8), nn.Tanh()).to(device).float()
    f32.load_state_dict({k: v.float() for k, v in f64.state_dict().items()})
    X = torch.randn(5, 3, device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lv32, lv64 = gn.log_volume(f32, X.float()), gn.log_volume(f64, X)
        R32, R64 = gn.scalar_curvature(f32, X.float()), gn.scalar_curvature(f64, X)
        e32 = gn.effective_log10_volume(f32, X.float(), 2, method="lanczos")
        e64 = gn.effective_log10_volume(f64, X, 2, method="gram")
    assert lv32.dtype == R32.dtype == e32.dtype == torch.float32
    J = jacobian_loop(f64, X)
    s = torch.linalg.svdvals(J)
    cond = float((s[:, 0] / s[:, -1]).max())
    torch.testing.assert_close(lv32.double(), lv64, rtol=0, atol=1e-6 * cond)
    torch.testing.assert_close(R32.double(), R64, rtol=1e-6 * cond ** 2, atol=1e-6 * cond ** 2)
    torch.testing.assert_close(e32.double(), e64, rtol=0, atol=1e-4)


def test_lanczos_tolerance_follows_operator_precision(device):
    torch.manual_seed(8)
    A = torch.randn(2, 80, 60, device=device)
    G = (A.transpose(1, 2) @ A).float()
    theta, ok = lanczos_topk(lambda v: (G @ v.unsqueeze(-1)).squeeze(-1), 2, 60, 4, dtype=torch.float32,
                             op_dtype=torch.float32, device=device)
    assert ok.all() and theta.dtype == torch.float32  # a float64 tolerance (1e-13) could never be met
    ref = torch.linalg.eigvalsh(G.double()).flip(-1)[:, :4]
    torch.testing.assert_close(theta.double(), ref, rtol=1e-4, atol=0)


def test_plane_collinearity_threshold_follows_dtype():
    x1 = torch.zeros(3)
    x2 = torch.tensor([1.0, 0.0, 0.0])
    x3 = torch.tensor([2.0, 1e-3, 0.0])  # sin^2 of the angle between e_r and e_u ~ 4e-7
    gn.Plane(x1, x2, x3)  # float64: fine (threshold 1e-12)
    with pytest.raises(ValueError, match="collinear"):
        gn.Plane(x1.float(), x2.float(), x3.float())  # float32: below 5.4e-4
