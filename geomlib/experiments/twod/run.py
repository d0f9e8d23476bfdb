"""The 2-D experiments (SPEC §4.1-4.2 F1-F3) per profile: train, measure, cache, showcase.

One *run* = (task, width, seed): training with snapshots at true initialisation and at every epoch
where something is measured, then fields on the figure grid (predicted class, log10 volume element,
standard R per hidden layer; the authors' 3R for shallow nets) at the figure epochs and Delta
(SPEC §4.5) on an 81 x 81 grid over ``[-1, 1]^2`` along training. A run's result is cached under
``artifacts/twod-<task>/`` keyed by its settings and geomlib's source, and training checkpoints
under ``artifacts/checkpoints/`` let an interrupted run resume. ``python -m geomlib.twod`` runs a
whole profile and (for ``paper``) writes the small committed showcase the chapters display.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from .. import cache
from ..train import make_model, recipe, train_run
from ..train.recipes import SEEDS
from . import measure
from .baseline import symmetric_log10_volume

TRAIN_VERSION = 1  # bump when training code changes its dynamics (checkpoints keyed without source)

_DELTA_LONG = (0, 50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 2500, 3000, 4000, 5000, 6000, 7000, 8000,
               9000, 10000)
_DELTA_XOR = (0, 10, 25, 50, 100, 200, 300, 500, 750, 1000, 1500, 2000)


@dataclass(frozen=True)
class Settings:
    """What one profile runs for one task (SPEC §6 table)."""

    widths: tuple
    seeds: tuple
    epochs: int
    figure_epochs: tuple
    delta_epochs: tuple
    fig_n: int = 40
    delta_n: int = 81
    frame_every: int = 0  # snapshot every k epochs for an animation of the first run (0: none)

    def as_dict(self) -> dict:
        return asdict(self)


DEEP = (2, 8, 8, 8, 2)
SETTINGS = {
    "xor": {
        "tiny": Settings((10,), (401,), 2000, (50, 500, 2000), _DELTA_XOR, fig_n=20, delta_n=41),
        "quick": Settings((10, 100), (401, 402), 2000, (50, 500, 2000), _DELTA_XOR, frame_every=50),
        "paper": Settings((2, 10, 100, 250, 500), SEEDS, 2000, (50, 500, 2000), _DELTA_XOR, frame_every=50),
    },
    "sinusoid": {
        "tiny": Settings((20,), (402,), 3000, (200, 3000), (0, 200, 500, 1000, 2000, 3000), fig_n=20, delta_n=41),
        "quick": Settings((20, 250), (401,), 10000, (200, 5000, 10000), _DELTA_LONG),
        "paper": Settings((5, 20, 250), SEEDS, 10000, (200, 5000, 10000), _DELTA_LONG, fig_n=80),
    },
    "deep_sinusoid": {
        "tiny": Settings((DEEP,), (402,), 2000, (200, 1200, 2000), (0, 200, 500, 1000, 1200, 1500, 2000),
                         fig_n=20, delta_n=41),
        "quick": Settings((DEEP,), (402,), 10000, (200, 1200, 10000), _DELTA_LONG),
        "paper": Settings((DEEP,), (402, 401), 10000, (200, 1200, 10000), _DELTA_LONG),
    },
}


def settings(task: str, profile: str) -> Settings:
    """The :class:`Settings` of ``task`` under ``profile``."""
    recipe(task)  # validates the task name
    try:
        return SETTINGS[task][profile]
    except KeyError:
        raise ValueError(f"unknown profile {profile!r}: choose tiny, quick or paper") from None


def _width_key(width) -> str:
    return "x".join(map(str, width)) if isinstance(width, (tuple, list)) else str(width)


def run_params(task: str, width, seed: int, s: Settings) -> dict:
    """The parameters that identify a run's cached result."""
    return {"task": task, "width": _width_key(width), "seed": int(seed), "epochs": s.epochs,
            "figure_epochs": list(s.figure_epochs), "delta_epochs": list(s.delta_epochs),
            "fig_n": s.fig_n, "delta_n": s.delta_n, "frame_every": s.frame_every, "train_version": TRAIN_VERSION}


def compute_run(task: str, width, seed: int, s: Settings, *, device=None, progress: bool = True,
                frames: bool = False) -> dict:
    """Train and measure one run (uncached); see :func:`run` for the result's layout."""
    t0 = time.time()
    snaps = set(s.figure_epochs) | set(s.delta_epochs)
    if frames and s.frame_every:
        snaps |= set(range(s.frame_every, s.epochs + 1, s.frame_every))
    snaps = sorted(e for e in snaps if 0 < e <= s.epochs)
    ck_params = {"task": task, "width": _width_key(width), "seed": int(seed), "epochs": s.epochs,
                 "snapshots": snaps, "train_version": TRAIN_VERSION}
    ck = cache.artifact_root() / "checkpoints" / f"{task}-{cache.artifact_key(ck_params, with_source=False)}.ckpt"
    model, res, (x, y) = train_run(task, width, seed, epochs=s.epochs, snapshot_epochs=snaps, checkpoint=ck,
                                   device=device, progress=progress)
    t_train = time.time() - t0
    n = s.delta_n
    xs = np.linspace(-1, 1, n)
    baseline = None
    if not recipe(task).deep:
        X, Y = np.meshgrid(xs, xs)
        baseline = symmetric_log10_volume(X, Y)
    deltas = {"epoch": [], "acc": [], "loss": [], "delta": [], "delta_true": [], "n_boundary": []}
    for e in [e for e in s.delta_epochs if e <= s.epochs]:
        d = measure.delta_fields(model, res.snapshots[e], task, n=n, baseline=baseline if e == 0 else None)
        ev = res.eval_at(e)
        deltas["epoch"].append(e)
        deltas["acc"].append(ev["acc"])
        deltas["loss"].append(ev["loss"])
        deltas["delta"].append(d["delta"])
        deltas["delta_true"].append(d["delta_true"])
        deltas["n_boundary"].append(d["n_boundary"])
        if e == 0 and "delta_baseline" in d:
            deltas["delta_baseline_init"] = d["delta_baseline"]
    fields = {}
    for e in (0,) + tuple(e for e in s.figure_epochs if e <= s.epochs):
        fields[e] = measure.snapshot_fields(model, res.snapshots[e], n=s.fig_n, curv=True,
                                            authors=not recipe(task).deep)
        fields[e]["acc"] = res.eval_at(e)["acc"]
    frame_fields = {}
    if frames and s.frame_every:
        for e in [0] + list(range(s.frame_every, s.epochs + 1, s.frame_every)):
            f = measure.snapshot_fields(model, res.snapshots[e], n=s.fig_n, curv=False)
            frame_fields[e] = {"pred": f["pred"], "log10_vol": f["layers"][1]["log10_vol"],
                               "acc": res.eval_at(e)["acc"] if e in res.evals["epoch"] else math.nan}
    keep = {e: res.snapshots[e] for e in (0,) + tuple(s.figure_epochs) if e in res.snapshots}
    return {
        "task": task, "width": width, "seed": int(seed), "settings": s.as_dict(),
        "x_train": x.cpu().numpy(), "y_train": y.cpu().numpy(),
        "history": {"epoch": np.asarray(res.history["epoch"], np.int32),
                    "loss": np.asarray(res.history["loss"], np.float32)},
        "evals": {k: np.asarray(v) for k, v in res.evals.items()},
        "deltas": deltas, "fields": fields, "frames": frame_fields, "snapshots": keep,
        # training wall time is the checkpoint's total (summed over resumed pieces), not this call's
        "wall_train_s": float(res.wall_s), "cpu_train_s": float(res.cpu_s), "measure_s": time.time() - t0 - t_train,
        "wall_s": float(res.wall_s) + time.time() - t0 - t_train,
    }


def run(task: str, width, seed: int, s: Settings, *, device=None, progress: bool = True,
        frames: bool = False, record: dict | None = None) -> dict:
    """One run's result, from the cache when present (else computed and cached).

    Layout: ``deltas`` (per Delta epoch: ``epoch, acc, loss, delta {layer: value}, delta_true,
    n_boundary``, and ``delta_baseline_init`` for shallow nets), ``fields`` (per figure epoch incl. 0:
    :func:`geomlib.twod.measure.snapshot_fields` + ``acc``), ``frames`` (animation, if asked),
    ``history``, ``evals``, ``snapshots`` (figure epochs), training data, wall times.
    """
    params = run_params(task, width, seed, s) | {"frames": bool(frames and s.frame_every),
                                                 "device": str(torch.device(device or "cpu").type)}
    return cache.cached(f"twod-{task}", params,
                        lambda: compute_run(task, width, seed, s, device=device, progress=progress, frames=frames),
                        record=record, verbose=False)


def run_all(task: str, s: Settings, *, device=None, progress: bool = True, record: dict | None = None) -> dict:
    """Every (width, seed) run of ``s``: ``{(width_key, seed): result}``; frames for the first run only."""
    out = {}
    for i, w in enumerate(s.widths):
        for j, seed in enumerate(s.seeds):
            out[(_width_key(w), seed)] = run(task, w, seed, s, device=device, progress=progress,
                                             frames=(i == len(s.widths) - 1 and j == 0), record=record)
    return out


def delta_table(runs: dict, layer: int | None = None):
    """Long-format table (pandas) of Delta over training: one row per (width, seed, epoch, layer)."""
    import pandas as pd

    rows = []
    for (w, seed), r in runs.items():
        d = r["deltas"]
        for i, e in enumerate(d["epoch"]):
            for l, val in d["delta"][i].items():
                if layer is not None and l != layer:
                    continue
                rows.append({"width": w, "seed": seed, "epoch": e, "layer": l, "delta": val,
                             "delta_true": d["delta_true"][i][l], "acc": d["acc"][i],
                             "boundary_points": d["n_boundary"][i]})
    return pd.DataFrame(rows)


def showcase_payload(runs: dict, s: Settings, *, fields_seed: int | None = None) -> dict:
    """The small part of a profile's results the site shows: every Delta track, plus fields and
    frames of one seed per width (float32 grids), wall times and accuracies."""
    fields_seed = s.seeds[0] if fields_seed is None else fields_seed
    small = {}
    for key, r in runs.items():
        keep = {k: r[k] for k in ("task", "width", "seed", "settings", "deltas", "evals", "wall_train_s", "wall_s",
                                  "measure_s", "cpu_train_s") if k in r}
        keep["history"] = {k: v[:: max(1, len(v) // 500)] for k, v in r["history"].items()}
        if key[1] == fields_seed:
            keep["fields"], keep["frames"] = r["fields"], r["frames"]
            keep["x_train"], keep["y_train"] = r["x_train"], r["y_train"]
            last = max(r["fields"])  # the authors' 3R is shown once, at the last snapshot
            keep["fields"] = {e: {k: v for k, v in f.items() if k != "R3" or e == last}
                              for e, f in r["fields"].items()}
        small[key] = keep
    return small
