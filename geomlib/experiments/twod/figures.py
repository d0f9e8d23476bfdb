"""Figures of the 2-D chapters (colour maps as in Methods: predictions and colour maps: prediction ``cividis`` with the empirical
boundary in red, log10 volume ``viridis`` (log scale), curvature ``coolwarm`` clipped symmetrically)."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap

from ...stats.twod import FAR, NEAR


def _mesh(f):
    return np.meshgrid(f["xs"], f["ys"])


def boundary_line(ax, f, **kw):
    """Red contour through the cells where the predicted class changes (both axes)."""
    X, Y = _mesh(f)
    if np.unique(f["pred"]).size > 1:
        ax.contour(X, Y, f["pred"].astype(float), levels=[0.5], colors=kw.pop("colors", "red"),
                   linewidths=kw.pop("linewidths", 1.2), **kw)


def unit_lines(ax, f, *, max_lines: int = 300, **kw):
    """Hidden-unit hyperplanes ``w_j . x + b_j = 0`` (the authors' "analytic" plot mode)."""
    W, b = f["units"]
    xs, ys = f["xs"], f["ys"]
    lo, hi = xs[0], xs[-1]
    t = np.linspace(lo, hi, 2)
    style = dict(color="white", lw=0.5, alpha=max(0.1, 0.45 * min(1.0, 30 / max(len(b), 1)))) | kw
    for (w1, w2), bj in list(zip(W, b))[:max_lines]:
        if abs(w2) > abs(w1):
            ax.plot(t, -(w1 * t + bj) / w2, **style)
        else:
            ax.plot(-(w2 * t + bj) / w1, t, **style)
    ax.set_xlim(lo, hi)
    ax.set_ylim(ys[0], ys[-1])


def _robust_clip(R: np.ndarray, cap: float, q: float = 0.98) -> float:
    fin = np.abs(R[np.isfinite(R)])
    if fin.size == 0:
        return 1.0
    return float(min(cap, max(np.quantile(fin, q), 1e-12)))


def _square(ax):
    ax.set_aspect("equal")
    ax.set_xticks([-1, 0, 1])
    ax.set_yticks([-1, 0, 1])


def plot_fields(fields: dict, epochs, *, layer: int = 1, units: bool = False, data=None, R_cap: float = 100.0,
                title: str = "", col_titles=None):
    """Rows = epochs; columns = predicted class, log10 volume element, scalar curvature R.

    ``fields``: ``{epoch: snapshot_fields(...) + {"acc"}}``; ``data``: optional ``(x, y)`` training set
    drawn on the prediction panel; ``units``: overlay hidden-unit lines on the volume panel.
    R is clipped to ``±min(R_cap, 98th percentile of |R|)`` (stated in the colour-bar label).
    """
    epochs = list(epochs)
    fig, axes = plt.subplots(len(epochs), 3, figsize=(11, 3.3 * len(epochs)), squeeze=False,
                             constrained_layout=True)
    pred_cmap = ListedColormap(plt.get_cmap("cividis")([0.15, 0.85]))
    for row, e in zip(axes, epochs):
        f = fields[e]
        X, Y = _mesh(f)
        L = f["layers"][layer]
        label = "initialisation" if e == 0 else f"after {e} epochs"
        row[0].pcolormesh(X, Y, f["pred"], cmap=pred_cmap, vmin=0, vmax=1, shading="auto")
        boundary_line(row[0], f)
        if data is not None:
            x, y = data
            row[0].scatter(x[:, 0], x[:, 1], c=np.where(y == 1, "k", "w"), s=6 if len(x) > 10 else 40,
                           edgecolors="k", linewidths=0.3)
        row[0].set_title(f"{label}: predicted class (train acc {f.get('acc', math.nan):.2f})", fontsize=9)
        im = row[1].pcolormesh(X, Y, L["log10_vol"], cmap="viridis", shading="auto")
        fig.colorbar(im, ax=row[1], label=r"$\log_{10}\sqrt{\det g}$")
        boundary_line(row[1], f)
        if units:
            unit_lines(row[1], f)
        row[1].set_title("volume element (log scale)", fontsize=9)
        R = L["R"]
        c = _robust_clip(R, R_cap)
        im = row[2].pcolormesh(X, Y, np.clip(R, -c, c), cmap="coolwarm", vmin=-c, vmax=c, shading="auto")
        fig.colorbar(im, ax=row[2], label=f"$R$ (clipped at ±{c:.3g})")
        boundary_line(row[2], f, colors="k", linewidths=0.8)
        nan = int(np.isnan(R).sum())
        row[2].set_title("scalar curvature $R$" + (f" ({nan} ill-conditioned points blank)" if nan else ""),
                         fontsize=9)
        for ax in row:
            _square(ax)
    if title:
        fig.suptitle(title)
    return fig


def plot_layers(fields: dict, epochs, *, quantity: str = "log10_vol", R_cap: float = 1e6, title: str = ""):
    """Rows = epochs; columns = hidden layers. ``log10_vol``: one colour scale per row shared by the
    layers (Methods: deep sinusoid protocol, F3). ``R``: one symmetric clipping per panel (curvature grows by orders of magnitude
    with depth, so a shared scale would blank the first layer)."""
    epochs = list(epochs)
    layers = sorted(fields[epochs[0]]["layers"])
    fig, axes = plt.subplots(len(epochs), len(layers), figsize=(3.7 * len(layers) + 1, 3.2 * len(epochs)),
                             squeeze=False, constrained_layout=True)
    for row, e in zip(axes, epochs):
        f = fields[e]
        X, Y = _mesh(f)
        vals = [f["layers"][l][quantity] for l in layers]
        if quantity != "R":
            kw = dict(cmap="viridis", vmin=min(np.nanmin(v) for v in vals), vmax=max(np.nanmax(v) for v in vals))
        for ax, l, v in zip(row, layers, vals):
            if quantity == "R":
                c = _robust_clip(v, R_cap, q=0.95)
                im = ax.pcolormesh(X, Y, np.clip(v, -c, c), shading="auto", cmap="coolwarm", vmin=-c, vmax=c)
                fig.colorbar(im, ax=ax, label=f"$R$ (clipped at ±{c:.3g})", shrink=0.9)
            else:
                im = ax.pcolormesh(X, Y, v, shading="auto", **kw)
            boundary_line(ax, f, colors="red" if quantity != "R" else "k", linewidths=0.9)
            when = "init" if e == 0 else f"epoch {e}"
            ax.set_title(f"layer {l}, {when} (acc {f.get('acc', math.nan):.2f})", fontsize=9)
            _square(ax)
        if quantity != "R":
            fig.colorbar(im, ax=list(row), label=r"$\log_{10}\sqrt{\det g}$", shrink=0.9)
    if title:
        fig.suptitle(title)
    return fig


def _symlog_epochs(ax, epochs):
    ax.set_xscale("symlog", linthresh=max(10, min(e for e in epochs if e > 0)))
    ax.set_xlim(0, max(epochs) * 1.05)


def plot_delta(tables, *, group: str = "width", ax=None, title: str = ""):
    """Delta over training: one colour per ``group`` value (width or layer), the mean over seeds as a
    line, the min-max range over seeds shaded, each seed as a thin line; plus train accuracy below.

    ``tables``: a DataFrame from :func:`geomlib.experiments.twod.measure.delta_table`.
    """
    df = tables
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(8, 6), sharex=True, constrained_layout=True,
                                 gridspec_kw={"height_ratios": [2.2, 1]})
    colors = plt.get_cmap("tab10")
    epochs = sorted(df["epoch"].unique())
    for i, (g, sub) in enumerate(df.groupby(group, sort=False)):
        piv = sub.pivot_table(index="epoch", columns="seed", values="delta")
        acc = sub.pivot_table(index="epoch", columns="seed", values="acc")
        c = colors(i)
        for s in piv.columns:
            a1.plot(piv.index, piv[s], color=c, lw=0.6, alpha=0.5)
        lo, hi = piv.min(axis=1), piv.max(axis=1)
        if piv.shape[1] > 1:
            a1.fill_between(piv.index, lo, hi, color=c, alpha=0.18, lw=0)
        a1.plot(piv.index, piv.mean(axis=1), color=c, lw=2, marker="o", ms=3,
                label=f"{group} {g}" + (f" ({piv.shape[1]} seeds)" if piv.shape[1] > 1 else f" (seed {piv.columns[0]})"))
        a2.plot(acc.index, acc.mean(axis=1), color=c, lw=1.5)
        if acc.shape[1] > 1:
            a2.fill_between(acc.index, acc.min(axis=1), acc.max(axis=1), color=c, alpha=0.18, lw=0)
    a1.axhline(0, color="0.5", lw=0.8)
    a1.set_ylabel(r"$\Delta$ (log$_{10}$ vol near $-$ far)")
    a1.legend(fontsize=8)
    a2.set_ylabel("train accuracy")
    a2.set_xlabel("epochs (symlog scale)")
    a2.axhline(0.99, color="0.6", lw=0.6, ls=":")
    _symlog_epochs(a2, epochs)
    a1.set_title(title or rf"$\Delta$ = mean over dist$_B<{NEAR}$ minus mean over dist$_B>{FAR}$, on $[-1,1]^2$")
    return fig


def plot_init_vs_theory(fields_by_width: dict, theory_fn, *, r_max: float = 1.5, title: str = ""):
    """Initial log10 volume fields of several widths beside the infinite-width prediction (Methods: T3)
    on one colour scale (first figure), and every grid point's value against ``|x|`` with the
    predicted curve (second figure). Returns both figures.

    ``fields_by_width``: ``{label: snapshot_fields at init}`` (shallow); ``theory_fn(r) -> log10 vol``.
    """
    labels = list(fields_by_width)
    ncol = len(labels) + 1
    fig, axes = plt.subplots(1, ncol, figsize=(min(2.9 * ncol + 1, 14), 3.2), constrained_layout=True)
    f0 = fields_by_width[labels[0]]
    X, Y = _mesh(f0)
    th = theory_fn(np.hypot(X, Y))
    allv = [fields_by_width[k]["layers"][1]["log10_vol"] for k in labels] + [th]
    vmin, vmax = min(np.nanmin(v) for v in allv), max(np.nanmax(v) for v in allv)
    im = axes[0].pcolormesh(X, Y, th, cmap="viridis", vmin=vmin, vmax=vmax, shading="auto")
    axes[0].set_title("infinite width (T3)", fontsize=9)
    for ax, k in zip(axes[1:], labels):
        f = fields_by_width[k]
        Xk, Yk = _mesh(f)
        ax.pcolormesh(Xk, Yk, f["layers"][1]["log10_vol"], cmap="viridis", vmin=vmin, vmax=vmax, shading="auto")
        ax.set_title(f"init, {k}", fontsize=9)
    for ax in axes:
        _square(ax)
    fig.colorbar(im, ax=list(axes), label=r"$\log_{10}\sqrt{\det g}$", shrink=0.85)
    if title:
        fig.suptitle(title)
    fig2, ax = plt.subplots(figsize=(7.5, 3.6), constrained_layout=True)
    r = np.linspace(0, r_max * math.sqrt(2), 200)
    for i, k in enumerate(labels):
        f = fields_by_width[k]
        Xk, Yk = _mesh(f)
        ax.scatter(np.hypot(Xk, Yk).ravel(), f["layers"][1]["log10_vol"].ravel(), s=3, alpha=0.35,
                   color=plt.get_cmap("tab10")(i), label=k)
    ax.plot(r, theory_fn(r), "k", lw=2, label="infinite width (T3)")
    ax.set_xlabel(r"$\Vert x\Vert$")
    ax.set_ylabel(r"$\log_{10}\sqrt{\det g}$")
    ax.legend(fontsize=8, markerscale=4)
    return fig, fig2


def plot_R_vs_authors(f: dict, *, layer: int = 1, title: str = ""):
    """Standard R beside the authors' convention (3R for shallow nets, Methods: the authors' curvature), with their ratio."""
    R, R3 = f["layers"][layer]["R"], f["R3"]
    X, Y = _mesh(f)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), constrained_layout=True)
    c = _robust_clip(R3, 300.0)
    for ax, v, name in ((axes[0], R, "standard $R$ (unit sphere $+2$)"), (axes[1], R3, "authors' convention")):
        im = ax.pcolormesh(X, Y, np.clip(v, -c, c), cmap="coolwarm", vmin=-c, vmax=c, shading="auto")
        boundary_line(ax, f, colors="k", linewidths=0.8)
        ax.set_title(name, fontsize=9)
        _square(ax)
    fig.colorbar(im, ax=list(axes[:2]), label=f"curvature (clipped at ±{c:.3g})", shrink=0.85)
    ok = np.isfinite(R) & np.isfinite(R3) & (np.abs(R) > 1e-8)
    axes[2].scatter(R[ok], R3[ok], s=3, alpha=0.4)
    lim = np.nanmax(np.abs(R[ok])) if ok.any() else 1
    axes[2].plot([-lim, lim], [-3 * lim, 3 * lim], "r", lw=1, label="slope 3")
    axes[2].set_xlabel("standard $R$")
    axes[2].set_ylabel("authors' value")
    axes[2].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig
