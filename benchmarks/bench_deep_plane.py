"""Plane geometry of a CIFAR ResNet: the plane-induced area element from two JVPs per point (ours)
versus the full Jacobian that the authors' effective volume needs (n VJPs per point), and the
per-image augmentation cost against a training step. Ratios measured side by side in one process.

Usage: ``python -m benchmarks deep_plane [--width 0.125] [--points 16]``.
"""
from __future__ import annotations

import argparse
import time
import warnings

import torch


def _time(fn, repeat=2):
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main(argv=None):
    from geomlib.experiments.models import CifarResNet, barlow_transforms, feature_map, supervised_step
    from geomlib.numeric import Plane, effective_log10_volume, induced_log_volume, jacobian

    p = argparse.ArgumentParser(prog="bench_deep_plane")
    p.add_argument("--width", type=float, default=0.125)
    p.add_argument("--points", type=int, default=16)
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.manual_seed(0)
    net = CifarResNet(18, width=args.width).float().eval()
    phi = feature_map(net, dtype=torch.float64)
    X = torch.randn(3, 3, 32, 32, dtype=torch.float64)
    side = max(2, int(round(args.points ** 0.5)))
    plane = Plane(X[0], X[1], X[2], n=side)
    pts = plane.points()
    n = net.feature_dim
    t_area = _time(lambda: induced_log_volume(phi, pts, plane.directions))
    t_full = _time(lambda: effective_log10_volume(phi, pts, n, method="gram"), repeat=1)
    t_jac = _time(lambda: jacobian(phi, pts[:4]), repeat=1) * len(pts) / 4
    print(f"ResNet-18 x{args.width:g} (n = {n}), {len(pts)} plane points, float64, {torch.get_num_threads()} thread(s)")
    print(f"  two-JVP area element      {t_area / len(pts) * 1e3:8.1f} ms/point")
    print(f"  full Jacobian (jacobian)  {t_jac / len(pts) * 1e3:8.1f} ms/point   ratio {t_jac / t_area:6.1f}x")
    print(f"  effective volume (k = n)  {t_full / len(pts) * 1e3:8.1f} ms/point   ratio {t_full / t_area:6.1f}x")
    # augmentation vs a training step, per image
    x = torch.rand(128, 3, 32, 32, dtype=torch.float32)
    t1, t2 = barlow_transforms()
    t_aug = _time(lambda: [(t1(xi), t2(xi)) for xi in x], repeat=1) / len(x)
    train = CifarResNet(18, width=args.width).float().train()
    opt = torch.optim.SGD(train.parameters(), lr=0.01)
    step = supervised_step()
    y = torch.randint(0, 10, (128,))

    def one_step():
        opt.zero_grad()
        step(train, (x, y)).backward()
        opt.step()
    t_step = _time(one_step) / len(x)
    print(f"  Barlow two-view augmentation {t_aug * 1e3:.2f} ms/image vs training step {t_step * 1e3:.2f} ms/image "
          f"(ratio {t_aug / t_step:.2f})")


if __name__ == "__main__":
    main()
