"""The paper profile's deep code path on CPU, at toy size, before anyone spends GPU hours: a
CIFAR-10 folder in the real on-disk format (python pickle batches, written here with random
pixels: a format fixture, never a result) found through ``$GEOMLIB_DATA_ROOT`` as a user would
put it; the paper recipes (ResNet-34, SGD, bfloat16 autocast, DataLoader workers) with only the
data size, batch and epochs shrunk; the artifact-cache checkpoint and its resume; and the float32
geometry route of the paper profile on a GPU against float64."""
import dataclasses
import pickle
import time

import numpy as np
import pytest
import torch

from geomlib.experiments.data import load_cifar10_or_substitute
from geomlib.experiments.deep.measure import classifier_readout
from geomlib.experiments.deep.run import SUPERVISED
from geomlib.experiments.deep.settings import supervised_recipe
from geomlib.experiments.imaging.measure import scan_plane
from geomlib.experiments.imaging.run import build_model, checkpoint_path, prepare_images, train_deep
from geomlib.experiments.imaging.settings import NETS, scan_config
from geomlib.experiments.models.resnet import CifarResNet
from geomlib.experiments.ssl.run import BARLOW, SIMCLR
from geomlib.experiments.ssl.settings import ssl_recipe

METHODS = {"supervised": SUPERVISED, "barlow": BARLOW, "simclr": SIMCLR}
NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
PER_BATCH, N_TEST = 16, 40
# float32 against float64 geometry on the toy-trained depth-34 net: log10 of the induced area element
# and the top singular values of the Jacobian agree to ~1e-6 (measured); the bound asserted
F32_ATOL = 1e-4


def write_fake_cifar(root, seed=0):
    """``root/cifar-10-batches-py`` as the CIFAR-10 python version lays it out: data_batch_1..5 and
    test_batch (dicts with b'data' uint8 [N, 3072] and b'labels'), batches.meta (b'label_names')."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for name, n in [(f"data_batch_{i}", PER_BATCH) for i in range(1, 6)] + [("test_batch", N_TEST)]:
        d = {b"batch_label": name.encode(), b"labels": [int(v) for v in rng.permutation(n) % 10],
             b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
             b"filenames": [f"img{i}.png".encode() for i in range(n)]}
        with open(folder / name, "wb") as fh:
            pickle.dump(d, fh, protocol=2)
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({b"label_names": [n.encode() for n in NAMES], b"num_cases_per_batch": PER_BATCH,
                     b"num_vis": 3072}, fh, protocol=2)
    return folder


@pytest.fixture
def cifar(tmp_path, monkeypatch):
    folder = write_fake_cifar(tmp_path / "data")
    monkeypatch.setenv("GEOMLIB_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("GEOMLIB_NO_DOWNLOAD", "1")
    data = load_cifar10_or_substitute(verbose=False)
    return folder, data


def test_cifar10_folder_is_loaded_as_cifar10(cifar):
    folder, data = cifar
    assert data.banner is None and not data.substitute  # no substitute banner
    assert data.source["dataset"] == "CIFAR-10" and data.source["origin"] == "local"
    assert data.source["path"] == str(folder)
    assert tuple(data.train_x.shape) == (5 * PER_BATCH, 3, 32, 32) and tuple(data.test_x.shape) == (N_TEST, 3, 32, 32)
    assert data.class_names == NAMES and 0 <= float(data.train_x.min()) and float(data.train_x.max()) <= 1
    # pixel layout: row 0 of data_batch_1 is R (1024), G, B planes of 32x32, scaled by 1/255
    with open(folder / "data_batch_1", "rb") as fh:
        raw = pickle.load(fh, encoding="bytes")
    np.testing.assert_allclose(data.train_x[0].numpy(), raw[b"data"][0].reshape(3, 32, 32) / 255.0, atol=1e-7)
    assert data.train_y[:PER_BATCH].tolist() == raw[b"labels"]


@pytest.mark.slow
def test_paper_recipes_and_network():
    """What a GPU paper run uses, checked on CPU: the recipes on ``cuda`` (not executed), the
    ResNet-34 and its bfloat16 autocast forward."""
    for method in METHODS:
        gpu = supervised_recipe("paper", device="cuda") if method == "supervised" else ssl_recipe(method, "paper", device="cuda")
        cpu = supervised_recipe("paper") if method == "supervised" else ssl_recipe(method, "paper")
        assert (gpu.depth, gpu.width, gpu.n_train, gpu.n_test) == (34, 1.0, None, None)
        assert gpu.amp and gpu.num_workers == 8 and not cpu.amp and cpu.num_workers == 0
        assert dataclasses.replace(gpu, amp=False, num_workers=0) == cpu
    assert scan_config("paper", "cuda").dtype == "float32" and scan_config("paper", "cpu").dtype == "float64"
    net = build_model(supervised_recipe("paper"), SUPERVISED)
    assert isinstance(net, CifarResNet) and net.depth == 34 and NETS["paper"] == dict(depth=34, width=1.0)
    assert [len(s) for s in net.stages] == [3, 4, 6, 3] and net.feature_dim == 512
    n_params = sum(p.numel() for p in net.parameters())
    assert 21.2e6 < n_params < 21.4e6  # the CIFAR ResNet-34 (He et al. 2016) with a 10-way classifier
    x = torch.rand(2, 3, 32, 32, dtype=torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(x)
    assert out.dtype == torch.bfloat16 and out.shape == (2, 10) and torch.isfinite(out.float()).all()


def _toy(recipe):
    """The paper recipe at toy size: the data, batch, epochs and snapshots shrink; the network
    depth, optimiser and bfloat16 autocast stay; 2 DataLoader workers stand in for the GPU's 8;
    width 1/16 keeps the depth-34 net fast on CPU (the full width is built above)."""
    return dataclasses.replace(recipe, n_train=48, n_test=16, epochs=2, batch_size=16, snapshot_epochs=(1, 2),
                               width=1 / 16, amp=True, num_workers=2)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["supervised", "barlow", "simclr"])
def test_paper_path_trains_checkpoints_and_resumes(cifar, method, one_thread):
    _, data = cifar
    base = supervised_recipe("paper") if method == "supervised" else ssl_recipe(method, "paper")
    recipe = _toy(base)
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        t0 = time.time()
        calls = [0]

        def interrupting(amp=False, _inner=METHODS[method].step):
            inner = _inner(amp=amp)

            def s(model, batch):
                calls[0] += 1
                if calls[0] == 5:  # inside epoch 2 (3 steps per epoch)
                    raise KeyboardInterrupt
                return inner(model, batch)
            return s
        with pytest.raises(KeyboardInterrupt):
            train_deep(recipe, data, dataclasses.replace(METHODS[method], step=interrupting), progress=False,
                       checkpoint_every=1)
        ck = checkpoint_path(recipe, prepare_images(data, recipe, METHODS[method]).source)
        assert ck.exists() and ck.parent.name == "deep_checkpoints" and ck.name.startswith(method)
        # resumed from the epoch-1 checkpoint in the artifact cache (optimiser state and RNG restored)
        resumed = train_deep(recipe, data, METHODS[method], progress=False)
        assert resumed.result.resumed_from == 1
        assert resumed.prep.banner is None and resumed.prep.source["dataset"] == "CIFAR-10"
        whole = train_deep(recipe, data, METHODS[method], progress=False, checkpoint=None)
        wall = time.time() - t0
    finally:
        torch.set_default_dtype(old)
    assert whole.result.resumed_from is None and len(whole.result.history["loss"]) == 2
    assert resumed.result.history["loss"] == whole.result.history["loss"]
    for k, v in whole.result.snapshots[2].items():
        assert torch.equal(resumed.result.snapshots[2][k], v), k
    assert all(np.isfinite(whole.result.history["loss"]))
    # bfloat16 autocast really ran: the training step's network output is bfloat16
    step = METHODS[method].step(amp=recipe.amp)
    net = whole.model_at(2).train()
    seen = []
    head = net.fc if method == "supervised" else (net.projector if method == "barlow" else net.head)
    head.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    x = whole.prep.net_input(whole.prep.train_x[:4])
    batch = (x, whole.prep.train_y[:4]) if method == "supervised" else (x, x.flip(-1))
    loss = step(net, batch)
    assert seen and all(d == torch.bfloat16 for d in seen) and loss.dtype == torch.float32
    print(f"\n{method}: fake-CIFAR paper path (interrupted at step 5, resumed, and uninterrupted: 2 epochs of 3 steps) {wall:.1f} s")


def test_float32_geometry_route_agrees_with_float64(cifar, one_thread):
    """The paper profile scans planes in float32 on a GPU (``scan_config('paper', 'cuda')``);
    here the same route on CPU against float64 on a depth-34 net trained a few steps."""
    _, data = cifar
    recipe = dataclasses.replace(_toy(supervised_recipe("paper")), epochs=1, snapshot_epochs=(1,), num_workers=0)
    run = train_deep(recipe, data, SUPERVISED, progress=False, checkpoint=None)
    model = run.model_at(1)
    x = run.prep.net_input(run.prep.test_x[:3].double())
    scans = {dt: scan_plane(model, x, classifier_readout(model), n=4, n_eff=2, spectra=True, dtype=dt)
             for dt in (torch.float32, torch.float64)}
    s32, s64 = scans[torch.float32], scans[torch.float64]
    d_area = float(np.abs(s32["log10_area"] - s64["log10_area"]).max())
    d_eff = float(np.abs(s32["eff"]["log10_eff"] - s64["eff"]["log10_eff"]).max())
    d_spec = float(np.abs(s32["spectra"] - s64["spectra"])[:, :8].max())  # top singular values
    k32, r32 = s32["eff"]["k"], s32["eff"]["rank_min"]
    print(f"\nfloat32 vs float64: log10 area {d_area:.2e}, top log10 singular values {d_spec:.2e}, "
          f"log10 effective volume {d_eff:.2e} (float32 numerical rank >= {r32} of k={k32}, float64 >= "
          f"{s64['eff']['rank_min']})")
    assert d_area < F32_ATOL and d_spec < F32_ATOL
    assert np.array_equal(s32["pred"], s64["pred"])
    # not vacuous: the area element varies over the plane far more than the float32 error
    assert np.ptp(s64["log10_area"]) > 100 * d_area
    # the effective volume sums log eigenvalues of J J^T down to the k-th: where the spectrum spans
    # more than float32 resolves, float32 must say so (numerical rank below k), never differ silently
    assert s64["eff"]["rank_min"] == s64["eff"]["k"]
    assert d_eff < F32_ATOL or r32 < k32


def test_command_line_run_lands_where_the_chapter_finds_it(cifar, one_thread, capsys):
    """``python -m geomlib.experiments.imaging.train`` (what torchrun starts on every rank) trains
    the chapter's run: the chapter's own call then loads the finished checkpoint."""
    from geomlib.book.profiles import setup
    from geomlib.experiments.deep.run import train_supervised
    from geomlib.experiments.imaging.train import main

    assert main(["--method", "supervised", "--profile", "tiny", "--device", "cpu", "--require-cifar"]) == 0
    assert "done: 2 epochs (resumed from None)" in capsys.readouterr().out
    ctx = setup("tiny", "cpu", 401, quiet=True)  # as chapter 40 does
    run = train_supervised(supervised_recipe("tiny", seed=ctx.seed, device=ctx.device), cifar[1], progress=False)
    assert run.result.resumed_from == 2  # the finished checkpoint: nothing retrained
