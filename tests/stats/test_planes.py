"""Plane statistics: entropy, volume-entropy correlation, boundary contrast, against slow oracles."""
import math

import numpy as np
import pytest
import torch
from scipy import stats

from geomlib.stats.planes import (boundary_contrast, boundary_mask, entropy_from_logits, prediction_entropy,
                                volume_entropy_correlation)


# ---------------------------------------------------------------- entropy

def test_entropy_reference_values(device):
    p = torch.tensor([[0.1] * 10, [1.0] + [0.0] * 9, [0.5, 0.5] + [0.0] * 8], device=device)
    h = prediction_entropy(p)
    assert h.device.type == device.type
    assert torch.allclose(h.cpu(), torch.tensor([1.0, 0.0, math.log10(2)]), atol=1e-15)


def test_entropy_matches_scipy_and_logits_route(device):
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=3, size=(200, 10))
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    ref = stats.entropy(p, base=10, axis=1)
    np.testing.assert_allclose(prediction_entropy(p), ref, rtol=1e-12)  # numpy in, numpy out
    h_logit = entropy_from_logits(torch.as_tensor(logits, device=device))
    np.testing.assert_allclose(h_logit.cpu().numpy(), ref, rtol=1e-10)
    assert np.all((ref >= 0) & (ref <= 1))
    # extreme logits: the stable route stays finite and exact in the limit
    assert entropy_from_logits(np.array([[1000.0, 0, 0]]))[0] == pytest.approx(0, abs=1e-300)


@pytest.mark.parametrize("bad, match", [
    (np.array([[0.5, 0.6]]), "sum to 1"),
    (np.array([[1.2, -0.2]]), "non-negative"),
    (np.array([[np.nan, 1.0]]), "finite"),
    (np.array([1.0]), "C >= 2"),
])
def test_entropy_rejects_bad_probabilities(bad, match):
    with pytest.raises(ValueError, match=match):
        prediction_entropy(bad)


# ---------------------------------------------------------------- correlation

def test_correlation_matches_scipy_with_ties_and_mask():
    rng = np.random.default_rng(1)
    lv = rng.normal(size=(12, 12))
    h = np.round(0.5 * lv + rng.normal(scale=0.5, size=lv.shape), 1)  # ties in the entropy
    mask = rng.random(lv.shape) < 0.6
    r = volume_entropy_correlation(lv, h, mask=mask)
    assert r["n"] == mask.sum()
    assert r["pearson"] == pytest.approx(stats.pearsonr(lv[mask], h[mask])[0], rel=1e-12)
    assert r["spearman"] == pytest.approx(stats.spearmanr(lv[mask], h[mask])[0], rel=1e-12)
    assert r["pearson"] > 0.3


def test_spearman_is_rank_invariant_and_linear_gives_one():
    x = np.linspace(-2, 2, 50)
    assert volume_entropy_correlation(torch.tensor(x), torch.tensor(3 * x + 1))["pearson"] == pytest.approx(1)
    r = volume_entropy_correlation(x, np.exp(x))
    assert r["spearman"] == pytest.approx(1) and r["pearson"] < 1
    assert volume_entropy_correlation(x, -x ** 3)["spearman"] == pytest.approx(-1)


def test_correlation_leaves_out_singular_points_with_warning():
    x = np.linspace(0, 1, 20)
    lv = x.copy()
    lv[:3] = -np.inf
    with pytest.warns(RuntimeWarning, match="3 of 20 points have infinite log-volume"):
        r = volume_entropy_correlation(lv, x)
    assert r["n"] == 17 and r["pearson"] == pytest.approx(1)


def test_correlation_undefined_cases():
    with pytest.warns(RuntimeWarning, match="undefined"):
        r = volume_entropy_correlation(np.ones(10), np.arange(10.0))
    assert math.isnan(r["pearson"]) and math.isnan(r["spearman"])
    with pytest.raises(ValueError, match="differ"):
        volume_entropy_correlation(np.ones(10), np.ones(9))
    with pytest.raises(ValueError, match="NaN"):
        volume_entropy_correlation(np.array([1.0, np.nan, 2.0]), np.ones(3))


# ---------------------------------------------------------------- boundary

def boundary_oracle(pred):
    ny, nx = pred.shape
    out = np.zeros(pred.shape, dtype=bool)
    for i in range(ny):
        for j in range(nx):
            for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                a, b = i + di, j + dj
                if 0 <= a < ny and 0 <= b < nx and pred[a, b] != pred[i, j]:
                    out[i, j] = True
    return out


def contrast_oracle(lv, pred, mask, near, far):
    """Brute-force distances from every cell to every boundary cell."""
    b = boundary_oracle(pred)
    bi = np.argwhere(b)
    near_v, far_v = [], []
    for i in range(lv.shape[0]):
        for j in range(lv.shape[1]):
            if not mask[i, j]:
                continue
            d = np.sqrt(((bi - [i, j]) ** 2).sum(1)).min()
            if d <= near:
                near_v.append(lv[i, j])
            elif d > (near if far is None else far):
                far_v.append(lv[i, j])
    return np.mean(near_v) - np.mean(far_v)


def test_boundary_mask_against_oracle():
    rng = np.random.default_rng(2)
    pred = rng.integers(0, 3, size=(9, 11))
    assert np.array_equal(boundary_mask(pred), boundary_oracle(pred))
    split = np.zeros((4, 4), dtype=int)
    split[:, 2:] = 1
    assert boundary_mask(torch.as_tensor(split)).tolist() == [[False, True, True, False]] * 4


@pytest.mark.parametrize("near, far", [(0.0, None), (1.5, None), (1.0, 4.0)])
def test_boundary_contrast_against_oracle(near, far):
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:20, 0:20]
    pred = (xx + 0.7 * yy > 15).astype(int) + 2 * (yy > 14)
    lv = rng.normal(size=pred.shape)
    mask = (xx + yy) < 30
    got = boundary_contrast(lv, pred, mask, near=near, far=far)
    assert got == pytest.approx(contrast_oracle(lv, pred, mask, near, far), rel=1e-12)


def test_boundary_contrast_sign():
    yy, xx = np.mgrid[0:30, 0:30]
    pred = (xx >= 15).astype(int)
    peaked = -np.abs(xx - 14.5)  # volume highest at the class change
    assert boundary_contrast(peaked, pred) > 5
    assert boundary_contrast(-peaked, pred) < -5
    assert boundary_contrast(np.full(pred.shape, 2.0), pred) == 0.0


def test_boundary_contrast_undefined_and_bad_input():
    with pytest.warns(RuntimeWarning, match="no predicted-class change"):
        assert math.isnan(boundary_contrast(np.zeros((5, 5)), np.zeros((5, 5), dtype=int)))
    with pytest.raises(ValueError, match="same 2-D grid"):
        boundary_contrast(np.zeros((5, 5)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="far"):
        boundary_contrast(np.zeros((5, 5)), np.eye(5), near=2, far=1)
