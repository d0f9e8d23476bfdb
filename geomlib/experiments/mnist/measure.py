"""Geometry of the MNIST slice experiments (Methods: MNIST protocol, F4/F5; statistics): at every snapshot of the
trained MLP from true initialisation on, lines between two held-out digits and planes through
three, with predictions, entropy, two volume measures and anchor spectra, and the statistics
(:mod:`geomlib.stats`) that turn them into numbers.

Volume measures (Methods: slice elements, effective volume; both in log10 units):

* ``induced``: ``log10 sqrt(det V^T g V)``, the area element the metric induces on the plane per
  unit chart area (length element per unit t on a line), from k = 2 (1) JVPs per point;
* ``effective``: the authors' effective top-k log volume over the full input space,
  ``sum_{i<=k} log10 s_i`` with ``s_i`` the singular values of ``J / sqrt(n)`` (k = 10 on planes,
  k = min(784, w) on lines: the log pseudo-determinant, Methods: effective volume).

Feature map: ``Phi(x) = phi(W1 x + b1)`` (Methods: feature maps; the readout is never part of Phi), handed to
:mod:`geomlib.numeric` as ``nn.Sequential(hidden, activation)`` sharing the model's parameters,
which its closed-form routes accept. Geometry is float64; training may be float32 (quick).
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from torch import nn

from ...cache import cached
from ...stats.planes import boundary_contrast, entropy_from_logits, volume_entropy_correlation
from ..data.anchors import choose_anchors
from .run import data_params, feature_module, geometry_model
from .settings import LINE_PAIRS, PLANE_TRIPLES, MNISTSettings

LN10 = math.log(10.0)


def slice_measures(model: nn.Module, phi, points: torch.Tensor, directions: torch.Tensor, k: int,
                   *, eff_index: torch.Tensor | None = None, chunk_size: int | None = None,
                   eff_method: str = "auto") -> dict:
    """Predictions and volumes at slice points (all NumPy, float64).

    ``points``: ``[N, 784]``; ``directions``: ``[m, 784]`` (m = 2 plane, 1 line); ``eff_index``
    selects the points where the effective top-``k`` volume is computed (default: all).
    Returns ``pred [N]``, ``entropy [N]`` (log10), ``induced [N]`` (log10 area/length element),
    ``effective [M]`` (log10), ``eff_rank [M]`` (singular values used), ``eff_index [M]``.
    Singular points give ``-inf`` (warned by :mod:`geomlib.numeric`, Methods: degenerate metrics).
    """
    from ...numeric import effective_log10_volume, induced_log_volume

    with torch.no_grad():
        logits = model(points)
    idx = torch.arange(len(points), device=points.device) if eff_index is None else eff_index.to(points.device)
    induced = induced_log_volume(phi, points, directions, chunk_size=chunk_size) / LN10
    eff, rank = effective_log10_volume(phi, points[idx], k, chunk_size=chunk_size, return_rank=True,
                                       method=eff_method)
    return {"pred": logits.argmax(-1).cpu().numpy(), "entropy": entropy_from_logits(logits).cpu().numpy(),
            "induced": induced.detach().cpu().numpy(), "effective": eff.detach().cpu().numpy(),
            "eff_rank": rank.cpu().numpy(), "eff_index": idx.cpu().numpy()}


def anchor_spectrum(phi, anchors: torch.Tensor) -> np.ndarray:
    """``log10 s_i = log10 sqrt(lambda_i(g))`` at each anchor, descending, ``[3, min(n, d)]``;
    exactly-zero eigenvalues (rank loss) give ``-inf``."""
    from ...numeric import metric_spectrum

    lam = metric_spectrum(phi, anchors).detach().cpu().numpy()
    with np.errstate(divide="ignore"):
        return 0.5 * np.log10(lam)


def nested_index(n: int, stride: int) -> torch.Tensor:
    """Flat indices of the nested ``stride`` sub-grid of an ``n x n`` grid (needs ``(n-1) % stride == 0``)."""
    if (n - 1) % stride:
        raise ValueError(f"grid n = {n} has no nested sub-grid of stride {stride} ((n - 1) % stride != 0)")
    r = torch.arange(0, n, stride)
    return (r[:, None] * n + r[None, :]).reshape(-1)


class _expected_warnings(warnings.catch_warnings):
    """Silence the warnings these slices are expected to raise, and only those: rank caps of the
    effective volume (recorded per point in ``eff_rank``) and singular points (``-inf``, Methods: degenerate metrics)."""

    def __enter__(self):
        from ...numeric import RankCapWarning, SingularMetricWarning

        out = super().__enter__()
        warnings.simplefilter("ignore", RankCapWarning)
        warnings.simplefilter("ignore", SingularMetricWarning)
        return out


def _cached_eval(kind: str, data, s, seed, act, compute):
    params = {"settings": s.params(), "seed": int(seed), "act": act, "data": data_params(data), "kind": kind}
    return cached(f"mnist_{kind}", params, compute)


def evaluate_lines(data, s: MNISTSettings, seed: int, act: str, train_result, *, device=None,
                   pairs=LINE_PAIRS) -> dict:
    """Per line (digit pair) and snapshot: t, predictions, entropy, induced log10 length element
    and effective log10 volume (k = ``s.k_line_used``); anchors are held-out digits chosen by
    :func:`choose_anchors` (indices into the test split saved). Cached."""
    dev = torch.device(device) if device is not None else torch.device("cpu")
    from ...numeric import Line

    def compute():
        out = {"pairs": list(pairs), "anchors": {}, "epochs": list(s.line_epochs), "by_epoch": {},
               "k": s.k_line_used, "steps": s.line_steps}
        xt = data.test_x.to(dev, torch.float64)
        for pair in pairs:
            out["anchors"][pair] = choose_anchors(data.test_y, pair, seed)
        for e in s.line_epochs:
            model = geometry_model(s, act, train_result.snapshots[e], dev)
            phi = feature_module(model)
            per = {}
            for pair in pairs:
                ia, ib = out["anchors"][pair].tolist()
                line = Line(xt[ia], xt[ib], steps=s.line_steps)
                with _expected_warnings():
                    m = slice_measures(model, phi, line.points(), line.direction, s.k_line_used,
                                       eff_method=s.eff_method)
                m["t"] = line.t.cpu().numpy()
                per[pair] = m
            out["by_epoch"][e] = per
        return out

    return _cached_eval("lines", data, s, seed, act, compute)


def evaluate_planes(data, s: MNISTSettings, seed: int, act: str, train_result, *, device=None,
                    triples=PLANE_TRIPLES) -> dict:
    """Per plane (digit triple) and snapshot: predictions, entropy and induced log10 area element on
    the ``n x n`` chart grid, effective top-10 log10 volume on the nested sub-grid, and the anchors'
    log10 singular values. Cached."""
    dev = torch.device(device) if device is not None else torch.device("cpu")
    from ...numeric import Plane

    def compute():
        out = {"triples": list(triples), "anchors": {}, "epochs": list(s.plane_epochs), "by_epoch": {},
               "n": s.plane_n, "eff_stride": s.eff_stride, "k": s.k_plane, "chart_area_factor": {},
               "anchor_coords": np.array(Plane.ANCHOR_COORDS)}
        xt = data.test_x.to(dev, torch.float64)
        eff_idx = nested_index(s.plane_n, s.eff_stride)
        planes = {}
        for tri in triples:
            out["anchors"][tri] = choose_anchors(data.test_y, tri, seed)
            planes[tri] = Plane(*xt[out["anchors"][tri]], n=s.plane_n)
            out["chart_area_factor"][tri] = planes[tri].chart_area_factor
            out["triangle_mask"] = planes[tri].triangle_mask().cpu().numpy()  # the same chart for every plane
        for e in s.plane_epochs:
            model = geometry_model(s, act, train_result.snapshots[e], dev)
            phi = feature_module(model)
            per = {}
            for tri in triples:
                pl = planes[tri]
                with _expected_warnings():
                    m = slice_measures(model, phi, pl.points(), pl.directions, s.k_plane, eff_index=eff_idx,
                                       eff_method=s.eff_method)
                m["spectrum"] = anchor_spectrum(phi, xt[out["anchors"][tri]])
                per[tri] = m
            out["by_epoch"][e] = per
        return out

    return _cached_eval("planes", data, s, seed, act, compute)


def plane_statistics(ev: dict, *, seed: int, act: str) -> list[dict]:
    """Rows (one per triple, epoch, measure, region) of the plane statistics (Methods: statistics):
    Pearson/Spearman correlation of log10 volume with entropy and the boundary contrast (mean log10
    volume on cells next to a predicted-class change minus elsewhere), over the full plane and the
    anchor triangle."""
    rows = []
    n, st = ev["n"], ev["eff_stride"]
    grids = {"induced": n, "effective": (n - 1) // st + 1}
    for e, per in ev["by_epoch"].items():
        for tri, m in per.items():
            for measure, gn in grids.items():
                if measure == "induced":
                    lv = m["induced"].reshape(n, n)
                    pred, ent = m["pred"].reshape(n, n), m["entropy"].reshape(n, n)
                else:
                    lv = m["effective"].reshape(gn, gn)
                    pred = m["pred"].reshape(n, n)[::st, ::st]
                    ent = m["entropy"].reshape(n, n)[::st, ::st]
                tri_mask = ev["triangle_mask"] if measure == "induced" else ev["triangle_mask"][::st, ::st]
                for region, mask in (("plane", None), ("triangle", tri_mask)):
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", RuntimeWarning)  # NaN cases are kept as NaN rows
                        c = volume_entropy_correlation(lv, ent, mask)
                        bc = boundary_contrast(lv, pred, mask)
                    rows.append({"seed": seed, "act": act, "plane": "-".join(map(str, tri)), "epoch": e,
                                 "measure": measure, "region": region, "pearson": c["pearson"],
                                 "spearman": c["spearman"], "contrast": bc, "n_points": c["n"],
                                 "n_classes": int(len(np.unique(pred if mask is None else pred[mask])))})
    return rows


def line_statistics(ev: dict, *, seed: int, act: str) -> list[dict]:
    """Rows (one per line, epoch, measure): correlation of log10 volume with entropy along the line,
    and where the volume peaks relative to the nearest predicted-class switch (in units of t)."""
    rows = []
    for e, per in ev["by_epoch"].items():
        for pair, m in per.items():
            t = m["t"]
            switches = 0.5 * (t[1:] + t[:-1])[m["pred"][1:] != m["pred"][:-1]]
            for measure in ("induced", "effective"):
                lv = m[measure]
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    c = volume_entropy_correlation(lv, m["entropy"])
                finite = np.isfinite(lv)
                t_peak = float(t[finite][np.argmax(lv[finite])]) if finite.any() else math.nan
                dist = float(np.min(np.abs(switches - t_peak))) if len(switches) and finite.any() else math.nan
                rows.append({"seed": seed, "act": act, "line": f"{pair[0]}→{pair[1]}", "epoch": e,
                             "measure": measure, "pearson": c["pearson"], "spearman": c["spearman"],
                             "t_peak": t_peak, "n_switches": int(len(switches)), "peak_to_switch": dist})
    return rows
