"""The models whose feature-map geometry the book studies (Methods: feature maps): the shallow and deep MLPs of
the 2-D and MNIST experiments (:mod:`~geomlib.experiments.models.mlp`), and for the deep chapters
(Methods: F6-F8 protocols) CIFAR-style ResNets, Barlow Twins and SimCLR heads and losses, their
augmentations, a linear probe."""
from .augment import (AugmentedImages, barlow_transforms, channel_stats, epoch_batches, normalize,
                      simclr_transforms, supervised_transform)
from .mlp import ACTIVATIONS, DeepMLP, ShallowMLP
from .probe import LinearProbe, extract_features, fit_probe
from .resnet import CifarResNet, feature_map, logits_map, resnet18, resnet34
from .ssl import (BarlowTwins, SimCLR, barlow_step, barlow_twins_loss, nt_xent_loss, simclr_step,
                  supervised_step)

__all__ = [
    "ACTIVATIONS", "DeepMLP", "ShallowMLP",
    "AugmentedImages", "BarlowTwins", "CifarResNet", "LinearProbe", "SimCLR", "barlow_step",
    "barlow_transforms", "barlow_twins_loss", "channel_stats", "epoch_batches", "extract_features",
    "feature_map", "fit_probe", "logits_map", "normalize", "nt_xent_loss", "resnet18", "resnet34",
    "simclr_step", "simclr_transforms", "supervised_step", "supervised_transform",
]
