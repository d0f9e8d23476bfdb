"""Symbolic (SymPy) geometry: metrics of infinite-width networks and their curvature (Methods: infinite-width theory).

Modules: ``activations`` (phi as SymPy), ``gaussian`` (E[.] closed form / SymPy / adaptive quadrature,
``quadrature``: error-controlled, relative 1e-10 for any variance), ``simplify`` (bounded simplification),
``kernels`` (NNGP kernels, exact diagonal limit), ``metric`` (rotation-invariant metrics, T1, T3),
``rotation`` (T4 closed forms), ``curvature`` (Christoffel / Riemann / Ricci / R of any explicit
metric), ``deep`` (T7 recursion), ``finite`` (T2 finite-width closed forms), ``montecarlo``
(random finite nets), ``autodiff`` (brute-force R by autograd jets), ``bridge`` (vectorised code for
torch / NumPy), ``store`` (on-disk cache of derived expressions), ``checks`` (T1-T7 as checks).
"""
from .activations import (Activation, DegenerateMetricError, Z, activation, arccos, erf, gelu, relu, sigmoid,
                          step, tanh)
from .bridge import metric_to_numpy, metric_to_torch, to_numpy, to_torch
from .curvature import (christoffel, ricci, riemann, riemann_lowered, scalar_curvature, scalar_curvature_at,
                        scalar_curvature_from_jet, volume_element)
from .deep import deep_metric
from .gaussian import S, expect_phi_prime_sq, expect_phi_sq
from .quadrature import GaussianIntegral, QuadratureAccuracyWarning
from .kernels import DotProductKernel, nngp_kernel
from .metric import RotationInvariantMetric, conformal_metric, metric_from_kernel, shallow_metric
from .rotation import U, power_law, scalar_curvature_omega, scalar_curvature_rotation_invariant
from .store import cached_expr, kernel_metric

__all__ = [
    "Activation", "DegenerateMetricError", "Z", "S", "U", "activation", "arccos", "erf", "gelu", "relu",
    "sigmoid", "step", "tanh", "expect_phi_prime_sq", "expect_phi_sq", "nngp_kernel", "DotProductKernel",
    "RotationInvariantMetric", "shallow_metric", "metric_from_kernel", "conformal_metric", "deep_metric",
    "power_law", "scalar_curvature_omega", "scalar_curvature_rotation_invariant",
    "christoffel", "riemann", "riemann_lowered", "ricci", "scalar_curvature", "scalar_curvature_at",
    "scalar_curvature_from_jet", "volume_element", "to_torch", "to_numpy", "metric_to_torch", "metric_to_numpy",
    "cached_expr", "kernel_metric", "GaussianIntegral", "QuadratureAccuracyWarning",
]
