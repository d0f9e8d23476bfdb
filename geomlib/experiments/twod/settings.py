"""The 2-D experiments' training settings (SPEC §4.1 F1-F3) and a one-call ``train_run``.

| task | model | optimiser (lr / momentum / wd) | batch | epochs | widths | seeds |
|---|---|---|---|---|---|---|
| ``xor`` (F1) | ``[2, w, 2]`` sigmoid | SGD 0.02 / 0.9 / 1e-4 | 4 (full) | 2000 | 2, 10, 100, 250, 500 | 401-405, 501 |
| ``sinusoid`` (F2) | ``[2, w, 2]`` sigmoid | SGD 0.1 / 0.9 / 0 | 50, drop_last | 10000 | 5, 20, 250 | 401-405, 501 |
| ``deep_sinusoid`` (F3) | ``[2, 8, 8, 8, 2]`` sigmoid | SGD 0.1 / 0.9 / 0 | 50, drop_last | 10000 | - | 402 (401) |

Cross-entropy loss on the logits, float64, N(0, 1) initialisation (SPEC §2). ``figure_epochs`` are
the epochs of the authors' gallery PDFs, counted from true initialisation here (SPEC §4.4).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..profiles import seed_everything
from .data import minibatches, sinusoid_data, xor_data
from .fit import TrainResult, fit
from .models import DeepMLP, ShallowMLP

SEEDS = (401, 402, 403, 404, 405, 501)


@dataclass(frozen=True)
class Recipe:
    """Training settings of one SPEC figure group."""

    task: str
    lr: float
    momentum: float
    weight_decay: float
    batch_size: int
    epochs: int
    widths: tuple
    seeds: tuple
    figure_epochs: tuple
    n_train: int
    deep: bool = False


RECIPES = {
    "xor": Recipe("xor", 0.02, 0.9, 1e-4, 4, 2000, (2, 10, 100, 250, 500), SEEDS, (50, 500, 2000), 4),
    "sinusoid": Recipe("sinusoid", 0.1, 0.9, 0.0, 50, 10000, (5, 20, 250), SEEDS, (200, 5000, 10000), 400),
    "deep_sinusoid": Recipe("deep_sinusoid", 0.1, 0.9, 0.0, 50, 10000, ((2, 8, 8, 8, 2),), (402, 401),
                            (200, 1200, 10000), 400, deep=True),
}


def recipe(task: str) -> Recipe:
    """The :class:`Recipe` of ``task`` (``xor``, ``sinusoid`` or ``deep_sinusoid``)."""
    try:
        return RECIPES[task]
    except KeyError:
        raise ValueError(f"unknown task {task!r}: choose one of {', '.join(RECIPES)}") from None


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
    """Train one run of ``task`` with the SPEC settings; return ``(model, TrainResult, (x, y))``.

    Deterministic in ``seed`` (init, data sample and batch order). ``epochs`` defaults to the SPEC
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
