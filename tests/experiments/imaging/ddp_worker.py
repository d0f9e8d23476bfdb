"""Worker of the DDP equivalence tests (test_ddp.py), run under ``torchrun --nproc_per_node=2``:
trains the three methods at toy size in float64 with gloo and saves each rank's results, so the
test can compare them with one process on the same global batches. Synthetic images: a shape
fixture, never a result. Also importable: :func:`run_case` is what the single-process reference runs."""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import torch

from geomlib.experiments.data import ImageData
from geomlib.experiments.deep.run import SUPERVISED
from geomlib.experiments.deep.settings import supervised_recipe
from geomlib.experiments.imaging.run import train_deep
from geomlib.experiments.ssl.run import BARLOW, SIMCLR
from geomlib.experiments.ssl.settings import ssl_recipe
from geomlib.experiments.training import distributed

METHODS = {"supervised": SUPERVISED, "barlow": BARLOW, "simclr": SIMCLR}
# supervised: 39 images, batch 12, no drop_last -> global batches 12, 12, 12, 3 (shards 2 + 1 at the end)
SIZES = {"supervised": dict(n_train=39, n_test=20, epochs=3, batch_size=12, snapshot_epochs=(3,)),
         "barlow": dict(n_train=32, n_test=16, epochs=2, batch_size=16, snapshot_epochs=(2,)),
         "simclr": dict(n_train=32, n_test=16, epochs=2, batch_size=16, snapshot_epochs=(2,))}


class Interrupted(RuntimeError):
    pass


def fake_images(n_train=60, n_test=30, seed=0) -> ImageData:
    g = torch.Generator().manual_seed(seed)
    return ImageData(
        train_x=torch.rand(n_train, 3, 32, 32, generator=g, dtype=torch.float32), train_y=torch.arange(n_train) % 10,
        test_x=torch.rand(n_test, 3, 32, 32, generator=g, dtype=torch.float32), test_y=torch.arange(n_test) % 10,
        class_names=[f"c{i}" for i in range(10)], image_shape=(3, 32, 32),
        source={"dataset": "fixture", "n_train": n_train}, banner="fixture", substitute=True,
        channel_mean=torch.full((3,), 0.5), channel_std=torch.full((3,), 0.25))


def recipe(method):
    kw = dict(SIZES[method], lr=0.05)
    return supervised_recipe("tiny", **kw) if method == "supervised" else ssl_recipe(method, "tiny", **kw)


def run_case(method, *, checkpoint=None, interrupt_at=None, checkpoint_every=None):
    """Train ``method``'s toy run in float64 on CPU; return its history, evals and final state.
    ``interrupt_at``: raise :class:`Interrupted` at that optimiser step (1-based), before its backward."""
    m = METHODS[method]
    if interrupt_at is not None:
        calls = [0]

        def step(amp=False, _inner=m.step):
            inner = _inner(amp=amp)

            def s(model, batch):
                calls[0] += 1
                if calls[0] == interrupt_at:
                    raise Interrupted(f"interrupted at step {interrupt_at}")
                return inner(model, batch)
            return s
        m = dataclasses.replace(m, step=step)
    r = recipe(method)
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)  # the network is built as in every profile (then cast to float64)
    try:
        run = train_deep(r, fake_images(), m, device="cpu", progress=False, checkpoint=checkpoint,
                         dtype=torch.float64, checkpoint_every=checkpoint_every)
    finally:
        torch.set_default_dtype(old)
    return {"loss": list(run.result.history["loss"]), "evals": dict(run.result.evals),
            "state": run.result.snapshots[r.epochs], "resumed_from": run.result.resumed_from}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    distributed.init_from_env("cpu")
    rank, world = distributed.rank_world()
    assert world == 2, world
    res = {m: run_case(m) for m in METHODS}
    ck = args.out / "interrupted.pt"
    try:
        run_case("supervised", checkpoint=ck, interrupt_at=6, checkpoint_every=1)  # step 6: inside epoch 2
        raise AssertionError("not interrupted")
    except Interrupted:
        pass
    res["resumed"] = run_case("supervised", checkpoint=ck, checkpoint_every=1)
    torch.save(res, args.out / f"rank{rank}.pt")
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
