"""Training runs of the deep chapters (SPEC §4.1 F6-F8) per profile: recipes, data preparation,
one resumable training per (method, activation, seed), and per-snapshot access to the models.

| method | model | data scaling | optimiser (lr / mom / wd) | batch | epochs (paper) | snapshots (paper) |
|---|---|---|---|---|---|---|
| ``supervised`` (F6) | ResNet-34 GELU (ReLU control) + Linear(512, 10), cross-entropy | CIFAR mean/std | SGD 0.01 / 0.9 / 1e-4 | 1024 | 200 | 0, 50, 200 |
| ``barlow`` (F7) | ResNet-34 GELU + Linear(512, 256, no bias), Barlow Twins | ImageNet mean/std | same | 1024, drop_last | 1000 | 0, 50, 200, 500, 1000 |
| ``simclr`` (F8) | ResNet-34 GELU + 512-512-10 head, NT-Xent (tau 0.07) | none | same | 512, drop_last | 1000 | 0, 50, 200, 1000 |

Substitute datasets (SPEC §5) are normalised with their own training statistics for the
supervised and Barlow runs (SimCLR: none). ``quick`` and ``tiny`` keep the pipeline and shrink the
net (ResNet-18 at a width multiplier), the data (a stratified subset) and the epochs; snapshot 0 is
always the true initialisation (SPEC §4.4). Checkpoints live under
``<artifacts>/deep_checkpoints/`` keyed by the recipe, so an interrupted paper run resumes.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from ..cache import artifact_key, artifact_root
from ..data import ImageData, stratified_split
from ..profiles import PROFILES, ConfigError, seed_everything
from ..train import TrainResult, fit
from .augment import (IMAGENET_MEAN, IMAGENET_STD, AugmentedImages, barlow_transforms, epoch_batches,
                      normalize, simclr_transforms, supervised_transform)
from .probe import LinearProbe, extract_features, fit_probe
from .resnet import CifarResNet
from .ssl import BarlowTwins, SimCLR, barlow_step, simclr_step, supervised_step

METHODS = ("supervised", "barlow", "simclr")


@dataclass(frozen=True)
class DeepRecipe:
    """Everything that defines one training run (hashed into its checkpoint name)."""

    method: str
    profile: str
    depth: int
    width: float
    act: str
    n_train: int | None  # None: the whole training set
    n_test: int | None   # held-out images used for accuracy and the probe's test score
    epochs: int
    batch_size: int
    snapshot_epochs: tuple
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    drop_last: bool = False
    amp: bool = False       # bfloat16 autocast for training on CUDA (geometry stays float32/64)
    num_workers: int = 0    # DataLoader workers for the per-image augmentations
    proj_dim: int = 256     # Barlow projector output [U]
    out_dim: int = 10       # SimCLR head output (the authors reuse the 10-way classifier)
    seed: int = 401

    def describe(self) -> str:
        data = "all" if self.n_train is None else f"{self.n_train}"
        return (f"{self.method}: ResNet-{self.depth} x{self.width:g} {self.act.upper()} "
                f"({int(512 * self.width)}-d features), {data} training images, {self.epochs} epochs, "
                f"batch {self.batch_size}, SGD lr {self.lr} mom {self.momentum} wd {self.weight_decay}, seed {self.seed}")


_PAPER = {  # SPEC §4.1 F6-F8
    "supervised": dict(epochs=200, batch_size=1024, snapshot_epochs=(50, 200), drop_last=False),
    "barlow": dict(epochs=1000, batch_size=1024, snapshot_epochs=(50, 200, 500, 1000), drop_last=True),
    "simclr": dict(epochs=1000, batch_size=512, snapshot_epochs=(50, 200, 1000), drop_last=True),
}
_QUICK = {
    "supervised": dict(n_train=3000, n_test=1000, epochs=6, batch_size=128, snapshot_epochs=(1, 6)),
    "barlow": dict(n_train=2000, n_test=1000, epochs=6, batch_size=128, snapshot_epochs=(6,), drop_last=True),
    "simclr": dict(n_train=2000, n_test=1000, epochs=6, batch_size=128, snapshot_epochs=(6,), drop_last=True),
}
_TINY = {
    "supervised": dict(n_train=256, n_test=256, epochs=2, batch_size=64, snapshot_epochs=(2,)),
    "barlow": dict(n_train=128, n_test=128, epochs=1, batch_size=64, snapshot_epochs=(1,), drop_last=True),
    "simclr": dict(n_train=128, n_test=128, epochs=1, batch_size=64, snapshot_epochs=(1,), drop_last=True),
}
_NETS = {"paper": dict(depth=34, width=1.0), "quick": dict(depth=18, width=0.125),
         "tiny": dict(depth=18, width=0.0625)}


def deep_recipe(method: str, profile: str, *, act: str = "gelu", seed: int = 401,
                device: torch.device | str = "cpu", **overrides) -> DeepRecipe:
    """The recipe of ``method`` under ``profile`` (``overrides`` replace single fields)."""
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}: choose one of {', '.join(METHODS)}")
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}")
    cuda = torch.device(device).type == "cuda"
    per = {"paper": _PAPER, "quick": _QUICK, "tiny": _TINY}[profile][method]
    base = dict(n_train=None, n_test=None) if profile == "paper" else {}
    kw = dict(method=method, profile=profile, act=act, seed=seed, **_NETS[profile], **base, **per,
              amp=profile == "paper" and cuda, num_workers=8 if (profile == "paper" and cuda) else 0)
    r = DeepRecipe(**kw)
    return replace(r, **overrides) if overrides else r


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


def prepare_images(data: ImageData, recipe: DeepRecipe) -> PreparedImages:
    """Stratified subsets (deterministic in the seed) and the method's normalisation (SPEC §5)."""
    if data.train_x.dim() != 4 or tuple(data.train_x.shape[1:]) != (3, 32, 32):
        raise ValueError(f"expected images [N, 3, 32, 32] (CIFAR-10 or a padded substitute), got {tuple(data.train_x.shape)}")
    tr, te = _subset(data.train_y, recipe.n_train, recipe.seed), _subset(data.test_y, recipe.n_test, recipe.seed + 1)
    if recipe.method == "simclr":
        mean = std = None
    elif recipe.method == "barlow" and not data.substitute:
        mean, std = IMAGENET_MEAN, IMAGENET_STD
    else:
        mean, std = tuple(data.channel_mean.tolist()), tuple(data.channel_std.tolist())
    return PreparedImages(
        train_x=data.train_x[tr].float().contiguous(), train_y=data.train_y[tr],
        test_x=data.test_x[te].float().contiguous(), test_y=data.test_y[te], mean=mean, std=std,
        class_names=list(data.class_names), banner=data.banner, source=dict(data.source), test_index=te)


# ---- models and training ----

def build_model(recipe: DeepRecipe) -> torch.nn.Module:
    """The run's network (float32, PyTorch default init), seeded by the recipe's seed."""
    seed_everything(recipe.seed)
    backbone = CifarResNet(recipe.depth, recipe.width, recipe.act)
    if recipe.method == "barlow":
        model = BarlowTwins(backbone, recipe.proj_dim)
    elif recipe.method == "simclr":
        model = SimCLR(backbone, recipe.out_dim)
    else:
        model = backbone
    return model.float()


def _views(recipe: DeepRecipe, prep: PreparedImages):
    if recipe.method == "supervised":
        return (supervised_transform(prep.mean, prep.std),), prep.train_y
    if recipe.method == "barlow":
        return barlow_transforms(prep.mean, prep.std), None
    return simclr_transforms(), None


def _accuracy_eval(prep: PreparedImages, device: torch.device):
    x = prep.net_input(prep.test_x).float()
    y = prep.test_y

    def evaluate(model):
        correct = 0
        for i in range(0, len(x), 512):
            correct += int((model(x[i:i + 512].to(device)).argmax(-1).cpu() == y[i:i + 512]).sum())
        return {"test_acc": correct / len(x)}
    return evaluate


def checkpoint_path(recipe: DeepRecipe, data_source: dict) -> Path:
    """Checkpoint file of a run: keyed by the recipe and the dataset (not geomlib's source, so a
    paper run resumes across code edits; fit() still refuses a checkpoint whose init differs)."""
    params = {"recipe": asdict(recipe), "data": data_source.get("dataset"), "n": data_source.get("n_train")}
    params["recipe"].pop("num_workers")
    return artifact_root() / "deep_checkpoints" / f"{recipe.method}-{artifact_key(params, with_source=False)}.pt"


@dataclass
class DeepRun:
    recipe: DeepRecipe
    result: TrainResult
    prep: PreparedImages
    device: torch.device

    @property
    def epochs(self) -> list[int]:
        return sorted(self.result.snapshots)

    def model_at(self, epoch: int) -> torch.nn.Module:
        """The network at snapshot ``epoch`` (eval mode, float32, on CPU)."""
        return self.result.load_into(build_model(self.recipe), epoch).eval()

    def probe_at(self, epoch: int, *, max_iter: int = 1000) -> LinearProbe:
        """Linear probe on the backbone's pooled features of the un-augmented training subset
        (test score on the held-out subset)."""
        model = self.model_at(epoch)
        ftr = extract_features(model, self.prep.net_input(self.prep.train_x), device=self.device)
        fte = extract_features(model, self.prep.net_input(self.prep.test_x), device=self.device)
        return fit_probe(ftr, self.prep.train_y, fte, self.prep.test_y, max_iter=max_iter, seed=self.recipe.seed)


def train_deep(recipe: DeepRecipe, data: ImageData, *, device: torch.device | str = "cpu",
               progress: bool = True, checkpoint: Path | None | bool = True) -> DeepRun:
    """Train (or resume, or load the finished checkpoint of) the run ``recipe`` on ``data``."""
    dev = torch.device(device)
    prep = prepare_images(data, recipe)
    model = build_model(recipe).to(dev)
    transforms, labels = _views(recipe, prep)
    ds = AugmentedImages(prep.train_x, transforms, y=labels, seed=recipe.seed)

    def batches(epoch):
        return epoch_batches(ds, epoch, recipe.batch_size, drop_last=recipe.drop_last,
                             num_workers=recipe.num_workers, device=dev)

    step = {"supervised": supervised_step, "barlow": barlow_step, "simclr": simclr_step}[recipe.method](amp=recipe.amp)
    opt = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay)
    if len(ds) < recipe.batch_size and recipe.drop_last:
        raise ValueError(f"{len(ds)} training images < batch size {recipe.batch_size} with drop_last: no step")
    ck = checkpoint_path(recipe, prep.source) if checkpoint is True else (checkpoint or None)
    res = fit(model, step, batches, opt, epochs=recipe.epochs, snapshot_epochs=recipe.snapshot_epochs,
              checkpoint=ck, device=dev, progress=progress, desc=f"{recipe.method} {recipe.act}",
              eval_fn=_accuracy_eval(prep, dev) if recipe.method == "supervised" else None,
              eval_every=max(1, recipe.epochs // 20), seed=recipe.seed,
              checkpoint_interval_s=300.0,  # a ResNet-34 checkpoint with snapshots is ~0.5 GB
              meta={"method": recipe.method, "data": prep.source.get("dataset")})
    return DeepRun(recipe, res, prep, dev)


def steps_per_epoch(recipe: DeepRecipe, n_train: int) -> int:
    n = n_train if recipe.n_train is None else min(recipe.n_train, n_train)
    return n // recipe.batch_size if recipe.drop_last else math.ceil(n / recipe.batch_size)
