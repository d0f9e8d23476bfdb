"""Brute-force scalar curvature of any metric function by autograd, for checking the symbolic
closed forms on grids (the "autodiff" leg of the symbolic / autodiff / Monte Carlo triangle).

``metric_fn``: x shape=[d] -> g shape=[d, d] (torch, differentiable twice). The 2-jet (g, dg, ddg)
comes from ``torch.func.jacfwd``; the curvature uses the same lowered-Riemann formula and the
conventions (Methods: curvature conventions) as :mod:`geomlib.symbolic.curvature`::

    R_{abmn} = 1/2 (d_b d_m g_an + d_a d_n g_bm - d_a d_m g_bn - d_b d_n g_am)
               + g^{pq} (Gamma_{q,na} Gamma_{p,mb} - Gamma_{q,ma} Gamma_{p,nb}),   R = g^{am} g^{bn} R_{abmn}.
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import Callable

import torch
from torch.func import jacfwd, vmap


@contextmanager
def quiet_forward_ad():
    """torch 2.14 warns once (``torch.jit.script is deprecated``) from its own forward-AD
    decompositions on the first jacfwd/jvp; that is torch-internal, not ours: silence just that."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.script.*is deprecated", category=FutureWarning)
        yield


def metric_jet(metric_fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor):
    """(g [N,d,d], dg [N,k,d,d] = d_k g, ddg [N,k,l,d,d] = d_k d_l g) at points x (shape=[N, d])."""
    x = x if isinstance(x, torch.Tensor) and x.is_floating_point() else torch.as_tensor(x, dtype=torch.float64)
    if x.dim() == 1:
        x = x.unsqueeze(0)
    with quiet_forward_ad():
        g = vmap(metric_fn)(x)
        dg = vmap(jacfwd(metric_fn))(x).permute(0, 3, 1, 2)  # [N, i, j, k] -> [N, k, i, j]
        ddg = vmap(jacfwd(jacfwd(metric_fn)))(x).permute(0, 3, 4, 1, 2)  # [N, i, j, k, l] -> [N, k, l, i, j]
    return g, dg, ddg


def scalar_curvature_from_jet_torch(g, dg, ddg) -> torch.Tensor:
    """R from batched jets (shapes as returned by :func:`metric_jet`) -> shape=[N]."""
    G = torch.linalg.inv(g)
    # Gamma_{a,mn} = 1/2 (d_m g_an + d_n g_am - d_a g_mn);  dg[N, k, i, j] = d_k g_ij
    G1 = 0.5 * (dg.permute(0, 2, 1, 3) + dg.permute(0, 2, 3, 1) - dg)  # [N, a, m, n]
    # second-derivative part, indices (a, b, m, n); ddg[N, k, l, i, j] = d_k d_l g_ij
    second = 0.5 * (torch.einsum("zbman->zabmn", ddg) + torch.einsum("zanbm->zabmn", ddg)
                    - torch.einsum("zambn->zabmn", ddg) - torch.einsum("zbnam->zabmn", ddg))
    quad = (torch.einsum("zpq,zqna,zpmb->zabmn", G, G1, G1) - torch.einsum("zpq,zqma,zpnb->zabmn", G, G1, G1))
    Rl = second + quad
    return torch.einsum("zam,zbn,zabmn->z", G, G, Rl)


def scalar_curvature_autodiff(metric_fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Scalar curvature of ``metric_fn`` at x (shape=[N, d]) -> [N], by autograd jets."""
    return scalar_curvature_from_jet_torch(*metric_jet(metric_fn, x))
