"""geomlib: the Riemannian geometry that neural networks induce on their input space.

Companion library to Zavatone-Veth, Yang, Rubinfien & Pehlevan, arXiv 2301.11375.

The small public surface re-exported here is the numerical pullback geometry of any PyTorch
feature map (``f: [B, *in_shape] -> [B, n]``, metric ``g = J^T J / n``, standard Ricci scalar with
the unit 2-sphere at ``R = +2``) plus run set-up. Subpackages are imported on first use.

The core, what a user imports for their own model (it never imports the experiments or the book):

- :mod:`geomlib.numeric`: everything numerical (Jacobians, pullback metric, volume elements,
  curvature, lines and planes through input space, the authors' 3R convention);
- :mod:`geomlib.symbolic`: infinite-width metrics (NNGP kernels, T3-T7) and curvature with SymPy;
- :mod:`geomlib.stats`: slice statistics (prediction entropy, volume-entropy correlation,
  boundary contrast, the 2-D Delta);
- :mod:`geomlib.cache`: the on-disk artifact store (used by the core, the experiments and the book).

The paper's experiments and the book:

- :mod:`geomlib.experiments`: one sub-package per figure group (``twod``, ``mnist``, ``deep``,
  ``ssl``), each with ``settings``, ``run``, ``measure`` and ``figures`` modules, beside the shared
  training loop (``training``), datasets (``data``) and model definitions (``models``);
- :mod:`geomlib.book`: the chapter runner (``python -m geomlib.book``), profiles and provenance.
  ``PROFILES``, ``ConfigError``, ``Context``, ``resolve_device``, ``seed_everything`` and ``setup``
  are reachable from here too, imported from :mod:`geomlib.book` on first use.
"""
import importlib

from .numeric import (Grid2D, Line, Plane, SingularMetricWarning, effective_log10_volume, induced_log_volume,
                      induced_metric, jacobian, log_volume, log_volume_element, metric_spectrum, pullback_metric,
                      scalar_curvature, scalar_curvature_from_metric)

__version__ = "0.1.0"
_SUBPACKAGES = ("numeric", "symbolic", "stats", "cache", "experiments", "book")
_FROM_BOOK = ("PROFILES", "ConfigError", "Context", "resolve_device", "seed_everything", "setup")
__all__ = [
    "Grid2D", "Line", "Plane", "SingularMetricWarning", "effective_log10_volume", "induced_log_volume",
    "induced_metric", "jacobian", "log_volume", "log_volume_element", "metric_spectrum", "pullback_metric",
    "scalar_curvature", "scalar_curvature_from_metric",
    *_FROM_BOOK, "__version__",
    *_SUBPACKAGES,
]


def __getattr__(name):
    # lazy: `geomlib.symbolic` without importing SymPy up front, the run set-up without the book machinery
    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    if name in _FROM_BOOK:
        return getattr(importlib.import_module(".book", __name__), name)
    raise AttributeError(f"module 'geomlib' has no attribute {name!r}")
