"""The MNIST runs as workflow jobs (:mod:`geomlib.experiments.jobs`): one training job per
(activation, seed) and, on each trained network, the line scans of the lines chapter and the plane
scans of the planes chapter, made with the chapters' calls and arguments so both chapters load them
from the cache.
"""
from __future__ import annotations

from ..jobs import Run
from .settings import settings_for

LINES, PLANES = "30_mnist_lines", "31_mnist_planes"


def _pairs(profile: str, seed: int) -> list[tuple[str, int]]:
    s = settings_for(profile, seed)
    return [(act, sd) for act, seeds in (("sigmoid", s.seeds), ("relu", s.relu_seeds)) for sd in seeds]


def runs(profile: str, seed: int = 401) -> list[Run]:
    """``train-<act>-s<seed>`` then ``lines-...`` and ``planes-...`` needing it."""
    out = []
    for act, sd in _pairs(profile, seed):
        train = f"train-{act}-s{sd}"
        out.append(Run("mnist", train, "mnist-train", (LINES, PLANES)))
        out.append(Run("mnist", f"lines-{act}-s{sd}", "mnist-lines", (LINES,), (train,)))
        out.append(Run("mnist", f"planes-{act}-s{sd}", "mnist-planes", (PLANES,), (train,)))
    return out


def execute(run_id: str, ctx) -> dict:
    """Train (``train-*``) or scan (``lines-*``, ``planes-*``: trains first if not cached) run ``run_id``
    under ``ctx`` into the cache (``artifacts/mnist_train``, ``mnist_lines``, ``mnist_planes``)."""
    from ..data import load_mnist
    from . import measure
    from .run import train_mnist
    from .settings import use_threads

    kind, act, sd = run_id.split("-")
    sd = int(sd[1:])
    s = settings_for(ctx.profile, ctx.seed)
    use_threads(s, ctx.device)
    data = load_mnist(seed=0)
    r = train_mnist(data, s, sd, act, device=ctx.device, progress=False)
    if kind == "lines":
        measure.evaluate_lines(data, s, sd, act, r, device=ctx.device)
    elif kind == "planes":
        measure.evaluate_planes(data, s, sd, act, r, device=ctx.device)
    return {"data": data.source.get("dataset")}
