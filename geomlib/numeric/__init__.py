"""Pullback geometry of PyTorch models on input space (Methods: notation and conventions, T2, slices; issue 4).

Feature maps ``f`` take ``[B, *in_shape]`` and return ``[B, n]`` (eval-mode modules or functions
acting on each sample independently; a cheap batch-consistency probe refuses maps that couple the
samples of a batch with :class:`BatchCouplingError`; the probe and the routes' self-checks run once
per map state, :func:`clear_check_cache` forgets them). Fast routes that cannot run on a model fall
back to exact slower ones with a one-time :class:`RouteFallbackWarning`. Points ``x`` are ``[*in_shape]`` or ``[N, *in_shape]``;
results carry the leading N (none for one point). float64 recommended (the dtype of x is used).
Metric ``g = J^T J / n`` (``normalize=True``); log volumes are natural logs of sqrt(det), except
:func:`effective_log10_volume` (log10, the authors' quantity). Curvature: standard R (unit 2-sphere +2).
"""
from ._inputs import BatchCouplingError, RouteFallbackWarning
from ._inputs import quiet_forward_ad as _quiet_forward_ad
from ._memo import clear_check_cache
from .authors import authors_curvature, authors_curvature_from_metric, authors_shallow_curvature_2d
from .curvature import (IllConditionedMetricError, gauss_scalar_curvature, pullback_metric_fn,
                        scalar_curvature, scalar_curvature_from_metric)
from .induced import induced_log_volume, induced_metric
from .jacobian import jacobian, jacobian_hessian
from .linops import jacobian_operator
from .metric import SingularMetricWarning, log_volume, log_volume_element, pullback_metric
from .shallow import (ACTIVATIONS, shallow_curvature, shallow_curvature_2d, shallow_det_cauchy_binet,
                      shallow_features, shallow_log_volume, shallow_metric)
from .slices import DomainWarning, Grid2D, Line, Plane
from .spectrum import RankCapWarning, effective_log10_volume, lanczos_topk, metric_spectrum

__all__ = [
    "clear_check_cache", "jacobian", "jacobian_hessian", "jacobian_operator",
    "pullback_metric", "log_volume_element", "log_volume",
    "effective_log10_volume", "metric_spectrum", "lanczos_topk",
    "induced_metric", "induced_log_volume",
    "scalar_curvature", "scalar_curvature_from_metric", "gauss_scalar_curvature", "pullback_metric_fn",
    "authors_curvature", "authors_curvature_from_metric", "authors_shallow_curvature_2d",
    "shallow_features", "shallow_metric", "shallow_log_volume", "shallow_det_cauchy_binet",
    "shallow_curvature", "shallow_curvature_2d", "ACTIVATIONS",
    "Grid2D", "Line", "Plane",
    "SingularMetricWarning", "RankCapWarning", "DomainWarning", "IllConditionedMetricError",
    "BatchCouplingError", "RouteFallbackWarning",
]

_quiet_forward_ad()  # torch's first jvp would print a FutureWarning of its own
