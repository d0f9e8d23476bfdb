"""Slice statistics: the numbers that turn "training magnifies areas near decision boundaries" into
a test, on any grid of log-volumes and predictions (from :mod:`geomlib.numeric` or elsewhere).

- :mod:`geomlib.stats.planes`: prediction entropy, the correlation of log-volume with entropy,
  the boundary mask and boundary contrast on a line or plane grid (MNIST and deep chapters);
- :mod:`geomlib.stats.paired`: a per-plane statistic compared between conditions over many planes
  (bootstrap interval, permutation test, verdict);
- :mod:`geomlib.stats.twod`: the 2-D boundary distance and the boundary contrast Delta on a grid
  over input space (2-D chapters).

Part of the core: imports NumPy, SciPy and torch only, never the experiments or the book machinery.
"""
from .planes import (boundary_contrast, boundary_mask, entropy_from_logits, prediction_entropy,
                     volume_entropy_correlation)
from .paired import Comparison, independent_difference, one_sample, paired_difference, verdict
from .twod import FAR, NEAR, WINDOW, BoundaryContrast, boundary_contrast_2d, boundary_distance

__all__ = [
    "Comparison", "FAR", "NEAR", "WINDOW", "BoundaryContrast", "independent_difference", "one_sample",
    "paired_difference", "verdict", "boundary_contrast", "boundary_contrast_2d", "boundary_distance",
    "boundary_mask", "entropy_from_logits", "prediction_entropy", "volume_entropy_correlation",
]
