"""Geometry of the 2-D models on grids: predicted class, log10 volume element, curvature, Delta,
the infinite-width baseline at initialisation, and Delta over training as a table.

Uses :mod:`geomlib.numeric` (pullback metric ``g = J^T J / n`` of each hidden layer's feature map,
Methods: pullback metric; standard scalar curvature R, unit sphere +2, Methods: curvature conventions) and :mod:`geomlib.stats.twod`.
Grids follow :class:`geomlib.numeric.Grid2D`: values ``[n, n]`` with y along rows, x along columns.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from numpy.polynomial.hermite_e import hermegauss

from ... import numeric
from ...stats.twod import boundary_contrast_2d
from ..data.toy import sinusoid_labels
from ..models.mlp import ShallowMLP

LN10 = math.log(10.0)
MAX_PAIR_WIDTH = 4096  # widths up to this use the exact pair sum (an [n, n] matrix)


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


def log10_volume(model, pts: torch.Tensor, layer: int = 1, *, chunk: int = 256) -> np.ndarray:
    """``log10 sqrt(det g)`` of hidden layer ``layer``'s feature map at ``pts [N, 2]`` -> ``[N]``.

    In two dimensions ``det g`` is the Cauchy-Binet sum over pairs of feature rows of ``J`` (Methods: T2),
    ``det g = n^-2 sum_{j<k} (J_j1 J_k2 - J_j2 J_k1)^2``, a sum of non-negative terms: exact to
    rounding even where ``g`` is so ill-conditioned (saturated sigmoids of a trained narrow net,
    cond > 1e16) that an eigenvalue or Cholesky route reports it singular. For a shallow net
    ``J_j = phi'(z_j) w_j`` and the sum is the quadratic form ``a^T M a / (2 n^2)`` with
    ``a_j = phi'(z_j)^2`` and ``M_jk = det(w_j, w_k)^2`` (one matrix product; widths above
    :data:`MAX_PAIR_WIDTH` use the 2 x 2 determinant of ``g`` instead); otherwise
    ``J`` comes from :func:`geomlib.numeric.jacobian`. ``-inf`` only where the sum underflows to 0.
    """
    if isinstance(model, ShallowMLP) and model.act_name == "sigmoid":
        W, b = model.hidden.weight.detach(), model.hidden.bias.detach()
        n = W.shape[0]
        s = torch.sigmoid(pts @ W.T + b)
        a = (s * (1 - s)) ** 2  # [N, n]
        if n <= MAX_PAIR_WIDTH:
            m = W[:, None, 0] * W[None, :, 1] - W[:, None, 1] * W[None, :, 0]
            det = ((a @ (m * m)) * a).sum(1) / (2.0 * n * n)
        else:  # [n, n] would not fit; wide random nets are well conditioned: det of the 2 x 2 metric
            g = torch.einsum("pj,ja,jb->pab", a, W, W) / n
            det = (g[:, 0, 0] * g[:, 1, 1] - g[:, 0, 1] ** 2).clamp_min(0)
        return (0.5 * torch.log10(det)).cpu().numpy()
    J = numeric.jacobian(model.feature_map(layer), pts)
    if J.shape[-1] != 2:
        raise ValueError(f"log10_volume is for 2-D inputs; got Jacobians of shape {tuple(J.shape)}")
    n = J.shape[1]
    out = torch.empty(J.shape[0], dtype=J.dtype, device=J.device)
    for i in range(0, J.shape[0], chunk):
        a, b = J[i:i + chunk, :, 0], J[i:i + chunk, :, 1]
        minors = a[:, :, None] * b[:, None, :] - b[:, :, None] * a[:, None, :]  # [c, n, n], antisymmetric
        det = (minors * minors).sum((1, 2)) / (2.0 * n * n)
        out[i:i + chunk] = 0.5 * torch.log10(det)
    return out.cpu().numpy()


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
    """The authors' analytic shallow curvature (``ricci_analytic``: exactly 3R, Methods: the authors' curvature) -> ``[N]``."""
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
    """Delta (Methods: the 2-D boundary contrast) of snapshot ``state`` on an ``n x n`` grid over ``[-1, 1]^2``, per hidden layer.

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
            bad = ~np.isfinite(v)
            if bad.any():  # det g underflowed to 0: give those points the grid's smallest finite value
                out.setdefault("n_underflow", {})[l] = int(bad.sum())
                v = np.where(bad, v[~bad].min(), v)
            own = boundary_contrast_2d(v, pred, xs, ys)
            out["delta"][l] = own.delta
            out["n_boundary"] = own.n_boundary
            out["delta_true"][l] = boundary_contrast_2d(v, true, xs, ys).delta
        if baseline is not None:
            out["delta_baseline"] = boundary_contrast_2d(baseline, pred, xs, ys).delta
    return out


def delta_table(runs: dict, layer: int | None = None):
    """Long-format table (pandas) of Delta over training: one row per (width, seed, epoch, layer)."""
    import pandas as pd

    rows = []
    for (w, seed), r in runs.items():
        d = r["deltas"]
        for i, e in enumerate(d["epoch"]):
            for l, val in d["delta"][i].items():
                if layer is not None and l != layer:
                    continue
                rows.append({"width": w, "seed": seed, "epoch": e, "layer": l, "delta": val,
                             "delta_true": d["delta_true"][i][l], "acc": d["acc"][i],
                             "boundary_points": d["n_boundary"][i]})
    return pd.DataFrame(rows)


# ---- the infinite-width baseline at initialisation ----
#
# The infinite-width symmetric metric of a shallow network at initialisation (Methods: T3), by quadrature.
#
# With ``w ~ N(0, sigma_w^2 I)``, ``b ~ N(0, sigma_b^2)`` and ``u = |x|^2``, the width-normalised
# metric converges to ``g = e^Omega(u) [I + 2 Omega'(u) x x^T]`` with
# ``e^Omega = sigma_w^2 E[phi'(z)^2]``, ``z ~ N(0, s)``, ``s = sigma_w^2 u + sigma_b^2``. Since
# ``d/ds E_{N(0,s)} f = E f'' / 2``, ``Omega' = sigma_w^2 E[(phi'^2)''] / (2 E[phi'^2])``. The volume
# element is ``e^{d Omega / 2} sqrt(1 + 2 u Omega')``. For the sigmoid there is no closed form: the
# expectations use 200-node Gauss-Hermite quadrature (probabilists' weights), as in Methods: T4.
# Reference (sigmoid, ``sigma_w = sigma_b = 1``, d = 2; Methods: reference checks, C9): vol 0.044836 at 0, 0.030629 at |x| = 1.


def _sigmoid_derivatives(z):
    """phi', phi'', phi''' of the logistic sigmoid (Methods: T2: phi'' = phi'(1-2s), phi''' = phi'(1-6s+6s^2))."""
    s = 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free logistic
    d1 = s * (1 - s)
    return d1, d1 * (1 - 2 * s), d1 * (1 - 6 * s + 6 * s * s)


def symmetric_sigmoid_metric(r, *, sigma_w: float = 1.0, sigma_b: float = 1.0, d: int = 2, nodes: int = 200):
    """``(log10 volume element, e^Omega, Omega')`` of the infinite-width sigmoid metric at radii ``r``.

    ``r``: array of ``|x|`` (any shape); returns three arrays of that shape.
    """
    r = np.asarray(r, dtype=np.float64)
    if sigma_w <= 0 or sigma_b < 0:
        raise ValueError(f"need sigma_w > 0 and sigma_b >= 0, got {sigma_w}, {sigma_b}")
    z, w = hermegauss(nodes)
    w = w / np.sqrt(2 * np.pi)
    u = r * r
    s = sigma_w**2 * u + sigma_b**2
    t = np.sqrt(s)[..., None] * z  # [..., nodes]: z ~ N(0, s)
    d1, d2, d3 = _sigmoid_derivatives(t)
    e_omega = sigma_w**2 * (w * d1**2).sum(-1)
    # (phi'^2)'' = 2 phi''^2 + 2 phi' phi'''
    d_e_omega_du = sigma_w**4 * 0.5 * (w * (2 * d2**2 + 2 * d1 * d3)).sum(-1)
    omega_p = d_e_omega_du / e_omega
    vol = e_omega ** (d / 2) * np.sqrt(1 + 2 * u * omega_p)
    return np.log10(vol), e_omega, omega_p


def symmetric_log10_volume(X, Y, **kw) -> np.ndarray:
    """log10 volume element of the infinite-width sigmoid metric on a grid ``X, Y`` (same shape)."""
    return symmetric_sigmoid_metric(np.hypot(np.asarray(X), np.asarray(Y)), **kw)[0]
