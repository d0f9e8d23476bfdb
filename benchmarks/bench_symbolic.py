"""Symbolic geometry: closed-form route vs brute-force Christoffel route (issue 3).

Derives, for the arc-cosine degree-2 network with bias (sigma_w = 1.3, sigma_b = 0.7), the metric g,
its volume element sqrt(det g) and scalar curvature R in d = 2, 3, 4 by

* closed-form route: T3 (g = e^Omega [I + 2 Omega' x x^T]) and T4a (vol, R as functions of u = |x|^2);
* brute-force route: the explicit d x d matrix, det g, and R from Christoffel symbols / Riemann
  (geomlib.symbolic.curvature with staged simplification);

checks that both give the same numbers at a test point, and prints the time ratio measured side
by side in this process. Timings are never pass/fail. As in ``timeit``, the garbage collector is run
before and paused during each timed section, so that a full collection (~0.1-0.2 s with SymPy's
objects alive) does not land at random in the sub-second closed-form timings.
"""
from __future__ import annotations

import argparse
import gc
import time
from contextlib import contextmanager

import sympy as sp

from geomlib.symbolic import U, arccos, scalar_curvature, shallow_metric, volume_element


def closed_form(d):
    m = shallow_metric(arccos(2), sp.Rational(13, 10), sp.Rational(7, 10))
    return m, sp.simplify(m.volume_element(d)), m.scalar_curvature(d)


def brute_force(d):
    xs = sp.symbols(f"x1:{d + 1}", real=True)
    m = shallow_metric(arccos(2), sp.Rational(13, 10), sp.Rational(7, 10))
    g = m.matrix(xs)
    return xs, g, volume_element(g, xs), scalar_curvature(g, xs, simplify=True)


@contextmanager
def _no_gc():
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bench_symbolic")
    ap.add_argument("--dims", type=int, nargs="*", default=[2, 3, 4])
    ap.add_argument("--repeats", type=int, default=3, help="closed-form repeats (it is fast); brute force runs once")
    args = ap.parse_args(argv)
    point = {2: (0.3, -0.5), 3: (0.3, -0.5, 0.4), 4: (0.3, -0.5, 0.4, 0.1)}
    print("arc-cosine m=2 with bias: derive g, sqrt(det g), R symbolically; closed form (T3+T4a) vs brute force (Christoffel)")
    print(f"{'d':>2} {'closed [s]':>11} {'brute [s]':>10} {'ratio':>8} {'|dR|':>9} {'|dvol|':>9}  R at test point")
    rows = []
    for d in args.dims:
        with _no_gc():
            t0 = time.perf_counter()
            for _ in range(args.repeats):
                m, vol_c, R_c = closed_form(d)
            t_closed = (time.perf_counter() - t0) / args.repeats
        with _no_gc():
            t0 = time.perf_counter()
            xs, g, vol_b, R_b = brute_force(d)
            t_brute = time.perf_counter() - t0
        pt = point[d]
        u = sum(v * v for v in pt)
        sub = dict(zip(xs, pt))
        dR = abs(float(R_b.subs(sub)) - float(R_c.subs(U, u)))
        dv = abs(float(vol_b.subs(sub)) - float(vol_c.subs(U, u)))
        rows.append((d, t_closed, t_brute))
        print(f"{d:>2} {t_closed:>11.3f} {t_brute:>10.2f} {t_brute / t_closed:>7.0f}x {dR:>9.1e} {dv:>9.1e}  "
              f"{float(R_c.subs(U, u)):.10f}", flush=True)
        if dR > 1e-10 or dv > 1e-10:
            raise AssertionError(f"routes disagree in d={d}: |dR|={dR}, |dvol|={dv}")
    return rows


if __name__ == "__main__":
    main()
