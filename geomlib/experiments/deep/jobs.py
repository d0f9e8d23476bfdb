"""The supervised ResNet runs as workflow jobs (:mod:`geomlib.experiments.jobs`): one training job
per activation, with the chapter's recipe and data, so the chapter finds the finished training
checkpoint. The plane and line scans stay in the chapter's own job (their anchors are drawn there).
"""
from __future__ import annotations

from ..jobs import Run
from .settings import ACTIVATIONS

CHAPTER = "40_resnet_planes"


def runs(profile: str, seed: int = 401) -> list[Run]:
    """``supervised-<act>-s<seed>`` for the studied activation and its control."""
    return [Run("deep", f"supervised-{act}-s{seed}", "deep-train", (CHAPTER,)) for act in ACTIVATIONS]


def execute(run_id: str, ctx) -> dict:
    """Train run ``run_id`` under ``ctx`` to its finished checkpoint (``artifacts/deep_checkpoints/``);
    return the dataset used and the training wall time (s)."""
    from ..data import load_cifar10_or_substitute
    from .run import train_supervised
    from .settings import supervised_recipe

    act = run_id.split("-")[1]
    recipe = supervised_recipe(ctx.profile, act=act, seed=ctx.seed, device=ctx.device)
    data = load_cifar10_or_substitute(seed=ctx.seed)
    run = train_supervised(recipe, data, device=ctx.device, progress=False)
    return {"data": data.source.get("dataset"), "wall_train_s": run.result.wall_s}
