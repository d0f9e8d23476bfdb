"""Geometry of a deep feature map on planes and lines through test images (SPEC §4.2 F6-F8,
§4.3, §4.5): predicted class, entropy, the plane-induced log area element, the authors'
effective top-k log volume, per-stage maps, anchor eigen-spectra, and the claim as numbers.

Conventions (all log values base 10):

* ``log10_area``: Euclidean-area magnification of the plane,
  ``log10 sqrt(det V^T g V) - log10 sqrt(det V^T V)`` with ``V = [e_r, e_u]`` (SPEC §2.3, "ours"),
  from two JVPs per point; a constant shift of ``log10 sqrt(det G)`` per plane, so correlations
  and contrasts are the same for either.
* ``log10_eff``: the authors' effective volume, ``sum_{i<=k} log10 s_i`` over the k largest
  singular values of ``J / sqrt(n)`` (full input space, not the plane; k = n by default, capped
  at the rank by geomlib.numeric), on a coarser grid because it needs the full Jacobian.
* Predictions and entropies come from a ``readout``: the classifier's softmax (supervised) or the
  linear probe's probabilities (SSL); the entropy is ``-sum p log10 p`` (SPEC §2.6).
* Anchors live in the network's input space (normalised pixels); planes are built there, as the
  authors do (CIFAR interpolates in normalised pixel space, SPEC §4.3).
"""
from __future__ import annotations

import math
import warnings
from typing import Callable, Sequence

import numpy as np
import torch

from ..numeric import Line, Plane, effective_log10_volume, induced_log_volume, metric_spectrum
from ..planestats import boundary_contrast, prediction_entropy, volume_entropy_correlation
from .resnet import feature_map

LN10 = math.log(10.0)


def classifier_readout(model: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """Softmax of a supervised ResNet's linear readout ``fc`` (float64 copy), features -> probs."""
    fc = model.fc
    W, b = fc.weight.detach().double(), fc.bias.detach().double()

    def readout(feats: torch.Tensor) -> torch.Tensor:
        return torch.softmax(feats.double() @ W.to(feats.device).T + b.to(feats.device), -1)
    return readout


def probe_readout(probe) -> Callable[[torch.Tensor], torch.Tensor]:
    """The linear probe's class probabilities, features -> probs (float64, on the input's device)."""
    def readout(feats: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(probe.predict_proba(feats), dtype=torch.float64, device=feats.device)
    return readout


@torch.no_grad()
def _features(phi, x: torch.Tensor, chunk: int) -> torch.Tensor:
    return torch.cat([phi(x[i:i + chunk]) for i in range(0, len(x), chunk)])


def _pred_entropy(phi, readout, pts, chunk):
    probs = readout(_features(phi, pts, chunk))
    return probs.argmax(-1).cpu().numpy(), prediction_entropy(probs.cpu()).numpy()


def plane_stats(logvol: np.ndarray, entropy: np.ndarray, pred: np.ndarray, mask=None) -> dict:
    """The claim as numbers on one plane grid (SPEC §4.5, ours): Pearson/Spearman correlation of
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
    """Scan the segment ``xa -> xb`` (network input space, both endpoints included; SPEC §4.3 ours).

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
