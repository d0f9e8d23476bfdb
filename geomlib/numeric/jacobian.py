"""Batched Jacobians and Hessians of feature maps with torch.func (SPEC §2; issue 4 item 1).

Index convention: ``J[b, j, mu] = d Phi_j / d x_mu`` at point b (shape=[N, n, d], d = prod(in_shape),
input dimensions flattened in C order); ``H[b, j, mu, nu] = d^2 Phi_j / dx_mu dx_nu`` (shape=[N, n, d, d]).

Routes (``mode``):
- ``"fwd"``: d Jacobian-vector products (forward mode) on the whole batch, vectorised with vmap
  over the d basis tangents: cost ~ d forward passes. Best when d <= n.
- ``"rev"``: one forward pass and n vector-Jacobian products vectorised with vmap: best when n < d.
- ``"closed"``: closed form for ``nn.Sequential`` stacks of Linear layers and elementwise
  activations (``J = D_L W_L ... D_1 W_1``, D the activation derivatives): no autodiff over the
  first layer's inputs, ~ the cost of writing J. Chosen by ``"auto"`` whenever it applies.
The batched routes require ``f`` to act on each sample independently (eval-mode modules).
"""
from __future__ import annotations

import contextlib
from typing import Callable, Sequence

import torch
from torch import nn
from torch.func import jacfwd, jacrev, jvp, vjp, vmap

from ._inputs import as_points, auto_chunk, check_eval_mode, flat_fn, output_dim, prod

MODES = ("auto", "fwd", "rev", "closed")

# Elementwise activations the closed-form Sequential route accepts (their derivative is taken
# by forward-mode AD with a tangent of ones, so any elementwise module in this list works).
ELEMENTWISE = (nn.Sigmoid, nn.Tanh, nn.ReLU, nn.GELU, nn.SiLU, nn.Softplus, nn.ELU, nn.LeakyReLU,
               nn.Identity, nn.Hardtanh, nn.Mish, nn.Tanhshrink, nn.Softsign, nn.CELU, nn.SELU)


def closed_form_supported(f) -> bool:
    """True if ``f`` is an ``nn.Sequential`` of (an optional leading Flatten and) Linear layers and
    elementwise activations, for which :func:`jacobian` has a closed form."""
    if not isinstance(f, nn.Sequential) or len(f) == 0:
        return False
    for i, m in enumerate(f):
        if isinstance(m, nn.Flatten) and i == 0 and m.start_dim == 1 and m.end_dim == -1:
            continue
        if not isinstance(m, (nn.Linear, *ELEMENTWISE)):
            return False
    return any(isinstance(m, nn.Linear) for m in f)


def sequential_forward_jacobian(f: nn.Sequential, xb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed-form ``(Phi, J)`` for a supported ``nn.Sequential`` (see :func:`closed_form_supported`).

    ``xb``: shape=[B, *in_shape]. Returns ``Phi`` shape=[B, n] and ``J`` shape=[B, n, d].
    Linear: ``J <- W J`` (the first layer's J is W itself, never multiplied by an identity);
    activation: ``J <- phi'(h)[:, :, None] * J`` with ``phi'`` from one forward-mode pass.
    """
    h = xb.reshape(xb.shape[0], -1)
    J = None
    for m in f:
        if isinstance(m, nn.Flatten):
            continue
        if isinstance(m, nn.Linear):
            W = m.weight
            h = nn.functional.linear(h, W, m.bias)
            J = W.expand(h.shape[0], *W.shape) if J is None else torch.matmul(W, J)
        else:
            h, dphi = jvp(m, (h,), (torch.ones_like(h),))
            if J is None:  # activation applied to raw inputs
                J = torch.diag_embed(dphi)
            else:
                J = dphi.unsqueeze(-1) * J
    return h, J


def _jac_fwd(f, xb, d, in_shape, tangent_chunk):
    basis = torch.eye(d, dtype=xb.dtype, device=xb.device).reshape(d, *in_shape)

    def push(v):
        return jvp(f, (xb,), (v.expand_as(xb),))[1]

    out = vmap(push, chunk_size=tangent_chunk)(basis)  # [d, B, n]
    return out.permute(1, 2, 0)


def _jac_rev(f, xb, n, d, tangent_chunk):
    y, pull = vjp(f, xb)
    basis = torch.eye(n, dtype=y.dtype, device=y.device)

    def back(u):
        return pull(u.expand_as(y))[0]

    out = vmap(back, chunk_size=tangent_chunk)(basis)  # [n, B, *in_shape]
    return out.reshape(n, xb.shape[0], d).permute(1, 0, 2)


def _pick_mode(f, mode: str, n: int, d: int) -> str:
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}: choose one of {', '.join(MODES)}")
    if mode == "closed" and not closed_form_supported(f):
        raise ValueError("mode='closed' needs an nn.Sequential of Linear layers and elementwise activations")
    if mode == "auto":
        if closed_form_supported(f):
            return "closed"
        return "fwd" if d <= n else "rev"
    return mode


def jacobian_chunks(f: Callable, xb: torch.Tensor, in_shape, *, mode="auto", chunk_size=None,
                    tangent_chunk=None):
    """Yield ``(start, J_chunk)`` with ``J_chunk`` shape=[B, n, d] over point chunks of ``xb``."""
    check_eval_mode(f)
    d = prod(in_shape)
    n = output_dim(f, xb)
    route = _pick_mode(f, mode, n, d)
    g = flat_fn(f, in_shape)
    ntan = d if route == "fwd" else n
    per_point = n * d if route == "closed" else ntan * (n + d)
    step = auto_chunk(chunk_size, per_point, xb.shape[0])
    for s in range(0, xb.shape[0], step):
        xc = xb[s:s + step]
        with torch.enable_grad() if route == "rev" else contextlib.nullcontext():
            if route == "closed":
                with torch.no_grad():
                    J = sequential_forward_jacobian(f, xc)[1]
            elif route == "fwd":
                J = _jac_fwd(g, xc, d, in_shape, tangent_chunk)
            else:
                J = _jac_rev(g, xc, n, d, tangent_chunk)
        J = J.detach()
        bad = ~torch.isfinite(J.reshape(J.shape[0], -1).sum(dim=1))  # one pass; NaN/inf propagate
        if bad.any():
            bad = ~torch.isfinite(J).reshape(J.shape[0], -1).all(dim=1)  # (a sum may just overflow)
        if bad.any():
            raise ValueError(f"Jacobian has non-finite entries at {int(bad.sum())} point(s), first index "
                             f"{s + int(bad.nonzero()[0])}: f or its derivative is not finite there")
        yield s, J


def jacobian(f: Callable, x, *, mode: str = "auto", chunk_size: int | None = None,
             in_shape: Sequence[int] | None = None, tangent_chunk: int | None = None) -> torch.Tensor:
    """Jacobian of a feature map at each point: ``J[b, j, mu] = d Phi_j / d x_mu``.

    ``f``: callable ``[B, *in_shape] -> [B, n]`` acting on samples independently (eval-mode
    module or function). ``x``: shape=[*in_shape] or [N, *in_shape] (float64 recommended; the
    dtype and device of ``x`` are used). Returns shape=[N, n, d] (or [n, d] for one point),
    d = prod(in_shape), inputs flattened in C order.

    ``mode``: ``"auto"`` (closed form for Linear/activation ``nn.Sequential``, else forward mode
    if d <= n, else reverse mode), ``"fwd"``, ``"rev"`` or ``"closed"``. ``chunk_size``: points per
    chunk (default: J chunks of ~2^24 elements); ``tangent_chunk``: basis vectors per vmap chunk
    (lower it for big conv nets). The Jacobian is exact (autodiff), not finite differences.
    """
    xb, single, in_shape = as_points(x, in_shape)
    parts = [J for _, J in jacobian_chunks(f, xb, in_shape, mode=mode, chunk_size=chunk_size,
                                           tangent_chunk=tangent_chunk)]
    J = torch.cat(parts) if len(parts) > 1 else parts[0]
    return J[0] if single else J


def jacobian_hessian(f: Callable, x, *, in_shape: Sequence[int] | None = None,
                     chunk_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Jacobian and Hessian of each feature at each point (exact, nested forward/reverse AD).

    Returns ``J`` shape=[N, n, d] and ``H`` shape=[N, n, d, d] with
    ``H[b, j, mu, nu] = d^2 Phi_j / dx_mu dx_nu`` (symmetric in mu, nu). For one point the
    leading N is dropped. Cost ~ d (d + 1) / 2 + d forward-pass equivalents per point when d <= n.
    """
    xb, single, in_shape = as_points(x, in_shape)
    check_eval_mode(f)
    d = prod(in_shape)
    n = output_dim(f, xb)

    def one(xp):
        return f(xp.reshape(1, *in_shape)).reshape(-1)

    inner = jacfwd if d <= n else jacrev

    def jac_aux(xp):
        J = inner(one)(xp)
        return J, J

    both = vmap(jacfwd(jac_aux, has_aux=True))
    Js, Hs = [], []
    step = auto_chunk(chunk_size, n * d * (d + 1) * 4, xb.shape[0])
    for s in range(0, xb.shape[0], step):
        H, J = both(xb[s:s + step].reshape(-1, d))
        Js.append(J.detach())
        Hs.append(H.detach())
    J = torch.cat(Js)
    H = torch.cat(Hs)
    bad = ~(torch.isfinite(J).flatten(1).all(1) & torch.isfinite(H).flatten(1).all(1))
    if bad.any():
        raise ValueError(f"Jacobian or Hessian has non-finite entries at {int(bad.sum())} point(s), "
                         f"first index {int(bad.nonzero()[0])}")
    H = 0.5 * (H + H.transpose(-1, -2))
    return (J[0], H[0]) if single else (J, H)


def jvp_outputs(f: Callable, xb: torch.Tensor, tangents: torch.Tensor) -> torch.Tensor:
    """Push k tangents through ``f`` at a batch: returns shape=[k, B, n] with ``out[a, b] = J(x_b) t[a, b]``.

    ``xb``: shape=[B, *in_shape]; ``tangents``: shape=[k, *in_shape] (shared by all points) or
    [k, B, *in_shape]. One vmapped ``torch.func.jvp``: the primal pass runs once (unbatched) and
    the k tangent passes run as one batched pass, ~ (1 + k) forward passes in all.
    """
    shared = tangents.ndim == xb.ndim

    def push(v):
        t = v.expand_as(xb) if shared else v
        return jvp(f, (xb,), (t,))[1]

    return vmap(push)(tangents)
