"""Memo of geomlib's accuracy checks (issue 11: checks must be cheap, once per metric, not per call).

The batch-consistency probe and the one-point self-checks of fast routes are properties of a map
and a route, not of each point. :func:`check_once` runs such a check once per map, key (route,
dtype, device, input shape) and *state* of the map, and again as soon as the state changes.

The state (:func:`model_state`) is a fingerprint of everything reachable from the map: for an
``nn.Module`` its parameters, buffers and submodules (types and identities), every hook, its
attributes (plain values, containers, tensors, callables such as a patched ``forward``), and the
plain attributes of user-defined classes; for a function its closure, defaults and the globals its
code names (a notebook's ``lambda z: net(z)`` sees ``net``); for ``functools.partial``, bound
methods and plain callable objects, what they hold. Tensors enter by identity, storage and
in-place version counter, so an optimiser step, ``load_state_dict``, ``p.fill_()`` or a new
``nn.Parameter`` all count as changes; global torch hooks and kernel switches (multi-head attention
fast path, TF32) too. Maps whose reachable state is too large to fingerprint cheaply (more than
:data:`MAX_NODES` objects), or that cannot be weakly referenced, are checked on every call.
Failures are never memoised.

Not seen: writes through ``tensor.data`` (``p.data.fill_(0)`` bypasses the version counter) and
changes inside opaque C objects. After such changes call :func:`clear_check_cache`.
"""
from __future__ import annotations

import functools
import types
import weakref
from typing import Callable

import torch

_PASSED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # f -> {key: value} of passed checks
_MAX_PASSED = 64  # entries per map; cleared beyond (inputs keep changing: nothing to reuse)
MAX_NODES = 20000  # objects visited by model_state before giving up (then: check every call)
_PLAIN = (bool, int, float, complex, str, bytes, type(None))
_IDENTITY_ONLY = (types.ModuleType, types.BuiltinFunctionType, types.BuiltinMethodType, torch.dtype,
                  torch.device, torch.Generator)


class _TooLarge(Exception):
    pass


def clear_check_cache() -> None:
    """Forget every memoised check: the next call of each geomlib function re-runs its probe and
    self-checks. Needed only after changes :func:`model_state` cannot see (writes through
    ``tensor.data``, state inside C extensions)."""
    _PASSED.clear()


def _tensor_id(t: torch.Tensor) -> tuple:
    try:
        ptr = t.data_ptr()
    except RuntimeError:  # no storage (functorch wrappers, meta, sparse)
        ptr = None
    return ("T", id(t), ptr, t._version, t.dtype, str(t.device), tuple(t.shape))


def _code_names(code: types.CodeType):
    yield from code.co_names
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            yield from _code_names(c)


class _Walker:
    def __init__(self):
        self.out, self.seen = [], set()

    def add(self, x):
        self.out.append(x)
        if len(self.out) > MAX_NODES:
            raise _TooLarge

    def walk(self, obj) -> None:
        if isinstance(obj, _PLAIN):
            self.add(obj)
            return
        if isinstance(obj, torch.Tensor):
            self.add(_tensor_id(obj))
            return
        oid = id(obj)
        if oid in self.seen:
            self.add(("ref", oid))
            return
        self.seen.add(oid)
        self.add((type(obj), oid))
        if isinstance(obj, _IDENTITY_ONLY):
            return
        if isinstance(obj, type):
            self._walk_class(obj)
            return
        if isinstance(obj, types.FunctionType):
            for cell in obj.__closure__ or ():
                try:
                    self.walk(cell.cell_contents)
                except ValueError:  # empty cell
                    self.add("empty cell")
            self.walk(obj.__defaults__)
            self.walk(obj.__kwdefaults__)
            g = obj.__globals__
            for name in _code_names(obj.__code__):
                if name in g:
                    self.walk(g[name])
            return
        if isinstance(obj, types.MethodType):
            self.walk(obj.__func__)
            self.walk(obj.__self__)
            return
        if isinstance(obj, functools.partial):
            self.walk(obj.func)
            self.walk(obj.args)
            self.walk(obj.keywords)
            return
        if isinstance(obj, dict):
            for k, v in list(obj.items()):
                self.add(k if isinstance(k, _PLAIN) else ("key", id(k)))
                self.walk(v)
            return
        if isinstance(obj, (list, tuple)):
            for v in obj:
                self.walk(v)
            return
        if isinstance(obj, (set, frozenset)):
            self.add(("set", len(obj)))
            for v in obj:
                if not isinstance(v, _PLAIN):
                    self.walk(v)
            return
        self._walk_class(type(obj))
        d = getattr(obj, "__dict__", None)
        if isinstance(d, dict):
            self.walk(d)
        for klass in type(obj).__mro__:
            for slot in getattr(klass, "__slots__", ()) if isinstance(getattr(klass, "__slots__", ()), (tuple, list)) else ():
                if slot not in ("__dict__", "__weakref__") and hasattr(obj, slot):
                    self.walk(getattr(obj, slot))

    def _walk_class(self, klass: type) -> None:
        """Plain class attributes of user-defined classes (a class-level switch is state too)."""
        for k in klass.__mro__:
            mod = getattr(k, "__module__", "") or ""
            if mod.startswith(("torch", "builtins", "typing", "abc", "collections")):
                continue
            if k in self.seen:
                continue
            self.seen.add(k)
            for name, v in list(vars(k).items()):
                if isinstance(v, _PLAIN) and not name.startswith("__"):
                    self.add((name, v))


def _global_torch_state() -> tuple:
    from torch.nn.modules import module as tm
    hooks = tuple((name, tuple(d)) for name, d in sorted(vars(tm).items())
                  if name.startswith("_global_") and isinstance(d, dict))
    mha = getattr(torch.backends, "mha", None)
    return (hooks, mha.get_fastpath_enabled() if mha is not None else None,
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)


def model_state(f: Callable) -> tuple | None:
    """Fingerprint of everything reachable from ``f`` (see the module docstring), or ``None`` when
    it is too large to take cheaply (then nothing is memoised for ``f``)."""
    w = _Walker()
    try:
        w.walk(f)
    except (_TooLarge, RecursionError):
        return None
    w.out.append(_global_torch_state())
    return tuple(w.out)


def check_once(f: Callable, key: tuple, check: Callable[[], object]):
    """Run ``check()`` (which raises on failure) unless it already passed for ``f`` with the same
    ``key`` and :func:`model_state`; returns its value (memoised with it)."""
    try:
        memo = _PASSED.get(f)
    except TypeError:  # not weakly referenceable
        return check()
    state = model_state(f)
    if state is None:
        return check()
    k = (key, state)
    if memo is not None and k in memo:
        return memo[k]
    value = check()
    memo = _PASSED.setdefault(f, {})
    if len(memo) >= _MAX_PASSED:
        memo.clear()
    memo[k] = value
    return value
