"""Issue 4, benchmark (b): scalar curvature on a 40x40 grid, Gauss route vs nested autodiff.

Models (geomlib.experiments.models, Methods: feature maps, N(0, 1) init): a shallow [2, 250] sigmoid MLP and the deep
[2, 8, 8, 8] sigmoid MLP (1/sqrt(fan-in) scaling, metric of the last hidden layer). Routes:

- ``gauss`` (ours): J and Hessian only, ``R = |tr II|^2 - |II|^2`` (no third derivatives);
- ``nested autograd``: the Christoffel route with nested ``torch.autograd.functional.jacobian``
  (``create_graph=True``, summed over the batch: the pattern of the authors' code, re-implemented
  here with the standard signs of Methods: curvature conventions): metric, its derivative, the Christoffel symbols'
  derivative. It is so slow (seconds per point, growing faster than linearly with the batch) that
  it runs on ``--baseline-points`` grid points only and is compared per point;
- ``nested torch.func`` (ours, the generic metric route ``scalar_curvature(route="metric")``): the
  same third derivatives, vectorised with vmap/jacfwd;
- for the shallow net, the T2 closed form (T-form, O(n d^3) per point).

Ratios from one run, side by side; the max disagreement is over points where the metric is well
conditioned (all of them here).

Usage: ``python -m benchmarks numeric_curvature [--n 40] [--repeat 2] [--baseline-points 8] [--threads T]``.
"""
from __future__ import annotations

import argparse
import math
import time
import warnings

import torch


def _best(fn, repeat):
    fn()
    best = math.inf
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def nested_autograd_curvature(f, X):
    """Christoffel route by nested torch.autograd.functional.jacobian (create_graph=True) over the
    batch sum (per-output loops, as in the authors' code), standard signs (Methods: curvature conventions). [N]."""
    from torch.autograd.functional import jacobian as afj

    X = X.detach().clone().requires_grad_(True)

    def bjac(fn, z):  # d fn(z).sum(0) / dz: output dims first, then [B, d]
        return afj(lambda w: fn(w).sum(0), z, create_graph=True)

    def metric(z):
        J = bjac(f, z)  # [n, B, d]
        return torch.einsum("jbm,jbn->bmn", J, J) / J.shape[0]

    def christoffel(z):
        gi = torch.linalg.inv(metric(z))
        dg = bjac(metric, z).permute(2, 0, 1, 3)  # [B, m, n, a] = d_a g_mn
        first_kind = 0.5 * (dg.permute(0, 1, 3, 2) + dg - dg.permute(0, 3, 1, 2))
        return torch.einsum("bak,bkmn->bamn", gi, first_kind)  # Gamma^a_mn

    Gam = christoffel(X)
    dGam = bjac(christoffel, X).permute(3, 0, 1, 2, 4)  # [B, a, m, n, l] = d_l Gamma^a_mn
    gi = torch.linalg.inv(metric(X))
    ric = (torch.einsum("zanba->zbn", dGam) - torch.einsum("zaabn->zbn", dGam)
           + torch.einsum("zaal,zlnb->zbn", Gam, Gam) - torch.einsum("zanl,zlab->zbn", Gam, Gam))
    return torch.einsum("zmn,zmn->z", gi, ric).detach()


def main(argv=None):
    from geomlib.numeric import Grid2D, scalar_curvature, shallow_curvature
    from geomlib.experiments.models.mlp import DeepMLP, ShallowMLP

    p = argparse.ArgumentParser(prog="bench_numeric_curvature")
    p.add_argument("--n", type=int, default=40)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--baseline-points", type=int, default=8,
                   help="points for the nested-autograd baseline (its cost grows faster than linearly with the batch)")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_default_dtype(torch.float64)
    warnings.filterwarnings("ignore", category=UserWarning, module="geomlib")
    pts = Grid2D((-1.5, 1.5), (-1.5, 1.5), n=args.n).points()
    print(f"scalar curvature on a {args.n}x{args.n} grid on [-1.5, 1.5]^2 ({len(pts)} points), float64 CPU, "
          f"{torch.get_num_threads()} thread(s)")
    gen = torch.Generator().manual_seed(401)
    shallow = ShallowMLP(2, 250, 2, "sigmoid", generator=gen).eval()
    deep = DeepMLP((2, 8, 8, 8, 2), "sigmoid", generator=gen).eval()
    for label, model, closed in (("shallow [2, 250] sigmoid", shallow, True),
                                 ("deep [2, 8, 8, 8] sigmoid (last hidden layer)", deep, False)):
        f = model.feature_map() if closed else model.feature_map(-1)
        kw = dict(on_singular="nan")
        scalar_curvature(f, pts[:4], **kw), scalar_curvature(f, pts[:4], route="metric", **kw)  # warm-up
        bpts = pts[torch.linspace(0, len(pts) - 1, args.baseline_points).round().long()]
        tg = tn = math.inf
        for _ in range(args.repeat):  # interleaved: gauss, nested torch.func, gauss, ...
            t0 = time.perf_counter()
            Rg = scalar_curvature(f, pts, **kw)
            t1 = time.perf_counter()
            Rn = scalar_curvature(f, pts, route="metric", **kw)
            t2 = time.perf_counter()
            tg, tn = min(tg, t1 - t0), min(tn, t2 - t1)
        t3 = time.perf_counter()
        Ra = nested_autograd_curvature(f, bpts)  # the slow baseline once, on a few points
        ta = time.perf_counter() - t3
        Rgb = scalar_curvature(f, bpts, **kw)
        ok = torch.isfinite(Rg) & torch.isfinite(Rn)
        scale = float(Rg[ok].abs().max())
        dis_n = float((Rg[ok] - Rn[ok]).abs().max())
        dis_a = float((Rgb - Ra).abs().max())
        per_g, per_n, per_a = tg / len(pts), tn / len(pts), ta / len(bpts)
        print(f"\n{label}: R in [{float(Rg[ok].min()):.4g}, {float(Rg[ok].max()):.4g}], "
              f"{int((~ok).sum())} ill-conditioned point(s) skipped")
        print(f"  gauss (ours: J + Hessian)            {tg:8.3f} s  ({per_g * 1e3:.3f} ms/point)")
        print(f"  nested torch.func (ours, generic)    {tn:8.3f} s  = {tn / tg:7.1f}x the Gauss route, "
              f"max |diff| = {dis_n:.1e} (max |R| = {scale:.3g})")
        print(f"  nested autograd (authors' pattern)   {per_a * 1e3:8.1f} ms/point on {len(bpts)} points = "
              f"{per_a / per_g:7.0f}x the Gauss route per point, max |diff| = {dis_a:.1e}")
        if closed:
            W, b = model.unit_lines()
            tc, Rc = _best(lambda: shallow_curvature(W, b, pts, "sigmoid"), args.repeat)
            print(f"  T2 closed form (T-form)              {tc:8.3f} s  = {tc / tg:7.2f}x the Gauss route, "
                  f"max |gauss - closed| = {float((Rg[ok] - Rc[ok]).abs().max()):.1e}")


if __name__ == "__main__":
    main()
