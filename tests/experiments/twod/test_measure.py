"""geomlib.experiments.twod.measure: infinite-width baseline (Methods: T3, C15), exact 2-D log volumes,
and Delta of a real run."""
import math

import numpy as np
import pytest
import torch

from geomlib import numeric
from geomlib.experiments.data import sinusoid_labels
from geomlib.experiments.models import DeepMLP, ShallowMLP
from geomlib.experiments.twod.measure import delta_fields, log10_volume, symmetric_sigmoid_metric
from geomlib.experiments.twod.run import train_run
from geomlib.stats.twod import boundary_contrast_2d


def test_symmetric_sigmoid_volume_matches_spec_table():
    # Methods: reference checks, C9 table (sigmoid, sigma_w = sigma_b = 1, d = 2)
    vol = 10 ** symmetric_sigmoid_metric(np.array([0.0, 0.5, 1.0, 1.5, 2.0]))[0]
    assert np.allclose(vol, [0.044836, 0.040132, 0.030629, 0.022054, 0.015886], atol=1e-6)
    _, e_omega, omega_p = symmetric_sigmoid_metric(np.linspace(0, 2, 9))
    assert (omega_p < 0).all() and np.all(np.diff(e_omega) < 0)  # volume peaks at 0 (T3)


def test_symmetric_metric_omega_prime_by_finite_differences():
    u = np.array([0.3, 0.8, 1.7])
    h = 1e-5
    _, e_p, _ = symmetric_sigmoid_metric(np.sqrt(u + h), sigma_w=1.3, sigma_b=0.7)
    _, e_m, _ = symmetric_sigmoid_metric(np.sqrt(u - h), sigma_w=1.3, sigma_b=0.7)
    _, e0, op = symmetric_sigmoid_metric(np.sqrt(u), sigma_w=1.3, sigma_b=0.7)
    assert np.allclose((np.log(e_p) - np.log(e_m)) / (2 * h), op, rtol=1e-6)


def test_wide_random_net_approaches_the_symmetric_metric():
    """C15: at init a wide shallow net's volume is rotation invariant and matches T3 (Monte Carlo)."""
    torch.manual_seed(0)
    x = torch.tensor([[0.7, 0.0], [0.0, 0.7], [-0.4949747468, 0.4949747468], [0.0, 0.0], [1.2, -0.5]])
    theory = symmetric_sigmoid_metric(x.norm(dim=1).numpy())[0]
    errs = []
    for n in (2000, 50000):
        v = log10_volume(ShallowMLP(2, n, 2), x)
        errs.append(np.abs(v - theory).max())
    assert errs[1] < 0.01 and errs[1] < errs[0]
    assert abs(10 ** theory[0] - 0.036488) < 2e-6  # Methods: reference checks, C15: value at (0.7, 0)


def test_log10_volume_routes_agree(device):
    torch.manual_seed(3)
    pts = numeric.Grid2D(n=9, device=device).points()
    shallow = ShallowMLP(2, 30, 2, device=device)
    ref = (numeric.log_volume(shallow.feature_map(), pts) / math.log(10)).cpu().numpy()
    fast = log10_volume(shallow, pts)
    shallow.act_name = "sigmoid (generic route)"  # any other name takes the Jacobian route
    generic = log10_volume(shallow, pts)
    assert np.allclose(fast, ref, atol=1e-10) and np.allclose(generic, ref, atol=1e-10)
    deep = DeepMLP((2, 8, 8, 8, 2), device=device)
    for layer in (1, 2, 3):
        ref = (numeric.log_volume(deep.feature_map(layer), pts) / math.log(10)).cpu().numpy()
        assert np.allclose(log10_volume(deep, pts, layer), ref, atol=1e-10)


def test_log10_volume_is_exact_where_the_metric_is_ill_conditioned():
    """Saturated units (large weights) make cond(g) > 1e16; the Cauchy-Binet sum stays exact."""
    W = torch.tensor([[40.0, 1.0], [38.0, 3.0], [-2.0, 45.0]])
    b = torch.tensor([-30.0, 25.0, 10.0])
    m = ShallowMLP(2, 3, 2)
    with torch.no_grad():
        m.hidden.weight.copy_(W)
        m.hidden.bias.copy_(b)
    pts = torch.tensor([[0.9, -0.9], [-0.95, 0.95], [0.1, 0.2]])
    g = numeric.pullback_metric(m.feature_map(), pts)
    assert torch.linalg.cond(g).max() > 1e16
    cb = numeric.shallow_det_cauchy_binet(W, b, pts, "sigmoid")
    v = log10_volume(m, pts)
    assert np.isfinite(v).all()
    assert np.allclose(v, 0.5 * torch.log10(cb).numpy(), rtol=0, atol=1e-12)


def _grid(n=41, lo=-1.0, hi=1.0):
    xs = np.linspace(lo, hi, n)
    X, Y = np.meshgrid(xs, xs)
    return xs, X, Y


def _shallow_log10_volume(state, pts):
    """Oracle (Methods: T2, Cauchy-Binet): det g = n^-2 sum_{j<k} phi'_j^2 phi'_k^2 m_jk^2, sigmoid."""
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
