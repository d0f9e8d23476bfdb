"""Training runs of the deep chapters (Methods: F6-F8 protocols), shared by supervised and self-supervised
learning: data preparation, one resumable training per (method, activation, seed), and
per-snapshot access to the models.

| method | model | data scaling | optimiser (lr / mom / wd) | batch | epochs (paper) | snapshots (paper) |
|---|---|---|---|---|---|---|
| ``supervised`` (F6) | ResNet-34 GELU (ReLU control) + Linear(512, 10), cross-entropy | CIFAR mean/std | SGD 0.01 / 0.9 / 1e-4 | 1024 | 200 | 0, 50, 200 |
| ``barlow`` (F7) | ResNet-34 GELU + Linear(512, 256, no bias), Barlow Twins | ImageNet mean/std | same | 1024, drop_last | 1000 | 0, 50, 200, 500, 1000 |
| ``simclr`` (F8) | ResNet-34 GELU + 512-512-10 head, NT-Xent (tau 0.07) | none | same | 512, drop_last | 1000 | 0, 50, 200, 1000 |

Substitute datasets (Methods: CIFAR-10 substitutes) are normalised with their own training statistics for the
supervised and Barlow runs (SimCLR: none). ``quick`` and ``tiny`` keep the pipeline and shrink the
net (ResNet-18 at a width multiplier), the data (a stratified subset) and the epochs; snapshot 0 is
always the true initialisation (Methods: snapshots). Checkpoints live under
``<artifacts>/deep_checkpoints/`` keyed by the recipe, so an interrupted paper run resumes.

What differs between the methods (network, augmented views, training step, normalisation,
evaluation, readout) is a :class:`Method`, defined by each figure group:
:data:`geomlib.experiments.deep.run.SUPERVISED`, :data:`geomlib.experiments.ssl.run.BARLOW` and
:data:`geomlib.experiments.ssl.run.SIMCLR`.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ...book.profiles import seed_everything
from ...cache import artifact_key, artifact_root
from ..data import ImageData, stratified_split
from ..models.augment import AugmentedImages, epoch_batches, normalize
from ..models.probe import LinearProbe, extract_features, fit_probe
from ..training import TrainResult, distributed, fit
from .settings import DeepRecipe


@dataclass(frozen=True)
class Method:
    """What one training method contributes to a run (the rest is shared).

    ``build(recipe) -> nn.Module``: the network (seeded by :func:`build_model`);
    ``normalization(data, recipe) -> (mean, std)`` (``None, None``: the identity);
    ``views(recipe, prep) -> (transforms, labels or None)`` for :class:`AugmentedImages`;
    ``step(amp) -> step_fn`` for :func:`geomlib.experiments.training.fit`;
    ``readout(run, epoch, model) -> features -> class probabilities`` (the classifier's softmax or
    a linear probe's), used by the scans; ``evaluate(prep, device) -> eval_fn`` or ``None``.
    """

    name: str
    build: Callable
    normalization: Callable
    views: Callable
    step: Callable
    readout: Callable
    evaluate: Callable | None = None


# ---- data ----

@dataclass
class PreparedImages:
    """Images in [0, 1] (``x[N, 3, 32, 32]`` float32, contiguous) of one run, with the
    normalisation that maps them to the network's input space (``mean``/``std`` None: identity)."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    mean: tuple | None
    std: tuple | None
    class_names: list
    banner: str | None
    source: dict = field(default_factory=dict)
    test_index: np.ndarray | None = None  # positions in data.test_x

    def net_input(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised network input of images in [0, 1]."""
        return normalize(x, self.mean, self.std)


def _subset(y: torch.Tensor, n: int | None, seed: int) -> np.ndarray:
    if n is None or n >= len(y):
        return np.arange(len(y))
    _, idx = stratified_split(y.numpy(), n / len(y), seed)
    return np.sort(idx[:n])


def data_normalization(data: ImageData, recipe: DeepRecipe) -> tuple:
    """The training set's own channel mean and std (what :class:`Method` ``normalization`` returns
    for the supervised runs, and for Barlow Twins on a substitute dataset)."""
    return tuple(data.channel_mean.tolist()), tuple(data.channel_std.tolist())


def prepare_images(data: ImageData, recipe: DeepRecipe, method: Method) -> PreparedImages:
    """Stratified subsets (deterministic in the seed) and the method's normalisation (Methods: data scaling)."""
    if method.name != recipe.method:
        raise ValueError(f"recipe of method {recipe.method!r} given with method {method.name!r}")
    if data.train_x.dim() != 4 or tuple(data.train_x.shape[1:]) != (3, 32, 32):
        raise ValueError(f"expected images [N, 3, 32, 32] (CIFAR-10 or a padded substitute), got {tuple(data.train_x.shape)}")
    tr, te = _subset(data.train_y, recipe.n_train, recipe.seed), _subset(data.test_y, recipe.n_test, recipe.seed + 1)
    mean, std = method.normalization(data, recipe)
    return PreparedImages(
        train_x=data.train_x[tr].float().contiguous(), train_y=data.train_y[tr],
        test_x=data.test_x[te].float().contiguous(), test_y=data.test_y[te], mean=mean, std=std,
        class_names=list(data.class_names), banner=data.banner, source=dict(data.source), test_index=te)


# ---- models and training ----

def build_model(recipe: DeepRecipe, method: Method) -> torch.nn.Module:
    """The run's network (float32, PyTorch default init), seeded by the recipe's seed."""
    seed_everything(recipe.seed)
    return method.build(recipe).float()


def checkpoint_path(recipe: DeepRecipe, data_source: dict) -> Path:
    """Checkpoint file of a run: keyed by the recipe and the dataset (not geomlib's source, so a
    paper run resumes across code edits; fit() still refuses a checkpoint whose init differs)."""
    params = {"recipe": asdict(recipe), "data": data_source.get("dataset"), "n": data_source.get("n_train")}
    params["recipe"].pop("num_workers")
    return artifact_root() / "deep_checkpoints" / f"{recipe.method}-{artifact_key(params, with_source=False)}.pt"


@dataclass
class DeepRun:
    """A trained (or resumed) run: its recipe, method, training result and prepared images."""

    recipe: DeepRecipe
    result: TrainResult
    prep: PreparedImages
    device: torch.device
    method: Method

    @property
    def epochs(self) -> list[int]:
        return sorted(self.result.snapshots)

    def model_at(self, epoch: int) -> torch.nn.Module:
        """The network at snapshot ``epoch`` (eval mode, float32, on CPU)."""
        return self.result.load_into(build_model(self.recipe, self.method), epoch).eval()

    def readout_at(self, epoch: int, model: torch.nn.Module) -> Callable:
        """The class probabilities read from snapshot ``epoch``'s features (the method's readout)."""
        return self.method.readout(self, epoch, model)

    def probe_at(self, epoch: int, *, max_iter: int = 1000) -> LinearProbe:
        """Linear probe on the backbone's pooled features of the un-augmented training subset
        (test score on the held-out subset)."""
        model = self.model_at(epoch)
        ftr = extract_features(model, self.prep.net_input(self.prep.train_x), device=self.device)
        fte = extract_features(model, self.prep.net_input(self.prep.test_x), device=self.device)
        return fit_probe(ftr, self.prep.train_y, fte, self.prep.test_y, max_iter=max_iter, seed=self.recipe.seed)


def train_deep(recipe: DeepRecipe, data: ImageData, method: Method, *, device: torch.device | str = "cpu",
               progress: bool = True, checkpoint: Path | None | bool = True,
               dtype: torch.dtype = torch.float32, checkpoint_every: int | None = None) -> DeepRun:
    """Train (or resume, or load the finished checkpoint of) the run ``recipe`` on ``data``.

    ``dtype``: the parameters' and images' dtype (float32 for every profile; the tests use float64).
    Under ``torchrun`` with more than one process (an open process group, see
    :mod:`geomlib.experiments.training.distributed`) the run is data parallel: each rank loads
    and augments its shard of every global batch of ``recipe.batch_size``, BatchNorm and the SSL
    losses use the global batch, rank 0 alone writes the checkpoint, and the result equals the
    single-process run's up to floating-point summation order. Raises ``ValueError`` when a shard
    would be empty, or (Barlow Twins, SimCLR, whose embeddings are gathered) when the batch size
    is not a multiple of the number of processes.
    """
    dev = torch.device(device)
    rank, world = distributed.rank_world()
    prep = prepare_images(data, recipe, method)
    model = build_model(recipe, method).to(device=dev, dtype=dtype)
    transforms, labels = method.views(recipe, prep)
    ds = AugmentedImages(prep.train_x, transforms, y=labels, seed=recipe.seed)
    if world > 1:
        last = len(ds) % recipe.batch_size
        if recipe.method != "supervised" and (recipe.batch_size % world or (last and not recipe.drop_last)):
            raise ValueError(f"{recipe.method}: batch size {recipe.batch_size} (drop_last={recipe.drop_last}) does "
                             f"not split evenly over {world} processes; the gathered embeddings need equal shards")
        if recipe.batch_size < world or (last and not recipe.drop_last and last < world):
            raise ValueError(f"a global batch of {min(recipe.batch_size, last or recipe.batch_size)} images "
                             f"cannot be split over {world} processes")

    def batches(epoch):
        return epoch_batches(ds, epoch, recipe.batch_size, drop_last=recipe.drop_last,
                             num_workers=recipe.num_workers, device=dev, dtype=dtype,
                             shard=(rank, world) if world > 1 else None)

    step = method.step(amp=recipe.amp)
    opt = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay)
    if len(ds) < recipe.batch_size and recipe.drop_last:
        raise ValueError(f"{len(ds)} training images < batch size {recipe.batch_size} with drop_last: no step")
    ck = checkpoint_path(recipe, prep.source) if checkpoint is True else (checkpoint or None)
    res = fit(model, step, batches, opt, epochs=recipe.epochs, snapshot_epochs=recipe.snapshot_epochs,
              checkpoint=ck, device=dev, progress=progress, desc=f"{recipe.method} {recipe.act}",
              eval_fn=method.evaluate(prep, dev) if method.evaluate else None,
              eval_every=max(1, recipe.epochs // 20), seed=recipe.seed, checkpoint_every=checkpoint_every,
              find_unused_parameters=recipe.method != "supervised",  # the SSL nets' unused classifier
              checkpoint_interval_s=300.0,  # a ResNet-34 checkpoint with snapshots is ~0.5 GB
              meta={"method": recipe.method, "data": prep.source.get("dataset")})
    return DeepRun(recipe, res, prep, dev, method)


def steps_per_epoch(recipe: DeepRecipe, n_train: int) -> int:
    """Optimiser steps per epoch of ``recipe`` on a training set of ``n_train`` images."""
    n = n_train if recipe.n_train is None else min(recipe.n_train, n_train)
    return n // recipe.batch_size if recipe.drop_last else math.ceil(n / recipe.batch_size)
