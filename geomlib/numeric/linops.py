"""The Jacobian of a feature map at a batch of points as a matrix-free linear operator.

``op = jacobian_operator(f, xb)`` gives ``op.jvp(v)`` (``J v``: [B, *in_shape] -> [B, n]),
``op.vjp(u)`` (``J^T u``: [B, n] -> [B, d]) and ``op.gram(v)`` (``J~^T J~ v = g v`` with
``J~ = J / sqrt(n)`` when normalised): what Lanczos (spectrum.py) and induced metrics need
without ever forming J. Two implementations:

- closed form for ``nn.Sequential`` of Linear layers and elementwise activations: the activation
  derivatives D_l are cached once, then ``J v = D_L W_L ... D_1 W_1 v`` is a chain of matmuls
  (each ~ one forward pass of that layer, the primal is not recomputed);
- generic: the stacked engine (or ``torch.func.jvp``) for ``J v`` and ``torch.func.vjp`` (graph
  kept) for ``J^T u``; f must act on samples independently (eval mode).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.func import jvp, vjp

from ._inputs import check_eval_mode, check_outputs
from .jacobian import closed_form_supported
from .stacked import UnsupportedOp, stacked_jvp


def _act_and_derivative(m: nn.Module, h: torch.Tensor):
    """``(phi(h), phi'(h))`` for an elementwise activation module: closed forms for the common ones,
    one forward-mode pass (tangent of ones) otherwise."""
    if isinstance(m, nn.Sigmoid):
        y = torch.sigmoid(h)
        return y, y - y * y
    if isinstance(m, nn.Tanh):
        y = torch.tanh(h)
        return y, 1 - y * y
    if isinstance(m, nn.ReLU):
        return torch.relu(h), (h > 0).to(h.dtype)
    if isinstance(m, nn.Identity):
        return h, torch.ones_like(h)
    return jvp(m, (h,), (torch.ones_like(h),))


class SequentialJacobian:
    """Closed-form ``J`` operator of a Linear/activation ``nn.Sequential`` at points ``xb``."""

    def __init__(self, f: nn.Sequential, xb: torch.Tensor, normalize: bool = True):
        self.in_shape = tuple(xb.shape[1:])
        self.B = xb.shape[0]
        self.d = xb[0].numel()
        self.layers = []  # ("lin", W) or ("act", D)
        with torch.no_grad():
            h = xb.reshape(self.B, -1)
            for m in f:
                if isinstance(m, nn.Flatten):
                    continue
                if isinstance(m, nn.Linear):
                    h = nn.functional.linear(h, m.weight, m.bias)
                    self.layers.append(("lin", m.weight.detach()))
                else:
                    h, D = _act_and_derivative(m, h)
                    self.layers.append(("act", D))
        self.out = h
        self.n = h.shape[1]
        self.scale = self.n ** -0.5 if normalize else 1.0

    def jvp(self, v: torch.Tensor) -> torch.Tensor:
        """``J~ v``: v shape=[..., B, *in_shape] -> [..., B, n] (leading dims broadcast)."""
        t = v.reshape(*v.shape[: v.ndim - len(self.in_shape)], self.d)
        for kind, M in self.layers:
            t = t @ M.T if kind == "lin" else M * t
        return t * self.scale

    def jvp_shared(self, V: torch.Tensor) -> torch.Tensor:
        """``J~ v`` for k directions shared by all points: V shape=[k, *in_shape] -> [k, B, n].

        The first Linear layer's tangent ``W v`` is the same at every point, so it is computed
        once (k x n numbers) and broadcast: the batch cost starts at the first activation.
        """
        t = V.reshape(V.shape[0], 1, self.d)
        for kind, M in self.layers:
            t = t @ M.T if kind == "lin" else M * t
        if t.shape[1] != self.B:
            t = t.expand(t.shape[0], self.B, t.shape[-1])
        return t * self.scale

    def induced_gram_shared(self, V: torch.Tensor) -> torch.Tensor:
        """``G = (J~ V)^T (J~ V)`` for k directions shared by all points: V shape=[k, *in_shape] ->
        [B, k, k]. After the first Linear layer the tangents are the same at every point; when only
        elementwise layers follow (a shallow net), ``G_ab = sum_j Dtot_j^2 (W v_a)_j (W v_b)_j`` is a
        single [B, n] x [n, k^2] product and no per-point tangent is ever formed."""
        k = V.shape[0]
        t = V.reshape(k, 1, self.d)
        for i, (kind, M) in enumerate(self.layers):
            if kind == "lin":
                t = t @ M.T
                continue
            rest = self.layers[i:]
            if t.shape[1] == 1 and all(kd == "act" for kd, _ in rest):
                D2 = rest[0][1] ** 2
                for _, Dm in rest[1:]:
                    D2 = D2 * Dm ** 2
                WV = t[:, 0, :]  # [k, n]
                P = (WV[:, None, :] * WV[None, :, :]).reshape(k * k, -1)
                G = (D2 @ P.T).reshape(self.B, k, k)
                return G * self.scale ** 2
            t = M * t
        return gram_of_tangents(t.expand(k, self.B, t.shape[-1]) * self.scale)

    def vjp(self, u: torch.Tensor) -> torch.Tensor:
        """``J~^T u``: u shape=[..., B, n] -> [..., B, d]."""
        for kind, M in reversed(self.layers):
            u = u @ M if kind == "lin" else M * u
        return u * self.scale

    def gram(self, v: torch.Tensor) -> torch.Tensor:
        """``g v = J~^T J~ v``: v shape=[B, d] -> [B, d]."""
        return self.vjp(self.jvp(v))

    def gram_rows(self, v: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """``g v`` at the points ``rows`` only: v shape=[len(rows), d] -> [len(rows), d]."""
        t = v
        for kind, M in self.layers:
            t = t @ M.T if kind == "lin" else M[rows] * t
        for kind, M in reversed(self.layers):
            t = t @ M if kind == "lin" else M[rows] * t
        return t * self.scale ** 2


class AutodiffJacobian:
    """Generic ``J`` operator from torch.func.jvp / vjp at points ``xb`` (eval-mode f)."""

    def __init__(self, f: Callable, xb: torch.Tensor, normalize: bool = True):
        check_eval_mode(f)
        self.in_shape = tuple(xb.shape[1:])
        self.B = xb.shape[0]
        self.d = xb[0].numel()

        def flat(z):
            y = f(z)
            return y.reshape(y.shape[0], -1)

        with torch.enable_grad():
            out, self._pull = vjp(flat, xb)
        self.out = check_outputs(out.detach(), self.B)
        self.n = self.out.shape[1]
        self.scale = self.n ** -0.5 if normalize else 1.0
        self._f = flat
        self._xb = xb
        self._stacked = True

    def jvp(self, v: torch.Tensor) -> torch.Tensor:
        """``J~ v``: v shape=[B, *in_shape] (or [B, d]) -> [B, n].

        The stacked engine (primal and tangent in one batched pass, :mod:`.stacked`) when the
        model's ops allow it, else ``torch.func.jvp``; the primal is recomputed either way.
        """
        v = v.reshape(self._xb.shape)
        if self._stacked:
            try:
                t = stacked_jvp(self._f, self._xb, v.unsqueeze(0), shared=False)[1][0]
                return t.reshape(self.B, -1) * self.scale
            except UnsupportedOp:
                self._stacked = False
        with torch.no_grad():
            t = jvp(self._f, (self._xb,), (v,))[1]
        return t.detach() * self.scale

    def vjp(self, u: torch.Tensor) -> torch.Tensor:
        """``J~^T u``: u shape=[B, n] -> [B, d]."""
        return self._pull(u)[0].detach().reshape(self.B, self.d) * self.scale

    def gram(self, v: torch.Tensor) -> torch.Tensor:
        """``g v = J~^T J~ v``: v shape=[B, d] -> [B, d]."""
        return self.vjp(self.jvp(v))


def gram_of_tangents(T: torch.Tensor) -> torch.Tensor:
    """``G[b, a, c] = T[a, b] . T[c, b]`` for T shape=[k, B, n] -> [B, k, k] (row dot products for
    small k: no transposed copies of T)."""
    k = T.shape[0]
    if k > 4:
        return torch.einsum("abj,cbj->bac", T, T)
    G = T.new_empty(T.shape[1], k, k)
    for a in range(k):
        for c in range(a, k):
            G[:, a, c] = torch.linalg.vecdot(T[a], T[c])
            G[:, c, a] = G[:, a, c]
    return G


def jacobian_operator(f: Callable, xb: torch.Tensor, *, normalize: bool = True, mode: str = "auto"):
    """Matrix-free Jacobian at a batch ``xb`` (shape=[B, *in_shape]): closed form when ``f`` is a
    supported ``nn.Sequential`` (``mode="auto"`` or ``"closed"``), else autodiff (``"autodiff"``)."""
    if mode not in ("auto", "closed", "autodiff"):
        raise ValueError(f"unknown operator mode {mode!r}: choose auto, closed or autodiff")
    if mode != "autodiff" and closed_form_supported(f):
        return SequentialJacobian(f, xb, normalize)
    if mode == "closed":
        raise ValueError("mode='closed' needs an nn.Sequential of Linear layers and elementwise activations")
    return AutodiffJacobian(f, xb, normalize)
