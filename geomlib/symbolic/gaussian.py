"""Gaussian expectations E_{z ~ N(0, s)}[f(z)] of activation functionals (Methods: T3, T6, T7; Methods: numerical accuracy).

Three routes, and every result says which one produced it (``GaussianExpectation.method``):

1. **known closed form** for the arc-cosine family (Cho & Saul 2009) and erf (Williams 1997):
   ``E[phi_m'^2] = m^2/2 * 2^(m-1) Gamma(m-1/2)/sqrt(pi) * s^(m-1)`` (= m^2/2 (2m-3)!! s^(m-1) for
   integer m), ``E[phi_m^2] = 1/2 * 2^m Gamma(m+1/2)/sqrt(pi) * s^m``; erf(z/sqrt 2):
   ``E[phi'^2] = 2/pi (1+2s)^(-1/2)``, ``E[phi^2] = 2/pi asin(s/(1+s))``; erf(z): ``4/pi (1+4s)^(-1/2)``,
   ``2/pi asin(2s/(1+2s))``. (Tests re-derive these by integration and quadrature.)
2. **SymPy integration** of ``f(z) e^{-z^2/2s}/sqrt(2 pi s)``, attempted only for integrands SymPy
   can plausibly do (polynomials, exp, erf, Heaviside) and under a time limit.
3. **adaptive quadrature** otherwise (:class:`geomlib.symbolic.quadrature.GaussianIntegral`):
   double-exponential quadrature split at the kinks of f, step halved until the estimated error is
   below ``rtol`` (default relative 1e-10 in float64, for any variance), derivatives in ``s`` by the
   heat-equation / Stein identity ``d/ds E f = 1/2 E f''`` or its Gaussian-side twin, never by
   autograd through the nodes. A :class:`~geomlib.symbolic.quadrature.QuadratureAccuracyWarning` gives
   the estimated error where the target is not reached.

:func:`hermite_expectation` (fixed Gauss-Hermite rule) is kept for comparison only: its error grows
with the variance and it is not used by the metrics.
"""
from __future__ import annotations

import math
import signal
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import sympy as sp
import torch

from .activations import Z, Activation, DegenerateMetricError
from .quadrature import DEFAULT_RTOL, GaussianIntegral, QuadratureAccuracyWarning  # noqa: F401 (re-export)

S = sp.Symbol("s", positive=True)  # the variance of z in every expectation
DEFAULT_NODES = 200  # fixed Gauss-Hermite rule of hermite_expectation (comparison only)

KNOWN = "closed form (known: {})"
INTEGRATED = "closed form (SymPy integration)"
QUADRATURE = "adaptive double-exponential quadrature, rtol {:.0e} (no closed form found{})"


@dataclass
class GaussianExpectation:
    """``E_{z~N(0,s)}[integrand(z)]`` as a function of the variance ``s`` (symbol :data:`S`).

    ``expr``: SymPy closed form in ``S`` or ``None`` (quadrature); ``method``: how it was obtained;
    call ``.torch(s)`` (tensor ``s`` of any shape, differentiable in s to any order) or ``.numpy(s)``
    to evaluate. Quadrature results reach relative ``rtol`` (1e-10 by default) or warn.
    """

    quantity: str
    integrand: sp.Expr
    expr: sp.Expr | None
    method: str
    rtol: float = DEFAULT_RTOL
    _integral: GaussianIntegral | None = field(default=None, repr=False, compare=False)

    @property
    def exact(self) -> bool:
        return self.expr is not None

    def __repr__(self) -> str:
        body = self.expr if self.exact else "<numeric>"
        return f"{self.quantity} = {body}   [{self.method}]"

    @property
    def integral(self) -> GaussianIntegral:
        """The quadrature object (also for closed forms, where it serves as a cross-check)."""
        if self._integral is None:
            self._integral = GaussianIntegral(self.integrand, rtol=self.rtol, name=self.quantity)
        return self._integral

    def torch(self, s) -> torch.Tensor:
        """Evaluate at variances ``s`` (shape=[...], > 0) -> shape=[...]; dtype of ``s`` if it is a
        floating tensor, else float64 (never torch's default dtype)."""
        if not (isinstance(s, torch.Tensor) and s.is_floating_point()):
            s = torch.as_tensor(np.asarray(s, dtype=float) if not isinstance(s, torch.Tensor) else s,
                                dtype=torch.float64)
        if self.exact:
            from .bridge import to_torch

            return to_torch(self.expr, (S,))(s)
        return self.integral(s)

    def numpy(self, s) -> np.ndarray:
        return self.torch(torch.as_tensor(np.asarray(s, dtype=float))).detach().cpu().numpy()


_NODES_CACHE: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def hermite_nodes(n: int = DEFAULT_NODES) -> tuple[np.ndarray, np.ndarray]:
    """Physicists' Gauss-Hermite nodes and weights (weight e^{-t^2}), cached."""
    if not isinstance(n, int) or n < 2:
        raise ValueError(f"number of Gauss-Hermite nodes must be an integer >= 2, got {n!r}")
    if n not in _NODES_CACHE:
        from scipy.special import roots_hermite  # stable beyond ~350 nodes, where numpy's hermgauss overflows

        _NODES_CACHE[n] = roots_hermite(n)
    return _NODES_CACHE[n]


def hermite_expectation(fn, s: torch.Tensor, nodes: int = DEFAULT_NODES) -> torch.Tensor:
    """``E_{z~N(0,s)}[fn(z)]`` by a fixed Gauss-Hermite rule, differentiable in ``s`` (comparison only:
    no error control; the nodes spread as sqrt(s), so features of fn at |z| ~ 1 are missed for large s).

    ``fn``: torch function applied elementwise; ``s``: shape=[...] (> 0); returns shape=[...].
    Raises if ``fn`` gives non-finite values at a node that carries weight.
    """
    t, w = hermite_nodes(nodes)
    t = torch.as_tensor(t, dtype=s.dtype, device=s.device)
    w = torch.as_tensor(w, dtype=s.dtype, device=s.device)
    if torch.any(s < 0):
        raise ValueError("variance s must be >= 0")
    if s.requires_grad and torch.any(s == 0):
        # d/ds of f(sqrt(2s) t) is 0 * inf at s = 0: derivatives need a closed form there
        raise ValueError("Gauss-Hermite derivatives need a variance s > 0; s = 0 happens at x = 0 when "
                         "sigma_b = 0 (use sigma_b > 0, x != 0, or an activation with a closed form)")
    z = torch.sqrt(2 * s).unsqueeze(-1) * t  # [..., nodes]
    vals = fn(z)
    vals = torch.as_tensor(vals, dtype=s.dtype, device=s.device).expand_as(z)
    bad = ~torch.isfinite(vals)
    if bad.any():
        # far nodes carry weights ~1e-150: an overflow there is harmless, anywhere else it is not
        if (bad & (w > 1e-100)).any():
            raise FloatingPointError("activation functional is not finite at Gauss-Hermite nodes "
                                     "with non-negligible weight; rewrite it in a numerically stable form")
        vals = torch.where(bad, torch.zeros_like(vals), vals)
    return (vals * w).sum(-1) / math.sqrt(math.pi)


_INTEGRABLE = (sp.exp, sp.erf, sp.Heaviside)


def _plausibly_integrable(f: sp.Expr) -> bool:
    """Only attempt SymPy's integrator where it is known to finish: polynomials times exp/erf/Heaviside."""
    for fn in f.atoms(sp.Function):
        if not isinstance(fn, _INTEGRABLE):
            return False
    for p in f.atoms(sp.Pow):
        if p.base.has(Z) and not (p.exp.is_Integer and p.exp > 0):
            return False
    for term in sp.Add.make_args(sp.expand(f)):
        n_erf = sum(int(e) for b, e in term.as_powers_dict().items() if isinstance(b, sp.erf) and e.is_Integer)
        if n_erf >= 2:  # Gaussian integrals of erf^2 (e.g. GELU) are beyond SymPy's integrator
            return False
    return True


@contextmanager
def _time_limit(seconds: float):
    """SIGALRM-based limit (main thread only; elsewhere no limit)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGALRM"):
        yield
        return

    def handler(signum, frame):
        raise TimeoutError

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def integrate_gaussian(f: sp.Expr, *, time_limit: float = 5.0) -> sp.Expr | None:
    """Closed form of ``E_{z~N(0,S)}[f(z)]`` by SymPy, or ``None`` if SymPy finds none in time."""
    if not _plausibly_integrable(f):
        return None
    density = sp.exp(-Z**2 / (2 * S)) / sp.sqrt(2 * sp.pi * S)
    try:
        with _time_limit(time_limit):
            res = sp.integrate(sp.expand(f * density), (Z, -sp.oo, sp.oo), conds="none")
    except TimeoutError:
        return None
    if res.has(sp.Integral) or res.has(sp.nan) or res.has(sp.zoo):
        return None
    from .simplify import bounded_simplify

    return bounded_simplify(res, seconds=max(time_limit, 1.0))


def _gamma_moment(p) -> sp.Expr:
    """E_{N(0,s)}[z^p Theta(z)] = 1/2 * 2^{p/2} Gamma((p+1)/2)/sqrt(pi) * s^{p/2}, p > -1."""
    return sp.Rational(1, 2) * 2 ** (p / 2) * sp.gamma((p + 1) / 2) / sp.sqrt(sp.pi) * S ** (p / 2)


def _nodes_note(act: Activation) -> str:
    return "" if act.family == "generic" else f"; {act.family}"


def _rtol_from(nodes, rtol) -> float:
    if nodes is not None:
        warnings.warn("nodes= is no longer used: Gaussian expectations use adaptive quadrature to the accuracy "
                      "rtol= (default 1e-10); pass rtol instead", DeprecationWarning, stacklevel=3)
    return DEFAULT_RTOL if rtol is None else float(rtol)


def expect_phi_prime_sq(act: Activation, *, rtol: float | None = None, try_sympy: bool = True,
                        nodes: int | None = None) -> GaussianExpectation:
    """``E_{z~N(0,s)}[phi'(z)^2]`` (so that e^Omega = sigma_w^2 times this at s = sigma_w^2 u + sigma_b^2).

    ``rtol``: relative accuracy of the quadrature route (default 1e-10); ``nodes``: deprecated, ignored."""
    rtol = _rtol_from(nodes, rtol)
    q = "E[phi'(z)^2]"
    if act.family == "arccos":
        m = act.m
        act.prime()  # raises for m = 0
        if m.is_number and not m > sp.Rational(1, 2):
            raise DegenerateMetricError(
                f"arc-cosine degree m={m} <= 1/2: E[phi'^2] = m^2 E[z^(2m-2) Theta(z)] diverges at z = 0, "
                "the metric is infinite")
        expr = sp.simplify(m**2 * _gamma_moment(2 * m - 2))
        return GaussianExpectation(q, act.prime() ** 2, expr, KNOWN.format("arc-cosine, Cho & Saul 2009"), rtol)
    if act.family == "erf":
        c = 2 if act.convention == "sqrt2" else 4
        expr = sp.Integer(c) / sp.pi / sp.sqrt(1 + c * S)
        return GaussianExpectation(q, act.prime() ** 2, expr, KNOWN.format(f"{act.name}, Williams 1997"), rtol)
    f = act.prime() ** 2
    return _generic(q, f, rtol, try_sympy)


def expect_phi_sq(act: Activation, *, rtol: float | None = None, try_sympy: bool = True,
                  nodes: int | None = None) -> GaussianExpectation:
    """``E_{z~N(0,s)}[phi(z)^2]`` (the kernel on the diagonal; used by the deep recursion)."""
    rtol = _rtol_from(nodes, rtol)
    q = "E[phi(z)^2]"
    if act.family == "arccos":
        expr = sp.simplify(_gamma_moment(2 * act.m))
        return GaussianExpectation(q, act.expr**2, expr, KNOWN.format("arc-cosine, Cho & Saul 2009"), rtol)
    if act.family == "erf":
        c = 1 if act.convention == "sqrt2" else 2
        expr = 2 / sp.pi * sp.asin(c * S / (1 + c * S))
        return GaussianExpectation(q, act.expr**2, expr, KNOWN.format(f"{act.name}, Williams 1997"), rtol)
    return _generic(q, act.expr**2, rtol, try_sympy)


def _generic(q: str, f: sp.Expr, rtol: float, try_sympy: bool) -> GaussianExpectation:
    expr = integrate_gaussian(f) if try_sympy else None
    if expr is not None:
        return GaussianExpectation(q, f, expr, INTEGRATED, rtol)
    why = "" if try_sympy else "; SymPy not tried"
    E = GaussianExpectation(q, f, None, QUADRATURE.format(rtol, why), rtol)
    E.integral  # build now: kinks located, unsupported functions refused at construction
    return E
