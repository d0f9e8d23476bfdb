"""GPU validation before paper-scale runs: on a CUDA host, run the CUDA-marked tests, the plane and
curvature checks on CUDA (timings, ratios, float32 against float64), and a few hundred training steps
of the paper's ResNet-34 recipes (supervised, Barlow Twins, SimCLR; bfloat16 autocast, batch of the
paper, the real augmentation pipeline with 8 DataLoader workers, synthetic CIFAR-shaped images) to
measure throughput; print a table and the projected GPU-hours of every paper training job
(steps per epoch x epochs x runs / measured steps per second), and write everything as JSON (which
the Slurm profile's time limits can read).

Usage (from the repository root)::

    python -m benchmarks.gpu_check [--steps 200] [--out gpu_check.json] [--skip tests,plane,curvature,train]

Without CUDA it prints why and exits with status 0 having checked nothing (no JSON is written).
Timings are measurements, never pass/fail; a failing CUDA test makes the exit status 1.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
NO_CUDA = "gpu_check: no CUDA device (torch.cuda.is_available() is False): nothing checked. Run it on a GPU host."
CIFAR_TRAIN = 50_000


def paper_jobs(runs: dict | None = None) -> list[dict]:
    """The paper profile's training jobs: method, recipe batch, epochs, steps per epoch on the
    50 000 CIFAR-10 training images, number of runs (supervised: one per activation of
    :data:`geomlib.experiments.deep.settings.ACTIVATIONS`; one per SSL method unless ``runs`` says)."""
    from geomlib.experiments.deep.settings import ACTIVATIONS, supervised_recipe
    from geomlib.experiments.imaging.run import steps_per_epoch
    from geomlib.experiments.ssl.settings import ssl_recipe

    runs = {"supervised": len(ACTIVATIONS), "barlow": 1, "simclr": 1, **(runs or {})}
    out = []
    for method in ("supervised", "barlow", "simclr"):
        r = supervised_recipe("paper", device="cuda") if method == "supervised" else ssl_recipe(method, "paper", device="cuda")
        out.append(dict(method=method, batch_size=r.batch_size, epochs=r.epochs,
                        steps_per_epoch=steps_per_epoch(r, CIFAR_TRAIN), runs=int(runs[method])))
    return out


def project(jobs: list[dict], steps_per_s: dict) -> list[dict]:
    """GPU-hours of each job: ``steps_per_epoch * epochs / steps_per_s[method] / 3600`` per run,
    times ``runs`` for the total. A method without a measurement gets ``None``."""
    rows = []
    for j in jobs:
        rate = steps_per_s.get(j["method"])
        steps = j["steps_per_epoch"] * j["epochs"]
        per_run = None if not rate else steps / rate / 3600.0
        rows.append({**j, "steps_per_run": steps, "steps_per_s": rate,
                     "gpu_hours_per_run": per_run, "gpu_hours_total": None if per_run is None else per_run * j["runs"]})
    return rows


# Run kinds of the workflow's resources table (config/config.yaml) for each training method.
WORKFLOW_KIND = {"supervised": "deep-train", "barlow": "ssl-barlow", "simclr": "ssl-simclr"}


def workflow_costs(rows: list[dict]) -> dict:
    """``{"paper_gpu_hours": {run kind: GPU-hours per run}}``: what workflow/Snakefile reads from
    ``benchmarks/gpu_costs.json`` to set the paper jobs' time limits."""
    return {"paper_gpu_hours": {WORKFLOW_KIND[r["method"]]: r["gpu_hours_per_run"] for r in rows
                                if r["gpu_hours_per_run"] is not None and r["method"] in WORKFLOW_KIND}}


def format_table(rows: list[dict]) -> str:
    head = f"{'job':12s} {'batch':>6s} {'epochs':>6s} {'steps/ep':>8s} {'runs':>4s} {'steps/s':>8s} {'h/run':>7s} {'GPU-h':>7s}"
    lines = [head, "-" * len(head)]
    for r in rows:
        f = (lambda v, p: "-" if v is None else f"{v:.{p}f}")
        lines.append(f"{r['method']:12s} {r['batch_size']:6d} {r['epochs']:6d} {r['steps_per_epoch']:8d} {r['runs']:4d} "
                     f"{f(r['steps_per_s'], 2):>8s} {f(r['gpu_hours_per_run'], 1):>7s} {f(r['gpu_hours_total'], 1):>7s}")
    total = sum(r["gpu_hours_total"] or 0.0 for r in rows)
    lines.append(f"{'total':12s} {'':>6s} {'':>6s} {'':>8s} {'':>4s} {'':>8s} {'':>7s} {total:7.1f}")
    return "\n".join(lines)


def _sync(device="cuda"):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def run_cuda_tests() -> dict:
    """``pytest -m cuda`` over the test suite (in a subprocess)."""
    t = time.time()
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider", "tests"],
                       cwd=REPO, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    tail = (p.stdout + p.stderr).strip().splitlines()
    return {"returncode": p.returncode, "summary": tail[-1] if tail else "", "wall_s": time.time() - t,
            "output_tail": "\n".join(tail[-30:])}


def plane_check(n: int = 16, n_eff: int = 4, *, device: str = "cuda", width: float = 1.0) -> dict:
    """Plane scan (induced area element, effective volume, spectra) of the paper ResNet-34 (PyTorch
    init, BN statistics from one random batch, eval mode) through three random images: float32 and
    float64 on CUDA against float64 on CPU (timings and the largest log10 differences).
    ``device``/``width``: the tests dry-run this on CPU with a narrow net."""
    from geomlib.experiments.deep.measure import classifier_readout
    from geomlib.experiments.imaging.measure import scan_plane
    from geomlib.experiments.models.resnet import CifarResNet

    torch.manual_seed(0)
    m = CifarResNet(34, width, "gelu").float().train()
    with torch.no_grad():
        m(torch.rand(64, 3, 32, 32, dtype=torch.float32))
    m.eval()
    x = torch.rand(3, 3, 32, 32, dtype=torch.float64)
    out, scans = {"n": n, "n_eff": n_eff}, {}
    for name, dev, dt in (("cpu_float64", "cpu", torch.float64), ("cuda_float64", device, torch.float64),
                          ("cuda_float32", device, torch.float32)):
        t = time.time()
        scans[name] = scan_plane(m, x, classifier_readout(m), n=n, n_eff=n_eff, spectra=True, device=dev, dtype=dt)
        _sync(dev)
        out[f"{name}_s"] = time.time() - t
    ref = scans["cpu_float64"]
    for name in ("cuda_float64", "cuda_float32"):
        s = scans[name]
        out[f"{name}_max_dlog10_area"] = float(abs(s["log10_area"] - ref["log10_area"]).max())
        out[f"{name}_max_dlog10_eff"] = float(abs(s["eff"]["log10_eff"] - ref["eff"]["log10_eff"]).max())
        out[f"{name}_rank_min"] = int(s["eff"]["rank_min"])
    out["k"] = int(ref["eff"]["k"])
    out["speedup_cuda_float64"] = out["cpu_float64_s"] / out["cuda_float64_s"]
    out["speedup_cuda_float32"] = out["cpu_float64_s"] / out["cuda_float32_s"]
    return out


def curvature_check(n: int = 40, width: int = 250, *, device: str = "cuda") -> dict:
    """Scalar curvature (Gauss route) of a [2, width] sigmoid MLP on an n x n grid: CPU float64
    against CUDA float64 and float32 (timings, largest relative difference)."""
    from geomlib.numeric import scalar_curvature

    torch.manual_seed(0)
    W, b = torch.randn(width, 2, dtype=torch.float64), torch.randn(width, dtype=torch.float64)
    g = torch.linspace(-2, 2, n, dtype=torch.float64)
    X = torch.cartesian_prod(g, g)
    out, res = {"n": n, "width": width}, {}
    for name, dev, dt in (("cpu_float64", "cpu", torch.float64), ("cuda_float64", device, torch.float64),
                          ("cuda_float32", device, torch.float32)):
        Wd, bd, Xd = W.to(dev, dt), b.to(dev, dt), X.to(dev, dt)

        def f(x, Wd=Wd, bd=bd):
            return torch.sigmoid(x @ Wd.T + bd)
        scalar_curvature(f, Xd[:4])  # warm-up (kernels, vmap tracing)
        _sync(dev)
        t = time.time()
        res[name] = scalar_curvature(f, Xd).double().cpu()
        _sync(dev)
        out[f"{name}_s"] = time.time() - t
    ref = res["cpu_float64"]
    scale = float(ref.abs().max())
    for name in ("cuda_float64", "cuda_float32"):
        out[f"{name}_max_rel_diff"] = float((res[name] - ref).abs().max()) / scale
    out["speedup_cuda_float64"] = out["cpu_float64_s"] / out["cuda_float64_s"]
    out["speedup_cuda_float32"] = out["cpu_float64_s"] / out["cuda_float32_s"]
    return out


def train_throughput(method: str, steps: int = 200, warmup: int = 10, n_images: int = 8192,
                     num_workers: int | None = None, *, device: str = "cuda", **overrides) -> dict:
    """Steps per second of the paper recipe of ``method`` on CUDA: ResNet-34, SGD, bfloat16
    autocast, the paper batch, the method's augmentations through ``epoch_batches`` with the
    recipe's DataLoader workers, on ``n_images`` synthetic CIFAR-shaped images (cycled).
    ``device`` and recipe ``overrides`` (width, batch_size, amp): the tests dry-run this on CPU."""
    from geomlib.experiments.deep.run import SUPERVISED
    from geomlib.experiments.deep.settings import supervised_recipe
    from geomlib.experiments.imaging.run import PreparedImages, build_model
    from geomlib.experiments.models.augment import AugmentedImages, epoch_batches
    from geomlib.experiments.ssl.run import BARLOW, SIMCLR
    from geomlib.experiments.ssl.settings import ssl_recipe

    meth = {"supervised": SUPERVISED, "barlow": BARLOW, "simclr": SIMCLR}[method]
    r = supervised_recipe("paper", device="cuda") if method == "supervised" else ssl_recipe(method, "paper", device="cuda")
    r = dataclasses.replace(r, **overrides) if overrides else r
    workers = r.num_workers if num_workers is None else num_workers
    dev = torch.device(device)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n_images, 3, 32, 32, generator=g, dtype=torch.float32)
    y = torch.randint(0, 10, (n_images,), generator=g)
    mean, std = (0.5,) * 3, (0.25,) * 3
    prep = PreparedImages(x, y, x[:8], y[:8], None if method == "simclr" else mean,
                          None if method == "simclr" else std, [str(i) for i in range(10)], None)
    transforms, labels = meth.views(r, prep)
    ds = AugmentedImages(x, transforms, y=labels, seed=0)
    model = build_model(r, meth).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=r.lr, momentum=r.momentum, weight_decay=r.weight_decay)
    step = meth.step(amp=r.amp)

    def batches():
        epoch = 0
        while True:
            epoch += 1
            yield from epoch_batches(ds, epoch, r.batch_size, drop_last=True, num_workers=workers, device=dev)

    it = batches()
    done, t0 = 0, None
    for i in range(warmup + steps):
        if i == warmup:
            _sync(dev)
            t0 = time.time()
        batch = next(it)
        opt.zero_grad(set_to_none=True)
        loss = step(model, batch)
        loss.backward()
        opt.step()
        done += i >= warmup
    _sync(dev)
    wall = time.time() - t0
    # the GPU alone: one fixed batch, no data loading
    batch = next(it)
    _sync(dev)
    t1 = time.time()
    n_compute = max(1, min(steps, 50))
    for _ in range(n_compute):
        opt.zero_grad(set_to_none=True)
        step(model, batch).backward()
        opt.step()
    _sync(dev)
    compute = n_compute / (time.time() - t1)
    return {"method": method, "batch_size": r.batch_size, "amp": r.amp, "num_workers": workers, "steps": done,
            "steps_per_s": done / wall, "images_per_s": done * r.batch_size / wall,
            "compute_only_steps_per_s": compute,
            "max_memory_gib": torch.cuda.max_memory_allocated(dev) / 2**30 if dev.type == "cuda" else None,
            "final_loss": float(loss.detach())}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="gpu_check", description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=200, help="timed training steps per method (after 10 warm-up)")
    p.add_argument("--out", type=Path, default=Path("gpu_check.json"))
    p.add_argument("--costs", type=Path, default=Path(__file__).resolve().parent / "gpu_costs.json",
                   help="where to write the projected GPU-hours per run kind for the workflow's time limits")
    p.add_argument("--skip", default="", help="comma list of parts to skip: tests,plane,curvature,train")
    p.add_argument("--runs", default="", help="runs per job, e.g. supervised=12,barlow=1 (default: settings)")
    p.add_argument("--num-workers", type=int, default=None, help="DataLoader workers (default: the recipe's 8)")
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        print(NO_CUDA, file=sys.stderr)
        return 0
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    runs = {k: int(v) for k, v in (kv.split("=") for kv in args.runs.split(",") if kv)}
    report = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "cuda": torch.version.cuda,
              "host": platform.node(), "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    print(f"gpu_check on {report['device']} (torch {report['torch']}, CUDA {report['cuda']})", flush=True)
    status = 0
    if "tests" not in skip:
        report["cuda_tests"] = t = run_cuda_tests()
        print(f"\n[tests] pytest -m cuda: {t['summary']} ({t['wall_s']:.0f} s)", flush=True)
        status = 1 if t["returncode"] not in (0, 5) else 0  # 5: no test collected
    if "plane" not in skip:
        report["plane"] = pl = plane_check()
        print(f"\n[plane] ResNet-34 {pl['n']}x{pl['n']} area + {pl['n_eff']}x{pl['n_eff']} effective volume: "
              f"CPU float64 {pl['cpu_float64_s']:.1f} s, CUDA float64 {pl['cuda_float64_s']:.1f} s "
              f"(x{pl['speedup_cuda_float64']:.1f}), CUDA float32 {pl['cuda_float32_s']:.1f} s (x{pl['speedup_cuda_float32']:.1f}); "
              f"max |d log10 area| f64 {pl['cuda_float64_max_dlog10_area']:.1e}, f32 {pl['cuda_float32_max_dlog10_area']:.1e}; "
              f"max |d log10 eff| f64 {pl['cuda_float64_max_dlog10_eff']:.1e}, f32 {pl['cuda_float32_max_dlog10_eff']:.1e} "
              f"(float32 numerical rank >= {pl['cuda_float32_rank_min']} of k={pl['k']})", flush=True)
    if "curvature" not in skip:
        report["curvature"] = c = curvature_check()
        print(f"\n[curvature] [2, {c['width']}] sigmoid MLP, {c['n']}x{c['n']} grid: CPU float64 {c['cpu_float64_s']:.2f} s, "
              f"CUDA float64 {c['cuda_float64_s']:.2f} s (x{c['speedup_cuda_float64']:.1f}), CUDA float32 "
              f"{c['cuda_float32_s']:.2f} s (x{c['speedup_cuda_float32']:.1f}); max rel diff f64 "
              f"{c['cuda_float64_max_rel_diff']:.1e}, f32 {c['cuda_float32_max_rel_diff']:.1e}", flush=True)
    if "train" not in skip:
        report["train"] = {}
        for method in ("supervised", "barlow", "simclr"):
            tr = train_throughput(method, steps=args.steps, num_workers=args.num_workers)
            report["train"][method] = tr
            print(f"\n[train] {method}: {tr['steps_per_s']:.2f} steps/s ({tr['images_per_s']:.0f} images/s, batch "
                  f"{tr['batch_size']}, {tr['num_workers']} workers), GPU alone {tr['compute_only_steps_per_s']:.2f} "
                  f"steps/s, peak memory {tr['max_memory_gib']:.1f} GiB", flush=True)
        rows = project(paper_jobs(runs), {m: v["steps_per_s"] for m, v in report["train"].items()})
        report["projection"] = rows
        print("\nProjected GPU-hours of the paper training jobs (one GPU, measured pipeline throughput):")
        print(format_table(rows))
        args.costs.write_text(json.dumps(workflow_costs(rows), indent=2))
        print(f"wrote {args.costs} (read by workflow/Snakefile for the paper jobs' time limits)")
    args.out.write_text(json.dumps(report, indent=2, default=float))
    print(f"\nwrote {args.out}")
    return status


if __name__ == "__main__":
    sys.exit(main())
