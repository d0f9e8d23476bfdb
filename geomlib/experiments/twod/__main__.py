"""Run the 2-D experiments of one profile outside the book; with ``--showcase`` save the small
committed result the chapters display (``artifacts/paper/twod-<task>.pt`` + ``.json`` provenance).

    python -m geomlib.experiments.twod --profile paper --task sinusoid xor deep_sinusoid --showcase

Runs are cached (``artifacts/twod-<task>/``) and training checkpoints resume after an interruption,
so re-running the same command continues where it stopped.
"""
from __future__ import annotations

import argparse
import sys
import time

import torch

from ...book.profiles import resolve_device
from ...book.provenance import provenance_record
from ...cache import save_showcase
from .run import run_all, showcase_payload
from .settings import SETTINGS, settings


def main(argv=None) -> int:
    """``python -m geomlib.experiments.twod``: run the tasks of one profile (see the module docstring)."""
    ap = argparse.ArgumentParser(prog="python -m geomlib.experiments.twod", description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="paper", choices=("tiny", "quick", "paper"))
    ap.add_argument("--task", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--showcase", action="store_true", help="save artifacts/paper/twod-<task>.pt for the site")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (small models: 1 is fastest)")
    args = ap.parse_args(argv)
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(args.threads)
    dev = resolve_device(args.device)
    for task in args.task:
        s = settings(task, args.profile)
        t0 = time.time()
        runs = run_all(task, s, device=dev, progress=True)
        wall = time.time() - t0
        compute = sum(r["wall_s"] for r in runs.values())
        print(f"{task}: {len(runs)} runs, {wall:.0f} s now, {compute:.0f} s of compute in total", flush=True)
        if args.showcase:
            rec = provenance_record(args.profile, dev, wall_s=compute, runs=len(runs),
                                    settings=s.as_dict(), command="python -m geomlib.experiments.twod " + " ".join(argv or sys.argv[1:]))
            path = save_showcase(f"twod-{task}", showcase_payload(runs, s), rec)
            print(f"showcase: {path} ({path.stat().st_size / 1e6:.2f} MB)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
