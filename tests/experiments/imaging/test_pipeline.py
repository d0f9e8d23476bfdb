"""The deep chapters' shared pipeline (geomlib.experiments.imaging) with each method of the
supervised and self-supervised groups: data preparation and the substitute banner, resumable
training, plane scans against a direct full-Jacobian computation, cached scans. Synthetic images
appear here only as shape fixtures."""
import math

import numpy as np
import pytest
import torch

import pandas as pd

from geomlib.experiments.data import ImageData
from geomlib.experiments.deep.measure import classifier_readout
from geomlib.experiments.deep.run import SUPERVISED, train_supervised
from geomlib.experiments.deep.settings import supervised_recipe
from geomlib.experiments.imaging import measure
from geomlib.experiments.imaging.measure import (anchor_sets, claim_rows, claim_summary, mean_sd, pick_anchors,
                                                 plane_stats, scan_line, scan_plane, summarize)
from geomlib.experiments.imaging.run import prepare_images
from geomlib.experiments.imaging.settings import ScanConfig
from geomlib.experiments.models import CifarResNet, feature_map
from geomlib.experiments.models.augment import IMAGENET_MEAN
from geomlib.experiments.ssl.run import BARLOW, SIMCLR, train_ssl
from geomlib.experiments.ssl.settings import ssl_recipe


pytestmark = pytest.mark.usefixtures("one_thread")


def fake_images(n_train=96, n_test=40, substitute=True, seed=0):
    """Random images with labels: a SHAPE fixture for the pipeline, never a result."""
    g = torch.Generator().manual_seed(seed)
    mean, std = torch.full((3,), 0.3), torch.full((3,), 0.2)
    return ImageData(
        train_x=torch.rand(n_train, 3, 32, 32, generator=g, dtype=torch.float32),
        train_y=torch.arange(n_train) % 10, test_x=torch.rand(n_test, 3, 32, 32, generator=g, dtype=torch.float32),
        test_y=torch.arange(n_test) % 10, class_names=[f"c{i}" for i in range(10)], image_shape=(3, 32, 32),
        source={"dataset": "fixture", "n_train": n_train}, banner="substitute banner" if substitute else None,
        substitute=substitute, channel_mean=mean, channel_std=std)


METHODS = {"supervised": SUPERVISED, "barlow": BARLOW, "simclr": SIMCLR}


def deep_recipe(method, profile, **kw):
    """The recipe of any of the three methods, from its figure group's settings."""
    return supervised_recipe(profile, **kw) if method == "supervised" else ssl_recipe(method, profile, **kw)


def train(recipe, data, **kw):
    """Train with the figure group's entry point (supervised or self-supervised)."""
    return (train_supervised if recipe.method == "supervised" else train_ssl)(recipe, data, **kw)


def prepare(data, recipe):
    return prepare_images(data, recipe, METHODS[recipe.method])


def test_prepare_images_normalisation_and_banner():
    sub, real = fake_images(substitute=True), fake_images(substitute=False)
    p = prepare(sub, deep_recipe("supervised", "tiny", n_train=50, n_test=20))
    assert p.banner == "substitute banner" and len(p.train_x) == 50 and len(p.test_x) == 20
    assert p.mean == pytest.approx((0.3,) * 3) and p.train_x.is_contiguous()
    # stratified subset: every class present
    assert len(torch.unique(p.train_y)) == 10
    assert prepare(sub, deep_recipe("barlow", "tiny")).mean == pytest.approx((0.3,) * 3)  # own stats
    assert prepare(real, deep_recipe("barlow", "tiny")).mean == IMAGENET_MEAN            # CIFAR: ImageNet
    assert prepare(real, deep_recipe("barlow", "tiny")).banner is None
    s = prepare(sub, deep_recipe("simclr", "tiny"))
    assert s.mean is None and torch.equal(s.net_input(s.train_x), s.train_x)
    x = p.net_input(p.train_x[:2])
    torch.testing.assert_close(x, (p.train_x[:2] - 0.3) / 0.2)
    with pytest.raises(ValueError, match="3, 32, 32"):
        bad = fake_images()
        bad.train_x = bad.train_x[:, :1]
        prepare(bad, deep_recipe("supervised", "tiny"))
    with pytest.raises(ValueError, match="given with method 'barlow'"):  # a recipe and another method's rules
        prepare_images(sub, deep_recipe("supervised", "tiny"), BARLOW)


@pytest.mark.parametrize("method", ["supervised", "barlow", "simclr"])
def test_training_snapshots_and_resume(tmp_path, method):
    data = fake_images()
    r = deep_recipe(method, "tiny", n_train=64, n_test=20, epochs=2, batch_size=32, snapshot_epochs=(1, 2))
    ck = tmp_path / f"{method}.pt"
    run = train(r, data, checkpoint=ck, progress=False)
    assert run.epochs == [0, 1, 2] and ck.exists()
    # snapshot 0 is the untrained network: it equals a freshly built model
    fresh = {k: v for k, v in run.model_at(0).state_dict().items()}
    again = train(r, data, checkpoint=ck, progress=False)  # finished checkpoint: no retraining
    for k, v in again.result.snapshots[2].items():
        assert torch.equal(v, run.result.snapshots[2][k])
    assert not all(torch.equal(fresh[k], run.result.snapshots[2][k]) for k in fresh)
    if method == "supervised":
        assert len(run.result.evals["test_acc"]) >= 2
    else:
        pr = run.probe_at(2)
        assert 0 <= pr.test_accuracy <= 1 and pr.train_accuracy > 0.1


def test_pick_anchors_deterministic_and_distinct():
    y = torch.tensor([0, 1, 0, 2, 0, 1])
    a = pick_anchors(y, (0, 0, 0), 5)
    assert sorted(a) == [0, 2, 4] and a == pick_anchors(y, (0, 0, 0), 5)
    b = pick_anchors(y, (1, 2, 0), 5)
    assert y[b].tolist() == [1, 2, 0]
    with pytest.raises(ValueError, match="class 2"):
        pick_anchors(y, (2, 2), 0)
    sets = anchor_sets(y, ((1, 2, 0),), 2, 7)
    assert [s["draw"] for s in sets] == [0, 1] and all(y[s["index"]].tolist() == [1, 2, 0] for s in sets)


def _tiny_model(seed=0):
    torch.manual_seed(seed)
    m = CifarResNet(18, width=1 / 16).float()
    m.train()
    with torch.no_grad():
        m(torch.randn(16, 3, 32, 32, dtype=torch.float32))
    return m.eval()


def test_scan_plane_matches_full_jacobian(device):
    m = _tiny_model()
    X = torch.randn(3, 3, 32, 32)
    s = scan_plane(m, X, classifier_readout(m), n=3, n_eff=2, stages=(2, 4), device=device)
    assert s["log10_area"].shape == (3, 3) and s["eff"]["log10_eff"].shape == (2, 2)
    np.testing.assert_allclose(s["stages"][4], s["log10_area"], rtol=0, atol=1e-12)
    assert np.all(s["entropy"] >= 0) and np.all(s["entropy"] <= 1 + 1e-12)
    # direct oracle: full Jacobian by autograd at one grid point
    phi = feature_map(m)
    o = X.mean(0)
    e_r = X[1] - X[0]
    e_u = (2 / math.sqrt(3)) * ((X[0] + X[1]) / 2 - X[2])
    a, b = float(s["A"][0, 2]), float(s["B"][0, 2])
    x = (o + a * e_r + b * e_u).requires_grad_(True)
    J = torch.autograd.functional.jacobian(lambda z: phi(z[None])[0], x).reshape(32, -1) / math.sqrt(32)
    V = torch.stack([e_r, e_u]).reshape(2, -1)
    G = (J @ V.T).T @ (J @ V.T)
    want = 0.5 * math.log10(float(torch.linalg.det(G))) - 0.5 * math.log10(float(torch.linalg.det(V @ V.T)))
    assert abs(s["log10_area"][0, 2] - want) < 1e-9
    # effective volume with k = n: half the sum of log10 eigenvalues of J J^T / n at an eff-grid point
    a, b = float(s["eff"]["A"][1, 1]), float(s["eff"]["B"][1, 1])
    x = o + a * e_r + b * e_u
    J = torch.autograd.functional.jacobian(lambda z: phi(z[None])[0], x).reshape(32, -1) / math.sqrt(32)
    lam = torch.linalg.eigvalsh(J @ J.T)
    assert abs(s["eff"]["log10_eff"][1, 1] - 0.5 * float(torch.log10(lam).sum())) < 1e-8
    # spectra at the anchors: log10 of the singular values, descending
    sv = torch.linalg.svdvals(torch.autograd.functional.jacobian(lambda z: phi(z[None])[0], X[2]).reshape(32, -1) / math.sqrt(32))
    np.testing.assert_allclose(s["spectra"][2], np.log10(sv.numpy()), atol=1e-8)


def test_scan_line_length_element():
    m = _tiny_model(1)
    xa, xb = torch.randn(3, 32, 32), torch.randn(3, 32, 32)
    L = scan_line(m, xa, xb, classifier_readout(m), steps=3, stages=(1,))
    phi = feature_map(m)
    v = (xb - xa).reshape(-1)
    for i, t in enumerate([0.0, 0.5, 1.0]):
        x = xa + t * (xb - xa)
        J = torch.autograd.functional.jacobian(lambda z: phi(z[None])[0], x).reshape(32, -1) / math.sqrt(32)
        want = math.log10(float((J @ v).norm())) - math.log10(float(v.norm()))
        assert abs(L["log10_length"][i] - want) < 1e-9
    assert L["log10_eff"].shape == (3,) and L["stages"][1].shape == (3,)


def test_plane_stats_and_summaries():
    A = np.linspace(-1, 1, 20)[None, :].repeat(20, 0)
    pred = (A > 0).astype(int)
    ent = np.exp(-(A / 0.1) ** 2)        # entropy peaks on the boundary a = 0
    vol = 2 * ent + 0.01 * A             # so does the volume
    st = plane_stats(vol, ent, pred)
    assert st["pearson"] > 0.99 and st["contrast"] > 0.5 and st["n_classes"] == 2
    flat = plane_stats(vol, ent, np.zeros_like(pred))
    assert math.isnan(flat["contrast"]) and flat["n_classes"] == 1
    sm = summarize([st, flat])
    assert sm["contrast"][2] == 1 and sm["pearson"][2] == 2
    assert mean_sd([1.0, 3.0, float("nan")]) == "+2.00 ± 1.41 (2)" and mean_sd([float("nan")]) == "n/a"
    scans = [{"epoch": 0, "classes": (1, 2, 3), "draw": d, "stats_area": st} for d in range(2)]
    table = claim_summary(pd.DataFrame(claim_rows(scans, "m")))
    assert table.loc[("m", 0), "planes"] == 2


def test_cached_plane_reuses_richer_scans():
    from geomlib.cache import artifact_root
    data = fake_images()
    run = train_supervised(supervised_recipe("tiny", n_train=64, n_test=20, epochs=1, batch_size=32,
                                             snapshot_epochs=(1,)), data, checkpoint=False, progress=False)
    cfg = ScanConfig(3, 2, 3, 1, "float64", n_triples=1, eff_all=False)
    anchors = anchor_sets(data.test_y, cfg.triples, 1, 0)[0]
    rich = measure.plane(run, 1, anchors, cfg, test_x=data.test_x, eff=True, stages=True, spectra=True)
    assert "eff" in rich and set(rich["stages"]) == {1, 2, 3, 4} and rich["spectra"].shape == (3, 32)
    files = sorted((artifact_root() / "deep_plane_scan").glob("*.pt"))
    plain = measure.plane(run, 1, anchors, cfg, test_x=data.test_x)  # served by the richer scan
    assert sorted((artifact_root() / "deep_plane_scan").glob("*.pt")) == files
    np.testing.assert_array_equal(plain["log10_area"], rich["log10_area"])
    other = measure.plane(run, 0, anchors, cfg, test_x=data.test_x)  # a different snapshot: computed
    assert "eff" not in other and other["stages"] == {} and other["epoch"] == 0
    assert measure.signed(float("nan")) == "n/a" and measure.signed(0.5) == "+0.50"
