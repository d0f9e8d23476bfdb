"""Training runs of the self-supervised experiments: a CIFAR ResNet backbone
trained without labels, with a Barlow Twins projector (two views, each through its own forward
pass; ImageNet normalisation on CIFAR-10, the substitute's own statistics otherwise) or a SimCLR
head (two views in one forward pass, NT-Xent; no normalisation). The shared machinery
(preparation, resumable training, snapshots) is :mod:`geomlib.experiments.imaging.run`.
"""
from __future__ import annotations

import torch

from ..data import ImageData
from ..imaging.run import DeepRun, Method, PreparedImages, data_normalization, train_deep
from ..imaging.settings import DeepRecipe
from ..models.augment import IMAGENET_MEAN, IMAGENET_STD, barlow_transforms, simclr_transforms
from ..models.resnet import CifarResNet
from ..models.ssl import BarlowTwins, SimCLR, barlow_step, simclr_step
from .measure import readout


def build_barlow(recipe: DeepRecipe) -> torch.nn.Module:
    """The CIFAR ResNet of ``recipe`` with a Barlow Twins projector to ``recipe.proj_dim``."""
    return BarlowTwins(CifarResNet(recipe.depth, recipe.width, recipe.act), recipe.proj_dim)


def build_simclr(recipe: DeepRecipe) -> torch.nn.Module:
    """The CIFAR ResNet of ``recipe`` with a SimCLR head to ``recipe.out_dim``."""
    return SimCLR(CifarResNet(recipe.depth, recipe.width, recipe.act), recipe.out_dim)


def barlow_normalization(data: ImageData, recipe: DeepRecipe) -> tuple:
    """ImageNet mean/std on CIFAR-10 (the authors'), the training set's own statistics on a substitute."""
    return data_normalization(data, recipe) if data.substitute else (IMAGENET_MEAN, IMAGENET_STD)


def no_normalization(data: ImageData, recipe: DeepRecipe) -> tuple:
    """SimCLR's inputs are the images in [0, 1]."""
    return None, None


def barlow_views(recipe: DeepRecipe, prep: PreparedImages):
    """The two Barlow Twins augmentations (no labels)."""
    return barlow_transforms(prep.mean, prep.std), None


def simclr_views(recipe: DeepRecipe, prep: PreparedImages):
    """The two SimCLR augmentations (no labels)."""
    return simclr_transforms(), None


BARLOW = Method("barlow", build=build_barlow, normalization=barlow_normalization, views=barlow_views,
                step=barlow_step, readout=readout)
SIMCLR = Method("simclr", build=build_simclr, normalization=no_normalization, views=simclr_views,
                step=simclr_step, readout=readout)
METHODS = {"barlow": BARLOW, "simclr": SIMCLR}


def train_ssl(recipe: DeepRecipe, data: ImageData, *, device: torch.device | str = "cpu",
              progress: bool = True, checkpoint=True) -> DeepRun:
    """Train (or resume, or load) the self-supervised run ``recipe`` on ``data``
    (:func:`geomlib.experiments.imaging.run.train_deep` with :data:`BARLOW` or :data:`SIMCLR`)."""
    if recipe.method not in METHODS:
        raise ValueError(f"not a self-supervised recipe: method {recipe.method!r}")
    return train_deep(recipe, data, METHODS[recipe.method], device=device, progress=progress, checkpoint=checkpoint)
