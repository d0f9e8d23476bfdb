"""Training runs of the deep supervised experiment: a CIFAR ResNet and its linear
classifier trained with cross-entropy on randomly cropped and flipped images normalised with the
training set's statistics; held-out accuracy recorded along training. The shared machinery
(preparation, resumable training, snapshots) is :mod:`geomlib.experiments.imaging.run`.
"""
from __future__ import annotations

import torch

from ..data import ImageData
from ..imaging.run import DeepRun, Method, PreparedImages, data_normalization, train_deep
from ..imaging.settings import DeepRecipe
from ..models.augment import supervised_transform
from ..models.resnet import CifarResNet
from ..models.ssl import supervised_step
from .measure import readout


def build_network(recipe: DeepRecipe) -> torch.nn.Module:
    """The CIFAR ResNet of ``recipe`` with its 10-way linear classifier."""
    return CifarResNet(recipe.depth, recipe.width, recipe.act)


def views(recipe: DeepRecipe, prep: PreparedImages):
    """One augmented view per image (crop with 4-pixel padding, flip, normalise) and the labels."""
    return (supervised_transform(prep.mean, prep.std),), prep.train_y


def accuracy_eval(prep: PreparedImages, device: torch.device):
    """``eval_fn(model) -> {"test_acc"}``: accuracy on the held-out images of ``prep``."""
    x = prep.net_input(prep.test_x).float()
    y = prep.test_y

    def evaluate(model):
        correct = 0
        for i in range(0, len(x), 512):
            xb = x[i:i + 512].to(device, next(model.parameters()).dtype)
            correct += int((model(xb).argmax(-1).cpu() == y[i:i + 512]).sum())
        return {"test_acc": correct / len(x)}
    return evaluate


SUPERVISED = Method("supervised", build=build_network, normalization=data_normalization, views=views,
                    step=supervised_step, readout=readout, evaluate=accuracy_eval)


def train_supervised(recipe: DeepRecipe, data: ImageData, *, device: torch.device | str = "cpu",
                     progress: bool = True, checkpoint=True) -> DeepRun:
    """Train (or resume, or load) the supervised run ``recipe`` on ``data``
    (:func:`geomlib.experiments.imaging.run.train_deep` with :data:`SUPERVISED`)."""
    return train_deep(recipe, data, SUPERVISED, device=device, progress=progress, checkpoint=checkpoint)
