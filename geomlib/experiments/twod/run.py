"""Training runs of the 2-D experiments (Methods: 2-D protocols, F1-F3): train, measure, cache, showcase.

One *run* = (task, width, seed): training with snapshots at true initialisation and at every epoch
where something is measured, then fields on the figure grid (predicted class, log10 volume element,
standard R per hidden layer; the authors' 3R for shallow nets) at the figure epochs and Delta
(Methods: the 2-D boundary contrast) on an 81 x 81 grid over ``[-1, 1]^2`` along training. A run's result is cached under
``artifacts/twod-<task>/`` keyed by its settings and geomlib's source, and training checkpoints
under ``artifacts/checkpoints/`` let an interrupted run resume. ``python -m geomlib.experiments.twod`` runs a
whole profile and (for ``paper``) writes the small committed showcase the chapters display.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ... import cache
from ...book.profiles import seed_everything
from ..data.toy import sinusoid_data, xor_data
from ..models.mlp import DeepMLP, ShallowMLP
from ..training import TrainResult, fit, minibatches
from . import measure
from .settings import Settings, recipe

TRAIN_VERSION = 1  # bump when training code changes its dynamics (checkpoints keyed without source)


def make_model(task: str, width, seed: int, *, dtype=torch.float64, device=None) -> nn.Module:
    """The task's model, initialised deterministically from ``seed`` (seeds every RNG first).

    ``width``: hidden width ``w`` of the shallow ``[2, w, 2]`` net, or the widths tuple of the deep one.
    """
    r = recipe(task)
    seed_everything(seed)
    if r.deep:
        widths = tuple(width) if width is not None else r.widths[0]
        return DeepMLP(widths, "sigmoid", dtype=dtype, device=device)
    return ShallowMLP(2, int(width), 2, "sigmoid", dtype=dtype, device=device)


def task_data(task: str, seed: int, *, n_train: int | None = None, dtype=torch.float64, device=None):
    """Training set ``(x [N, 2], y [N])`` of ``task``; the sinusoid sample depends on ``seed``."""
    r = recipe(task)
    if task == "xor":
        return xor_data(dtype=dtype, device=device)
    return sinusoid_data(n_train or r.n_train, seed, dtype=dtype, device=device)


def cross_entropy_step(model: nn.Module, batch) -> torch.Tensor:
    """Cross-entropy of the logits on one ``(x, y)`` batch (the step function of every 2-D task)."""
    x, y = batch
    return nn.functional.cross_entropy(model(x), y)


def classification_eval(x: torch.Tensor, y: torch.Tensor):
    """``eval_fn`` giving the full training set's ``loss`` and ``acc``."""
    def evaluate(model: nn.Module) -> dict:
        logits = model(x)
        return {"loss": nn.functional.cross_entropy(logits, y).item(),
                "acc": (logits.argmax(-1) == y).double().mean().item()}
    return evaluate


def train_run(task: str, width, seed: int, *, epochs: int | None = None, snapshot_epochs=(),
              checkpoint: str | Path | None = None, device=None, progress: bool = True,
              n_train: int | None = None, eval_every: int | None = None):
    """Train one run of ``task`` with the authors' settings; return ``(model, TrainResult, (x, y))``.

    Deterministic in ``seed`` (init, data sample and batch order). ``epochs`` defaults to the authors'
    value; ``snapshot_epochs`` adds snapshots to the one at true initialisation.
    """
    r = recipe(task)
    epochs = r.epochs if epochs is None else int(epochs)
    dev = torch.device(device) if device is not None else torch.device("cpu")
    model = make_model(task, width, seed, device=dev)
    x, y = task_data(task, seed, n_train=n_train, device=dev)
    batches = minibatches(x, y, r.batch_size, seed, drop_last=True)
    opt = torch.optim.SGD(model.parameters(), lr=r.lr, momentum=r.momentum, weight_decay=r.weight_decay)
    width_label = "x".join(map(str, model.widths)) if r.deep else str(width)
    meta = {"task": task, "width": width_label, "seed": seed, "n_train": len(x)}
    res: TrainResult = fit(
        model, cross_entropy_step, batches, opt, epochs=epochs, snapshot_epochs=snapshot_epochs,
        checkpoint=checkpoint, device=dev, progress=progress, desc=f"{task} w={width_label} seed={seed}",
        eval_fn=classification_eval(x, y), eval_every=eval_every or max(1, epochs // 200), meta=meta,
        num_threads=1 if dev.type == "cpu" else None,
    )
    return model, res, (x, y)


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
        baseline = measure.symmetric_log10_volume(X, Y)
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
    :func:`geomlib.experiments.twod.measure.snapshot_fields` + ``acc``), ``frames`` (animation, if asked),
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
