"""Activations as SymPy expressions in the pre-activation ``z`` (Methods: notation and conventions, T3-T6).

An :class:`Activation` holds ``phi(z)`` symbolically plus, for the families with known Gaussian
moments, which family it is (``arccos`` of degree m, ``erf`` in either convention). Anything else
is ``generic``: its Gaussian expectations are tried with SymPy and otherwise done by
Gauss-Hermite quadrature (see :mod:`geomlib.symbolic.gaussian`), and the result says which.

Constructors: :func:`arccos` (``z^m Theta(z)``; :func:`relu` = degree 1, :func:`step` = degree 0),
:func:`erf` (``convention="sqrt2"``: erf(z/sqrt 2), the authors' "Erf"; ``"plain"``: erf(z)),
:func:`sigmoid`, :func:`tanh`, :func:`gelu`, and :func:`activation` for any SymPy expression.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from .kinks import Z, kinks  # Z: the pre-activation variable every Activation is written in


class DegenerateMetricError(ValueError):
    """The metric asked for does not exist (infinite or undefined), e.g. the degree-0 arc-cosine."""


@dataclass(frozen=True)
class Activation:
    """A scalar activation ``phi(z)``, written in :data:`Z`.

    ``family``: ``"arccos"`` (``m`` = degree), ``"erf"`` (``convention`` = ``"sqrt2"`` | ``"plain"``)
    or ``"generic"``.
    """

    name: str
    expr: sp.Expr
    family: str = "generic"
    m: object = None
    convention: str | None = None
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        from .bridge import unsupported_functions

        bad = unsupported_functions(self.expr)
        if bad:
            raise NotImplementedError(
                f"activation {self.expr}: no torch/NumPy translation for {', '.join(bad)}, so its metric could not be "
                "evaluated numerically; write it with supported functions (see geomlib.symbolic.bridge)")
        if self.expr.has(sp.I):
            raise ValueError(f"activation {self.expr} is complex-valued (contains I)")

    def __repr__(self) -> str:
        return f"Activation({self.name}: phi(z) = {self.expr})"

    @property
    def key(self) -> str:
        """A stable text key (for caches)."""
        return f"{self.family}|{self.m}|{self.convention}|{sp.srepr(self.expr)}"

    def prime(self) -> sp.Expr:
        """phi'(z). For ``z^m Theta(z)`` the ``z^m delta(z)`` terms (zero for m >= 1) are dropped;
        a derivative that is a Dirac delta (the step, degree 0) raises :class:`DegenerateMetricError`."""
        if self.family == "arccos":
            m = self.m
            if m == 0:
                raise DegenerateMetricError(
                    "degree-0 arc-cosine (step) activation: phi'(z) = delta(z), so E[phi'(z)^2] = E[delta(z)^2] "
                    "is infinite and the infinite-width metric is undefined (its kernel 1 - theta/pi has a cusp "
                    "on the diagonal; at finite width g = 0 almost everywhere). See Methods: T6 (Cho & Saul 2009).")
            return m * Z ** (m - 1) * sp.Heaviside(Z)
        _refuse_jumps(self.expr)
        d = sp.diff(self.expr, Z)
        if d.has(sp.Derivative):
            raise NotImplementedError(f"SymPy cannot differentiate {self.expr} ({d})")
        if d.has(sp.DiracDelta):
            d = _drop_vanishing_deltas(sp.expand(d))
            if d.has(sp.DiracDelta):
                raise DegenerateMetricError(
                    f"phi'(z) = {d} contains a Dirac delta: E[phi'(z)^2] is infinite, the metric is undefined")
        return d

    def second(self) -> sp.Expr:
        """phi''(z) (away from kinks)."""
        return _drop_vanishing_deltas(sp.expand(sp.diff(self.prime(), Z)))


def _refuse_jumps(expr: sp.Expr) -> None:
    """phi with a jump has phi' = ... + c delta: E[phi'^2] = oo. SymPy's derivative of a Piecewise or of
    floor/ceiling drops (or cannot write) those deltas, so jumps are detected here instead."""
    for j in (sp.floor, sp.ceiling, sp.frac):
        if any(a.has(Z) for a in expr.atoms(j)):
            raise DegenerateMetricError(f"phi(z) = {expr} contains {j.__name__}, which jumps: phi' has Dirac deltas, "
                                        "E[phi'(z)^2] is infinite and the metric is undefined")
    if not expr.has(sp.Piecewise):
        return
    for c in kinks(expr):
        cc = sp.nsimplify(c, rational=True)
        left, right = (sp.N(expr.subs(Z, cc + t), 40) for t in (-sp.Rational(1, 10**30), sp.Rational(1, 10**30)))
        if not (left.is_number and right.is_number) or abs(complex(left - right)) > 1e-20:
            raise DegenerateMetricError(f"phi(z) = {expr} jumps at z = {c} (from {float(left):.6g} to {float(right):.6g}): "
                                        "phi' has a Dirac delta there, E[phi'(z)^2] is infinite and the metric is undefined")


def _drop_vanishing_deltas(expr: sp.Expr) -> sp.Expr:
    """Remove terms ``c * z^p * delta^(k)(z)`` with p > k: they vanish as distributions
    (e.g. ``z delta(z) = 0``), which is what differentiating ``z^m Theta(z)`` produces."""
    out = sp.S.Zero
    for term in sp.Add.make_args(expr):
        deltas = [f for f in term.atoms(sp.DiracDelta) if f.args[0] == Z]
        if len(deltas) == 1:
            order = int(deltas[0].args[1]) if len(deltas[0].args) > 1 else 0
            if term.as_powers_dict().get(Z, 0) > order:
                continue
        out += term
    return out


def _check_degree(m):
    m = sp.sympify(m)
    if m.is_number:
        if not (m.is_real and m >= 0):
            raise ValueError(f"arc-cosine degree m must be a real number >= 0, got {m}")
        if m.is_integer is False and m.is_Float:
            m = sp.nsimplify(m)
    elif not isinstance(m, sp.Symbol):
        raise TypeError(f"arc-cosine degree m must be a number or a SymPy symbol, got {m!r}")
    elif m.is_positive is not True:
        raise ValueError(f"a symbolic degree must be declared positive (sp.Symbol('{m}', positive=True)), got {m!r}")
    return m


def arccos(m=1) -> Activation:
    """Arc-cosine family ``phi_m(z) = z^m Theta(z)`` (Cho & Saul 2009); m = 1 is ReLU, m = 0 the step.

    ``m``: a number >= 0 (integer for the closed-form kernel; real m > 1/2 for the metric) or a
    positive SymPy symbol (general degree).
    """
    m = _check_degree(m)
    expr = sp.Heaviside(Z) if m == 0 else Z ** m * sp.Heaviside(Z)
    name = {0: "step", 1: "ReLU"}.get(m, f"arc-cosine m={m}")
    return Activation(name, expr, "arccos", m=m)


def relu() -> Activation:
    """ReLU = arc-cosine degree 1."""
    return arccos(1)


def step() -> Activation:
    """Heaviside step = arc-cosine degree 0 (its metric is undefined: Methods: T6)."""
    return arccos(0)


def erf(convention: str = "sqrt2") -> Activation:
    """Error function: ``"sqrt2"`` gives erf(z/sqrt 2) (the authors' "Erf"), ``"plain"`` erf(z). Methods: T5."""
    if convention == "sqrt2":
        return Activation("erf(z/sqrt2)", sp.erf(Z / sp.sqrt(2)), "erf", convention="sqrt2")
    if convention == "plain":
        return Activation("erf(z)", sp.erf(Z), "erf", convention="plain")
    raise ValueError(f"erf convention must be 'sqrt2' (erf(z/sqrt 2)) or 'plain' (erf(z)), got {convention!r}")


def sigmoid() -> Activation:
    """Logistic sigmoid 1/(1+e^{-z}) (no closed-form Gaussian moments: quadrature)."""
    return Activation("sigmoid", 1 / (1 + sp.exp(-Z)))


def tanh() -> Activation:
    """tanh (no closed-form Gaussian moments: quadrature)."""
    return Activation("tanh", sp.tanh(Z))


def gelu() -> Activation:
    """GELU z Phi(z) with the exact normal CDF (quadrature)."""
    return Activation("GELU", Z * (1 + sp.erf(Z / sp.sqrt(2))) / 2)


NAMED = {"relu": relu, "step": step, "erf": lambda: erf("sqrt2"), "erf_plain": lambda: erf("plain"),
         "sigmoid": sigmoid, "tanh": tanh, "gelu": gelu}


def activation(phi, z: sp.Symbol | None = None, *, name: str | None = None) -> Activation:
    """Wrap any activation given as a SymPy expression (or a known name) as an :class:`Activation`.

    ``phi``: a SymPy expression in one real variable (``z`` names it; default: its only free
    symbol), an :class:`Activation`, or one of ``relu, step, erf, erf_plain, sigmoid, tanh, gelu``.
    Python callables, torch modules and numbers are rejected with a message saying why.
    """
    if isinstance(phi, Activation):
        return phi
    if isinstance(phi, str):
        key = phi.strip().lower()
        if key not in NAMED:
            raise ValueError(f"unknown activation name {phi!r}: choose one of {', '.join(NAMED)} "
                             "or pass a SymPy expression")
        return NAMED[key]()
    if not isinstance(phi, sp.Basic):
        raise TypeError(
            f"activation must be a SymPy expression in one variable (e.g. sympy.tanh(z)), an Activation "
            f"or a name; got {type(phi).__name__}. Symbolic metrics need phi in closed form: a Python "
            f"function or torch module cannot be differentiated or integrated symbolically "
            f"(use geomlib.numeric for those).")
    phi = sp.sympify(phi)
    free = phi.free_symbols
    if z is None:
        if len(free) != 1:
            raise ValueError(f"cannot tell the activation's variable: {phi} has free symbols {sorted(map(str, free))}; "
                             "pass z=...")
        z = next(iter(free))
    elif free - {z}:
        raise ValueError(f"activation {phi} depends on {sorted(map(str, free - {z}))} besides {z}")
    if not free:
        raise ValueError(f"activation {phi} is constant: its metric is zero")
    expr = phi.subs(z, Z)
    from .simplify import is_zero

    for fam in (arccos(1), arccos(2), erf("sqrt2"), erf("plain")):
        if is_zero(expr - fam.expr, seconds=5, points=8):
            return fam
    return Activation(name or str(expr), expr)
