"""The 2-D runs as workflow jobs (:mod:`geomlib.experiments.jobs`): one job per (task, width, seed)
of a profile, executed exactly as the chapters' :func:`~geomlib.experiments.twod.run.run_all` does
(the animation frames for the last width's first seed), so the chapters load it from the cache.
"""
from __future__ import annotations

from ..jobs import Run
from .run import _width_key, run
from .settings import SETTINGS, settings

CHAPTERS = {"xor": "20_xor", "sinusoid": "21_sinusoid", "deep_sinusoid": "22_deep_sinusoid"}


def _plan(profile: str) -> dict:
    """``{run id: (task, width, seed, frames)}`` in :func:`run_all`'s order."""
    out = {}
    for task in SETTINGS:
        s = settings(task, profile)
        for i, w in enumerate(s.widths):
            for j, seed in enumerate(s.seeds):
                out[f"{task}-w{_width_key(w)}-s{seed}"] = (task, w, seed, i == len(s.widths) - 1 and j == 0)
    return out


def runs(profile: str, seed: int = 401) -> list[Run]:
    """Every run of the three 2-D tasks under ``profile`` (their seeds are the profile's, not ``seed``)."""
    return [Run("twod", rid, "twod-deep" if task == "deep_sinusoid" else "twod-shallow", (CHAPTERS[task],))
            for rid, (task, w, s, frames) in _plan(profile).items()]


def execute(run_id: str, ctx) -> dict:
    """Train and measure run ``run_id`` under ``ctx`` (a :class:`geomlib.book.Context`) into the cache
    (``artifacts/twod-<task>/``); return its training and geometry wall times (s)."""
    task, width, seed, frames = _plan(ctx.profile)[run_id]
    r = run(task, width, seed, settings(task, ctx.profile), device=ctx.device, progress=False, frames=frames)
    return {"wall_train_s": r["wall_train_s"], "measure_s": r["measure_s"]}
