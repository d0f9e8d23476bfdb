"""On-disk cache of derived SymPy expressions, keyed by the inputs (so the book does not re-derive).

Built on :func:`geomlib.cache.cached` (artifact root, atomic writes, key = parameters + geomlib
source hash); the SymPy version is part of the key. Results are stored as ``srepr`` text, not
pickles of SymPy objects, and rebuilt with ``sympify``. Cacheable: SymPy expressions and
matrices, symbolic :class:`~geomlib.symbolic.metric.RotationInvariantMetric`, and nested
lists / tuples / dicts of these and of plain numbers and strings.
"""
from __future__ import annotations

from typing import Any, Callable

import sympy as sp

from .. import cache
from .metric import RotationInvariantMetric


def _encode(obj: Any) -> Any:
    if isinstance(obj, RotationInvariantMetric):
        if not obj.symbolic:
            raise TypeError("only symbolic metrics can be cached (this one is numeric: nothing to re-derive)")
        return {"__metric__": {"A": sp.srepr(obj.A), "B": sp.srepr(obj.B), "label": obj.label, "method": obj.method}}
    if isinstance(obj, (sp.Basic, sp.MatrixBase)):
        return {"__sympy__": sp.srepr(sp.ImmutableMatrix(obj) if isinstance(obj, sp.MatrixBase) else obj),
                "matrix": isinstance(obj, sp.MatrixBase)}
    if isinstance(obj, dict):
        return {"__dict__": [(_encode(k), _encode(v)) for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return {"__seq__": [_encode(v) for v in obj], "tuple": isinstance(obj, tuple)}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot cache objects of type {type(obj).__name__} as expressions")


def _decode(obj: Any) -> Any:
    if isinstance(obj, dict):
        if "__metric__" in obj:
            m = obj["__metric__"]
            return RotationInvariantMetric(sp.sympify(m["A"]), sp.sympify(m["B"]), label=m["label"], method=m["method"])
        if "__sympy__" in obj:
            val = sp.sympify(obj["__sympy__"])
            return sp.Matrix(val) if obj.get("matrix") else val
        if "__dict__" in obj:
            return {_decode(k): _decode(v) for k, v in obj["__dict__"]}
        if "__seq__" in obj:
            seq = [_decode(v) for v in obj["__seq__"]]
            return tuple(seq) if obj.get("tuple") else seq
    return obj


def cached_expr(name: str, params: dict, derive: Callable[[], Any], *, refresh: bool = False,
                verbose: bool = False) -> Any:
    """``derive()``'s result, loaded from ``<artifacts>/symbolic/<name>/<key>.pt`` when present.

    ``params``: JSON-serialisable description of every input of ``derive`` (activation key,
    sigmas, dimension, ...); the key also covers geomlib's source and the SymPy version.
    """
    full = {**params, "sympy": sp.__version__}
    enc = cache.cached(f"symbolic/{name}", full, lambda: _encode(derive()), refresh=refresh, verbose=verbose)
    return _decode(enc)


def kernel_metric(act, sigma_w=1, sigma_b=1, *, refresh: bool = False) -> RotationInvariantMetric:
    """Cached :meth:`DotProductKernel.metric` (the exact diagonal limit takes seconds to a minute)."""
    from .activations import activation as _as_activation
    from .kernels import nngp_kernel

    act = _as_activation(act)
    params = {"activation": act.key, "sigma_w": str(sp.sympify(sigma_w)), "sigma_b": str(sp.sympify(sigma_b))}
    return cached_expr("kernel_metric", params, lambda: nngp_kernel(act, sigma_w, sigma_b).metric(), refresh=refresh)
