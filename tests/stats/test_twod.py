"""SPEC §4.5 boundary contrast Delta: exact on synthetic fields, brute-force distances, real runs."""
import math

import numpy as np
import pytest
import torch

from geomlib.magnification import boundary_contrast_2d, boundary_distance
from geomlib.train import sinusoid_labels, train_run
from geomlib.twod.measure import delta_fields, log10_volume


def _grid(n=41, lo=-1.0, hi=1.0):
    xs = np.linspace(lo, hi, n)
    X, Y = np.meshgrid(xs, xs)
    return xs, X, Y


def _brute_distance(pred, xs, ys):
    """Oracle: for every point, the minimum Euclidean distance to a point with a differing 4-neighbour."""
    ny, nx = pred.shape
    B = []
    for i in range(ny):
        for j in range(nx):
            nbrs = [(i + a, j + b) for a, b in ((1, 0), (-1, 0), (0, 1), (0, -1))
                    if 0 <= i + a < ny and 0 <= j + b < nx]
            if any(pred[k, l] != pred[i, j] for k, l in nbrs):
                B.append((xs[j], ys[i]))
    B = np.array(B)
    X, Y = np.meshgrid(xs, ys)
    return np.sqrt((X[..., None] - B[:, 0]) ** 2 + (Y[..., None] - B[:, 1]) ** 2).min(-1)


def test_distance_matches_brute_force_on_anisotropic_grid():
    xs, ys = np.linspace(-1, 1, 23), np.linspace(-0.7, 1.1, 17)
    X, Y = np.meshgrid(xs, ys)
    pred = (Y > 0.5 * np.sin(4 * X)).astype(int) + (X > 0.6)
    d = boundary_distance(pred, xs, ys)
    assert np.allclose(d, _brute_distance(pred, xs, ys), atol=1e-12)
    assert d.min() == 0 and d.max() > 0.2


def test_delta_exact_values_on_synthetic_fields():
    xs, X, Y = _grid(81)
    pred = (Y > 0.1).astype(int)
    dist = boundary_distance(pred, xs, xs)
    # constant field: no contrast
    assert boundary_contrast_2d(np.full(X.shape, -1.3), pred, xs, xs).delta == pytest.approx(0.0, abs=1e-12)
    # indicator of the near band minus indicator of the far region: Delta = 1 - (-1) = 2
    field = np.where(dist < 0.06, 1.0, np.where(dist > 0.3, -1.0, 7.0))
    res = boundary_contrast_2d(field, pred, xs, xs)
    assert res.delta == pytest.approx(2.0) and res.near_mean == 1.0 and res.far_mean == -1.0
    # the near set of a straight boundary on a 0.025 grid: the 2-point band plus 2 rows each side
    assert res.n_boundary == 2 * 81 and res.n_near == 6 * 81
    # a bump on the boundary magnifies (Delta > 0); a bump away from it does the opposite
    assert boundary_contrast_2d(np.exp(-((Y - 0.1) / 0.1) ** 2), pred, xs, xs).delta > 0.5
    assert boundary_contrast_2d(np.exp(-((Y + 0.8) / 0.1) ** 2), pred, xs, xs).delta < 0


def test_window_excludes_outside_values_and_boundaries():
    xs, X, Y = _grid(121, -1.5, 1.5)
    pred = (Y > 0).astype(int) | (X > 1.2)  # a class change at x=1.2 lies outside [-1, 1]^2
    field = np.where(np.abs(X) > 1.0, 100.0, np.exp(-(Y / 0.1) ** 2))
    inside = np.abs(xs) <= 1 + 1e-9
    ref = boundary_contrast_2d(field[np.ix_(inside, inside)], pred[np.ix_(inside, inside)], xs[inside], xs[inside],
                               window=(-10, 10))
    res = boundary_contrast_2d(field, pred, xs, xs)
    assert res.delta == pytest.approx(ref.delta) and res.n_window == inside.sum() ** 2


def test_undefined_and_bad_inputs():
    xs, X, Y = _grid(21)
    with pytest.warns(RuntimeWarning, match="no predicted-class change"):
        assert math.isnan(boundary_contrast_2d(X, np.zeros(X.shape, int), xs, xs).delta)
    field = X.copy()
    field[3, 4] = -np.inf
    with pytest.raises(ValueError, match="not finite"):
        boundary_contrast_2d(field, (Y > 0).astype(int), xs, xs)
    with pytest.raises(ValueError, match="evenly spaced"):
        boundary_contrast_2d(X, (Y > 0).astype(int), xs ** 3, xs)
    with pytest.raises(ValueError, match="near <= far"):
        boundary_contrast_2d(X, (Y > 0).astype(int), xs, xs, near=0.5, far=0.3)


def _shallow_log10_volume(state, pts):
    """Oracle (SPEC T2, Cauchy-Binet): det g = n^-2 sum_{j<k} phi'_j^2 phi'_k^2 m_jk^2, sigmoid."""
    W, b = state["hidden.weight"].numpy(), state["hidden.bias"].numpy()
    n = W.shape[0]
    dphi = 1 / (1 + np.exp(-(pts @ W.T + b)))
    dphi = dphi * (1 - dphi)
    m = W[:, 0, None] * W[None, :, 1] - W[:, 1, None] * W[None, :, 0]
    det = np.einsum("pj,pk,jk->p", dphi ** 2, dphi ** 2, m ** 2) / 2 / n ** 2
    return 0.5 * np.log10(det)


def test_delta_from_a_real_run_is_near_zero_at_init_and_positive_after_training():
    """C16: train the tiny-profile sinusoid (w = 20) to convergence; Delta grows from ~0 to > 0.3."""
    epochs = 3000
    model, res, _ = train_run("sinusoid", 20, 402, epochs=epochs, snapshot_epochs=(epochs,), progress=False)
    xs, X, Y = _grid(81)
    pts = np.stack([X.ravel(), Y.ravel()], 1)
    deltas = {}
    for e in (0, epochs):
        model.load_state_dict(res.snapshots[e])
        with torch.no_grad():
            pred = model(torch.as_tensor(pts)).argmax(-1).numpy().reshape(X.shape)
        vol = log10_volume(model, torch.as_tensor(pts)).reshape(X.shape)  # the chapters' route
        assert np.allclose(vol, _shallow_log10_volume(res.snapshots[e], pts).reshape(X.shape), atol=1e-10)
        deltas[e] = boundary_contrast_2d(vol, pred, xs, xs).delta
        assert delta_fields(model, res.snapshots[e], "sinusoid", n=81)["delta"][1] == pytest.approx(deltas[e])
        if e == epochs:  # converged: the learned boundary is the sinusoid
            true = sinusoid_labels(torch.as_tensor(pts)).numpy().reshape(X.shape)
            assert (pred == true).mean() > 0.97
    assert res.eval_at(epochs)["acc"] >= 0.98
    assert abs(deltas[0]) < 0.15
    assert deltas[epochs] > 0.3
