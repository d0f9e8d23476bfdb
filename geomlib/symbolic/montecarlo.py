"""Finite-width random networks, for Monte Carlo checks of the infinite-width theory (T3, T7).

Independent of geomlib.numeric on purpose: the shallow metric is computed directly from its
definition (Methods: pullback metric), ``g = (1/n) sum_j phi'(z_j)^2 w_j w_j^T``, and deep networks by torch
autograd (``torch.func.jacfwd``) of the width-normalised features.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from .activations import Z, activation as _as_activation
from .bridge import to_torch


def _gen(seed: int | None, device) -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(0 if seed is None else int(seed))
    return g


def _points(x, device) -> torch.Tensor:
    # float64 unless x is a floating tensor (then its dtype): never torch's default dtype
    x = x.to(device) if isinstance(x, torch.Tensor) and x.is_floating_point() else \
        torch.as_tensor(np.asarray(x, dtype=float) if not isinstance(x, torch.Tensor) else x, dtype=torch.float64,
                        device=device)
    x = x.unsqueeze(0) if x.dim() == 1 else x
    if x.dim() != 2:
        raise ValueError(f"points must have shape [N, d], got {tuple(x.shape)}")
    return x


def random_shallow_metric(act, x, width: int, sigma_w: float = 1.0, sigma_b: float = 1.0, *,
                          seed: int | None = 0, device=None, chunk: int = 65536) -> torch.Tensor:
    """Metric of one random shallow network of width ``width`` at points ``x`` (shape=[N, d])
    -> shape=[N, d, d]. Weights N(0, sigma_w^2), biases N(0, sigma_b^2), one draw per ``seed``.
    Processed in chunks of units so that large widths fit in memory."""
    act = _as_activation(act)
    if int(width) < 1:
        raise ValueError(f"width must be >= 1, got {width}")
    if sigma_w < 0 or sigma_b < 0:
        raise ValueError("sigma_w and sigma_b are standard deviations: they must be >= 0")
    dev = torch.device(device) if device is not None else torch.device("cpu")
    x = _points(x, dev)
    N, d = x.shape
    dphi = to_torch(act.prime(), (Z,))
    gen = _gen(seed, dev)
    g = torch.zeros(N, d, d, dtype=x.dtype, device=dev)
    done = 0
    while done < width:
        k = min(chunk, width - done)
        W = torch.randn(k, d, generator=gen, dtype=x.dtype, device=dev) * sigma_w
        b = torch.randn(k, generator=gen, dtype=x.dtype, device=dev) * sigma_b
        z = x @ W.T + b  # [N, k]
        f = dphi(z) ** 2
        g += torch.einsum("nk,ka,kb->nab", f, W, W)
        done += k
    return g / width


def random_deep_net(act, d: int, widths: Sequence[int], sigma_w: Sequence[float], sigma_b: Sequence[float], *,
                    seed: int | None = 0, device=None, dtype: torch.dtype = torch.float64
                    ) -> Callable[[torch.Tensor], list[torch.Tensor]]:
    """A random deep network ``x[d] -> [Phi~^1, ..., Phi~^L]`` in T7's parametrisation
    (``h^l = W^l Phi~^{l-1} + b^l``, ``Phi~^l = phi(h^l)/sqrt(n_l)``, ``Phi~^0 = x``); weights in
    ``dtype`` (float64 by default, never torch's default dtype)."""
    act = _as_activation(act)
    widths = [int(n) for n in widths]
    if not (len(widths) == len(sigma_w) == len(sigma_b)) or not widths:
        raise ValueError("widths, sigma_w and sigma_b need one entry per layer")
    if any(n < 1 for n in widths) or any(s < 0 for s in list(sigma_w) + list(sigma_b)):
        raise ValueError("widths must be >= 1 and standard deviations >= 0")
    dev = torch.device(device) if device is not None else torch.device("cpu")
    gen = _gen(seed, dev)
    dt = dtype
    phi = to_torch(act.expr, (Z,))
    Ws, bs, fan_in = [], [], d
    for n, sw, sb in zip(widths, sigma_w, sigma_b):
        Ws.append(torch.randn(n, fan_in, generator=gen, dtype=dt, device=dev) * sw)
        bs.append(torch.randn(n, generator=gen, dtype=dt, device=dev) * sb)
        fan_in = n

    def features(xv: torch.Tensor) -> list[torch.Tensor]:
        out, h_in = [], xv
        for W, b in zip(Ws, bs):
            feat = phi(W @ h_in + b) / math.sqrt(W.shape[0])
            out.append(feat)
            h_in = feat
        return out

    return features


def random_deep_metrics(act, x, widths, sigma_w, sigma_b, *, seed: int | None = 0, device=None) -> list[torch.Tensor]:
    """Per-layer pullback metrics ``J_l^T J_l`` of the normalised features of one random deep net at
    ``x`` (shape=[N, d]); returns a list of L tensors of shape=[N, d, d] (torch.func.jacfwd)."""
    dev = torch.device(device) if device is not None else torch.device("cpu")
    x = _points(x, dev)
    net = random_deep_net(act, x.shape[-1], widths, sigma_w, sigma_b, seed=seed, device=dev, dtype=x.dtype)
    from .autodiff import quiet_forward_ad

    with quiet_forward_ad():
        jac = torch.func.vmap(torch.func.jacfwd(net))(x)  # list of [N, n_l, d]
    return [J.transpose(-1, -2) @ J for J in jac]


@dataclass
class ScalingFit:
    """Relative errors against widths and the fitted power law err ~ C n^slope."""

    widths: list[int]
    errors: list[float]          # mean over repeats
    spreads: list[float]         # standard error of that mean
    slope: float
    intercept: float

    def predicted(self, n) -> np.ndarray:
        return np.exp(self.intercept) * np.asarray(n, dtype=float) ** self.slope


def fit_scaling(widths: Sequence[int], errors: Sequence[Sequence[float]]) -> ScalingFit:
    """Least-squares fit of log(mean error) against log(width). ``errors[i]``: repeats at widths[i]."""
    widths = [int(n) for n in widths]
    if len(widths) < 2:
        raise ValueError("need at least two widths to fit a scaling exponent")
    means = [float(np.mean(e)) for e in errors]
    spreads = [float(np.std(e, ddof=1) / math.sqrt(len(e))) if len(e) > 1 else 0.0 for e in errors]
    slope, intercept = np.polyfit(np.log(widths), np.log(means), 1)
    return ScalingFit(widths, means, spreads, float(slope), float(intercept))


def relative_error(g: torch.Tensor, g_ref: torch.Tensor) -> torch.Tensor:
    """Frobenius relative error per point: ||g - g_ref|| / ||g_ref||, shapes [N, d, d] -> [N]."""
    return torch.linalg.matrix_norm(g - g_ref) / torch.linalg.matrix_norm(g_ref)
