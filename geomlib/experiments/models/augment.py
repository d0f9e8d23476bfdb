"""Image augmentations and deterministic epoch batches for the ResNet and SSL runs (Methods: F6-F8 protocols).

Transforms are torchvision ``transforms.v2`` pipelines on float tensors ``shape=[C, H, W]`` in
[0, 1], applied per image (independent random parameters per image and per view), then normalised:

* supervised (F6): RandomCrop(32, padding 4), horizontal flip, Normalize(mean, std);
* Barlow Twins (F7): two asymmetric views, RandomResizedCrop(32), flip, ColorJitter(0.4, 0.4, 0.2, 0.1)
  with p 0.8, grayscale p 0.2, Gaussian blur p 1.0 / 0.1, solarize p 0.0 / 0.2, Normalize;
* SimCLR (F8): RandomResizedCrop(32), flip, ColorJitter(0.8, 0.8, 0.8, 0.2) p 0.8, grayscale p 0.2,
  Gaussian blur (kernel 3); no normalisation.

The blur kernel for 32-pixel images (3, sigma in [0.1, 2]) and the solarize threshold 0.5 (PIL's
128/255) are our choices [U]. Determinism: each image's views are drawn under a private RNG seeded
by (seed, epoch, index), and the shuffle by (seed, epoch), so an epoch's batches are identical on
every run, with or without DataLoader workers (what geomlib.experiments.training's resume relies on).
"""
from __future__ import annotations

from typing import Callable, Iterator, Sequence

import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, Sampler

from ..training.distributed import shard_bounds
from torchvision.transforms import v2

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)
SOLARIZE_THRESHOLD = 0.5


def channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of images ``shape=[N, C, H, W]`` (for a substitute's own statistics)."""
    if x.dim() != 4:
        raise ValueError(f"expected images shape=[N, C, H, W], got {tuple(x.shape)}")
    x = x.double()
    return tuple(x.mean((0, 2, 3)).tolist()), tuple(x.std((0, 2, 3)).tolist())


def normalize(x: torch.Tensor, mean: Sequence[float] | None, std: Sequence[float] | None) -> torch.Tensor:
    """``(x - mean) / std`` per channel for ``shape=[..., C, H, W]``; identity when mean is None."""
    if mean is None:
        return x
    m = torch.as_tensor(mean, dtype=x.dtype, device=x.device)[:, None, None]
    s = torch.as_tensor(std, dtype=x.dtype, device=x.device)[:, None, None]
    return (x - m) / s


def _norm(mean, std) -> list:
    return [] if mean is None else [v2.Normalize(list(mean), list(std))]


def supervised_transform(mean=CIFAR_MEAN, std=CIFAR_STD) -> Callable:
    """F6 training transform (one view)."""
    return v2.Compose([v2.RandomCrop(32, padding=4), v2.RandomHorizontalFlip(), *_norm(mean, std)])


def barlow_transforms(mean=IMAGENET_MEAN, std=IMAGENET_STD) -> tuple[Callable, Callable]:
    """F7's two asymmetric view transforms (blur p 1.0 / 0.1, solarize p 0.0 / 0.2)."""
    def view(blur_p, sol_p):
        return v2.Compose([
            v2.RandomResizedCrop(32, antialias=True), v2.RandomHorizontalFlip(),
            v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8), v2.RandomGrayscale(0.2),
            v2.RandomApply([v2.GaussianBlur(3, (0.1, 2.0))], p=blur_p),
            v2.RandomSolarize(SOLARIZE_THRESHOLD, p=sol_p), *_norm(mean, std)])
    return view(1.0, 0.0), view(0.1, 0.2)


def simclr_transforms() -> tuple[Callable, Callable]:
    """F8's view transform (the same for both views; no normalisation)."""
    t = v2.Compose([
        v2.RandomResizedCrop(32, antialias=True), v2.RandomHorizontalFlip(),
        v2.RandomApply([v2.ColorJitter(0.8, 0.8, 0.8, 0.2)], p=0.8), v2.RandomGrayscale(0.2),
        v2.GaussianBlur(3, (0.1, 2.0))])
    return t, t


def _mix(*ints: int) -> int:
    h = 0x9E3779B97F4A7C15
    for i in ints:
        h = (h ^ (int(i) + 0x632BE59BD9B4E019 + (h << 6) + (h >> 2))) & 0xFFFFFFFFFFFFFFFF
    return h & 0x7FFFFFFFFFFFFFFF


class AugmentedImages(Dataset):
    """Images ``x[N, C, 32, 32]`` in [0, 1] (and optional labels ``y[N]``) seen through one or more
    view transforms. Item ``i`` is ``(view_1, ..., view_m[, y_i])``; its randomness is a function
    of ``(seed, epoch, i)`` only. Call :meth:`set_epoch` before iterating an epoch."""

    def __init__(self, x: torch.Tensor, transforms: Sequence[Callable], y: torch.Tensor | None = None,
                 seed: int = 0):
        if x.dim() != 4:
            raise ValueError(f"expected images shape=[N, C, H, W], got {tuple(x.shape)}")
        if y is not None and len(y) != len(x):
            raise ValueError(f"{len(x)} images but {len(y)} labels")
        self.x, self.y, self.transforms, self.seed, self.epoch = x, y, tuple(transforms), int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(_mix(self.seed, self.epoch, i))
            views = tuple(t(self.x[i]) for t in self.transforms)
        return views + ((self.y[i],) if self.y is not None else ())


class ShardedBatchSampler(Sampler):
    """Rank ``rank``'s contiguous shard (:func:`~geomlib.experiments.training.distributed.shard_bounds`)
    of each global batch of ``batches`` (a batch sampler): the union over ranks, in rank order, is
    the global batch."""

    def __init__(self, batches: BatchSampler, rank: int, world: int):
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} outside 0..{world - 1}")
        self.batches, self.rank, self.world = batches, int(rank), int(world)

    def __iter__(self):
        for b in self.batches:
            if len(b) < self.world:
                raise ValueError(f"a global batch of {len(b)} images cannot be split over {self.world} ranks")
            a, e = shard_bounds(len(b), self.rank, self.world)
            yield b[a:e]

    def __len__(self) -> int:
        return len(self.batches)


def epoch_batches(data: AugmentedImages, epoch: int, batch_size: int, *, drop_last: bool = False,
                  num_workers: int = 0, device: torch.device | str = "cpu",
                  dtype: torch.dtype = torch.float32, shard: tuple[int, int] | None = None) -> Iterator[tuple]:
    """The batches of one epoch: shuffled by (seed, epoch), augmented per image, moved to ``device``
    (images cast to ``dtype``; labels stay int64). ``num_workers > 0`` uses DataLoader workers
    (GPU hosts); the result is the same either way. ``shard=(rank, world)``: only rank ``rank``'s
    contiguous part of each global batch of ``batch_size`` is loaded and augmented (data-parallel
    training; the global batches are those of one process)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    data.set_epoch(epoch)
    g = torch.Generator().manual_seed(_mix(data.seed, epoch, 7))
    device = torch.device(device)
    if shard is None or shard[1] == 1:
        loader = DataLoader(data, batch_size=batch_size, shuffle=True, generator=g, drop_last=drop_last,
                            num_workers=num_workers, pin_memory=device.type == "cuda",
                            persistent_workers=False)
    else:  # the same permutation and global batches as DataLoader(shuffle=True, generator=g); the
        # loader draws its workers' base seed from g before the sampler's randperm, so it gets g too
        sampler = ShardedBatchSampler(BatchSampler(RandomSampler(data, generator=g), batch_size, drop_last), *shard)
        loader = DataLoader(data, batch_sampler=sampler, num_workers=num_workers, generator=g,
                            pin_memory=device.type == "cuda", persistent_workers=False)
    threads = torch.get_num_threads()
    if num_workers == 0:
        torch.set_num_threads(1)  # per-image ops on 32x32 tensors: threading only adds overhead
    try:
        for batch in loader:
            if num_workers == 0:
                torch.set_num_threads(threads)
            out = tuple(b.to(device, non_blocking=True) if b.dtype == torch.int64
                        else b.to(device, dtype, non_blocking=True) for b in batch)
            yield out
            if num_workers == 0:
                torch.set_num_threads(1)
    finally:
        torch.set_num_threads(threads)
