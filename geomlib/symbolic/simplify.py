"""Bounded simplification: no default symbolic call of geomlib runs for an unbounded time.

``sympy.simplify`` has no time bound: on the scalar curvature of a three-layer erf network (4 000
operations) it runs for many minutes, while the unsimplified closed form evaluates in milliseconds
and is just as exact. Every simplification geomlib does by default goes through
:func:`bounded_simplify`, which

* skips expressions with more than ``max_ops`` operations (``sympy.count_ops``; deterministic), and
* stops after ``seconds`` (a time limit: SIGALRM in the main thread, a trace-function deadline in
  other threads) and returns the expression it was given: the unsimplified closed form, exact all
  the same. Only the printed form can differ between machines then, never a value.

:func:`is_zero` decides identities the same way, falling back to exact evaluation at random rational
points (50 digits) when simplification gives up, so an identity check never hangs either.
"""
from __future__ import annotations

import random
import signal
import sys
import threading
import time
from contextlib import contextmanager

import sympy as sp

SECONDS = 10.0  # default time limit of one simplification
MAX_OPS = 400  # default size limit of closed-form routes (metric.scalar_curvature and friends)


@contextmanager
def time_limit(seconds: float | None):
    """Raise ``TimeoutError`` inside the block after ``seconds`` (None: no limit). Main thread:
    ``ITIMER_REAL``/SIGALRM (nested limits keep the outer deadline); other threads: a deadline checked
    on every Python call (skipped when a debugger or coverage tracer is active)."""
    if seconds is None:
        yield
        return
    seconds = max(float(seconds), 1e-3)
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGALRM"):
        outer_left, _ = signal.getitimer(signal.ITIMER_REAL)
        start = time.monotonic()

        def handler(signum, frame):
            raise TimeoutError("symbolic time limit")

        old = signal.signal(signal.SIGALRM, handler)
        signal.setitimer(signal.ITIMER_REAL, min(seconds, outer_left) if outer_left > 0 else seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
            if outer_left > 0:  # re-arm the enclosing limit with what is left of it
                signal.setitimer(signal.ITIMER_REAL, max(outer_left - (time.monotonic() - start), 1e-3))
        return
    if sys.gettrace() is not None:
        yield
        return
    deadline = time.monotonic() + seconds

    def tracer(frame, event, arg):
        if time.monotonic() > deadline:
            raise TimeoutError("symbolic time limit")
        return None

    sys.settrace(tracer)
    try:
        yield
    finally:
        sys.settrace(None)


def bounded_simplify(expr, *, seconds: float | None = SECONDS, max_ops: int | None = None, how=sp.simplify):
    """``how(expr)`` (default ``sympy.simplify``) if ``expr`` has at most ``max_ops`` operations and it
    finishes within ``seconds``; otherwise ``expr`` unchanged. ``None`` disables a bound."""
    expr = sp.sympify(expr)
    if max_ops is not None and sp.count_ops(expr) > max_ops:
        return expr
    try:
        with time_limit(seconds):
            return how(expr)
    except TimeoutError:
        return expr
    except RecursionError:
        return expr


def is_zero(expr, *, seconds: float | None = SECONDS, max_ops: int | None = 2000, points: int = 4,
            seed: int = 0) -> bool:
    """Whether ``expr`` is identically 0: by bounded simplification, else by evaluation at ``points``
    random rational points of its free symbols (50 digits; positive values, so that symbols declared
    positive stay valid). A nonzero value at any point proves ``False``."""
    expr = sp.sympify(expr)
    if expr == 0:
        return True
    if bounded_simplify(expr, seconds=seconds, max_ops=max_ops) == 0:
        return True
    syms = sorted(expr.free_symbols, key=str)
    rng = random.Random(seed)
    for i in range(points):
        pt = {}
        for s in syms:
            v = sp.Rational(rng.randint(3, 97), rng.randint(11, 53))
            pt[s] = v if (s.is_nonnegative or i % 2 == 0) else -v  # both signs for real symbols
        try:
            val = sp.N(expr.subs(pt), 50)
        except (TypeError, ValueError, ZeroDivisionError):
            return False
        if not val.is_number or val.has(sp.nan, sp.zoo) or abs(complex(val)) > 1e-30:
            return False
    return True
