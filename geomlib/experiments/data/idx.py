"""Readers for the two on-disk formats of the datasets: IDX (MNIST, Fashion-MNIST) and the
CIFAR-10 python pickles. Every format problem raises :class:`CorruptDataError` naming the file.

IDX (LeCun et al.): 2 zero bytes, a type byte (0x08 = unsigned byte), the number of dimensions,
then each dimension as a big-endian int32, then the data in C order.
"""
from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np

from .imagedata import CorruptDataError

IDX_UBYTE = 0x08


def idx_file(folder: Path, stem: str) -> Path | None:
    """``folder/stem`` if it exists, else ``folder/stem.gz``, else ``None``."""
    for p in (folder / stem, folder / f"{stem}.gz"):
        if p.is_file():
            return p
    return None


def read_idx(path: Path, *, ndim: int) -> np.ndarray:
    """Read an unsigned-byte IDX file (plain or ``.gz``) with ``ndim`` dimensions -> uint8 array."""
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise CorruptDataError(f"cannot read {path}: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != IDX_UBYTE or raw[3] != ndim:
        raise CorruptDataError(
            f"{path} is not an unsigned-byte IDX file with {ndim} dimension(s) "
            f"(header {raw[:4].hex() or 'empty'}, expected 000008{ndim:02x})")
    header = 4 + 4 * ndim
    dims = tuple(int(v) for v in np.frombuffer(raw[4:header], dtype=">i4"))
    if len(dims) != ndim or len(raw) != header + int(np.prod(dims)):
        raise CorruptDataError(f"{path}: size {len(raw)} bytes does not match its header dims {dims} "
                               "(truncated or damaged file)")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def read_idx_split(folder: Path, prefix: str, *, n_expected: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images ``[N, 28, 28]`` uint8 and labels ``[N]`` of ``prefix`` (``train`` | ``t10k``) in ``folder``."""
    img_path = idx_file(folder, f"{prefix}-images-idx3-ubyte")
    lab_path = idx_file(folder, f"{prefix}-labels-idx1-ubyte")
    if img_path is None or lab_path is None:
        missing = [s for s, p in ((f"{prefix}-images-idx3-ubyte", img_path),
                                  (f"{prefix}-labels-idx1-ubyte", lab_path)) if p is None]
        raise FileNotFoundError(f"{folder}: missing {', '.join(missing)}")
    images, labels = read_idx(img_path, ndim=3), read_idx(lab_path, ndim=1)
    if images.shape[0] != labels.shape[0]:
        raise CorruptDataError(f"{folder}: {images.shape[0]} {prefix} images but {labels.shape[0]} labels")
    if n_expected is not None and images.shape[0] != n_expected:
        raise CorruptDataError(f"{img_path}: {images.shape[0]} images, expected {n_expected}")
    if labels.size and labels.max() > 9:
        raise CorruptDataError(f"{lab_path}: label {labels.max()} outside 0..9")
    return images, labels.astype(np.int64)


CIFAR_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
CIFAR_TEST = ["test_batch"]


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh, encoding="bytes")
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError) as exc:
        raise CorruptDataError(f"cannot unpickle {path}: {exc}") from None


def read_cifar10(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """CIFAR-10 python version in ``folder`` (``cifar-10-batches-py``): uint8 images
    ``[50000, 3, 32, 32]``, ``[10000, 3, 32, 32]``, int64 labels, class names."""
    missing = [n for n in CIFAR_TRAIN + CIFAR_TEST + ["batches.meta"] if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder}: missing {', '.join(missing)}")

    def batches(names):
        xs, ys = [], []
        for n in names:
            d = _unpickle(folder / n)
            if b"data" not in d or b"labels" not in d:
                raise CorruptDataError(f"{folder / n}: no b'data'/b'labels' entries (keys {list(d)[:5]})")
            x = np.asarray(d[b"data"], dtype=np.uint8)
            if x.ndim != 2 or x.shape[1] != 3072 or x.shape[0] != len(d[b"labels"]):
                raise CorruptDataError(f"{folder / n}: data of shape {x.shape} with {len(d[b'labels'])} labels, "
                                       "expected [N, 3072]")
            xs.append(x.reshape(-1, 3, 32, 32))
            ys.append(np.asarray(d[b"labels"], dtype=np.int64))
        return np.concatenate(xs), np.concatenate(ys)

    tr_x, tr_y = batches(CIFAR_TRAIN)
    te_x, te_y = batches(CIFAR_TEST)
    meta = _unpickle(folder / "batches.meta")
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in meta.get(b"label_names", [])]
    if len(names) != 10:
        raise CorruptDataError(f"{folder / 'batches.meta'}: expected 10 label names, got {names}")
    return tr_x, tr_y, te_x, te_y, names
