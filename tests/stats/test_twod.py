"""The 2-D boundary contrast Delta (Methods: the 2-D boundary contrast): exact on synthetic fields, brute-force distances (a real run:
tests/experiments/twod/test_measure.py)."""
import math

import numpy as np
import pytest

from geomlib.stats.twod import boundary_contrast_2d, boundary_distance


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
