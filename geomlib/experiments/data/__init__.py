"""Datasets of the experiments.

Images for the MNIST and CIFAR chapters, loaded in the order of Methods: data sources (data root in
torchvision layout -> torchvision download -> offline real-data fallbacks), each with a source
record, one log line and, for fallbacks and substitutes, a banner for the chapter; the 2-D tasks'
training sets (:mod:`geomlib.experiments.data.toy`: XOR and the sinusoid).
"""
from .anchors import choose_anchors
from .imagedata import CorruptDataError, DataError, DataNotFoundError, ImageData, cache_root, data_root
from .loaders import (FASHION_CLASSES, MNIST_CLASSES, load_cifar10_or_substitute, load_fashion_mnist, load_mnist,
                      pad_to_cifar, stratified_split)
from .toy import sinusoid_boundary, sinusoid_data, sinusoid_labels, xor_data

__all__ = ["choose_anchors", "CorruptDataError", "DataError", "DataNotFoundError", "ImageData", "cache_root", "data_root",
           "FASHION_CLASSES", "MNIST_CLASSES", "load_cifar10_or_substitute", "load_fashion_mnist", "load_mnist",
           "pad_to_cifar", "stratified_split", "sinusoid_boundary", "sinusoid_data", "sinusoid_labels", "xor_data"]
