"""geomlib: the Riemannian geometry that neural networks induce on their input space.

Companion library to Zavatone-Veth, Yang, Rubinfien & Pehlevan, arXiv 2301.11375.

The small public surface re-exported here is the numerical pullback geometry of any PyTorch
feature map (``f: [B, *in_shape] -> [B, n]``, metric ``g = J^T J / n``, standard Ricci scalar with
the unit 2-sphere at ``R = +2``) plus run set-up. Subpackages, imported on first use:

- :mod:`geomlib.symbolic`: infinite-width metrics (NNGP kernels, T3-T7) and curvature with SymPy;
- :mod:`geomlib.numeric`: everything numerical (routes, closed forms, the authors' 3R convention);
- :mod:`geomlib.train`, :mod:`geomlib.data`, :mod:`geomlib.models`: training loop, datasets,
  ResNet / self-supervised models used by the book's chapters.
"""
import importlib

from .numeric import (Grid2D, Line, Plane, SingularMetricWarning, effective_log10_volume, induced_log_volume,
                      induced_metric, jacobian, log_volume, log_volume_element, metric_spectrum, pullback_metric,
                      scalar_curvature, scalar_curvature_from_metric)
from .profiles import PROFILES, ConfigError, Context, resolve_device, seed_everything, setup

__version__ = "0.1.0"
_SUBPACKAGES = ("symbolic", "numeric", "train", "data", "models", "twod", "planestats", "magnification", "cache")
__all__ = [
    "Grid2D", "Line", "Plane", "SingularMetricWarning", "effective_log10_volume", "induced_log_volume",
    "induced_metric", "jacobian", "log_volume", "log_volume_element", "metric_spectrum", "pullback_metric",
    "scalar_curvature", "scalar_curvature_from_metric",
    "PROFILES", "ConfigError", "Context", "resolve_device", "seed_everything", "setup", "__version__",
    *_SUBPACKAGES,
]


def __getattr__(name):  # lazy subpackages: `geomlib.symbolic` without importing SymPy up front
    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'geomlib' has no attribute {name!r}")
