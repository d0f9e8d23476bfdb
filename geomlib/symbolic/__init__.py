"""Symbolic (SymPy) geometry: metrics of infinite-width networks and their curvature."""
from .curvature import christoffel, ricci, riemann, scalar_curvature, volume_element

__all__ = ["christoffel", "riemann", "ricci", "scalar_curvature", "volume_element"]
