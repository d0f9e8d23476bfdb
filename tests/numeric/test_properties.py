"""Property-based tests (hypothesis) of every public numeric route over random small models.

Models: MLP (closed-form route), conv net with eval BatchNorm, residual MLP, self-attention
(fused kernels: forward-mode fallbacks); float32 and float64; random points, batch sizes and
chunk sizes. Every route is compared with a slow, obviously-correct oracle from numeric_oracles
(per-point torch.autograd.functional loops, dense eigh, the Gauss equation with the normal
projector) within dtype-aware tolerances: ``~1e3 eps`` times the conditioning that the quantity
amplifies (cond(J) for log volumes, lambda_1 / lambda_k for spectra, cond(g)^2 for curvature).
"""
import math
import warnings

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

import geomlib.numeric as gn
from numeric_oracles import gauss_curvature_projector, hessian_loop, jacobian_loop, randomize_bn

SETTINGS = settings(max_examples=3, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
KINDS = ("mlp", "conv", "residual", "attention")
DTYPES = (torch.float64, torch.float32)


class Residual(nn.Module):
    def __init__(self, d, h, n):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(d, h), nn.Linear(h, h), nn.Linear(h, n)

    def forward(self, x):
        h = torch.tanh(self.a(x))
        h = h + torch.tanh(self.b(h))
        return torch.sigmoid(self.c(h))


class Attention(nn.Module):
    """3 tokens of 1 feature -> width 4, one self-attention block (2 heads) -> 3 x 2 = 6 features."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Linear(1, 4)
        self.att = nn.MultiheadAttention(4, 2, batch_first=True)
        self.out = nn.Linear(4, 2)

    def forward(self, x):
        h = self.emb(x.reshape(x.shape[0], 3, 1))
        h = h + self.att(h, h, h, need_weights=False)[0]
        return torch.tanh(self.out(h)).flatten(1)


def build(kind, seed, dtype, device):
    """``(f, in_shape, n)``: a random small model in eval mode."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    if kind == "mlp":
        act = (nn.Tanh, nn.Sigmoid, nn.GELU, nn.Softplus)[seed % 4]
        f = nn.Sequential(nn.Linear(3, 7), act(), nn.Linear(7, 5), act())
        shape = (3,)
    elif kind == "conv":
        f = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.GELU(), nn.Flatten(),
                          nn.Linear(18, 6), nn.Tanh())
        randomize_bn(f, gen)
        shape = (1, 3, 3)
    elif kind == "residual":
        f = Residual(3, 6, 5)
        shape = (3,)
    else:
        f = Attention()
        shape = (3,)
    f = f.to(device=device, dtype=dtype).eval()
    n = f(torch.zeros(2, *shape, device=device, dtype=dtype)).shape[1]
    return f, shape, n


def points(seed, N, shape, dtype, device, scale=1.0):
    gen = torch.Generator().manual_seed(1000 + seed)
    return (scale * torch.randn(N, *shape, generator=gen, dtype=torch.float64)).to(device=device, dtype=dtype)


def eps(dtype):
    return torch.finfo(dtype).eps


def oracle_J(f, X):
    with sdpa_kernel([SDPBackend.MATH]):
        return jacobian_loop(f, X).double()


common = dict(dtype=st.sampled_from(DTYPES), seed=st.integers(0, 10_000), N=st.integers(1, 4),
              chunk=st.sampled_from([None, 1, 2, 3]))
kinds = pytest.mark.parametrize("kind", KINDS)


@kinds
@SETTINGS
@given(**common)
def test_jacobian_and_metric_routes_equal_loop(device, kind, dtype, seed, N, chunk):
    f, shape, n = build(kind, seed, dtype, device)
    X = points(seed, N, shape, dtype, device)
    Jref = oracle_J(f, X)
    tol = 1e3 * eps(dtype) * float(Jref.abs().max() + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gn.RouteFallbackWarning)
        for mode in ("auto", "fwd", "rev"):
            J = gn.jacobian(f, X, mode=mode, chunk_size=chunk)
            assert J.dtype == dtype and J.shape == (N, n, Jref.shape[-1])
            torch.testing.assert_close(J.double(), Jref, rtol=0, atol=tol)
        g = gn.pullback_metric(f, X, chunk_size=chunk)
    gref = Jref.transpose(1, 2) @ Jref / n
    torch.testing.assert_close(g.double(), gref, rtol=0, atol=tol * float(Jref.abs().max() + 1))


@kinds
@SETTINGS
@given(**common)
def test_log_volume_spectrum_effective_volume_equal_dense(device, kind, dtype, seed, N, chunk):
    f, shape, n = build(kind, seed, dtype, device)
    X = points(seed, N, shape, dtype, device)
    Jref = oracle_J(f, X)
    d = Jref.shape[-1]
    s = torch.linalg.svdvals(Jref / math.sqrt(n))  # [N, min(n, d)]
    lam = s * s
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = gn.metric_spectrum(f, X, chunk_size=chunk)
    assert spec.dtype == dtype
    torch.testing.assert_close(spec.double(), lam, rtol=0, atol=1e3 * eps(dtype) * float(lam.max()))
    # log volume (full rank only): error ~ eps cond(J)
    cond = float((s[:, 0] / s[:, -1]).max())
    if n >= d and cond < 1e3:
        with warnings.catch_warnings():
            warnings.simplefilter("error", gn.SingularMetricWarning)
            lv = gn.log_volume(f, X, chunk_size=chunk)
        torch.testing.assert_close(lv.double(), torch.log(s).sum(-1), rtol=0, atol=1e3 * eps(dtype) * cond * d)
    # effective top-k volume, every method, where the k-th value is resolved in this dtype
    k = min(2, n, d)
    if float((lam[:, 0] / lam[:, k - 1]).max()) < 1e3:
        ref = 0.5 * torch.log10(lam[:, :k]).sum(-1)
        tol = 1e4 * eps(dtype) * float((lam[:, 0] / lam[:, k - 1]).max())
        for method in ("gram", "svd", "lanczos"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", gn.RouteFallbackWarning)
                v = gn.effective_log10_volume(f, X, k, method=method, chunk_size=chunk)
            torch.testing.assert_close(v.double(), ref, rtol=0, atol=tol)


@kinds
@SETTINGS
@given(**common, k=st.integers(1, 2), shared=st.booleans())
def test_induced_metric_equals_JV(device, kind, dtype, seed, N, chunk, k, shared):
    f, shape, n = build(kind, seed, dtype, device)
    X = points(seed, N, shape, dtype, device)
    gen = torch.Generator().manual_seed(2000 + seed)
    V = torch.randn(*((k,) if shared else (N, k)), *shape, generator=gen, dtype=torch.float64).to(device, dtype)
    Jref = oracle_J(f, X)
    Vf = V.double().reshape(k, -1) if shared else V.double().reshape(N, k, -1)
    T = Jref @ Vf.T if shared else Jref @ Vf.transpose(1, 2)  # [N, n, k]
    Gref = T.transpose(1, 2) @ T / n
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gn.RouteFallbackWarning)
        G = gn.induced_metric(f, X, V, chunk_size=chunk)
        torch.testing.assert_close(G.double(), Gref, rtol=0, atol=1e3 * eps(dtype) * float(Gref.abs().max() + 1e-30))
        ev = torch.linalg.eigvalsh(Gref)
        if float((ev[:, -1] / ev[:, 0]).max()) < 1e3:
            lv = gn.induced_log_volume(f, X, V, chunk_size=chunk)
            torch.testing.assert_close(lv.double(), 0.5 * torch.logdet(Gref), rtol=0,
                                       atol=1e4 * eps(dtype) * float((ev[:, -1] / ev[:, 0]).max()))


@pytest.mark.parametrize("kind", ("mlp", "residual", "attention"))
@SETTINGS
@given(dtype=st.sampled_from(DTYPES), seed=st.integers(0, 10_000), N=st.integers(1, 2), scale=st.floats(0.2, 1.5))
def test_scalar_curvature_equals_gauss_projector_oracle(device, kind, dtype, seed, N, scale):
    f, shape, n = build(kind, seed, dtype, device)
    X = points(seed, N, shape, dtype, device, scale)
    with sdpa_kernel([SDPBackend.MATH]):
        f64 = build(kind, seed, torch.float64, device)[0]
        X64 = X.double()
        J, H = jacobian_loop(f64, X64) / math.sqrt(n), hessian_loop(f64, X64) / math.sqrt(n)
    Rref = gauss_curvature_projector(J, H)
    g = J.transpose(1, 2) @ J
    cond = torch.linalg.cond(g)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gn.RouteFallbackWarning)
        R = gn.scalar_curvature(f, X, on_singular="nan")
    assert R.dtype == dtype
    from geomlib.numeric.curvature import default_max_cond

    cap = default_max_cond(dtype)
    ok = torch.isfinite(R)
    assert bool((ok | (cond > 0.5 * cap)).all()), "NaN only where the metric is ill-conditioned for this dtype"
    # float32 model vs float64 truth: J, H carry ~eps32 relative error, amplified ~cond(g)^1.5
    tol = 1e3 * eps(dtype) * cond[ok] ** 1.5 * (Rref[ok].abs() + float(H.abs().max() ** 2 + 1))
    assert bool(((R[ok].double() - Rref[ok]).abs() <= tol).all()), (R, Rref, cond)
