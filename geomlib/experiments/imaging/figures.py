"""Figures of the deep chapters (Methods: F6-F8 panels and colour maps): planes (prediction
``tab10``, entropy ``cividis``, log10 volumes as ``viridis`` filled contours with the class
boundary in red), per-stage maps, lines, anchor spectra, anchor thumbnails."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import BoundaryNorm, ListedColormap

from ...stats.planes import boundary_mask

TAB10 = ListedColormap(plt.get_cmap("tab10").colors)
CLASS_NORM = BoundaryNorm(np.arange(-0.5, 10.5, 1), 10)


def _triangle(ax, s, color="white"):
    c = np.asarray(s["anchor_coords"])
    tri = np.vstack([c, c[:1]])
    ax.plot(tri[:, 0], tri[:, 1], color=color, lw=0.8, ls="--")
    ax.scatter(c[:, 0], c[:, 1], s=22, c="white", edgecolors="black", zorder=5)


def _boundary(ax, A, B, pred):
    m = boundary_mask(pred)
    if m.any():
        ax.contour(A, B, m.astype(float), levels=[0.5], colors="red", linewidths=0.8)


def _label_anchors(ax, s, names):
    for (a, b), c in zip(np.asarray(s["anchor_coords"]), s["classes"]):
        ax.annotate(names[c], (a, b), xytext=(3, 3), textcoords="offset points", fontsize=7, color="white",
                    bbox=dict(boxstyle="round,pad=0.1", fc="black", alpha=0.5, lw=0))


def _contourf(ax, A, B, Z, levels=12):
    Z = np.where(np.isfinite(Z), Z, np.nan)
    return ax.contourf(A, B, Z, levels=levels, cmap="viridis")


def plane_panels(scans: dict, names, *, title: str = "", eff: bool = True):
    """Rows: snapshots (``{label: scan}``); columns: prediction, entropy, log10 area magnification,
    and the authors' effective log10 volume (coarser grid) when ``eff``."""
    eff = eff and all("eff" in s for s in scans.values())
    ncol = 4 if eff else 3
    fig, axes = plt.subplots(len(scans), ncol, figsize=(3.1 * ncol, 2.8 * len(scans)), squeeze=False,
                             constrained_layout=True)
    for r, (label, s) in enumerate(scans.items()):
        A, B = s["A"], s["B"]
        ax = axes[r, 0]
        ax.pcolormesh(A, B, s["pred"], cmap=TAB10, norm=CLASS_NORM, shading="nearest")
        _triangle(ax, s)
        _label_anchors(ax, s, names)
        ax.set_ylabel(f"{label}\nb")
        im = axes[r, 1].pcolormesh(A, B, s["entropy"], cmap="cividis", vmin=0, vmax=1, shading="nearest")
        fig.colorbar(im, ax=axes[r, 1], shrink=0.8)
        _triangle(axes[r, 1], s)
        cs = _contourf(axes[r, 2], A, B, s["log10_area"])
        fig.colorbar(cs, ax=axes[r, 2], shrink=0.8)
        _boundary(axes[r, 2], A, B, s["pred"])
        _triangle(axes[r, 2], s)
        if eff:
            e = s["eff"]
            cs = _contourf(axes[r, 3], e["A"], e["B"], e["log10_eff"])
            fig.colorbar(cs, ax=axes[r, 3], shrink=0.8)
            _boundary(axes[r, 3], e["A"], e["B"], e["pred"])
            _triangle(axes[r, 3], s)
        if r == 0:
            axes[r, 0].set_title("predicted class")
            axes[r, 1].set_title("entropy (log10)")
            axes[r, 2].set_title("log10 area magnification")
            if eff:
                axes[r, 3].set_title(f"log10 eff. volume (k={s.get('eff', {}).get('k', '?')})")
    for ax in axes.flat:
        ax.set_aspect("equal")
        ax.tick_params(labelsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("a")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def stage_panels(scans: dict, *, title: str = ""):
    """Rows: snapshots; columns: log10 area magnification of stages 1-4 (shared colour scale per
    row), class boundary of the final readout in red."""
    stages = sorted(next(iter(scans.values()))["stages"])
    fig, axes = plt.subplots(len(scans), len(stages), figsize=(3.0 * len(stages), 2.7 * len(scans)),
                             squeeze=False, constrained_layout=True)
    for r, (label, s) in enumerate(scans.items()):
        vals = np.concatenate([s["stages"][k].ravel() for k in stages])
        vals = vals[np.isfinite(vals)]
        levels = np.linspace(vals.min(), vals.max(), 13)
        for c, k in enumerate(stages):
            ax = axes[r, c]
            cs = ax.contourf(s["A"], s["B"], s["stages"][k], levels=levels, cmap="viridis")
            _boundary(ax, s["A"], s["B"], s["pred"])
            _triangle(ax, s)
            ax.set_aspect("equal")
            ax.tick_params(labelsize=7)
            if r == 0:
                ax.set_title(f"stage {k}")
            if c == 0:
                ax.set_ylabel(f"{label}\nb")
        fig.colorbar(cs, ax=axes[r, :].tolist(), shrink=0.8, label="log10 area magn.")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def line_panels(lines: dict, names, *, title: str = ""):
    """log10 length magnification (and effective volume) along the segment, points coloured by
    the predicted class; one column per snapshot."""
    fig, axes = plt.subplots(2, len(lines), figsize=(3.6 * len(lines), 5.0), squeeze=False,
                             constrained_layout=True, sharex=True)
    for c, (label, L) in enumerate(lines.items()):
        for r, (key, ylab) in enumerate([("log10_length", "log10 length magn."), ("log10_eff", "log10 eff. volume")]):
            ax = axes[r, c]
            if key not in L:
                ax.axis("off")
                continue
            ax.plot(L["t"], L[key], color="0.6", lw=0.8)
            ax.scatter(L["t"], L[key], c=L["pred"], cmap=TAB10, norm=CLASS_NORM, s=14, zorder=3)
            ax2 = ax.twinx()
            ax2.plot(L["t"], L["entropy"], color="tab:red", lw=0.8, ls=":")
            ax2.set_ylim(0, 1)
            ax2.tick_params(labelsize=7, colors="tab:red")
            ax.tick_params(labelsize=7)
            if c == 0:
                ax.set_ylabel(ylab)
            if r == 0:
                ax.set_title(label)
            if r == 1:
                ax.set_xlabel("t (x_a -> x_b)")
    present = sorted({int(p) for L in lines.values() for p in L["pred"]})
    handles = [plt.Line2D([], [], marker="o", ls="", color=TAB10(p), label=names[p]) for p in present]
    handles.append(plt.Line2D([], [], color="tab:red", ls=":", label="entropy (right axis)"))
    fig.legend(handles=handles, loc="outside lower center", ncol=min(6, len(handles)), fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def spectra_panels(scans: dict, names, *, title: str = ""):
    """log10 s_i (singular values of J / sqrt(n), descending) at each anchor, a curve per snapshot."""
    first = next(iter(scans.values()))
    fig, axes = plt.subplots(1, 3, figsize=(10, 2.8), constrained_layout=True, sharey=True)
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.85, len(scans)))
    for col, (label, s) in zip(colors, scans.items()):
        for i, ax in enumerate(axes):
            sp = s["spectra"][i]
            ax.plot(np.arange(1, len(sp) + 1), sp, color=col, label=label)
    for i, ax in enumerate(axes):
        ax.set_title(f"anchor {i + 1}: {names[first['classes'][i]]}", fontsize=9)
        ax.set_xlabel("index i")
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("log10 s_i")
    axes[-1].legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def anchor_images(images, labels, names, *, title: str = ""):
    """Thumbnails of anchor images ``[K, 3, 32, 32]`` in [0, 1] with their class names."""
    images = np.asarray(images)
    fig, axes = plt.subplots(1, len(images), figsize=(1.3 * len(images), 1.6), constrained_layout=True)
    for ax, im, y in zip(np.atleast_1d(axes), images, labels):
        ax.imshow(np.clip(im.transpose(1, 2, 0), 0, 1))
        ax.set_title(names[int(y)], fontsize=7)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    return fig
