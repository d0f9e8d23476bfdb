"""geomlib.twod: infinite-width baseline (SPEC T3, C15), exact 2-D log volumes, and a whole cached run."""
import math

import numpy as np
import pytest
import torch

from geomlib import numeric
from geomlib.train import DeepMLP, ShallowMLP
from geomlib.twod import SETTINGS, Settings, run, symmetric_sigmoid_metric
from geomlib.twod.measure import log10_volume


def test_symmetric_sigmoid_volume_matches_spec_table():
    # SPEC §7 C9 table (sigmoid, sigma_w = sigma_b = 1, d = 2)
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
    assert abs(10 ** theory[0] - 0.036488) < 2e-6  # SPEC T3's value at (0.7, 0)


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


def test_settings_cover_every_task_and_profile():
    for task, by_profile in SETTINGS.items():
        assert set(by_profile) == {"tiny", "quick", "paper"}
        for s in by_profile.values():
            assert 0 in s.delta_epochs and s.epochs in s.delta_epochs
            assert max(s.figure_epochs) <= s.epochs and s.delta_n >= 41
    paper = SETTINGS["sinusoid"]["paper"]
    assert paper.widths == (5, 20, 250) and paper.epochs == 10000 and len(paper.seeds) == 6


def test_a_whole_run_is_cached_and_measured():
    s = Settings((10,), (401,), 300, (300,), (0, 100, 300), fig_n=8, delta_n=41, frame_every=100)
    r1 = run("xor", 10, 401, s, progress=False, frames=True)
    assert sorted(r1["fields"]) == [0, 300] and sorted(r1["frames"]) == [0, 100, 200, 300]
    assert r1["deltas"]["epoch"] == [0, 100, 300]
    f = r1["fields"][300]
    assert f["pred"].shape == (8, 8) and f["layers"][1]["log10_vol"].shape == (8, 8)
    assert np.isfinite(f["layers"][1]["R"]).all()
    assert np.allclose(f["R3"], 3 * f["layers"][1]["R"], rtol=1e-4, atol=1e-3)  # authors' 3R
    r2 = run("xor", 10, 401, s, progress=False, frames=True)  # from the cache: identical
    assert r2["deltas"] == r1["deltas"] and r2["wall_s"] == r1["wall_s"]
    with pytest.raises(ValueError, match="unknown task"):
        run("spiral", 10, 401, s)
