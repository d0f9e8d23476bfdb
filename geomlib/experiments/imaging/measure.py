"""Geometry of a deep feature map on planes and lines through test images (Methods: ResNet protocol, F6-F8;
slices; statistics): predicted class, entropy, the plane-induced log area element, the authors'
effective top-k log volume, per-stage maps, anchor eigen-spectra, and the claim as numbers;
the anchors, and the cached scans of a run's snapshots (:mod:`geomlib.cache` keys them by every
parameter and geomlib's source, so a re-run of a chapter reuses them). Shared by the supervised
and self-supervised chapters.

Conventions (all log values base 10):

* ``log10_area``: Euclidean-area magnification of the plane,
  ``log10 sqrt(det V^T g V) - log10 sqrt(det V^T V)`` with ``V = [e_r, e_u]`` (Methods: slice elements, ours),
  from two JVPs per point; a constant shift of ``log10 sqrt(det G)`` per plane, so correlations
  and contrasts are the same for either.
* ``log10_eff``: the authors' effective volume, ``sum_{i<=k} log10 s_i`` over the k largest
  singular values of ``J / sqrt(n)`` (full input space, not the plane; k = n by default, capped
  at the rank by geomlib.numeric), on a coarser grid because it needs the full Jacobian.
* Predictions and entropies come from a ``readout``: the classifier's softmax (supervised,
  :func:`geomlib.experiments.deep.measure.classifier_readout`) or the linear probe's probabilities
  (SSL, :func:`geomlib.experiments.ssl.measure.probe_readout`); the entropy is ``-sum p log10 p``
  (Methods: prediction entropy).
* Anchors live in the network's input space (normalised pixels); planes are built there, as the
  authors do (CIFAR interpolates in normalised pixel space, Methods: slices).
"""
from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import asdict
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from ...cache import artifact_path, cached, load
from ...numeric import Line, Plane, effective_log10_volume, induced_log_volume, metric_spectrum
from ...stats.planes import boundary_contrast, prediction_entropy, volume_entropy_correlation
from ..data.anchors import choose_anchors
from ..models.resnet import feature_map
from .run import DeepRun, checkpoint_path
from .settings import ScanConfig

LN10 = math.log(10.0)


@torch.no_grad()
def _features(phi, x: torch.Tensor, chunk: int) -> torch.Tensor:
    return torch.cat([phi(x[i:i + chunk]) for i in range(0, len(x), chunk)])


def _pred_entropy(phi, readout, pts, chunk):
    probs = readout(_features(phi, pts, chunk))
    return probs.argmax(-1).cpu().numpy(), prediction_entropy(probs.cpu()).numpy()


def plane_stats(logvol: np.ndarray, entropy: np.ndarray, pred: np.ndarray, mask=None) -> dict:
    """The claim as numbers on one plane grid (Methods: statistics, ours): Pearson/Spearman correlation of
    log10 volume with entropy and the boundary contrast (NaN when the plane has no class change)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(no predicted-class change|correlation undefined|boundary contrast undefined).*")
        corr = volume_entropy_correlation(logvol, entropy, mask)
        contrast = boundary_contrast(logvol, pred, mask)
    return {"pearson": corr["pearson"], "spearman": corr["spearman"], "contrast": contrast,
            "n_classes": int(len(np.unique(pred if mask is None else pred[np.asarray(mask)])))}


def _plane_effective(phi, readout, X, n_eff: int, k: int, chunk_size) -> dict:
    """Authors' effective top-k log10 volume, predictions and entropies on an n_eff x n_eff plane grid."""
    pe = Plane(X[0], X[1], X[2], n=n_eff)
    ptse = pe.points()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*exceeds the numerical rank.*")
        vol, used = effective_log10_volume(phi, ptse, k, method="gram", chunk_size=chunk_size, return_rank=True)
    pr, en = _pred_entropy(phi, readout, ptse, chunk_size or 256)
    return {"A": pe.A.cpu().numpy(), "B": pe.B.cpu().numpy(), "pred": pr.reshape(n_eff, n_eff),
            "entropy": en.reshape(n_eff, n_eff), "log10_eff": vol.cpu().numpy().reshape(n_eff, n_eff),
            "k": k, "rank_min": int(used.min())}


def scan_plane_effective(model: torch.nn.Module, anchors: torch.Tensor, readout: Callable, *, n_eff: int,
                         k: int, device: torch.device | str = "cpu", dtype=torch.float64,
                         chunk_size: int | None = None) -> dict:
    """Only the effective-volume part of :func:`scan_plane` (``out["eff"]`` and its stats), for
    another ``k`` (e.g. the authors' SimCLR k = 10)."""
    phi = feature_map(model, dtype=dtype)
    phi.module.to(torch.device(device))
    eff = _plane_effective(phi, readout, anchors.to(torch.device(device), dtype), n_eff, k, chunk_size)
    return {"eff": eff, "stats_eff": plane_stats(eff["log10_eff"], eff["entropy"], eff["pred"])}


def scan_plane(model: torch.nn.Module, anchors: torch.Tensor, readout: Callable, *, n: int = 20,
               n_eff: int | None = 10, k: int | None = None, stages: Sequence[int] = (),
               spectra: bool = True, device: torch.device | str = "cpu", dtype=torch.float64,
               chunk_size: int | None = None) -> dict:
    """Scan the plane through ``anchors`` (``shape=[3, C, 32, 32]``, network input space).

    Returns a dict of NumPy arrays: ``A, B`` chart grids ``[n, n]``, ``pred``, ``entropy``,
    ``log10_area`` (``[n, n]``), ``stats_area``; with ``n_eff``: ``eff`` = dict(A, B, pred,
    entropy, log10_eff ``[n_eff, n_eff]``, k, rank_min) and ``stats_eff``; ``stages``:
    ``{s: log10_area of stage s}``; ``spectra``: ``log10 s_i`` at the anchors ``[3, n_features]``;
    ``anchor_coords [3, 2]``, ``chart_area_factor``, ``triangle [n, n]``.
    """
    dev = torch.device(device)
    phi = feature_map(model, dtype=dtype)
    phi.module.to(dev)
    X = anchors.to(dev, dtype)
    plane = Plane(X[0], X[1], X[2], n=n)
    pts = plane.points()
    chunk = chunk_size or 256
    pred, ent = _pred_entropy(phi, readout, pts, chunk)
    shift = math.log10(plane.chart_area_factor)
    area = (induced_log_volume(phi, pts, plane.directions, chunk_size=chunk_size) / LN10 - shift)
    out = {"A": plane.A.cpu().numpy(), "B": plane.B.cpu().numpy(), "pred": pred.reshape(n, n),
           "entropy": ent.reshape(n, n), "log10_area": area.cpu().numpy().reshape(n, n),
           "anchor_coords": plane.anchor_coords.cpu().numpy(), "chart_area_factor": plane.chart_area_factor,
           "triangle": plane.triangle_mask().cpu().numpy(), "n_features": None}
    out["stats_area"] = plane_stats(out["log10_area"], out["entropy"], out["pred"])
    nf = int(_features(phi, X[:1], 1).shape[1])
    out["n_features"] = nf
    if n_eff:
        out["eff"] = _plane_effective(phi, readout, X, n_eff, nf if k is None else k, chunk_size)
        out["stats_eff"] = plane_stats(out["eff"]["log10_eff"], out["eff"]["entropy"], out["eff"]["pred"])
    out["stages"] = {}
    for s in stages:
        ps = feature_map(model, s, dtype=dtype)
        ps.module.to(dev)
        a = induced_log_volume(ps, pts, plane.directions, chunk_size=chunk_size) / LN10 - shift
        out["stages"][int(s)] = a.cpu().numpy().reshape(n, n)
    if spectra:
        lam = metric_spectrum(phi, X, chunk_size=chunk_size)
        out["spectra"] = (0.5 * torch.log10(lam.clamp_min(1e-300))).cpu().numpy()
    return out


def scan_line(model: torch.nn.Module, xa: torch.Tensor, xb: torch.Tensor, readout: Callable, *,
              steps: int = 64, effective: bool = True, k: int | None = None, stages: Sequence[int] = (),
              device: torch.device | str = "cpu", dtype=torch.float64, chunk_size: int | None = None) -> dict:
    """Scan the segment ``xa -> xb`` (network input space, both endpoints included; Methods: slices, ours).

    Returns ``t [steps]``, ``pred``, ``entropy``, ``log10_length`` (length magnification
    ``log10 sqrt(v^T g v) - log10 |v|``, one JVP per point), optionally ``log10_eff`` (authors'
    top-k effective volume) and ``stages`` ``{s: log10_length}``.
    """
    dev = torch.device(device)
    phi = feature_map(model, dtype=dtype)
    phi.module.to(dev)
    line = Line(xa.to(dev, dtype), xb.to(dev, dtype), steps=steps)
    pts = line.points()
    pred, ent = _pred_entropy(phi, readout, pts, chunk_size or 256)
    shift = math.log10(line.length)
    out = {"t": line.t.cpu().numpy(), "pred": pred, "entropy": ent,
           "log10_length": (induced_log_volume(phi, pts, line.direction, chunk_size=chunk_size) / LN10 - shift).cpu().numpy()}
    if effective:
        nf = int(_features(phi, pts[:1], 1).shape[1])
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*exceeds the numerical rank.*")
            out["log10_eff"] = effective_log10_volume(phi, pts, nf if k is None else k, method="gram",
                                                      chunk_size=chunk_size).cpu().numpy()
    out["stages"] = {}
    for s in stages:
        ps = feature_map(model, s, dtype=dtype)
        ps.module.to(dev)
        out["stages"][int(s)] = (induced_log_volume(ps, pts, line.direction, chunk_size=chunk_size) / LN10 - shift).cpu().numpy()
    return out


def summarize(stats: Sequence[dict]) -> dict:
    """Mean, standard deviation and count over anchor triples of each statistic (NaNs left out)."""
    out = {}
    for key in ("pearson", "spearman", "contrast"):
        v = np.array([s[key] for s in stats], dtype=float)
        v = v[np.isfinite(v)]
        out[key] = (float(v.mean()) if v.size else math.nan, float(v.std(ddof=1)) if v.size > 1 else math.nan, int(v.size))
    return out


# ---- anchors and cached scans of a run's snapshots ----

def anchor_sets(test_y: torch.Tensor, triples, draws: int, seed: int) -> list[dict]:
    """One record per (class triple, draw): ``classes``, ``draw``, ``index`` (3 held-out positions)."""
    out = []
    for classes in triples:
        for d in range(draws):
            out.append({"classes": tuple(classes), "draw": d, "index": choose_anchors(test_y, classes, seed + 1000 * d).tolist()})
    return out


def run_params(run: DeepRun) -> dict:
    """The parameters that identify a run's trained weights in the cache keys of its scans."""
    return {"checkpoint": checkpoint_path(run.recipe, run.prep.source).name,
            "recipe": asdict(run.recipe) | {"num_workers": 0, "amp": False},
            "final_loss": (run.result.history.get("loss") or [None])[-1]}  # identifies the trained weights


def plane(run: DeepRun, epoch: int, anchors: dict, cfg: ScanConfig, *, test_x: torch.Tensor,
          eff: bool | None = None, stages: bool = False, spectra: bool = False, k: int | None = None) -> dict:
    """Cached :func:`scan_plane` of snapshot ``epoch`` through ``anchors`` (a record of
    :func:`anchor_sets`). ``eff``: the authors' effective volume on the ``n_eff`` grid (default
    ``cfg.eff_all``); ``stages``: per-stage area maps; ``spectra``: anchor spectra; ``k``: top-k
    of the effective volume (default n, the rank). A cached scan with more parts is reused."""
    eff = cfg.eff_all if eff is None else eff
    base = {**run_params(run), "epoch": epoch, "index": list(anchors["index"]), "n": cfg.n,
            "dtype": cfg.dtype, "k": k}

    def key(e, st, sp):
        return {**base, "n_eff": cfg.n_eff if e else 0, "stages": st, "spectra": sp}

    tag = {"classes": anchors["classes"], "draw": anchors["draw"], "index": anchors["index"], "epoch": epoch}
    for e, st, sp in itertools.product(*[(True,) if want else (want, True) for want in (eff, stages, spectra)]):
        path = artifact_path("deep_plane_scan", key(e, st, sp))
        if path.exists():
            return {**load(path), **tag}

    def compute():
        model = run.model_at(epoch)
        x = run.prep.net_input(test_x[anchors["index"]].double())
        return scan_plane(model, x, run.readout_at(epoch, model), n=cfg.n, n_eff=cfg.n_eff if eff else 0, k=k,
                          stages=(1, 2, 3, 4) if stages else (), spectra=spectra, device=run.device,
                          dtype=cfg.torch_dtype)
    return {**cached("deep_plane_scan", key(eff, stages, spectra), compute, verbose=False), **tag}


def plane_effective(run: DeepRun, epoch: int, anchors: dict, cfg: ScanConfig, k: int, *,
                    test_x: torch.Tensor) -> dict:
    """Cached effective-volume-only scan (:func:`scan_plane_effective`) with top-``k``."""
    params = {**run_params(run), "epoch": epoch, "index": list(anchors["index"]), "n_eff": cfg.n_eff,
              "dtype": cfg.dtype, "k": k}

    def compute():
        model = run.model_at(epoch)
        x = run.prep.net_input(test_x[anchors["index"]].double())
        return scan_plane_effective(model, x, run.readout_at(epoch, model), n_eff=cfg.n_eff, k=k,
                                    device=run.device, dtype=cfg.torch_dtype)
    return cached("deep_plane_eff", params, compute, verbose=False)


def line(run: DeepRun, epoch: int, index: list[int], cfg: ScanConfig, *, test_x: torch.Tensor) -> dict:
    """Cached :func:`scan_line` between two held-out images (per-stage lengths included)."""
    params = {**run_params(run), "epoch": epoch, "index": list(index), "steps": cfg.line_steps, "dtype": cfg.dtype}

    def compute():
        model = run.model_at(epoch)
        x = run.prep.net_input(test_x[list(index)].double())
        return scan_line(model, x[0], x[1], run.readout_at(epoch, model), steps=cfg.line_steps,
                         stages=(1, 2, 3), device=run.device, dtype=cfg.torch_dtype)
    return cached("deep_line_scan", params, compute, verbose=False)


def claim_rows(scans: list[dict], label: str) -> list[dict]:
    """Rows (one per scan) of the claim table: model label, epoch, triple, both measures' stats."""
    rows = []
    for s in scans:
        row = {"model": label, "epoch": s["epoch"], "classes": "".join(map(str, s["classes"])), "draw": s["draw"]}
        for meas in ("area", "eff"):
            st = s.get(f"stats_{meas}") or {"pearson": math.nan, "spearman": math.nan, "contrast": math.nan,
                                            "n_classes": math.nan}
            row.update({f"{meas}_pearson": st["pearson"], f"{meas}_spearman": st["spearman"],
                        f"{meas}_contrast": st["contrast"], f"{meas}_classes": st["n_classes"]})
        rows.append(row)
    return rows


def signed(x) -> str:
    """``+0.12`` style, or ``n/a`` for NaN/None (e.g. a contrast on a plane without class change)."""
    return "n/a" if x is None or not math.isfinite(float(x)) else f"{float(x):+.2f}"


def mean_sd(values) -> str:
    """``mean ± sd (n)`` over the finite values; ``n/a`` when none (e.g. no class change)."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if v.size == 0:
        return "n/a"
    if v.size == 1:
        return f"{v[0]:+.2f} (1)"
    return f"{v.mean():+.2f} ± {v.std(ddof=1):.2f} ({v.size})"


def plane_stats_of(logvol: np.ndarray, scan: dict) -> dict:
    """:func:`plane_stats` of another log-volume grid (e.g. a stage's) on ``scan``'s plane."""
    return plane_stats(logvol, scan["entropy"], scan["pred"])


CLAIM_COLUMNS = {"area_pearson": "area vs entropy (Pearson)", "area_contrast": "area boundary contrast",
                 "eff_pearson": "eff. vol vs entropy (Pearson)", "eff_contrast": "eff. vol boundary contrast"}


def claim_summary(claims: pd.DataFrame) -> pd.DataFrame:
    """Mean ± sd (count) over anchor triples of each statistic, per model and epoch."""
    rows = []
    for (model, epoch), grp in claims.groupby(["model", "epoch"], sort=False):
        row = {"model": model, "epoch": epoch, "planes": len(grp)}
        for col, title in CLAIM_COLUMNS.items():
            if col in grp:
                row[title] = mean_sd(grp[col].tolist())
        rows.append(row)
    return pd.DataFrame(rows).set_index(["model", "epoch"])


def pick_anchors(labels, classes, seed: int) -> list[int]:
    """:func:`geomlib.experiments.data.choose_anchors` as a list of ints (indices into the test split)."""
    return choose_anchors(labels, classes, seed).tolist()
