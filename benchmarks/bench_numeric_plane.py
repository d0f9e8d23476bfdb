"""Issue 4, benchmark (a): plane geometry through image space, as ratios measured side by side.

1. Plane-induced log area element ``1/2 log det(V^T g V)`` on a 60x60 plane through three MNIST
   digits for a [784, 2000] sigmoid MLP (float64), and on a plane through 3x32x32 inputs for a small
   CIFAR ResNet-18 (geomlib.experiments.models, GELU, eval BatchNorm), each route expressed as a multiple of
   ONE batched forward pass over the same points (target <= 4; floor ~3 = primal + 2 tangents):
   ``closed`` (MLP only: cached activation derivatives, shared first-layer tangents),
   ``stacked`` (primal + 2 tangents stacked into one batch), ``jvp`` (torch.func.jvp under vmap),
   ``naive`` (two separate torch.func.jvp calls on the batch, primal recomputed, autograd recording).
2. The authors' effective top-k log volume (k = 10, threshold -inf) on the MNIST plane: our fastest
   exact route (matrix-free Lanczos on closed-form J products, float64) and our dense route (Gram
   eigvalsh) versus an authors'-style loop re-implemented here (per-feature autograd.grad with
   create_graph over the batch, then svdvals of J/sqrt(n)), per point, with the max disagreement.

Timings: each route is run ``--repeat`` times interleaved with the others; the minimum is kept.
Usage: ``python -m benchmarks numeric_plane [--n 60] [--resnet-n 16] [--eff-points 64]
[--authors-points 3] [--threads T] [--device cpu|cuda]``.
"""
from __future__ import annotations

import argparse
import math
import time
import warnings

import torch
from torch import nn


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def interleaved(fns: dict, repeat: int, device) -> dict:
    """Minimum wall time of each callable, runs interleaved (A B C A B C ...) after one warm-up each."""
    for fn in fns.values():
        fn()
    best = {k: math.inf for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            _sync(device)
            t = time.perf_counter()
            fn()
            _sync(device)
            best[k] = min(best[k], time.perf_counter() - t)
    return best


def naive_two_jvp(f, X, V):
    """What a first attempt does: one torch.func.jvp per direction on the batch (primal recomputed
    each time, autograd recording the pass), then G and its log-determinant."""
    T = [torch.func.jvp(f, (X,), (v.expand_as(X).contiguous(),))[1] for v in V]
    T = torch.stack(T).reshape(len(V), X.shape[0], -1) / math.sqrt(T[0].reshape(X.shape[0], -1).shape[1])
    G = torch.einsum("abj,cbj->bac", T, T)
    return 0.5 * torch.logdet(G)


def authors_style_effective_volume(f, X, k, threshold=-math.inf):
    """Re-implementation of the authors' pattern: Jacobian by a loop over features with
    torch.autograd.grad(create_graph=True) over the batch, then svdvals of J/sqrt(n), top-k log10."""
    X = X.detach().clone().requires_grad_(True)
    Y = f(X)
    n = Y.shape[1]
    rows = [torch.autograd.grad(Y[:, j].sum(), X, retain_graph=True, create_graph=True)[0] for j in range(n)]
    J = torch.stack(rows, dim=-1).reshape(X.shape[0], -1, n) / math.sqrt(n)  # [B, d, n]
    s = torch.linalg.svdvals(J)[:, :k].log10()
    return torch.where(s >= threshold, s, torch.zeros_like(s)).sum(-1).detach()


def mnist_anchors(dtype, device):
    try:
        from geomlib.experiments.data import load_mnist

        data = load_mnist(download=False, verbose=False)
        ys = data.test_y
        idx = [int((ys == c).nonzero()[0]) for c in (5, 6, 1)]
        return data.test_x[idx].to(dtype=dtype, device=device), data.source.get("log_line", "MNIST")
    except Exception as exc:  # noqa: BLE001 - any failure: synthetic pixels, stated in the output
        gen = torch.Generator().manual_seed(0)
        return torch.rand(3, 784, generator=gen, dtype=dtype).to(device), f"random pixels (MNIST unavailable: {exc})"


def report(title, t_fwd, times, npts, extra=""):
    print(title)
    print(f"  one batched forward pass      {t_fwd:8.3f} s  ({t_fwd / npts * 1e3:.3f} ms/point)")
    for name, t in times.items():
        print(f"  {name:28s}  {t:8.3f} s  = {t / t_fwd:5.2f} forward passes")
    if extra:
        print(extra)


def main(argv=None):
    from geomlib.numeric import Plane, effective_log10_volume, induced_log_volume

    p = argparse.ArgumentParser(prog="bench_numeric_plane")
    p.add_argument("--n", type=int, default=60, help="MNIST plane side (n x n points)")
    p.add_argument("--resnet-n", type=int, default=12, help="ResNet plane side")
    p.add_argument("--resnet-width", type=float, default=0.125)
    p.add_argument("--eff-points", type=int, default=256, help="plane points for our effective volume")
    p.add_argument("--authors-points", type=int, default=3, help="points for the authors'-style loop")
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--skip", default="", help="comma list of parts to skip: mlp,resnet,effective")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    skip = set(filter(None, args.skip.split(",")))
    dev = torch.device(args.device)
    dt = torch.float64
    warnings.filterwarnings("ignore", category=UserWarning, module="geomlib")
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
    print(f"device {name}, float64, {torch.get_num_threads()} thread(s), torch {torch.__version__}")

    # --- MNIST MLP --------------------------------------------------------------------------------
    torch.manual_seed(0)
    f = nn.Sequential(nn.Linear(784, 2000), nn.Sigmoid()).to(dev, dt)
    with torch.no_grad():  # Methods: notation and conventions: every weight and bias N(0, 1)
        for prm in f.parameters():
            prm.normal_()
    anchors, source = mnist_anchors(dt, dev)
    plane = Plane(*anchors, n=args.n)
    pts = plane.points()
    V = plane.directions
    N = len(pts)
    if "mlp" not in skip:
        routes = {
            "forward": lambda: _nograd(lambda: f(pts)),
            "closed (ours, default)": lambda: induced_log_volume(f, pts, V, mode="closed", chunk_size=N),
            "stacked (ours)": lambda: induced_log_volume(f, pts, V, mode="stacked", chunk_size=N),
            "jvp (torch.func.jvp + vmap)": lambda: induced_log_volume(f, pts, V, mode="jvp", chunk_size=N),
            "naive two jvp calls": lambda: naive_two_jvp(f, pts, V),
        }
        t = interleaved(routes, args.repeat, dev)
        ref = induced_log_volume(f, pts, V, mode="closed")
        dis = max(float((induced_log_volume(f, pts, V, mode=m) - ref).abs().max()) for m in ("stacked", "jvp"))
        dis = max(dis, float((naive_two_jvp(f, pts, V).detach() - ref).abs().max()))
        t_fwd = t.pop("forward")
        report(f"\n[a1] plane-induced log area element, [784, 2000] sigmoid MLP, {args.n}x{args.n} plane "
               f"({N} points; anchors: {source})", t_fwd, t,
               N, f"  max disagreement between routes: {dis:.1e}")

    # --- small CIFAR ResNet -----------------------------------------------------------------------
    if "resnet" not in skip:
        from geomlib.experiments.models import feature_map, resnet18

        torch.manual_seed(0)
        net = resnet18(width=args.resnet_width, act="gelu")
        phi = feature_map(net, dtype=dt)
        phi.module.to(dev)
        X = torch.rand(3, 3, 32, 32, dtype=dt, generator=torch.Generator().manual_seed(1)).to(dev)
        rp = Plane(*X, n=args.resnet_n)
        rpts, RV = rp.points(), rp.directions
        M = len(rpts)
        routes = {
            "forward": lambda: _nograd(lambda: phi(rpts)),
            "stacked (ours, default)": lambda: induced_log_volume(phi, rpts, RV, mode="stacked", chunk_size=M),
            "jvp (torch.func.jvp + vmap)": lambda: induced_log_volume(phi, rpts, RV, mode="jvp", chunk_size=M),
            "naive two jvp calls": lambda: naive_two_jvp(phi, rpts, RV),
        }
        t = interleaved(routes, args.repeat, dev)
        a = induced_log_volume(phi, rpts, RV, mode="stacked")
        dis = float((induced_log_volume(phi, rpts, RV, mode="jvp") - a).abs().max())
        t_fwd = t.pop("forward")
        report(f"\n[a2] plane-induced log area element, CIFAR ResNet-18 x{args.resnet_width:g} "
               f"(n = {net.feature_dim}, GELU, eval BN), {args.resnet_n}x{args.resnet_n} plane through 3x32x32 "
               f"inputs ({M} points)", t_fwd, t, M, f"  max disagreement stacked vs jvp: {dis:.1e}")

    # --- authors' effective top-k volume ----------------------------------------------------------
    if "effective" not in skip:
        k = 10
        stride = max(1, N // args.eff_points)
        ours_pts = pts[::stride][: args.eff_points]
        apts = ours_pts[: args.authors_points]
        t_ours = interleaved({"ours": lambda: effective_log10_volume(f, ours_pts, k)}, 1, dev)["ours"]
        t_gram = interleaved({"g": lambda: effective_log10_volume(f, apts, k, method="gram")}, 1, dev)["g"]
        t_auth = interleaved({"a": lambda: authors_style_effective_volume(f, apts, k)}, 1, dev)["a"]
        ours_v = effective_log10_volume(f, apts, k)
        auth_v = authors_style_effective_volume(f, apts, k)
        dis = float((ours_v - auth_v).abs().max())
        per = lambda tt, m: tt / m * 1e3  # noqa: E731
        print(f"\n[a3] authors' effective top-{k} log10 volume (threshold -inf), [784, 2000] sigmoid MLP, "
              f"plane points")
        print(f"  authors'-style loop (autograd per feature + svdvals)  {per(t_auth, len(apts)):9.1f} ms/point "
              f"({len(apts)} points)")
        print(f"  ours, dense Gram eigvalsh                          {per(t_gram, len(apts)):9.1f} ms/point "
              f"= {t_auth / t_gram:6.1f}x faster")
        print(f"  ours, fastest exact (Lanczos, closed-form J v)      {per(t_ours, len(ours_pts)):9.1f} ms/point "
              f"({len(ours_pts)} points) = {(t_auth / len(apts)) / (t_ours / len(ours_pts)):6.1f}x faster")
        print(f"  max |ours - authors'-style| = {dis:.1e} (log10 units)")


def _nograd(fn):
    with torch.no_grad():
        return fn()


if __name__ == "__main__":
    main()
