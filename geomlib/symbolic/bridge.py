"""Bridges from SymPy to torch and NumPy, so symbolic metrics evaluate on the same grids and devices
as the numerical tools.

* :func:`to_torch` / :func:`to_numpy`: an expression in given symbols -> a vectorised function
  (broadcasts its arguments; constants come back with the broadcast shape).
* :func:`metric_to_torch` / :func:`metric_to_numpy`: a SymPy metric matrix in coordinates
  ``x_1..x_d`` -> ``metric_fn(x[N, d]) -> g[N, d, d]`` (the ``metric_fn`` signature of
  ``geomlib.numeric.scalar_curvature_from_metric``).

How expressions are translated: one code generator for both backends (not ``lambdify``'s printers,
which print ``Piecewise``/``Min``/``Max``/``And`` as Python ``if``/``min``/``and`` that do not
vectorise over tensors). Every sub-expression becomes one line of straight code (shared
sub-expressions are computed once), so expressions of any depth compile. What is supported:

* arithmetic, integer and rational powers (``x**(3/2)``: the real power, NaN for x < 0 as in
  SymPy's principal branch restricted to the reals), every numeric constant (pi, E, EulerGamma, ...);
* ``exp, log, sqrt``, trigonometric and hyperbolic functions and their inverses (incl. sec, csc,
  cot, sech, csch, coth and inverses), ``atan2``, ``sinc`` (SymPy's unnormalised sin(x)/x);
* ``erf, erfc, erfinv, erfcinv, gamma`` (any real argument, sign included), ``loggamma``,
  ``digamma, polygamma`` (order >= 1 for x > 0, through the Hurwitz zeta: torch's own polygamma(1, .)
  is accurate only to ~1e-10);
* ``Abs, sign, Heaviside`` (SymPy's value at 0, default 1/2), ``Min, Max`` (any number of
  arguments), ``floor, ceiling, frac``, ``Piecewise`` (with ``And/Or/Not`` conditions), ``re, im,
  conjugate`` of real arguments;
* the numerically stable logistic ``Logistic(x) = 1/(1+e^-x)`` and ``Softplus(x) = log(1+e^x)``
  (:func:`stable_form` rewrites ``1/(1+exp(a))``, ``exp(a)/(1+exp(a))^n`` and ``log(1+exp(a))`` into
  them, so the sigmoid family never overflows, in values or in derivatives).

Accuracy rules applied on the way: ``sqrt`` of an explicit sum of squares (``sqrt(a^2 + c b^2 + k)``,
c, k >= 0) is evaluated as a Euclidean norm: it never rounds below zero, never overflows, and its
autograd derivative at 0 is 0 (the norm's subgradient) instead of NaN. Numbers are folded to float64
constants (never ``torch.get_default_dtype()``); the result has the floating dtype of the arguments
(float64 for Python numbers and integer tensors).

Anything else (e.g. ``besselj``, ``LambertW``, complex constants, unevaluated ``Integral``/
``Derivative``) raises ``NotImplementedError`` naming the function, when the function is built.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import sympy as sp
import torch


# ------------------------------------------------------------------------------ stable SymPy functions
class Logistic(sp.Function):
    """The logistic sigmoid ``1/(1 + e^-x)``, kept as one function so that it and its derivatives
    (``Logistic(x) Logistic(-x)``, polynomials in those two) evaluate without overflow."""

    @classmethod
    def eval(cls, x):
        if x.is_Number:
            return 1 / (1 + sp.exp(-x))

    def fdiff(self, argindex=1):
        x = self.args[0]
        return Logistic(x) * Logistic(-x)

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return 1 / (1 + sp.exp(-x))

    def _eval_evalf(self, prec):
        return (1 / (1 + sp.exp(-self.args[0])))._eval_evalf(prec)

    def _eval_is_real(self):
        return self.args[0].is_real

    def _eval_is_positive(self):
        return self.args[0].is_real


class Softplus(sp.Function):
    """``log(1 + e^x)``, evaluated as ``logaddexp(0, x)`` (no overflow); derivative ``Logistic(x)``."""

    @classmethod
    def eval(cls, x):
        if x.is_Number:
            return sp.log(1 + sp.exp(x))

    def fdiff(self, argindex=1):
        return Logistic(self.args[0])

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return sp.log(1 + sp.exp(x))

    def _eval_evalf(self, prec):
        return sp.log(1 + sp.exp(self.args[0]))._eval_evalf(prec)

    def _eval_is_real(self):
        return self.args[0].is_real


def _one_plus_exp(base):
    """``a`` if ``base`` is ``1 + exp(a)``, else None."""
    if isinstance(base, sp.Add) and len(base.args) == 2:
        one, e = sorted(base.args, key=lambda t: not t.is_Number)
        if one == 1 and isinstance(e, sp.exp):
            return e.args[0]
    return None


def stable_form(expr: sp.Expr) -> sp.Expr:
    """Rewrite the logistic family into :class:`Logistic` / :class:`Softplus` (same values).

    ``(1 + e^a)^-n -> Logistic(-a)^n``; then ``e^(p a) Logistic(a)^q -> Logistic(-a)^p Logistic(a)^(q-p)``
    for integers 1 <= p <= q (since e^-y Logistic(y) = Logistic(-y)); ``log(1 + e^a) -> Softplus(a)``.
    """
    expr = sp.sympify(expr)
    if not expr.has(sp.exp):
        return expr

    def is_pow(e):
        return isinstance(e, sp.Pow) and e.exp.is_Integer and e.exp < 0 and _one_plus_exp(e.base) is not None

    expr = expr.replace(is_pow, lambda e: Logistic(-_one_plus_exp(e.base)) ** (-e.exp))
    expr = expr.replace(lambda e: isinstance(e, sp.log) and _one_plus_exp(e.args[0]) is not None,
                        lambda e: Softplus(_one_plus_exp(e.args[0])))

    def absorb(m):
        if not isinstance(m, sp.Mul):
            return m
        factors = list(m.args)
        changed = True
        while changed:
            changed = False
            for i, f in enumerate(factors):
                if not isinstance(f, sp.exp):
                    continue
                for j, g in enumerate(factors):
                    base, q = (g.base, g.exp) if isinstance(g, sp.Pow) else (g, sp.S.One)
                    if not isinstance(base, Logistic) or not (q.is_Integer and q > 0):
                        continue
                    y = base.args[0]
                    p = next((k for k in range(1, int(q) + 1) if sp.expand(f.args[0] + k * y) == 0), None)
                    if p is not None:
                        y = base.args[0]
                        new = Logistic(-y) ** p * Logistic(y) ** (q - p)
                        factors = [t for k, t in enumerate(factors) if k not in (i, j)] + [new]
                        changed = True
                        break
                if changed:
                    break
        return sp.Mul(*factors)

    return expr.replace(lambda e: isinstance(e, sp.Mul) and e.has(Logistic) and e.has(sp.exp), absorb)


# ------------------------------------------------------------------------------ backends
def _heaviside_t(x, h0=0.5):
    return torch.where(x > 0, torch.ones_like(x), torch.where(x < 0, torch.zeros_like(x), torch.full_like(x, float(h0))))


def _gamma_t(x):
    # Gamma of any real argument: |Gamma| = exp(lgamma); sign (-1)^ceil(-x) for x < 0; poles -> NaN
    mag = torch.exp(torch.lgamma(x))
    sgn = torch.where(x > 0, torch.ones_like(x), 1 - 2 * torch.remainder(torch.ceil(-x), 2))
    pole = (x <= 0) & (x == torch.floor(x))
    return torch.where(pole, torch.full_like(x, math.nan), sgn * mag)


def _hypot_t(*terms):
    """Euclidean norm of the terms, scaled by their largest magnitude (no overflow / underflow); the
    scale is a constant for autograd (the norm does not depend on it), so the derivative at 0 is the
    norm's subgradient 0."""
    t = torch.stack(torch.broadcast_tensors(*terms))
    m = t.detach().abs().amax(0)
    m = torch.where(m > 0, m, torch.ones_like(m))
    return m * torch.linalg.vector_norm(t / m, dim=0)


def _hypot_np(*terms):
    t = np.stack(np.broadcast_arrays(*terms)).astype(float)
    m = np.abs(t).max(0)
    m = np.where(m > 0, m, 1.0)
    return m * np.sqrt(np.sum((t / m) ** 2, axis=0))


class _Polygamma(torch.autograd.Function):
    """psi^(n)(x) for n >= 1 as (-1)^(n+1) n! zeta(n+1, x) (torch's own polygamma(1, .) is accurate
    only to ~1e-10); derivative psi^(n+1). x > 0 (NaN elsewhere, as the Hurwitz zeta)."""

    @staticmethod
    def forward(ctx, x, n):
        ctx.n = n
        ctx.save_for_backward(x)
        return (-1) ** (n + 1) * math.factorial(n) * torch.special.zeta(torch.full_like(x, n + 1.0), x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * _Polygamma.apply(x, ctx.n + 1), None


def _polygamma_t(n, x):
    n = int(n)
    if n == 0:
        return torch.special.digamma(x)
    return _Polygamma.apply(x, n)


def _where_t(c, a, b):
    return torch.where(c, a, b)


TORCH_FUNCS = {
    "sqrt": torch.sqrt, "exp": torch.exp, "log": torch.log, "pow": torch.pow,
    "sin": torch.sin, "cos": torch.cos, "tan": torch.tan,
    "cot": lambda x: 1 / torch.tan(x), "sec": lambda x: 1 / torch.cos(x), "csc": lambda x: 1 / torch.sin(x),
    "asin": torch.asin, "acos": torch.acos, "atan": torch.atan, "atan2": torch.atan2,
    "acot": lambda x: torch.atan(1 / x), "asec": lambda x: torch.acos(1 / x), "acsc": lambda x: torch.asin(1 / x),
    "sinh": torch.sinh, "cosh": torch.cosh, "tanh": torch.tanh,
    "coth": lambda x: 1 / torch.tanh(x), "sech": lambda x: 1 / torch.cosh(x), "csch": lambda x: 1 / torch.sinh(x),
    "asinh": torch.asinh, "acosh": torch.acosh, "atanh": torch.atanh,
    "acoth": lambda x: torch.atanh(1 / x), "asech": lambda x: torch.acosh(1 / x), "acsch": lambda x: torch.asinh(1 / x),
    "sinc": lambda x: torch.special.sinc(x / math.pi),
    "erf": torch.special.erf, "erfc": torch.special.erfc, "erfinv": torch.special.erfinv,
    "erfcinv": lambda x: torch.special.erfinv(1 - x),
    "gamma": _gamma_t, "loggamma": torch.lgamma, "digamma": torch.special.digamma,
    "polygamma": _polygamma_t,
    "Abs": torch.abs, "sign": torch.sign, "Heaviside": _heaviside_t,
    "floor": torch.floor, "ceiling": torch.ceil, "frac": lambda x: x - torch.floor(x),
    "re": lambda x: x, "im": lambda x: torch.zeros_like(x), "conjugate": lambda x: x,
    "Logistic": torch.sigmoid, "Softplus": lambda x: torch.logaddexp(torch.zeros_like(x), x),
    "_min": torch.minimum, "_max": torch.maximum, "_where": _where_t, "_hypot": _hypot_t,
    "_and": torch.logical_and, "_or": torch.logical_or, "_not": torch.logical_not, "_xor": torch.logical_xor,
}


def _np_special(name):
    import scipy.special as ss

    return getattr(ss, name)


def _gamma_np(x):
    import scipy.special as ss

    return ss.gamma(x)


NUMPY_FUNCS = {
    "sqrt": np.sqrt, "exp": np.exp, "log": np.log, "pow": np.power,
    "sin": np.sin, "cos": np.cos, "tan": np.tan,
    "cot": lambda x: 1 / np.tan(x), "sec": lambda x: 1 / np.cos(x), "csc": lambda x: 1 / np.sin(x),
    "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan, "atan2": np.arctan2,
    "acot": lambda x: np.arctan(1 / x), "asec": lambda x: np.arccos(1 / x), "acsc": lambda x: np.arcsin(1 / x),
    "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh,
    "coth": lambda x: 1 / np.tanh(x), "sech": lambda x: 1 / np.cosh(x), "csch": lambda x: 1 / np.sinh(x),
    "asinh": np.arcsinh, "acosh": np.arccosh, "atanh": np.arctanh,
    "acoth": lambda x: np.arctanh(1 / x), "asech": lambda x: np.arccosh(1 / x), "acsch": lambda x: np.arcsinh(1 / x),
    "sinc": lambda x: np.sinc(x / np.pi),
    "erf": lambda x: _np_special("erf")(x), "erfc": lambda x: _np_special("erfc")(x),
    "erfinv": lambda x: _np_special("erfinv")(x), "erfcinv": lambda x: _np_special("erfcinv")(x),
    "gamma": _gamma_np, "loggamma": lambda x: _np_special("gammaln")(x),
    "digamma": lambda x: _np_special("digamma")(x), "polygamma": lambda n, x: _np_special("polygamma")(int(n), x),
    "Abs": np.abs, "sign": np.sign, "Heaviside": lambda x, h0=0.5: np.heaviside(x, h0),
    "floor": np.floor, "ceiling": np.ceil, "frac": lambda x: x - np.floor(x),
    "re": lambda x: x, "im": lambda x: np.zeros_like(x), "conjugate": lambda x: x,
    "Logistic": lambda x: _np_special("expit")(x), "Softplus": lambda x: np.logaddexp(0.0, x),
    "_min": np.minimum, "_max": np.maximum, "_where": np.where,
    "_hypot": _hypot_np,
    "_and": np.logical_and, "_or": np.logical_or, "_not": np.logical_not, "_xor": np.logical_xor,
}

SUPPORTED_FUNCTIONS = sorted(k for k in TORCH_FUNCS if not k.startswith("_")) + ["Min", "Max", "Piecewise"]
_REFUSED = (sp.Integral, sp.Derivative, sp.Subs, sp.DiracDelta)


# ------------------------------------------------------------------------------ code generation
class _Codegen:
    """Straight-line code for one expression: every compound node one assignment (memoised)."""

    def __init__(self, symbols):
        self.names = {s: f"_a{i}" for i, s in enumerate(symbols)}
        self.lines: list[str] = []
        self.memo: dict = {}
        self.consts: dict[str, float] = {}

    def const(self, value) -> str:
        v = complex(value)
        if abs(v.imag) > 1e-300 * max(1.0, abs(v.real)) and v.imag != 0:
            raise NotImplementedError(f"the expression contains the complex constant {value}: only real-valued "
                                      "expressions can be evaluated")
        name = f"_c{len(self.consts)}"
        self.consts[name] = float(v.real)
        return name

    def emit(self, code: str) -> str:
        name = f"_t{len(self.lines)}"
        self.lines.append(f"    {name} = {code}")
        return name

    def __call__(self, e) -> str:
        if e in self.memo:
            return self.memo[e]
        out = self._gen(e)
        self.memo[e] = out
        return out

    def _gen(self, e) -> str:
        if e is sp.true or e == sp.true:
            return "True"
        if e is sp.false or e == sp.false:
            return "False"
        if isinstance(e, sp.Symbol):
            if e not in self.names:
                raise ValueError(f"free symbol {e} is not among the function's arguments {tuple(self.names)}")
            return self.names[e]
        if isinstance(e, _REFUSED):
            raise NotImplementedError(f"cannot translate an expression containing {type(e).__name__} "
                                      "(evaluate or rewrite it first)")
        if e.is_number and not isinstance(e, (sp.Piecewise,)) and not e.has(*_REFUSED):
            if e.has(sp.zoo, sp.nan):
                return self.const(math.nan)
            if e in (sp.oo, -sp.oo):
                return self.const(math.inf if e == sp.oo else -math.inf)
            try:
                val = complex(sp.N(e, 17))
            except (TypeError, ValueError):
                raise NotImplementedError(f"cannot evaluate the constant {e} numerically") from None
            return self.const(val)
        if isinstance(e, sp.Add):
            return self.emit(" + ".join(self(a) for a in e.args))
        if isinstance(e, sp.Mul):
            return self.emit(" * ".join(self(a) for a in e.args))
        if isinstance(e, sp.Pow):
            return self._pow(e)
        if isinstance(e, sp.Piecewise):
            return self._piecewise(e)
        if isinstance(e, (sp.Min, sp.Max)):
            fn = "_min" if isinstance(e, sp.Min) else "_max"
            args = [self._tensorish(a) for a in e.args]
            acc = args[0]
            for a in args[1:]:
                acc = self.emit(f"{fn}({acc}, {a})")
            return acc
        if isinstance(e, sp.Rel):
            op = {sp.StrictGreaterThan: ">", sp.GreaterThan: ">=", sp.StrictLessThan: "<", sp.LessThan: "<=",
                  sp.Equality: "==", sp.Unequality: "!="}[type(e)]
            return self.emit(f"({self(e.lhs)} {op} {self(e.rhs)})")
        if isinstance(e, (sp.And, sp.Or, sp.Xor)):
            fn = {sp.And: "_and", sp.Or: "_or", sp.Xor: "_xor"}[type(e)]
            args = [self(a) for a in e.args]
            acc = args[0]
            for a in args[1:]:
                acc = self.emit(f"{fn}({acc}, {a})")
            return acc
        if isinstance(e, sp.Not):
            return self.emit(f"_not({self(e.args[0])})")
        if isinstance(e, sp.Function):
            name = type(e).__name__
            if name not in TORCH_FUNCS:
                raise NotImplementedError(f"no torch/NumPy translation for the SymPy function {name} (in {e}); "
                                          f"supported: {', '.join(SUPPORTED_FUNCTIONS)}")
            if isinstance(e, sp.Heaviside) and len(e.args) == 2:
                return self.emit(f"Heaviside({self._tensorish(e.args[0])}, {self(e.args[1])})")
            if name == "polygamma":
                return self.emit(f"polygamma({int(e.args[0])}, {self._tensorish(e.args[1])})")
            if name == "atan2":
                return self.emit(f"atan2({self._tensorish(e.args[0])}, {self._tensorish(e.args[1])})")
            return self.emit(f"{name}({', '.join(self._tensorish(a) for a in e.args)})")
        raise NotImplementedError(f"no torch/NumPy translation for {type(e).__name__} (in {e})")

    def _tensorish(self, a) -> str:
        """Arguments of backend functions must be arrays/tensors: constants are wrapped."""
        code = self(a)
        if code in self.consts or code in ("True", "False"):
            return self.emit(f"_lift({code})")
        return code

    def _pow(self, e: sp.Pow) -> str:
        b, x = e.base, e.exp
        if x == sp.S.Half:
            sq = _sum_of_squares(b)
            if sq is not None:
                return self.emit(f"_hypot({', '.join(self._tensorish(t) for t in sq)})")
            return self.emit(f"sqrt({self._tensorish(b)})")
        if x == -sp.S.Half:
            return self.emit(f"1.0 / {self._pow(sp.Pow(b, sp.S.Half, evaluate=False))}")
        if x.is_Integer:
            return self.emit(f"{self(b)} ** {int(x)}")
        if x.is_number:
            return self.emit(f"pow({self._tensorish(b)}, {self(x)})")
        return self.emit(f"pow({self._tensorish(b)}, {self._tensorish(x)})")

    def _piecewise(self, e: sp.Piecewise) -> str:
        out = self.const(math.nan)  # no branch applies: undefined
        for val, cond in reversed(e.args):
            if cond == sp.true:
                out = self(val)
            elif cond == sp.false:
                continue
            else:
                out = self.emit(f"_where({self._tensorish(cond)}, {self._tensorish(val)}, {self._tensorish_code(out)})")
        return out

    def _tensorish_code(self, code: str) -> str:
        if code in self.consts:
            return self.emit(f"_lift({code})")
        return code


def _sum_of_squares(b, depth: int = 0):
    """Terms t_i with b = sum t_i^2, or None. Each term of b must be c * prod p^(2k) (c >= 0), optionally
    times one factor that is itself such a sum (e.g. sigma^2 ((x1 - y1)^2 + (x2 - y2)^2))."""
    if not isinstance(b, sp.Add) or not b.free_symbols or depth > 3:
        return None
    out = []
    for term in b.args:
        c, rest = term.as_coeff_Mul()
        if not (c.is_number and c.is_nonnegative):
            return None
        comps = [sp.sqrt(c)]
        inner = None
        for f in sp.Mul.make_args(rest):
            if f == 1:
                continue
            base, ex = f.as_base_exp()
            if ex.is_Integer and ex % 2 == 0 and ex > 0:
                comps = [t * base ** (ex // 2) for t in comps]
            elif isinstance(f, sp.Add) and inner is None:
                inner = _sum_of_squares(f, depth + 1)
                if inner is None:
                    return None
            else:
                return None
        out += [t * v for t in comps for v in inner] if inner is not None else comps
    return out if len(out) >= 2 else None


def _prepare(expr):
    expr = sp.sympify(expr)
    if isinstance(expr, sp.MatrixBase):
        raise TypeError("to_torch/to_numpy take a scalar expression; use metric_to_torch for matrices")
    if expr.has(sp.I):
        raise NotImplementedError(f"the expression {expr} is complex-valued (contains I): only real-valued "
                                  "expressions can be evaluated")
    return stable_form(expr)


def unsupported_functions(expr) -> list[str]:
    """Names of the functions in ``expr`` that :func:`to_torch` / :func:`to_numpy` cannot translate."""
    expr = sp.sympify(expr)
    bad = {type(f).__name__ for f in expr.atoms(sp.Function)
           if type(f).__name__ not in TORCH_FUNCS and not isinstance(f, (sp.Min, sp.Max, sp.Piecewise))}
    bad |= {type(f).__name__ for f in expr.atoms(*_REFUSED)}
    return sorted(bad)


def _compile(expr, symbols, backend: str):
    symbols = tuple(symbols)
    for s in symbols:
        if not isinstance(s, sp.Symbol):
            raise TypeError(f"arguments must be SymPy symbols, got {s!r}")
    bad = unsupported_functions(expr)
    if bad:
        raise NotImplementedError(f"no {backend} translation for SymPy function(s) {bad} in {expr}; supported: "
                                  f"{', '.join(SUPPORTED_FUNCTIONS)}")
    expr = _prepare(expr)
    gen = _Codegen(symbols)
    result = gen(expr)
    args = ", ".join(gen.names[s] for s in symbols)
    src = f"def _f({args + ', ' if args else ''}_lift):\n" + "\n".join(gen.lines) + f"\n    return {result}\n"
    ns = dict(TORCH_FUNCS if backend == "torch" else NUMPY_FUNCS)
    ns.update(gen.consts)
    code = compile(src, f"<geomlib.symbolic.bridge {backend}>", "exec")
    exec(code, ns)
    return ns, expr


def _short(expr) -> str:
    """The expression for a docstring, unless printing it would take long."""
    n = sp.count_ops(expr)
    return str(expr) if n <= 300 else f"<expression with {n} operations>"


def _float_dtype(args) -> torch.dtype:
    """Floating dtype of the result: that of the floating tensor arguments, float64 otherwise."""
    dts = [a.dtype for a in args if isinstance(a, torch.Tensor) and a.is_floating_point()]
    if not dts:
        return torch.float64
    out = dts[0]
    for d in dts[1:]:
        out = torch.promote_types(out, d)
    return out


def to_torch(expr: sp.Expr, symbols: Sequence[sp.Symbol]) -> Callable[..., torch.Tensor]:
    """Vectorised torch function of ``expr`` in ``symbols`` (arguments broadcast; differentiable by
    autograd and ``torch.func``; runs on the arguments' device). Result dtype: the floating dtype of
    the tensor arguments, float64 for Python numbers / integer tensors (never the default dtype).
    Raises ``NotImplementedError`` naming any function it cannot translate (see module docstring)."""
    symbols = tuple(symbols)
    ns, prepared = _compile(expr, symbols, "torch")
    f = ns["_f"]

    def fn(*args):
        if len(args) != len(symbols):
            raise TypeError(f"expected {len(symbols)} argument(s) {symbols}, got {len(args)}")
        dtype = _float_dtype(args)
        dev = next((a.device for a in args if isinstance(a, torch.Tensor)), None)
        ts = [a.to(dtype) if isinstance(a, torch.Tensor) and a.dtype != dtype else
              (a if isinstance(a, torch.Tensor) else torch.as_tensor(a, dtype=dtype, device=dev)) for a in args]
        out = f(*ts, _lift=lambda c: torch.as_tensor(c, dtype=torch.bool if isinstance(c, bool) else dtype, device=dev))
        ref = torch.broadcast_tensors(*ts)[0] if ts else None
        if not isinstance(out, torch.Tensor):
            out = torch.as_tensor(out, dtype=dtype, device=dev)
        if out.dtype == torch.bool:
            out = out.to(dtype)
        return out.expand_as(ref) if ref is not None and out.shape != ref.shape else out

    fn.__doc__ = f"torch function of {symbols}: {_short(prepared)}"
    return fn


def to_numpy(expr: sp.Expr, symbols: Sequence[sp.Symbol]) -> Callable[..., np.ndarray]:
    """Vectorised NumPy/SciPy function of ``expr`` in ``symbols`` (arguments broadcast; float64).
    Same translation table and refusals as :func:`to_torch`."""
    symbols = tuple(symbols)
    ns, prepared = _compile(expr, symbols, "numpy")
    f = ns["_f"]

    def fn(*args):
        if len(args) != len(symbols):
            raise TypeError(f"expected {len(symbols)} argument(s) {symbols}, got {len(args)}")
        arrs = [np.asarray(a, dtype=float) for a in args]
        with np.errstate(all="ignore"):
            out = np.asarray(f(*arrs, _lift=lambda c: np.asarray(c, dtype=bool if isinstance(c, bool) else float)),
                             dtype=float)
        return np.broadcast_to(out, np.broadcast_shapes(*[a.shape for a in arrs])).copy() if arrs else out

    fn.__doc__ = f"numpy function of {symbols}: {_short(prepared)}"
    return fn


def metric_to_torch(g: sp.Matrix, coords: Sequence[sp.Symbol]) -> Callable[[torch.Tensor], torch.Tensor]:
    """``metric_fn(x) -> g``: x shape=[N, d] (or [d]), returns shape=[N, d, d] (or [d, d]); dtype of x
    if floating, else float64."""
    g = sp.Matrix(g)
    coords = tuple(coords)
    d = len(coords)
    if g.shape != (d, d):
        raise ValueError(f"metric shape {g.shape} does not match {d} coordinates")
    entries = [[to_torch(g[i, j], coords) for j in range(d)] for i in range(d)]

    def metric_fn(x: torch.Tensor) -> torch.Tensor:
        x = x if isinstance(x, torch.Tensor) and x.is_floating_point() else torch.as_tensor(x, dtype=torch.float64)
        single = x.dim() == 1
        x = x.reshape(-1, d) if not single else x.reshape(1, d)
        if x.shape[-1] != d:
            raise ValueError(f"points must have shape [N, {d}], got {tuple(x.shape)}")
        cols = x.unbind(-1)
        out = torch.stack([torch.stack([entries[i][j](*cols) for j in range(d)], -1) for i in range(d)], -2)
        return out[0] if single else out

    return metric_fn


def metric_to_numpy(g: sp.Matrix, coords: Sequence[sp.Symbol]) -> Callable[[np.ndarray], np.ndarray]:
    """NumPy twin of :func:`metric_to_torch`: x shape=[N, d] -> g shape=[N, d, d] (float64)."""
    g = sp.Matrix(g)
    coords = tuple(coords)
    d = len(coords)
    if g.shape != (d, d):
        raise ValueError(f"metric shape {g.shape} does not match {d} coordinates")
    entries = [[to_numpy(g[i, j], coords) for j in range(d)] for i in range(d)]

    def metric_fn(x):
        x = np.asarray(x, dtype=float)
        single = x.ndim == 1
        x = x.reshape(1, d) if single else x.reshape(-1, d)
        cols = [x[:, k] for k in range(d)]
        out = np.stack([np.stack([entries[i][j](*cols) for j in range(d)], -1) for i in range(d)], -2)
        return out[0] if single else out

    return metric_fn
