"""Train one run of the deep chapters from the command line, in one process or data parallel on
several GPUs under ``torchrun``; the result lands in the artifact cache where the chapters find it
(the checkpoint of :func:`geomlib.experiments.imaging.run.checkpoint_path`).

One process (CPU or one GPU)::

    python -m geomlib.experiments.imaging.train --method supervised --profile paper --act gelu --device cuda

N GPUs of one host (DistributedDataParallel, NCCL; ``--device cpu`` uses gloo)::

    torchrun --standalone --nproc_per_node=N -m geomlib.experiments.imaging.train --method barlow --profile paper

Each of the N processes loads and augments 1/N of every global batch; the global batch stays the
recipe's (1024 or 512), BatchNorm normalises over the global batch (SyncBatchNorm), and the Barlow
Twins and SimCLR losses are computed on the global batch's gathered embeddings, so the run is the
single-process experiment (:mod:`geomlib.experiments.training.distributed`). Rank 0 writes the
checkpoint; an interrupted run started again with the same command resumes from it (on any
number of processes: the checkpoint does not depend on N). The data are found as the chapters find
them (``$GEOMLIB_DATA_ROOT/cifar-10-batches-py``); ``--require-cifar`` refuses a substitute.
"""
from __future__ import annotations

import argparse
import sys
import time

import torch


def main(argv=None) -> int:
    """Command line: train one deep supervised or self-supervised run into the chapters' checkpoint
    (one process, or DistributedDataParallel under torchrun); returns the exit status."""
    from ...book.profiles import PROFILES, setup
    from ..data import load_cifar10_or_substitute
    from ..deep.run import SUPERVISED
    from ..deep.settings import supervised_recipe
    from ..imaging.run import checkpoint_path, train_deep
    from ..ssl.run import METHODS as SSL_METHODS
    from ..ssl.settings import ssl_recipe
    from ..training import distributed

    p = argparse.ArgumentParser(prog="python -m geomlib.experiments.imaging.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--method", required=True, choices=["supervised", "barlow", "simclr"])
    p.add_argument("--profile", default="paper", choices=list(PROFILES))
    p.add_argument("--act", default="gelu", choices=["gelu", "relu"])
    p.add_argument("--seed", type=int, default=401, help="the chapters' seed (default 401)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda (under torchrun: cuda:LOCAL_RANK)")
    p.add_argument("--require-cifar", action="store_true", help="fail instead of training on a substitute dataset")
    args = p.parse_args(argv)

    dev = distributed.init_from_env(None if args.device == "auto" else args.device)
    rank, world = distributed.rank_world()
    try:
        ctx = setup(args.profile, dev.type, args.seed, quiet=True)  # the chapters' context: same seed, same init
        recipe = (supervised_recipe(args.profile, act=args.act, seed=ctx.seed, device=dev) if args.method == "supervised"
                  else ssl_recipe(args.method, args.profile, act=args.act, seed=ctx.seed, device=dev))
        method = SUPERVISED if args.method == "supervised" else SSL_METHODS[args.method]
        data = load_cifar10_or_substitute(seed=ctx.seed, verbose=rank == 0)
        if args.require_cifar and data.substitute:
            print(f"refusing to train on a substitute: {data.banner}", file=sys.stderr)
            return 2
        if rank == 0:
            print(f"{recipe.describe()} | {world} process(es) on {dev.type}, {recipe.batch_size // world}"
                  f"{'+' if recipe.batch_size % world else ''} images per process and step", flush=True)
        t = time.time()
        run = train_deep(recipe, data, method, device=dev, progress=rank == 0)
        if rank == 0:
            res = run.result
            print(f"done: {res.epochs} epochs (resumed from {res.resumed_from}), final loss "
                  f"{res.history['loss'][-1] if res.history['loss'] else float('nan'):.4g}, this call "
                  f"{time.time() - t:.0f} s; checkpoint {checkpoint_path(recipe, run.prep.source)}", flush=True)
    finally:
        if distributed.active():
            torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
