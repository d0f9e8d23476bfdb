"""Geometry of trained 2-D models on grids: predicted class, log10 volume element, curvature, Delta.

Uses :mod:`geomlib.numeric` (pullback metric ``g = J^T J / n`` of each hidden layer's feature map,
SPEC §2.2; standard scalar curvature R, unit sphere +2, SPEC §2.4) and :mod:`geomlib.magnification`.
Grids follow :class:`geomlib.numeric.Grid2D`: values ``[n, n]`` with y along rows, x along columns.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from .. import numeric
from ..magnification import boundary_contrast_2d
from ..train.data import sinusoid_labels
from ..train.models import ShallowMLP

LN10 = math.log(10.0)


def hidden_layers(model) -> list[int]:
    """Hidden layers whose feature maps have a metric: ``[1]`` (shallow) or ``[1, ..., L-1]`` (deep)."""
    return list(range(1, model.n_hidden_layers + 1))


def _grid(n: int, lim: float, model) -> numeric.Grid2D:
    p = next(model.parameters())
    return numeric.Grid2D((-lim, lim), (-lim, lim), n, dtype=p.dtype, device=p.device)


@torch.no_grad()
def predicted_class(model, pts: torch.Tensor) -> np.ndarray:
    """argmax of the logits at ``pts [N, 2]`` -> int8 ``[N]`` (NumPy)."""
    return model(pts).argmax(-1).to(torch.int8).cpu().numpy()


def log10_volume(model, pts: torch.Tensor, layer: int = 1) -> np.ndarray:
    """``log10 sqrt(det g)`` of hidden layer ``layer``'s feature map at ``pts [N, 2]`` -> ``[N]``."""
    return (numeric.log_volume(model.feature_map(layer), pts) / LN10).cpu().numpy()


def curvature(model, pts: torch.Tensor, layer: int = 1) -> np.ndarray:
    """Standard scalar curvature R of layer ``layer``'s metric -> ``[N]``; NaN where cond(g) > 1e12."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", numeric.SingularMetricWarning)
        R = numeric.scalar_curvature(model.feature_map(layer), pts, on_singular="nan")
    for w in caught:  # re-emit anything that is not the expected ill-conditioning note
        if not issubclass(w.category, numeric.SingularMetricWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return R.cpu().numpy()


def authors_curvature(model: ShallowMLP, pts: torch.Tensor) -> np.ndarray:
    """The authors' analytic shallow curvature (``ricci_analytic``: exactly 3R, SPEC §3.8) -> ``[N]``."""
    W, b = model.hidden.weight.detach(), model.hidden.bias.detach()
    return numeric.authors_shallow_curvature_2d(W, b, pts, "sigmoid").cpu().numpy()


def snapshot_fields(model, state: dict, *, n: int = 40, lim: float = 1.5, curv: bool = True,
                    authors: bool = False) -> dict:
    """Fields of snapshot ``state`` on the ``n x n`` grid over ``[-lim, lim]^2`` (float32 grids).

    Returns ``{"xs", "ys", "pred" [n, n], "layers": {l: {"log10_vol", "R"}}, "R3" (authors', shallow,
    if asked), "units": (W1 [n1, 2], b1 [n1])}``.
    """
    model.load_state_dict(state)
    model.eval()
    grid = _grid(n, lim, model)
    pts = grid.points()
    out = {"xs": grid.xs.cpu().numpy(), "ys": grid.ys.cpu().numpy(),
           "pred": predicted_class(model, pts).reshape(n, n), "layers": {}}
    for l in hidden_layers(model):
        f = {"log10_vol": log10_volume(model, pts, l).reshape(n, n).astype(np.float32)}
        if curv:
            f["R"] = curvature(model, pts, l).reshape(n, n).astype(np.float32)
        out["layers"][l] = f
    if authors and isinstance(model, ShallowMLP):
        out["R3"] = authors_curvature(model, pts).reshape(n, n).astype(np.float32)
    W, b = model.unit_lines()
    out["units"] = (W.numpy(), b.numpy())
    return out


def true_classes(task: str, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """The labelling rule of ``task`` on a grid (sinusoid: 1[y > 0.6 sin(7x - 1)]; XOR: 1[x y < 0])."""
    if task == "xor":
        return (X * Y < 0).astype(np.int8)
    pts = torch.as_tensor(np.stack([X.ravel(), Y.ravel()], 1))
    return sinusoid_labels(pts).numpy().astype(np.int8).reshape(X.shape)


def delta_fields(model, state: dict, task: str, *, n: int = 81, baseline: np.ndarray | None = None) -> dict:
    """Delta (SPEC §4.5) of snapshot ``state`` on an ``n x n`` grid over ``[-1, 1]^2``, per hidden layer.

    Returns ``{"delta": {l: float}, "delta_true": {l: float}, "n_boundary": int}``; ``delta`` uses the
    model's own predicted boundary (NaN when it has none in the window), ``delta_true`` the task's
    true boundary (always defined). With ``baseline`` (a log10 volume grid ``[n, n]``, e.g. the
    infinite-width field) also ``delta_baseline``: that field's Delta about the model's boundary.
    """
    model.load_state_dict(state)
    model.eval()
    grid = _grid(n, 1.0, model)
    pts = grid.points()
    xs, ys = grid.xs.cpu().numpy(), grid.ys.cpu().numpy()
    pred = predicted_class(model, pts).reshape(n, n)
    true = true_classes(task, grid.X.cpu().numpy(), grid.Y.cpu().numpy())
    out = {"delta": {}, "delta_true": {}, "n_boundary": 0}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "boundary contrast undefined", RuntimeWarning)
        for l in hidden_layers(model):
            v = log10_volume(model, pts, l).reshape(n, n)
            own = boundary_contrast_2d(v, pred, xs, ys)
            out["delta"][l] = own.delta
            out["n_boundary"] = own.n_boundary
            out["delta_true"][l] = boundary_contrast_2d(v, true, xs, ys).delta
        if baseline is not None:
            out["delta_baseline"] = boundary_contrast_2d(baseline, pred, xs, ys).delta
    return out
