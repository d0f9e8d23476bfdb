"""Slices (Methods: slices, C19) and the metric they inherit: JVP-induced V^T g V = full-Jacobian value."""
import math

import pytest
import torch
from torch import nn

import geomlib.numeric as gn
from numeric_oracles import TinyConvBN, jacobian_loop, randomize_bn

S3 = math.sqrt(3)


def test_grid2d_layout(device):
    g = gn.Grid2D((-1, 2), (0, 1), n=4, device=device)
    P = g.points()
    assert P.shape == (16, 2) and P.dtype == torch.float64
    # row-major: y along rows, x along columns
    assert P[1, 0] > P[0, 0] and P[1, 1] == P[0, 1]
    assert P[4, 1] > P[0, 1] and P[4, 0] == P[0, 0]
    grid = g.to_grid(P)
    torch.testing.assert_close(grid[..., 0], g.X)
    torch.testing.assert_close(grid[..., 1], g.Y)
    assert g.X[0, -1] == 2 and g.Y[-1, 0] == 1
    assert g.spacing == pytest.approx((1.0, 1 / 3))
    with pytest.raises(ValueError, match="n\\*n"):
        g.to_grid(torch.zeros(15))
    with pytest.raises(ValueError, match="min < max"):
        gn.Grid2D((1, 0))
    with pytest.raises(ValueError, match=">= 2"):
        gn.Grid2D(n=1)


def test_grid2d_is_float64_by_default():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        assert gn.Grid2D(n=3).points().dtype == torch.float64
        assert gn.Grid2D(n=3, dtype=torch.float32).points().dtype == torch.float32
    finally:
        torch.set_default_dtype(old)


def test_model_and_points_of_different_dtype_name_the_cast():
    net = nn.Sequential(nn.Linear(2, 5), nn.Tanh()).float()
    with pytest.raises(TypeError, match=r"model.to\(torch.float64\)"):
        gn.pullback_metric(net, gn.Grid2D(n=3).points())
    conv = TinyConvBN().eval().float()  # not a closed-form Sequential: the autodiff route says the same
    with pytest.raises(TypeError, match="parameters are torch.float32"):
        gn.jacobian(conv, torch.zeros(2, 3, 5, 5, dtype=torch.float64))


@pytest.mark.parametrize("bad", [-2, (0, "a"), (0, 1, 2), (0, math.inf)])
def test_grid2d_bad_limits_name_the_argument(bad):
    with pytest.raises(ValueError, match="xlim must be a pair"):
        gn.Grid2D(bad)


def test_line_endpoints_and_authors_convention(device):
    xa, xb = torch.zeros(2, 3, device=device), torch.ones(2, 3, device=device)
    ours = gn.Line(xa, xb, steps=5)
    P = ours.points()
    assert P.shape == (5, 2, 3)
    torch.testing.assert_close(P[0], xa)
    torch.testing.assert_close(P[-1], xb)
    assert ours.direction.shape == (1, 2, 3)
    authors = gn.Line(xa, xb, steps=4, endpoint=False)
    torch.testing.assert_close(authors.t, torch.tensor([0, 0.25, 0.5, 0.75], device=device))
    assert ours.length == pytest.approx(math.sqrt(6))
    with pytest.raises(ValueError, match="coincide"):
        gn.Line(xa, xa)
    with pytest.raises(ValueError, match="shape"):
        gn.Line(xa, torch.ones(3))


def test_plane_anchor_coordinates_and_mask(device):
    torch.manual_seed(0)
    x1, x2, x3 = torch.randn(3, 1, 4, 4, device=device)
    pl = gn.Plane(x1, x2, x3, n=61)
    # C19: anchors at the chart coordinates of Methods: slices, centroid at the origin
    coords = pl.coords_of(torch.stack([x1, x2, x3]))
    ref = torch.tensor([[-0.5, 0.5 / S3], [0.5, 0.5 / S3], [0.0, -1 / S3]], device=device)
    torch.testing.assert_close(coords, ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(pl.anchor_coords, ref)
    for i, x in enumerate((x1, x2, x3)):
        torch.testing.assert_close(pl.point_at(ref[i, 0], ref[i, 1]), x, rtol=0, atol=1e-12)
    torch.testing.assert_close(pl.point_at(0.0, 0.0), (x1 + x2 + x3) / 3)
    P = pl.points()
    assert P.shape == (61 * 61, 1, 4, 4)
    torch.testing.assert_close(pl.to_grid(P)[30, 30], pl.origin)  # chart centre (a, b) = (0, 0)
    torch.testing.assert_close(pl.to_grid(P)[0, -1], pl.point_at(1.0, -1.0))  # row b = -1, column a = +1
    mask = pl.triangle_mask()
    assert mask.shape == (61, 61) and mask[30, 30] and not mask[0, 0] and not mask[-1, -1]
    # the masked area approximates the unit equilateral triangle's (sqrt 3 / 4) in chart units
    cell = (2 / 60) ** 2
    assert float(mask.sum()) * cell == pytest.approx(S3 / 4, rel=0.1)
    V = pl.directions.reshape(2, -1)
    assert pl.chart_area_factor == pytest.approx(math.sqrt(torch.linalg.det(V @ V.T).item()))


def test_plane_rejects_collinear_and_warns_outside_domain():
    x1 = torch.zeros(5)
    x2 = torch.ones(5)
    with pytest.raises(ValueError, match="collinear"):
        gn.Plane(x1, x2, 2 * x2)
    with pytest.raises(ValueError, match="collinear"):
        gn.Plane(x1, x1, x2)
    x3 = torch.tensor([1.0, 0, 0, 0, 0])
    pl = gn.Plane(x1, x2 * 0.5, x3 * 0.5, n=5, domain=(0, 1))
    with pytest.warns(gn.DomainWarning, match="leave the input domain"):
        pl.points()
    inside = gn.Plane(x1 + 0.4, x2 * 0.2 + 0.4, x3 * 0.2 + 0.4, n=5, domain=(0, 1))
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        inside.points()


def full_jacobian_G(f, X, V):
    J = jacobian_loop(f, X)
    n = J.shape[1]
    JV = J @ V.reshape(V.shape[0], -1).T / math.sqrt(n)
    return JV.transpose(-1, -2) @ JV


@pytest.mark.parametrize("route", ["closed", "jvp"])
def test_induced_metric_equals_full_jacobian_mlp(device, route):
    torch.manual_seed(1)
    f = nn.Sequential(nn.Linear(12, 9), nn.Sigmoid(), nn.Linear(9, 7), nn.Tanh()).to(device)
    x1, x2, x3 = torch.rand(3, 12, device=device)
    pl = gn.Plane(x1, x2, x3, n=5)
    X = pl.points()
    G = gn.induced_metric(f, X, pl.directions, mode=route, chunk_size=7)
    torch.testing.assert_close(G, full_jacobian_G(f, X, pl.directions), rtol=1e-12, atol=1e-15)
    lv = gn.induced_log_volume(f, X, pl.directions, mode=route)
    torch.testing.assert_close(lv, 0.5 * torch.logdet(G), rtol=1e-12, atol=1e-12)


def test_induced_metric_conv_batchnorm_images(device):
    gen = torch.Generator().manual_seed(3)
    torch.manual_seed(3)
    m = randomize_bn(TinyConvBN(c=3, width=4, n=5), gen).to(device).double().eval()
    x1, x2, x3 = torch.rand(3, 3, 6, 6, device=device)
    pl = gn.Plane(x1, x2, x3, n=3)
    X = pl.points()
    G = gn.induced_metric(m, X, pl.directions)
    torch.testing.assert_close(G, full_jacobian_G(m, X, pl.directions), rtol=1e-11, atol=1e-15)
    # n = 5 < d = 108: g is singular, yet the plane's area element is finite
    assert torch.isfinite(gn.induced_log_volume(m, X, pl.directions)).all()


def test_line_length_element_and_per_point_directions(device):
    torch.manual_seed(4)
    f = nn.Sequential(nn.Linear(6, 8), nn.Tanh()).to(device)
    line = gn.Line(torch.zeros(6, device=device), torch.ones(6, device=device), steps=4)
    X = line.points()
    G = gn.induced_metric(f, X, line.direction)
    assert G.shape == (4, 1, 1)
    g = gn.pullback_metric(f, X)
    v = line.direction[0]
    torch.testing.assert_close(G[:, 0, 0], torch.einsum("a,zab,b->z", v, g, v), rtol=1e-12, atol=1e-15)
    # per-point directions [N, k, d]
    Vp = torch.randn(4, 2, 6, device=device)
    Gp = gn.induced_metric(f, X, Vp)
    torch.testing.assert_close(Gp, Vp @ g @ Vp.transpose(-1, -2), rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(gn.induced_metric(lambda x: f(x), X, Vp), Gp, rtol=1e-12, atol=1e-15)


def test_induced_volume_singular_direction_warns_minus_inf():
    # the feature map ignores x_2, so the direction e_2 is crushed: V^T g V is singular
    f = lambda x: torch.tanh(x[:, :1] * torch.tensor([[1.0, 2.0, 3.0]]))  # noqa: E731
    X = torch.randn(3, 2)
    V = torch.eye(2)
    with pytest.warns(gn.SingularMetricWarning, match="rank 1"):
        lv = gn.induced_log_volume(f, X, V)
    assert torch.isneginf(lv).all()


@pytest.mark.parametrize("V, msg", [
    (torch.ones(2, 5), "expected"),
    (torch.zeros(2, 4), "zero direction"),
    (torch.full((1, 4), float("nan")), "non-finite"),
    (torch.ones(2, 4, dtype=torch.int64), "dtype"),
])
def test_induced_bad_directions(V, msg):
    f = nn.Sequential(nn.Linear(4, 3), nn.Tanh())
    with pytest.raises((ValueError, TypeError), match=msg):
        gn.induced_metric(f, torch.randn(2, 4), V)
