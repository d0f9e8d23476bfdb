"""The self-supervised runs as workflow jobs (:mod:`geomlib.experiments.jobs`): one training job per
method (Barlow Twins, SimCLR), with the chapters' recipe and data, so each chapter finds the
finished training checkpoint. Probes and scans stay in the chapters' own jobs.
"""
from __future__ import annotations

from ..jobs import Run
from .settings import METHODS

CHAPTERS = {"barlow": "41_barlow_twins", "simclr": "42_simclr"}


def runs(profile: str, seed: int = 401) -> list[Run]:
    """``<method>-gelu-s<seed>`` for each method."""
    return [Run("ssl", f"{m}-gelu-s{seed}", f"ssl-{m}", (CHAPTERS[m],)) for m in METHODS]


def execute(run_id: str, ctx) -> dict:
    """Train run ``run_id`` under ``ctx`` to its finished checkpoint (``artifacts/deep_checkpoints/``);
    return the dataset used and the training wall time (s)."""
    from ..data import load_cifar10_or_substitute
    from .run import train_ssl
    from .settings import ssl_recipe

    method = run_id.split("-")[0]
    recipe = ssl_recipe(method, ctx.profile, seed=ctx.seed, device=ctx.device)
    data = load_cifar10_or_substitute(seed=ctx.seed)
    run = train_ssl(recipe, data, device=ctx.device, progress=False)
    return {"data": data.source.get("dataset"), "wall_train_s": run.result.wall_s}
