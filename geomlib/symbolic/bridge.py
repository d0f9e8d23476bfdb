"""Bridges from SymPy to torch and NumPy (``lambdify``), so symbolic metrics evaluate on the same
grids and devices as the numerical tools.

* :func:`to_torch` / :func:`to_numpy`: an expression in given symbols -> a vectorised function
  (broadcasts its arguments; constants come back with the broadcast shape).
* :func:`metric_to_torch` / :func:`metric_to_numpy`: a SymPy metric matrix in coordinates
  ``x_1..x_d`` -> ``metric_fn(x[N, d]) -> g[N, d, d]`` (the ``metric_fn`` signature of
  ``geomlib.numeric.scalar_curvature_from_metric``).

SymPy's own ``"torch"`` printer fails on ``Heaviside`` and ``gamma``, so torch uses an explicit
name table instead; unknown functions raise a clear error naming them.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import sympy as sp
import torch


def _heaviside(x, h0=0.5):
    return torch.where(x > 0, torch.ones_like(x), torch.where(x < 0, torch.zeros_like(x), torch.full_like(x, float(h0))))


def _as_t(x):
    return x if isinstance(x, torch.Tensor) else torch.as_tensor(x, dtype=torch.get_default_dtype())


TORCH_FUNCS = {
    "sqrt": torch.sqrt, "exp": torch.exp, "log": torch.log, "sin": torch.sin, "cos": torch.cos,
    "tan": torch.tan, "asin": torch.asin, "acos": torch.acos, "atan": torch.atan, "atan2": torch.atan2,
    "sinh": torch.sinh, "cosh": torch.cosh, "tanh": torch.tanh, "asinh": torch.asinh,
    "erf": torch.special.erf, "erfc": torch.special.erfc, "Abs": torch.abs, "sign": torch.sign,
    "Heaviside": _heaviside, "gamma": lambda x: torch.exp(torch.lgamma(_as_t(x))),  # positive arguments only
    "loggamma": torch.lgamma, "Min": torch.minimum, "Max": torch.maximum,
    "pi": math.pi, "E": math.e, "e": math.e, "oo": math.inf,
    "cot": lambda x: 1 / torch.tan(x), "sec": lambda x: 1 / torch.cos(x), "csc": lambda x: 1 / torch.sin(x),
    "sigmoid": torch.sigmoid,
}


def _tensor_args(fn):
    """Let torch functions accept Python numbers (constant sub-expressions such as sqrt(2))."""
    def wrapped(*args):
        return fn(*[_as_t(a) for a in args])
    return wrapped


TORCH_FUNCS = {k: (_tensor_args(v) if callable(v) else v) for k, v in TORCH_FUNCS.items()}
_ALLOWED_FUNCS = {k for k, v in TORCH_FUNCS.items() if callable(v)}


def _check_functions(expr: sp.Basic, backend: str) -> None:
    names = {type(f).__name__ for f in sp.sympify(expr).atoms(sp.Function)}
    unknown = sorted(n for n in names if n not in _ALLOWED_FUNCS)
    if unknown and backend == "torch":
        raise NotImplementedError(f"no torch translation for SymPy function(s) {unknown}; "
                                  f"supported: {sorted(_ALLOWED_FUNCS)}")
    for bad in (sp.Piecewise, sp.Integral, sp.Derivative, sp.Subs):
        if sp.sympify(expr).has(bad):
            raise NotImplementedError(f"cannot lambdify an expression containing {bad.__name__}: "
                                      "evaluate or rewrite it first")


def _tame_rationals(expr):
    """Rationals with numerators/denominators beyond 2^53 become floats (torch cannot take them)."""
    expr = sp.sympify(expr)
    big = {r: sp.Float(r, 17) for r in expr.atoms(sp.Rational) if abs(r.p) > 2**53 or r.q > 2**53}
    return expr.xreplace(big) if big else expr


def to_torch(expr: sp.Expr, symbols: Sequence[sp.Symbol]) -> Callable[..., torch.Tensor]:
    """Vectorised torch function of ``expr`` in ``symbols`` (arguments broadcast; float64 by
    default dtype; differentiable by autograd; runs on the arguments' device)."""
    symbols = tuple(symbols)
    _check_functions(expr, "torch")
    expr = _tame_rationals(expr)
    f = sp.lambdify(symbols, expr, modules=[TORCH_FUNCS])

    def fn(*args):
        if len(args) != len(symbols):
            raise TypeError(f"expected {len(symbols)} argument(s) {symbols}, got {len(args)}")
        ts = [_as_t(a) for a in args]
        out = f(*ts)
        ref = torch.broadcast_tensors(*ts)[0] if ts else None
        if not isinstance(out, torch.Tensor):
            out = torch.as_tensor(complex(out).real if isinstance(out, complex) else float(out),
                                  dtype=ref.dtype if ref is not None else torch.get_default_dtype(),
                                  device=ref.device if ref is not None else None)
        return out.expand_as(ref) if ref is not None and out.shape != ref.shape else out

    fn.__doc__ = f"torch function of {symbols}: {expr}"
    return fn


def to_numpy(expr: sp.Expr, symbols: Sequence[sp.Symbol]) -> Callable[..., np.ndarray]:
    """Vectorised NumPy/SciPy function of ``expr`` in ``symbols`` (arguments broadcast)."""
    symbols = tuple(symbols)
    _check_functions(expr, "numpy")
    f = sp.lambdify(symbols, expr, modules=["scipy", "numpy"])

    def fn(*args):
        arrs = [np.asarray(a, dtype=float) for a in args]
        out = np.asarray(f(*arrs), dtype=float)
        return np.broadcast_to(out, np.broadcast_shapes(*[a.shape for a in arrs])).copy() if arrs else out

    fn.__doc__ = f"numpy function of {symbols}: {expr}"
    return fn


def metric_to_torch(g: sp.Matrix, coords: Sequence[sp.Symbol]) -> Callable[[torch.Tensor], torch.Tensor]:
    """``metric_fn(x) -> g``: x shape=[N, d] (or [d]), returns shape=[N, d, d] (or [d, d])."""
    g = sp.Matrix(g)
    coords = tuple(coords)
    d = len(coords)
    if g.shape != (d, d):
        raise ValueError(f"metric shape {g.shape} does not match {d} coordinates")
    entries = [[to_torch(g[i, j], coords) for j in range(d)] for i in range(d)]

    def metric_fn(x: torch.Tensor) -> torch.Tensor:
        x = _as_t(x)
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
