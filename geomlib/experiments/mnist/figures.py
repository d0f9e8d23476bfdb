"""Figures of the MNIST slice chapters (book/src/30_mnist_lines.md, 31_mnist_planes.md).

Colour maps as in Methods: predictions and colour maps: predicted class ``tab10`` (classes 0-9), entropy ``cividis``, log10
volume ``viridis`` (filled contours). All functions return the figure; the chapters show it.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import BoundaryNorm, ListedColormap

TAB10 = plt.get_cmap("tab10")
CLASS_CMAP = ListedColormap([TAB10(i) for i in range(10)])
CLASS_NORM = BoundaryNorm(np.arange(-0.5, 10.5), 10)
MEASURE_LABEL = {
    "effective": r"effective $\log_{10}\mathrm{vol}_k$",
    "induced": r"induced $\log_{10}\sqrt{\det V^\top gV}$",
}


def show_digits(images, titles, *, rows: int, cols: int, size: float = 1.3, suptitle: str | None = None):
    """Grid of 28x28 images (``images``: ``[rows*cols, 784]`` or ``[..., 28, 28]``) with titles."""
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows + 0.3), squeeze=False,
                             constrained_layout=True)
    for ax, img, t in zip(axes.flat, images, titles):
        ax.imshow(np.asarray(img).reshape(28, 28), cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(t, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    return fig


def _switches(t, pred):
    return 0.5 * (t[1:] + t[:-1])[pred[1:] != pred[:-1]]


def line_panels(ev: dict, *, title: str, anchor_images=None):
    """Rows: (line, measure); columns: snapshots. Points: log10 volume along t coloured by the
    predicted class; grey: prediction entropy (right axis, log10, [0, 1]); dotted: class switches."""
    pairs, epochs = ev["pairs"], ev["epochs"]
    measures = ("effective", "induced")
    nrow, ncol = len(pairs) * len(measures), len(epochs)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.1 * ncol, 1.75 * nrow + 0.6), squeeze=False,
                             constrained_layout=True)
    for i, pair in enumerate(pairs):
        for j, measure in enumerate(measures):
            r = len(measures) * i + j
            vals = [ev["by_epoch"][e][pair][measure] for e in epochs]
            finite = np.concatenate([v[np.isfinite(v)] for v in vals])
            lo, hi = (finite.min(), finite.max()) if finite.size else (0, 1)
            pad = 0.05 * (hi - lo + 1e-12)
            for c, e in enumerate(epochs):
                m = ev["by_epoch"][e][pair]
                ax = axes[r, c]
                ax.scatter(m["t"], m[measure], c=[TAB10(int(p)) for p in m["pred"]], s=9, zorder=3)
                ax.plot(m["t"], m[measure], color="0.6", lw=0.6, zorder=2)
                ax.set_ylim(lo - pad, hi + pad)
                for s in _switches(m["t"], m["pred"]):
                    ax.axvline(s, color="k", ls=":", lw=0.8)
                tw = ax.twinx()
                tw.plot(m["t"], m["entropy"], color="0.45", lw=1.0, ls="--")
                tw.set_ylim(0, 1.05)
                tw.tick_params(labelsize=7)
                if c < ncol - 1:
                    tw.set_yticklabels([])
                else:
                    tw.set_ylabel("entropy", fontsize=7, color="0.45")
                ax.tick_params(labelsize=7)
                if r == 0:
                    ax.set_title("initialisation" if e == 0 else f"after {e} epoch{'s' if e > 1 else ''}",
                                 fontsize=9)
                if c == 0:
                    ax.set_ylabel(f"{pair[0]}→{pair[1]}\n{MEASURE_LABEL[measure]}", fontsize=7)
                if r == nrow - 1:
                    ax.set_xlabel("t", fontsize=8)
            if anchor_images is not None and j == 0:
                for k, (img, x0) in enumerate(zip(anchor_images[pair], (0.0, 0.78))):
                    ins = axes[r, 0].inset_axes([x0, 0.62, 0.22, 0.36])
                    ins.imshow(np.asarray(img).reshape(28, 28), cmap="gray_r", vmin=0, vmax=1)
                    ins.set_xticks([])
                    ins.set_yticks([])
    handles = [plt.Line2D([], [], marker="o", ls="", color=TAB10(k), label=str(k), ms=4) for k in range(10)]
    fig.legend(handles=handles, loc="outside lower center", ncol=10, fontsize=7, title="predicted class",
               title_fontsize=7)
    fig.suptitle(title, fontsize=10)
    return fig


def _triangle(ax, coords, labels):
    tri = np.vstack([coords, coords[:1]])
    ax.plot(tri[:, 0], tri[:, 1], color="w", lw=1.0)
    for (a, b), lab in zip(coords, labels):
        ax.plot(a, b, "o", ms=4, mec="k", mfc="w")
        ax.annotate(str(lab), (a, b), xytext=(3, 3), textcoords="offset points", color="w", fontsize=8,
                    fontweight="bold")


def plane_panels(ev: dict, tri, *, epochs=None, title: str, levels: int = 7):
    """Rows: snapshots; columns: predicted class, entropy, induced log10 area element (all grid
    points), effective top-k log10 volume (nested sub-grid); the volumes as filled contours with
    ``levels`` levels per panel (the overall level drifts over training; the pattern within a
    snapshot is what matters). Triangle: the anchors."""
    n, st = ev["n"], ev["eff_stride"]
    epochs = list(ev["epochs"] if epochs is None else epochs)
    a = np.linspace(-1, 1, n)
    a_eff = a[::st]
    coords = ev["anchor_coords"]
    # fixed spacing instead of constrained layout: with 16 colour bars the layout solver took
    # longer than drawing the figure
    fig, axes = plt.subplots(len(epochs), 4, figsize=(13.2, 2.9 * len(epochs) + 0.6), squeeze=False)
    fig.subplots_adjust(left=0.07, right=0.97, bottom=0.06 if len(epochs) > 2 else 0.1,
                        top=1 - 0.45 / (2.9 * len(epochs) + 0.6), wspace=0.38, hspace=0.28)
    for r, e in enumerate(epochs):
        m = ev["by_epoch"][e][tri]
        panels = [
            ("predicted class", a, m["pred"].reshape(n, n), dict(kind="class")),
            ("entropy (log10)", a, m["entropy"].reshape(n, n), dict(kind="entropy")),
            (MEASURE_LABEL["induced"], a, m["induced"].reshape(n, n), dict(kind="induced")),
            (MEASURE_LABEL["effective"] + f", k={ev.get('k', 10)}", a_eff,
             m["effective"].reshape(len(a_eff), len(a_eff)), dict(kind="effective")),
        ]
        for c, (name, ax_vals, Z, kw) in enumerate(panels):
            ax = axes[r, c]
            X, Y = np.meshgrid(ax_vals, ax_vals)
            if kw["kind"] == "class":
                im = ax.pcolormesh(X, Y, Z, cmap=CLASS_CMAP, norm=CLASS_NORM, shading="nearest")
            elif kw["kind"] == "entropy":
                im = ax.pcolormesh(X, Y, Z, cmap="cividis", vmin=0, vmax=1, shading="nearest")
            else:
                Zm = np.ma.masked_invalid(Z)  # -inf (singular) cells stay blank
                fin = Z[np.isfinite(Z)]
                lv = np.linspace(fin.min(), fin.max() + 1e-9, levels + 1) if fin.size else levels
                im = ax.contourf(X, Y, Zm, levels=lv, cmap="viridis")
            cb = fig.colorbar(im, ax=ax, shrink=0.85, fraction=0.06, pad=0.03)
            cb.ax.tick_params(labelsize=7)
            if kw["kind"] == "class":
                cb.set_ticks(range(10))
            _triangle(ax, coords, tri)
            ax.set_aspect("equal")
            ax.tick_params(labelsize=7)
            if r == 0:
                ax.set_title(name, fontsize=9)
            if c == 0:
                ax.set_ylabel(("initialisation" if e == 0 else f"after {e} epoch{'s' if e > 1 else ''}")
                              + "\n$b$", fontsize=9)
            if r == len(epochs) - 1:
                ax.set_xlabel("$a$", fontsize=9)
    fig.suptitle(title, fontsize=10)
    return fig


def spectra_panels(ev: dict, *, title: str):
    """Rows: planes; columns: the three anchors; one curve of log10 s_i (descending) per snapshot."""
    triples, epochs = ev["triples"], ev["epochs"]
    fig, axes = plt.subplots(len(triples), 3, figsize=(10.5, 2.4 * len(triples) + 0.5), squeeze=False,
                             constrained_layout=True, sharey=True)
    cmap = plt.get_cmap("viridis")
    for r, tri in enumerate(triples):
        for c in range(3):
            ax = axes[r, c]
            for k, e in enumerate(epochs):
                s = ev["by_epoch"][e][tri]["spectrum"][c]
                ax.plot(np.arange(1, len(s) + 1), s, color=cmap(k / max(1, len(epochs) - 1)), lw=1.2,
                        label="init" if e == 0 else f"epoch {e}")
            ax.set_xscale("log")
            ax.set_title(f"plane {'-'.join(map(str, tri))}: anchor digit {tri[c]}", fontsize=8)
            ax.tick_params(labelsize=7)
            if c == 0:
                ax.set_ylabel(r"$\log_{10} s_i=\log_{10}\sqrt{\lambda_i(g)}$", fontsize=8)
            if r == len(triples) - 1:
                ax.set_xlabel("index $i$ (descending)", fontsize=8)
    axes[0, -1].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    return fig


def spread_panels(df: pd.DataFrame, stats, *, title: str, ylabels=None):
    """One panel per statistic: value against snapshot epoch, one dot per (seed, slice), mean ± sd
    bars, one colour per (activation, measure)."""
    combos = sorted(df[["act", "measure"]].drop_duplicates().itertuples(index=False, name=None))
    epochs = sorted(df["epoch"].unique())
    pos = {e: i for i, e in enumerate(epochs)}
    fig, axes = plt.subplots(1, len(stats), figsize=(4.6 * len(stats), 3.4), squeeze=False,
                             constrained_layout=True)
    colours = {"effective": "tab:blue", "induced": "tab:orange"}
    for ax, stat in zip(axes[0], stats):
        for k, (act, measure) in enumerate(combos):
            d = df[(df.act == act) & (df.measure == measure)]
            off = (k - (len(combos) - 1) / 2) * 0.16
            colour = colours.get(measure, "k")
            marker = "o" if act == "sigmoid" else "s"
            xs = d["epoch"].map(pos).to_numpy() + off
            ax.scatter(xs, d[stat], s=10, color=colour, marker=marker, alpha=0.35,
                       facecolors="none" if act != "sigmoid" else colour)
            g = d.groupby("epoch")[stat].agg(["mean", "std"])
            ax.errorbar(g.index.map(pos).to_numpy() + off, g["mean"], yerr=g["std"].fillna(0), fmt=marker,
                        color=colour, mfc="w" if act != "sigmoid" else colour, capsize=3, ms=5,
                        label=f"{act}, {measure}")
        ax.axhline(0, color="k", lw=0.6)
        ax.set_xticks(range(len(epochs)))
        ax.set_xticklabels(["init" if e == 0 else str(e) for e in epochs])
        ax.set_xlabel("epochs of training", fontsize=9)
        ax.set_ylabel((ylabels or {}).get(stat, stat), fontsize=9)
        ax.tick_params(labelsize=8)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    return fig


def summary_table(df: pd.DataFrame, stats, *, by=("act", "measure"), epochs=None) -> pd.DataFrame:
    """``mean ± sd (n)`` of each statistic at each epoch in ``epochs`` (default: first and last)."""
    all_epochs = sorted(df["epoch"].unique())
    epochs = [all_epochs[0], all_epochs[-1]] if epochs is None else list(epochs)
    rows = []
    for key, d in df[df.epoch.isin(epochs)].groupby(list(by) + ["epoch"]):
        row = dict(zip(list(by) + ["epoch"], key))
        for s in stats:
            v = d[s].dropna()
            row[s] = (f"{v.mean():+.2f} ± {v.std():.2f} ({len(v)})" if len(v) > 1
                      else (f"{v.mean():+.2f} (1)" if len(v) else "n/a"))
        rows.append(row)
    out = pd.DataFrame(rows)
    out["epoch"] = out["epoch"].map(lambda e: "init" if e == 0 else f"after {e}")
    return out


__all__ = ["show_digits", "line_panels", "plane_panels", "spectra_panels", "spread_panels", "summary_table",
           "CLASS_CMAP", "CLASS_NORM", "MEASURE_LABEL"]
