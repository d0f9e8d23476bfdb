"""The MNIST slice experiment: settings, anchors, per-slice measures against slow oracles, cached
training, and the statistics tables."""
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from geomlib import numeric
from geomlib.book.profiles import seed_everything
from geomlib.experiments.data import choose_anchors, load_mnist
from geomlib.experiments.mnist import measure
from geomlib.experiments.mnist.run import feature_module, train_mnist
from geomlib.experiments.mnist.settings import LINE_PAIRS, PLANE_TRIPLES, PAPER_SEEDS, settings_for, use_threads
from geomlib.experiments.models import ShallowMLP
from geomlib.stats.planes import prediction_entropy


@pytest.fixture(scope="module")
def mnist():
    return load_mnist(download=False, verbose=False)


def micro_settings(**kw):
    base = settings_for("tiny", 401)
    return replace(base, **{"width": 8, "epochs": 2, "batch_size": 50, "n_train": 200, "line_epochs": (0, 2),
                            "plane_epochs": (0, 1, 2), "line_steps": 6, "plane_n": 5, "eff_stride": 2, **kw})


def test_settings_per_profile():
    q, p = settings_for("quick", 7), settings_for("paper", 7)
    assert q.seeds == (7, 8) and q.width < p.width == 2000 and p.epochs == 200 and p.seeds == PAPER_SEEDS
    assert p.k_line_used == 784 and q.k_line_used == q.width and q.k_plane == 10
    assert set(p.snapshot_epochs) == {0, 1, 60, 100, 180, 200} and p.train_dtype == "float64"
    assert (q.plane_n - 1) % q.eff_stride == 0
    with pytest.raises(ValueError, match="unknown profile"):
        settings_for("huge")


def test_choose_anchors_is_reproducible_and_correct():
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 5])
    a = choose_anchors(y, (2, 0, 1), seed=3)
    assert torch.equal(a, choose_anchors(y, (2, 0, 1), seed=3))
    assert y[a].tolist() == [2, 0, 1]
    same = choose_anchors(y, (0, 0, 0), seed=3)  # same-class planes get distinct examples
    assert y[same].tolist() == [0, 0, 0] and len(set(same.tolist())) == 3
    draws = {tuple(choose_anchors(y, (2, 0, 1), seed=s).tolist()) for s in range(20)}
    assert len(draws) > 1  # depends on the seed
    with pytest.raises(ValueError, match="class 5 has 1"):
        choose_anchors(y, (5, 5, 1), seed=0)


def test_nested_index_matches_grid_slicing():
    n, st = 7, 3
    grid = torch.arange(n * n).reshape(n, n)
    assert torch.equal(measure.nested_index(n, st), grid[::st, ::st].reshape(-1))
    with pytest.raises(ValueError, match="nested"):
        measure.nested_index(6, 2)


def slow_jacobian(model, x):
    """J = diag(phi'(z)) W1 of a shallow sigmoid layer, written out (oracle)."""
    W, b = model.hidden.weight.detach(), model.hidden.bias.detach()
    z = x @ W.T + b
    dphi = torch.sigmoid(z) * (1 - torch.sigmoid(z))
    return dphi[:, :, None] * W[None]


def test_slice_measures_against_oracles(device):
    torch.manual_seed(0)
    model = ShallowMLP(784, 12, 10, "sigmoid", dtype=torch.float64, device=device).eval()
    with torch.no_grad():  # smaller weights than N(0,1) so the oracle's SVD is well conditioned
        model.hidden.weight.mul_(0.05)
    phi = feature_module(model)
    x = torch.rand(3, 784, dtype=torch.float64, device=device)
    assert torch.allclose(phi(x), model.features(x))
    plane = numeric.Plane(*x, n=4)
    idx = measure.nested_index(4, 3)
    m = measure.slice_measures(model, phi, plane.points(), plane.directions, 5, eff_index=idx)
    pts = plane.points()
    with torch.no_grad():
        p = torch.softmax(model(pts), -1)
    np.testing.assert_array_equal(m["pred"], p.argmax(-1).cpu().numpy())
    np.testing.assert_allclose(m["entropy"], prediction_entropy(p).cpu().numpy(), rtol=1e-10, atol=1e-14)
    J = slow_jacobian(model, pts).cpu().numpy() / math.sqrt(12)
    V = plane.directions.reshape(2, -1).cpu().numpy().T
    JV = J @ V
    ind = np.array([0.5 * np.log10(np.linalg.det(a.T @ a)) for a in JV])
    np.testing.assert_allclose(m["induced"], ind, rtol=1e-9)
    s = np.linalg.svd(J[idx.numpy()], compute_uv=False)
    np.testing.assert_allclose(m["effective"], np.log10(s[:, :5]).sum(1), rtol=1e-8)
    assert np.all(m["eff_rank"] == 5) and np.array_equal(m["eff_index"], idx.numpy())


def test_train_is_cached_and_starts_from_true_init(mnist):
    S = micro_settings()
    res = train_mnist(mnist, S, 401, "sigmoid", progress=False)
    again = train_mnist(mnist, S, 401, "sigmoid", progress=False)
    assert sorted(res.snapshots) == [0, 1, 2]
    for k in res.snapshots[2]:
        assert torch.equal(res.snapshots[2][k], again.snapshots[2][k])
    seed_everything(401)
    fresh = ShallowMLP(784, S.width, 10, "sigmoid", dtype=torch.float32)
    assert torch.equal(res.snapshots[0]["hidden.weight"], fresh.hidden.weight.detach())
    assert not torch.equal(res.snapshots[2]["hidden.weight"], fresh.hidden.weight.detach())
    assert 0 <= res.eval_at(2)["test_acc"] <= 1 and res.meta["n_train_used"] == 200
    with pytest.raises(ValueError, match="activation"):
        train_mnist(mnist, S, 401, "tanh")


def test_evaluations_and_statistics_tables(mnist):
    S = micro_settings()
    res = train_mnist(mnist, S, 401, "sigmoid", progress=False)
    pl = measure.evaluate_planes(mnist, S, 401, "sigmoid", res)
    assert pl["epochs"] == [0, 1, 2] and set(pl["anchors"]) == set(PLANE_TRIPLES)
    for tri, idx in pl["anchors"].items():
        assert mnist.test_y[idx].tolist() == list(tri)
    m = pl["by_epoch"][2][PLANE_TRIPLES[0]]
    assert m["pred"].shape == (25,) and m["effective"].shape == (9,) and m["spectrum"].shape == (3, 8)
    rows = measure.plane_statistics(pl, seed=401, act="sigmoid")
    assert len(rows) == 3 * 3 * 2 * 2  # epochs x planes x measures x regions
    assert {r["region"] for r in rows} == {"plane", "triangle"}
    ln = measure.evaluate_lines(mnist, S, 401, "sigmoid", res)
    lm = ln["by_epoch"][2][LINE_PAIRS[0]]
    assert lm["t"][0] == 0 and lm["t"][-1] == 1 and lm["effective"].shape == (6,)
    assert np.all(lm["eff_rank"] <= S.k_line_used)
    assert len(measure.line_statistics(ln, seed=401, act="sigmoid")) == 2 * 3 * 2


def test_line_statistics_peak_and_switch():
    t = np.linspace(0, 1, 11)
    pred = np.array([1] * 6 + [6] * 5)  # switch between t = 0.5 and 0.6
    vol = -np.abs(t - 0.7)  # peak at t = 0.7
    ev = {"by_epoch": {0: {(1, 6): {"t": t, "pred": pred, "entropy": -vol, "induced": vol, "effective": 2 * vol}}}}
    rows = measure.line_statistics(ev, seed=1, act="sigmoid")
    assert len(rows) == 2
    for r in rows:
        assert r["t_peak"] == pytest.approx(0.7) and r["peak_to_switch"] == pytest.approx(0.15)
        assert r["n_switches"] == 1 and r["pearson"] == pytest.approx(-1)


def test_use_threads_only_on_cpu():
    before = torch.get_num_threads()
    try:
        assert use_threads(settings_for("quick"), "cpu") == 1
        torch.set_num_threads(before)
        assert use_threads(settings_for("paper"), "cpu") == before
    finally:
        torch.set_num_threads(before)
