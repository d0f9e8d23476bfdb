"""Scalar curvature (Methods: curvature conventions, T2/T5, the authors' curvature; checks C1, C4-C6, C8, C10): Gauss route, metric
route, T2 closed forms, slow Christoffel and finite-difference oracles, the authors' 3R pattern."""
import math
import warnings

import pytest
import sympy as sp
import torch
from torch import nn

import geomlib.numeric as gn
from geomlib.symbolic import scalar_curvature as sym_scalar_curvature
from numeric_oracles import brioschi_fd, christoffel_scalar_curvature_loop

# the deterministic reference net (Methods: reference checks)
W_REF = [[1.0, 0.5], [-0.3, 1.2], [0.7, -0.9]]
B_REF = [0.1, -0.2, 0.3]
X_REF = [0.4, -0.3]
W2_REF = [[0.8, -0.6, 0.4], [0.2, 0.9, -0.5], [-0.7, 0.3, 0.6]]
B2_REF = [0.05, -0.1, 0.2]


def ref_net(device):
    t = lambda v: torch.tensor(v, device=device)  # noqa: E731
    return t(W_REF), t(B_REF), t(X_REF)


# --- C1: conventions on embedded surfaces (Gauss route, normalize=False) ---------------------------

def sphere(X):
    th, ph = X[:, 0], X[:, 1]
    return torch.stack([torch.sin(th) * torch.cos(ph), torch.sin(th) * torch.sin(ph), torch.cos(th)], 1)


def three_sphere(X):
    a, b, c = X[:, 0], X[:, 1], X[:, 2]
    return torch.stack([torch.cos(a), torch.sin(a) * torch.cos(b), torch.sin(a) * torch.sin(b) * torch.cos(c),
                        torch.sin(a) * torch.sin(b) * torch.sin(c)], 1)


def tractricoid(X):  # pseudosphere, Gaussian curvature -1 (u > 0)
    u, v = X[:, 0], X[:, 1]
    return torch.stack([torch.cos(v) / torch.cosh(u), torch.sin(v) / torch.cosh(u), u - torch.tanh(u)], 1)


def polar(X):
    r, th = X[:, 0], X[:, 1]
    return torch.stack([r * torch.cos(th), r * torch.sin(th)], 1)


def graph(X):
    x1, x2 = X[:, 0], X[:, 1]
    return torch.stack([x1, x2, x1 ** 2 * x2 / 3 + 0.5 * torch.sin(x1) * x2 ** 2], 1)


@pytest.mark.parametrize("fmap, pts, R", [
    (sphere, [[0.7, 0.3], [1.2, -2.0], [2.5, 1.0]], 2.0),
    (three_sphere, [[0.7, 1.1, 0.3], [1.9, 0.6, -2.0]], 6.0),
    (tractricoid, [[0.7, 0.3], [1.5, -2.0]], -2.0),
    (polar, [[0.5, 0.3], [2.0, 4.0]], 0.0),
    (graph, [[0.4, -0.3]], -0.1677456523),
])
def test_c1_conventions_embedded(device, fmap, pts, R):
    X = torch.tensor(pts, device=device)
    for route in ("gauss", "metric"):
        out = gn.scalar_curvature(fmap, X, normalize=False, route=route)
        torch.testing.assert_close(out, torch.full_like(out, R), rtol=0, atol=1e-9)


def test_scaling_normalisation_and_radius(device):
    X = torch.tensor([[0.7, 0.3], [1.1, 2.0]], device=device)
    a = 2.5
    R = gn.scalar_curvature(lambda x: a * sphere(x), X, normalize=False)
    torch.testing.assert_close(R, torch.full_like(R, 2 / a ** 2))
    # normalize divides g by n = 3: R is multiplied by 3
    torch.testing.assert_close(gn.scalar_curvature(sphere, X), torch.full_like(R, 6.0))


# --- explicit metrics: metric route vs SymPy (geomlib.symbolic) ------------------------------------

def test_metric_route_textbook_metrics(device):
    sph = lambda X: torch.diag_embed(torch.stack([torch.ones_like(X[:, 0]), torch.sin(X[:, 0]) ** 2], 1))  # noqa: E731
    half = lambda X: torch.eye(2, device=X.device).expand(X.shape[0], 2, 2) / X[:, 1, None, None] ** 2  # noqa: E731
    X = torch.tensor([[0.7, 0.3], [1.3, 0.9]], device=device)
    torch.testing.assert_close(gn.scalar_curvature_from_metric(sph, X), torch.full((2,), 2.0, device=device))
    torch.testing.assert_close(gn.scalar_curvature_from_metric(half, X), torch.full((2,), -2.0, device=device))
    assert gn.scalar_curvature_from_metric(sph, X[0]).ndim == 0


def rot_inv_metric(X):
    """Methods: reference checks, C8: g = A(u) I + B(u) x x^T with A = (1 + 2u)^(-1/2) + u/5, B = e^(-u)/3."""
    u = (X * X).sum(-1)
    A = (1 + 2 * u) ** -0.5 + u / 5
    B = torch.exp(-u) / 3
    d = X.shape[-1]
    return A[:, None, None] * torch.eye(d, dtype=X.dtype, device=X.device) + B[:, None, None] * X[:, :, None] * X[:, None, :]


@pytest.mark.parametrize("pt, R", [
    ([0.3, -0.5], 0.4232060274),
    ([0.3, -0.5, 0.4], 0.8190081357),
    ([0.3, -0.5, 0.4, 0.1], 3.0663412124),
])
def test_c8_rotation_invariant_metric(device, pt, R):
    x = torch.tensor(pt, device=device)
    out = gn.scalar_curvature_from_metric(rot_inv_metric, x)
    assert out.item() == pytest.approx(R, abs=1e-9)
    # rotation invariance: R(Qx) = R(x)
    torch.manual_seed(0)
    Q, _ = torch.linalg.qr(torch.randn(len(pt), len(pt), device=device))
    assert gn.scalar_curvature_from_metric(rot_inv_metric, Q @ x).item() == pytest.approx(R, abs=1e-9)


def test_metric_route_against_geomlib_symbolic():
    """A rotation-invariant metric A(u) I + B(u) x x^T with rational A, B (cheap for SymPy)."""
    x, y = sp.symbols("x y", real=True)
    u = x ** 2 + y ** 2
    A, B = 1 + u / 5, 1 / (3 + u)
    g = A * sp.eye(2) + B * sp.Matrix([[x * x, x * y], [x * y, y * y]])
    R = sp.lambdify((x, y), sym_scalar_curvature(g, (x, y), simplify=False))

    def g_num(X):
        uu = (X * X).sum(-1)
        return ((1 + uu / 5)[:, None, None] * torch.eye(2, dtype=X.dtype)
                + (1 / (3 + uu))[:, None, None] * X[:, :, None] * X[:, None, :])

    pts = torch.tensor([[0.3, -0.5], [1.1, 0.2], [-0.7, -0.8]])
    ref = torch.tensor([R(float(a), float(b)) for a, b in pts])
    torch.testing.assert_close(gn.scalar_curvature_from_metric(g_num, pts), ref, rtol=1e-10, atol=1e-12)


def erf_infinite_width_metric(sw, sb):
    """T3/T5: g = e^Omega [I + 2 Omega' x x^T], e^Omega = (2 sw^2 / pi) (1 + 2 sb^2 + 2 sw^2 u)^(-1/2)."""
    def g(X):
        u = (X * X).sum(-1)
        s = 1 + 2 * sb ** 2 + 2 * sw ** 2 * u
        eO = 2 * sw ** 2 / math.pi * s ** -0.5
        dO = -sw ** 2 / s  # Omega'
        d = X.shape[-1]
        return eO[:, None, None] * (torch.eye(d, dtype=X.dtype, device=X.device) + 2 * dO[:, None, None] * X[:, :, None] * X[:, None, :])
    return g


@pytest.mark.parametrize("pt, R", [
    ([0.3, -0.5], -1.0307744355),
    ([0.3, -0.5, 0.4], -3.4992773331),
    ([0.3, -0.5, 0.4, 0.1, 0.2], -10.5378753271),
])
def test_c10_erf_infinite_width(pt, R):
    x = torch.tensor(pt)
    assert gn.scalar_curvature_from_metric(erf_infinite_width_metric(1.3, 0.7), x).item() == pytest.approx(R, abs=1e-9)


# --- C4, C5: the deterministic reference nets -----------------------------------------------------

ACTS = {
    "sigmoid": (torch.sigmoid, 0.0334897804, -0.6217254734),
    "tanh": (torch.tanh, 0.3297623319, -0.5574879556),
    "erf": (lambda z: torch.erf(z / math.sqrt(2)), 0.2835922727, -0.2921962617),
    "cubic": (lambda z: z + z ** 3 / 3, 1.1932185325, -0.1431963479),
}


@pytest.mark.parametrize("name", list(ACTS))
def test_c4_c5_reference_net_all_routes(device, name):
    W, b, x = ref_net(device)
    phi, vol, R = ACTS[name]
    f = lambda X: phi(X @ W.T + b)  # noqa: E731
    assert math.exp(gn.log_volume(f, x).item()) == pytest.approx(vol, abs=1e-10)
    for val in (gn.scalar_curvature(f, x), gn.scalar_curvature(f, x, route="metric"),
                gn.shallow_curvature(W, b, x, name), gn.shallow_curvature_2d(W, b, x, name)):
        assert float(val) == pytest.approx(R, abs=1e-9)
    assert math.sqrt(gn.shallow_det_cauchy_binet(W, b, x, name).item()) == pytest.approx(vol, abs=1e-10)
    if name == "sigmoid":
        torch.testing.assert_close(gn.shallow_metric(W, b, x, name),
                                   torch.tensor([[0.0282834946, -0.0054177764], [-0.0054177764, 0.0406922026]],
                                                device=device), rtol=0, atol=1e-10)
        assert gn.authors_shallow_curvature_2d(W, b, x, name).item() == pytest.approx(-1.8651764201, abs=1e-9)
        assert gn.authors_curvature(f, x).item() == pytest.approx(-1.8651764201, abs=1e-9)


def deep_ref(device):
    W, b, _ = ref_net(device)
    W2, b2 = torch.tensor(W2_REF, device=device), torch.tensor(B2_REF, device=device)
    return lambda X: torch.tanh(torch.tanh(X @ W.T + b) @ W2.T / math.sqrt(3) + b2)


def test_c5_deep_tanh_and_authors_pattern(device):
    f = deep_ref(device)
    x = torch.tensor(X_REF, device=device)
    assert math.exp(gn.log_volume(f, x).item()) == pytest.approx(0.0802947402, abs=1e-10)
    assert gn.scalar_curvature(f, x).item() == pytest.approx(-3.5296178705, abs=1e-9)
    assert gn.scalar_curvature(f, x, route="metric").item() == pytest.approx(-3.5296178705, abs=1e-9)
    assert gn.authors_curvature(f, x).item() == pytest.approx(-20.3369684480, abs=1e-8)


# --- Gauss = metric route = slow oracles on random nets; C6 ---------------------------------------

@pytest.mark.parametrize("d", [2, 3])
def test_gauss_equals_metric_route_and_oracle_random_deep(device, d):
    torch.manual_seed(10 + d)
    f = nn.Sequential(nn.Linear(d, 7), nn.Tanh(), nn.Linear(7, 5), nn.Tanh()).to(device)
    X = torch.randn(4, d, device=device) * 0.7
    Rg = gn.scalar_curvature(f, X)
    Rm = gn.scalar_curvature(f, X, route="metric")
    torch.testing.assert_close(Rg, Rm, rtol=1e-10, atol=1e-11)
    metric_one = lambda z: (lambda J: J.T @ J / 5)(torch.autograd.functional.jacobian(  # noqa: E731
        lambda w: f(w.unsqueeze(0)).reshape(-1), z, create_graph=True))
    Ro = christoffel_scalar_curvature_loop(metric_one, X[:2].cpu())
    torch.testing.assert_close(Rg[:2].cpu(), Ro.to(torch.float64), rtol=1e-10, atol=1e-11)


def test_gauss_route_against_finite_differences():
    torch.manual_seed(7)
    f = nn.Sequential(nn.Linear(2, 6), nn.Sigmoid(), nn.Linear(6, 4), nn.Tanh())
    x = torch.tensor([0.3, -0.2])
    metric_one = lambda z: gn.pullback_metric(f, z)  # noqa: E731
    # second differences: truncation error ~h^2, round-off ~eps/h^2; h = 3e-4 balances them (~1e-5)
    R_fd = brioschi_fd(metric_one, x, h=3e-4)
    assert gn.scalar_curvature(f, x).item() == pytest.approx(R_fd.item(), rel=1e-4)


@pytest.mark.parametrize("d, act", [(2, "sigmoid"), (3, "tanh"), (2, "erf"), (3, "gelu")])
def test_c6_shallow_closed_forms_and_authors_3R(device, d, act):
    torch.manual_seed(20 + d)
    n = 9
    W, b = torch.randn(n, d, device=device), torch.randn(n, device=device)
    X = torch.randn(3, d, device=device)
    phi = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "erf": lambda z: torch.erf(z / math.sqrt(2)),
           "gelu": lambda z: nn.functional.gelu(z)}[act]
    f = lambda Z: phi(Z @ W.T + b)  # noqa: E731
    R = gn.scalar_curvature(f, X)
    torch.testing.assert_close(gn.shallow_curvature(W, b, X, act), R, rtol=1e-10, atol=1e-12)
    if d == 2:
        torch.testing.assert_close(gn.shallow_curvature_2d(W, b, X, act), R, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(gn.authors_shallow_curvature_2d(W, b, X, act), 3 * R, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(gn.authors_curvature(f, X), 3 * R, rtol=1e-9, atol=1e-11)


def test_authors_pattern_is_standard_on_sphere_and_h2(device):
    X = torch.tensor([[0.7, 0.3], [1.2, 0.5]], device=device)
    torch.testing.assert_close(gn.authors_curvature(sphere, X, normalize=False), torch.full((2,), 2.0, device=device))
    torch.testing.assert_close(gn.authors_curvature(tractricoid, X, normalize=False),
                               torch.full((2,), -2.0, device=device))


# --- conditioning ---------------------------------------------------------------------------------

def test_ill_conditioned_metric_raises_or_warns_nan(device):
    W = torch.tensor([[1.0, 0.0], [1.0, 1e-7]], device=device)  # nearly parallel units: cond ~ 1e14+
    f = lambda X: torch.tanh(X @ W.T)  # noqa: E731
    X = torch.tensor([[0.1, 0.2], [0.3, 0.1]], device=device)
    with pytest.raises(gn.IllConditionedMetricError, match="max_cond"):
        gn.scalar_curvature(f, X)
    with pytest.warns(gn.SingularMetricWarning, match="2 of 2"):
        R = gn.scalar_curvature(f, X, on_singular="nan")
    assert torch.isnan(R).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        R2 = gn.scalar_curvature(f, X, max_cond=1e20)
    assert torch.isfinite(R2).all()
    with pytest.raises(gn.IllConditionedMetricError):
        gn.scalar_curvature(lambda Z: Z[:, :1] ** 2 + Z[:, 1:] * 0, X)  # exactly singular


def test_finite_width_approaches_infinite_width_erf():
    """T3/T5 Monte Carlo: a wide random erf(z/sqrt 2) net's R tends to -2 pi/3 u / sqrt(3 + 2u) (C9)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.tensor([[0.6, -0.8]])  # |x| = 1
    ref = -2 * math.pi / 3 / math.sqrt(5)
    errs = []
    for n in (4000, 64000):
        W, b = torch.randn(n, 2, generator=gen), torch.randn(n, generator=gen)
        errs.append(abs(gn.shallow_curvature(W, b, x, "erf").item() - ref))
    assert errs[1] < 0.05 * abs(ref)
    assert errs[1] < errs[0]


def test_infinite_width_metric_from_geomlib_symbolic():
    """geomlib.symbolic's T3 erf metric (SymPy, lambdified to torch): our metric route = its T4a
    closed form = the C10 number (Methods: reference checks), and R(Qx) = R(x) (rotation invariance)."""
    from geomlib.symbolic import erf, shallow_metric

    g = shallow_metric(erf(), sp.Rational(13, 10), sp.Rational(7, 10))
    pts = torch.tensor([[0.3, -0.5], [1.2, 0.4], [-0.6, 0.9]])
    R = gn.scalar_curvature_from_metric(g.metric_fn(), pts)
    torch.testing.assert_close(R, g.curvature(pts), rtol=1e-10, atol=1e-12)
    assert R[0].item() == pytest.approx(-1.0307744355, abs=1e-9)
    Q = torch.tensor([[math.cos(0.7), -math.sin(0.7)], [math.sin(0.7), math.cos(0.7)]])
    torch.testing.assert_close(gn.scalar_curvature_from_metric(g.metric_fn(), pts @ Q.T), R, rtol=1e-10, atol=1e-12)
