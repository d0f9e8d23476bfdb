"""Orchestration for the deep chapters: per-profile scan settings, anchor triples, and cached
plane/line scans and probes of a trained run's snapshots (geomlib.cache keys them by every
parameter and geomlib's source, so a re-run of a chapter reuses them)."""
from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch

from ..cache import artifact_path, cached, load
from ..data.anchors import choose_anchors
from .planescan import (classifier_readout, plane_stats, probe_readout, scan_line, scan_plane,
                        scan_plane_effective)
from .runs import DeepRun, checkpoint_path

# SPEC §4.3: the authors' class triples (x1, x2, x3) and same-class controls (F6)
TRIPLES = ((5, 6, 1), (5, 6, 7), (7, 6, 1))
SAME_CLASS = ((0, 0, 0), (6, 6, 6))
LINE_CLASSES = (7, 6)


@dataclass(frozen=True)
class ScanConfig:
    """Grid sizes of one profile: ``n`` (plane, induced area), ``n_eff`` (plane, authors'
    effective volume, full Jacobians), ``line_steps``, ``draws`` (anchor draws per class triple,
    for the spread), geometry ``dtype``."""

    n: int
    n_eff: int
    line_steps: int
    draws: int
    dtype: str
    n_triples: int = 3  # how many of TRIPLES (and SAME_CLASS, at most 2) to scan
    eff_all: bool = True  # effective volume on every plane (else only on the figure's full scans)

    @property
    def triples(self) -> tuple:
        return TRIPLES[: self.n_triples]

    @property
    def same_class(self) -> tuple:
        return SAME_CLASS[: min(2, self.n_triples)]

    @property
    def torch_dtype(self) -> torch.dtype:
        return getattr(torch, self.dtype)


def scan_config(profile: str, device: torch.device | str = "cpu") -> ScanConfig:
    """tiny: 5x5 / 3x3 planes, one class triple; quick: 16x16 / 6x6 (effective volume on the
    figure's plane only), two class triples; paper: the authors' 80x80 induced-area planes,
    effective volume on 40x40 (full 512-row Jacobians: 4x cheaper than 80x80), 5 anchor draws.
    Geometry in float64, except float32 for the paper profile on a GPU (stated on the pages)."""
    gpu = torch.device(device).type == "cuda"
    table = {"tiny": ScanConfig(5, 3, 6, 1, "float64", n_triples=1, eff_all=False),
             "quick": ScanConfig(16, 6, 16, 1, "float64", n_triples=2, eff_all=False),
             "paper": ScanConfig(80, 40, 64, 5, "float32" if gpu else "float64")}
    return table[profile]


def anchor_sets(test_y: torch.Tensor, triples, draws: int, seed: int) -> list[dict]:
    """One record per (class triple, draw): ``classes``, ``draw``, ``index`` (3 held-out positions)."""
    out = []
    for classes in triples:
        for d in range(draws):
            out.append({"classes": tuple(classes), "draw": d, "index": choose_anchors(test_y, classes, seed + 1000 * d).tolist()})
    return out


def _run_params(run: DeepRun) -> dict:
    return {"checkpoint": checkpoint_path(run.recipe, run.prep.source).name,
            "recipe": asdict(run.recipe) | {"num_workers": 0, "amp": False},
            "final_loss": (run.result.history.get("loss") or [None])[-1]}  # identifies the trained weights


def probe(run: DeepRun, epoch: int):
    """Cached linear probe (standardised logistic regression) of snapshot ``epoch``."""
    return cached("deep_probe", {**_run_params(run), "epoch": epoch}, lambda: run.probe_at(epoch), verbose=False)


def readout(run: DeepRun, epoch: int, model: torch.nn.Module):
    """The classifier's softmax (supervised) or the snapshot's probe (SSL)."""
    if run.recipe.method == "supervised":
        return classifier_readout(model)
    return probe_readout(probe(run, epoch))


def plane(run: DeepRun, epoch: int, anchors: dict, cfg: ScanConfig, *, test_x: torch.Tensor,
          eff: bool | None = None, stages: bool = False, spectra: bool = False, k: int | None = None) -> dict:
    """Cached :func:`scan_plane` of snapshot ``epoch`` through ``anchors`` (a record of
    :func:`anchor_sets`). ``eff``: the authors' effective volume on the ``n_eff`` grid (default
    ``cfg.eff_all``); ``stages``: per-stage area maps; ``spectra``: anchor spectra; ``k``: top-k
    of the effective volume (default n, the rank). A cached scan with more parts is reused."""
    eff = cfg.eff_all if eff is None else eff
    base = {**_run_params(run), "epoch": epoch, "index": list(anchors["index"]), "n": cfg.n,
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
        return scan_plane(model, x, readout(run, epoch, model), n=cfg.n, n_eff=cfg.n_eff if eff else 0, k=k,
                          stages=(1, 2, 3, 4) if stages else (), spectra=spectra, device=run.device,
                          dtype=cfg.torch_dtype)
    return {**cached("deep_plane_scan", key(eff, stages, spectra), compute, verbose=False), **tag}


def plane_effective(run: DeepRun, epoch: int, anchors: dict, cfg: ScanConfig, k: int, *,
                    test_x: torch.Tensor) -> dict:
    """Cached effective-volume-only scan (:func:`scan_plane_effective`) with top-``k``."""
    params = {**_run_params(run), "epoch": epoch, "index": list(anchors["index"]), "n_eff": cfg.n_eff,
              "dtype": cfg.dtype, "k": k}

    def compute():
        model = run.model_at(epoch)
        x = run.prep.net_input(test_x[anchors["index"]].double())
        return scan_plane_effective(model, x, readout(run, epoch, model), n_eff=cfg.n_eff, k=k,
                                    device=run.device, dtype=cfg.torch_dtype)
    return cached("deep_plane_eff", params, compute, verbose=False)


def line(run: DeepRun, epoch: int, index: list[int], cfg: ScanConfig, *, test_x: torch.Tensor) -> dict:
    """Cached :func:`scan_line` between two held-out images (per-stage lengths included)."""
    params = {**_run_params(run), "epoch": epoch, "index": list(index), "steps": cfg.line_steps, "dtype": cfg.dtype}

    def compute():
        model = run.model_at(epoch)
        x = run.prep.net_input(test_x[list(index)].double())
        return scan_line(model, x[0], x[1], readout(run, epoch, model), steps=cfg.line_steps,
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
    """:func:`geomlib.data.choose_anchors` as a list of ints (indices into the test split)."""
    return choose_anchors(labels, classes, seed).tolist()
