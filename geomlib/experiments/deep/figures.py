"""Figures of the deep supervised chapter that are its own (the plane, stage, line and spectrum
panels shared with the self-supervised chapters are in :mod:`geomlib.experiments.imaging.figures`)."""
from __future__ import annotations

import matplotlib.pyplot as plt


def training_curves(trained: dict):
    """Training loss and held-out accuracy over epochs, one curve per run (``{act: DeepRun}``)."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3), constrained_layout=True)
    for act, run in trained.items():
        h, ev = run.result.history, run.result.evals
        axes[0].plot(h["epoch"], h["loss"], marker="o", ms=3, label=act.upper())
        axes[1].plot(ev["epoch"], ev["test_acc"], marker="o", ms=3, label=act.upper())
    n_test = len(next(iter(trained.values())).prep.test_y)
    axes[0].set(xlabel="epoch", ylabel="training loss (cross-entropy)")
    axes[1].set(xlabel="epoch", ylabel=f"held-out accuracy ({n_test} images)")
    axes[1].legend()
    return fig
