"""Figures of the self-supervised chapters that are their own (the plane, stage, line and spectrum
panels shared with the supervised chapter are in :mod:`geomlib.experiments.imaging.figures`)."""
from __future__ import annotations

import matplotlib.pyplot as plt


def probe_curves(run, probes: dict, *, loss_label: str):
    """Training loss over epochs, and the linear probe's held-out and training accuracy at each
    snapshot (``probes``: ``{epoch: LinearProbe}``)."""
    epochs = sorted(probes)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3), constrained_layout=True)
    axes[0].plot(run.result.history["epoch"], run.result.history["loss"], marker="o", ms=3)
    axes[0].set(xlabel="epoch", ylabel=loss_label)
    axes[1].plot(epochs, [probes[e].test_accuracy for e in epochs], marker="o", label="held-out")
    axes[1].plot(epochs, [probes[e].train_accuracy for e in epochs], marker="s", ls="--", label="training")
    axes[1].set(xlabel="epoch (snapshot)", ylabel="linear-probe accuracy")
    axes[1].legend()
    return fig
