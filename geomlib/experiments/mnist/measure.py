"""The MNIST slice experiments (SPEC §4.1-4.3 F4/F5, §4.5): a ``[784, w, 10]`` MLP trained with
Adam, then, at every snapshot from true initialisation on, lines between two held-out digits and
planes through three, with predictions, entropy, two volume measures and anchor spectra.

Volume measures (SPEC §2.3, both in log10 units):

* ``induced``: ``log10 sqrt(det V^T g V)``, the area element the metric induces on the plane per
  unit chart area (length element per unit t on a line), from k = 2 (1) JVPs per point;
* ``effective``: the authors' effective top-k log volume over the full input space,
  ``sum_{i<=k} log10 s_i`` with ``s_i`` the singular values of ``J / sqrt(n)`` (k = 10 on planes,
  k = min(784, w) on lines: the log pseudo-determinant, SPEC §2.3).

Feature map: ``Phi(x) = phi(W1 x + b1)`` (SPEC §2.1; the readout is never part of Phi), handed to
:mod:`geomlib.numeric` as ``nn.Sequential(hidden, activation)`` sharing the model's parameters,
which its closed-form routes accept. Geometry is float64; training may be float32 (quick).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from .cache import artifact_path, cached
from .data.anchors import choose_anchors
from .planestats import boundary_contrast, entropy_from_logits, volume_entropy_correlation
from .profiles import seed_everything
from .train import ShallowMLP, fit, minibatches

LINE_PAIRS = ((1, 6), (1, 5), (5, 7))
PLANE_TRIPLES = ((5, 6, 1), (5, 6, 7), (7, 6, 1))
SPEC_SEEDS = (401, 402, 403, 404, 405, 501)
ACT_MODULES = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU}


@dataclass(frozen=True)
class MNISTSettings:
    """Settings of one profile (SPEC §4.1 F4/F5 for ``paper``; reductions for ``quick``/``tiny``).

    ``snapshot_epochs`` are counted from true initialisation (0 = before any step; SPEC §4.4).
    ``eff_stride``: the effective volume (full Jacobian) is evaluated on every ``eff_stride``-th
    plane grid point per axis (a nested, coarser grid), the induced area on every point.
    """

    profile: str
    width: int
    epochs: int
    batch_size: int
    n_train: int | None  # cap on training images (None: all)
    train_dtype: str  # "float32" | "float64"
    line_epochs: tuple
    plane_epochs: tuple
    line_steps: int
    plane_n: int
    eff_stride: int
    seeds: tuple
    relu_seeds: tuple
    lr: float = 1e-3
    weight_decay: float = 1e-4
    k_plane: int = 10
    k_line: int = 784
    eff_method: str = "gram"  # geomlib.numeric.effective_log10_volume method
    cpu_threads: int | None = 1  # torch threads on CPU (None: torch's default); see use_threads

    @property
    def snapshot_epochs(self) -> tuple:
        return tuple(sorted(set(self.line_epochs) | set(self.plane_epochs)))

    @property
    def k_line_used(self) -> int:
        """k of the line volume: 784 capped at rank(g) <= min(784, w) (SPEC §2.3)."""
        return min(self.k_line, self.width, 784)

    def params(self) -> dict:
        return asdict(self)


def settings_for(profile: str, seed: int = 401) -> MNISTSettings:
    """The settings of ``profile``: tiny uses ``seed``, quick ``(seed, seed + 1)``, paper SPEC's six
    seeds (ReLU: the first one, paper the first two)."""
    if profile == "tiny":
        return MNISTSettings("tiny", width=100, epochs=3, batch_size=10, n_train=1000, train_dtype="float32",
                             line_epochs=(0, 1, 3), plane_epochs=(0, 1, 3), line_steps=16, plane_n=9,
                             eff_stride=1, seeds=(seed,), relu_seeds=(seed,))
    if profile == "quick":
        return MNISTSettings("quick", width=256, epochs=20, batch_size=100, n_train=10000, train_dtype="float32",
                             line_epochs=(0, 1, 10, 20), plane_epochs=(0, 1, 10, 20), line_steps=64, plane_n=25,
                             eff_stride=2, seeds=(seed, seed + 1), relu_seeds=(seed,))
    if profile == "paper":
        return MNISTSettings("paper", width=2000, epochs=200, batch_size=1000, n_train=None, train_dtype="float64",
                             line_epochs=(0, 1, 60, 180), plane_epochs=(0, 1, 100, 200), line_steps=64,
                             plane_n=60, eff_stride=1, seeds=SPEC_SEEDS, relu_seeds=SPEC_SEEDS[:2], eff_method="auto",
                             cpu_threads=None)
    raise ValueError(f"unknown profile {profile!r}: choose tiny, quick or paper")


def use_threads(s: MNISTSettings, device) -> int:
    """Apply ``s.cpu_threads`` on CPU and return the thread count in use.

    The small matrices of the tiny/quick runs (batches of 10-100, 100-256 hidden units) gain little
    from a second thread and lose up to 10x when the cores are shared with other processes
    (measured on the 2-core build machine), so those profiles run single-threaded.
    """
    if torch.device(device).type == "cpu" and s.cpu_threads:
        torch.set_num_threads(int(s.cpu_threads))
    return torch.get_num_threads()


def _dtype(name: str) -> torch.dtype:
    return {"float32": torch.float32, "float64": torch.float64}[name]


def _train_subset(data, n: int | None, seed: int):
    """The first ``n`` training images of a seeded permutation (all if ``n`` is None or larger)."""
    N = len(data.train_y)
    if n is None or n >= N:
        return data.train_x, data.train_y
    idx = torch.from_numpy(np.random.default_rng(seed).permutation(N)[:n])
    return data.train_x[idx], data.train_y[idx]


def data_params(data) -> dict:
    """The parts of a dataset's source record that identify it (for cache keys)."""
    return {k: data.source.get(k) for k in ("dataset", "origin", "n_train", "n_test", "split", "scaling")}


def train_mnist(data, s: MNISTSettings, seed: int, act: str = "sigmoid", *, device=None,
                progress: bool = True, refresh: bool = False):
    """Train the ``[784, w, 10]`` MLP of settings ``s`` (Adam, cross-entropy, N(0,1) init, SPEC §4.1
    F4) and return its :class:`~geomlib.train.TrainResult` (snapshots at ``s.snapshot_epochs``).

    Cached under ``artifacts/mnist_train`` by (settings, seed, act, data source); an interrupted
    run resumes from its checkpoint. ``evals`` record train accuracy (on <= 5000 training
    images), test accuracy and test loss.
    """
    if act not in ACT_MODULES:
        raise ValueError(f"unknown activation {act!r}: choose one of {', '.join(ACT_MODULES)}")
    dev = torch.device(device) if device is not None else torch.device("cpu")
    params = {"settings": s.params(), "seed": int(seed), "act": act, "data": data_params(data)}
    dt = _dtype(s.train_dtype)

    def compute():
        x, y = _train_subset(data, s.n_train, seed)
        x, y = x.to(dev, dt), y.to(dev)
        tx, ty = data.test_x.to(dev, dt), data.test_y.to(dev)
        seed_everything(seed)
        model = ShallowMLP(x.shape[1], s.width, 10, act, dtype=dt, device=dev)
        opt = torch.optim.Adam(model.parameters(), lr=s.lr, weight_decay=s.weight_decay)

        def step(m, batch):
            xb, yb = batch
            return nn.functional.cross_entropy(m(xb), yb)

        def evaluate(m):
            tr = m(x[:5000]).argmax(-1).eq(y[:5000]).double().mean()
            logits = m(tx)
            return {"train_acc": tr.item(), "test_acc": logits.argmax(-1).eq(ty).double().mean().item(),
                    "test_loss": nn.functional.cross_entropy(logits, ty).item()}

        ckpt = artifact_path("mnist_train_ckpt", params)
        res = fit(model, step, minibatches(x, y, s.batch_size, seed, drop_last=False), opt, epochs=s.epochs,
                  snapshot_epochs=s.snapshot_epochs, checkpoint=ckpt, device=dev, progress=progress,
                  desc=f"MNIST {act} w={s.width} seed={seed}", eval_fn=evaluate,
                  eval_every=max(1, s.epochs // 20), meta=params)
        res.meta.update(n_train_used=len(y), device=str(dev))
        return res

    return cached("mnist_train", params, compute, refresh=refresh)


def geometry_model(s: MNISTSettings, act: str, state: dict, device=None) -> ShallowMLP:
    """A float64 eval-mode copy of the network with snapshot ``state`` loaded."""
    m = ShallowMLP(784, s.width, 10, act, dtype=torch.float64, device=device)
    m.load_state_dict(state)
    return m.eval()


def feature_module(model: ShallowMLP) -> nn.Sequential:
    """``Phi = phi(W1 x + b1)`` as an ``nn.Sequential`` sharing ``model``'s parameters."""
    return nn.Sequential(model.hidden, ACT_MODULES[model.act_name]()).eval()


LN10 = math.log(10.0)


def slice_measures(model: nn.Module, phi, points: torch.Tensor, directions: torch.Tensor, k: int,
                   *, eff_index: torch.Tensor | None = None, chunk_size: int | None = None,
                   eff_method: str = "auto") -> dict:
    """Predictions and volumes at slice points (all NumPy, float64).

    ``points``: ``[N, 784]``; ``directions``: ``[m, 784]`` (m = 2 plane, 1 line); ``eff_index``
    selects the points where the effective top-``k`` volume is computed (default: all).
    Returns ``pred [N]``, ``entropy [N]`` (log10), ``induced [N]`` (log10 area/length element),
    ``effective [M]`` (log10), ``eff_rank [M]`` (singular values used), ``eff_index [M]``.
    Singular points give ``-inf`` (warned by :mod:`geomlib.numeric`, SPEC §2.5).
    """
    from .numeric import effective_log10_volume, induced_log_volume

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
    from .numeric import metric_spectrum

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
    effective volume (recorded per point in ``eff_rank``) and singular points (``-inf``, SPEC §2.5)."""

    def __enter__(self):
        from .numeric import RankCapWarning, SingularMetricWarning

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
    from .numeric import Line

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
    from .numeric import Plane

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
    """Rows (one per triple, epoch, measure, region) of the SPEC §4.5 plane statistics:
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


__all__ = ["LINE_PAIRS", "PLANE_TRIPLES", "MNISTSettings", "settings_for", "use_threads", "choose_anchors", "train_mnist",
           "geometry_model", "feature_module", "slice_measures", "anchor_spectrum", "nested_index",
           "evaluate_lines", "evaluate_planes", "plane_statistics", "line_statistics"]
