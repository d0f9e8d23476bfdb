"""geomlib: the Riemannian geometry that neural networks induce on their input space.

Companion library to Zavatone-Veth, Yang, Rubinfien & Pehlevan, arXiv 2301.11375.
Subpackages: :mod:`geomlib.symbolic` (infinite-width metrics, SymPy) and
:mod:`geomlib.numeric` (pullback geometry of PyTorch models).
"""
from .profiles import PROFILES, ConfigError, Context, resolve_device, seed_everything, setup

__version__ = "0.1.0"
__all__ = ["PROFILES", "ConfigError", "Context", "resolve_device", "seed_everything", "setup", "__version__"]
