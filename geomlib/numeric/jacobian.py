"""Batched Jacobians and Hessians of feature maps with torch.func (Methods: pullback metric; issue 4 item 1).

Index convention: ``J[b, j, mu] = d Phi_j / d x_mu`` at point b (shape=[N, n, d], d = prod(in_shape),
input dimensions flattened in C order); ``H[b, j, mu, nu] = d^2 Phi_j / dx_mu dx_nu`` (shape=[N, n, d, d]).

Routes (``mode``):
- ``"fwd"``: d Jacobian-vector products (forward mode) on the whole batch, vectorised with vmap
  over the d basis tangents: cost ~ d forward passes. Best when d <= n.
- ``"rev"``: one forward pass and n vector-Jacobian products vectorised with vmap: best when n < d.
- ``"closed"``: closed form for ``nn.Sequential`` stacks of Linear layers and elementwise
  activations (``J = D_L W_L ... D_1 W_1``, D the activation derivatives): no autodiff over the
  first layer's inputs, ~ the cost of writing J. Chosen by ``"auto"`` whenever it applies.
The batched routes require ``f`` to act on each sample independently (eval-mode modules; a
batch-consistency probe refuses maps that couple samples, see :func:`._inputs.probe_model`).

Fallbacks: when a fast route cannot run on a model (no forward-mode rule, e.g. fused attention
kernels; vmap cannot batch an op, e.g. writing into a preallocated buffer), the next exact route
runs and a :class:`RouteFallbackWarning` says so once per route and model class:
``closed -> fwd/rev -> rev -> rev-loop``, each route first as is, then with fused kernels
decomposed (attention on the math backend, no inference fast path), where ``"rev-loop"`` is plain reverse-mode autograd
without vmap (n backward passes over the whole batch: samples are independent, so the gradient of
the batch sum of feature j holds every point's row j). Hessians: nested torch.func under vmap,
else plain autograd (reverse over reverse, n (d + 1) backward passes over the batch).
"""
from __future__ import annotations

import contextlib
from typing import Callable, Sequence

import torch
from torch import nn
from torch.func import jacfwd, jacrev, jvp, vjp, vmap

from ._inputs import (RouteChain, RouteCheckFailed, as_points, auto_chunk, check_once, flat_fn, probe_model,
                      probe_tolerance, prod)

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


def _jac_rev_loop(f, xb, n, d):
    """``J`` by plain reverse-mode autograd, no vmap: one backward pass over the whole batch per
    feature (the batch sum's gradient holds every point's row, samples being independent)."""
    with torch.enable_grad():
        x = xb.detach().requires_grad_(True)
        y = f(x)
        rows = [torch.autograd.grad(y[:, j].sum(), x, retain_graph=j < n - 1, allow_unused=True)[0]
                for j in range(n)]
    rows = [torch.zeros_like(x) if r is None else r for r in rows]
    return torch.stack([r.reshape(x.shape[0], d) for r in rows], dim=1)


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


_CHAINS = {"closed": ("closed", "rev", "rev-loop"), "fwd": ("fwd", "rev", "rev-loop"),
           "rev": ("rev", "rev-loop"), "rev-loop": ("rev-loop",)}


def _jac_route(route, f, g, xc, n, d, in_shape, tangent_chunk):
    with torch.enable_grad() if route == "rev" else contextlib.nullcontext():
        if route == "closed":
            with torch.no_grad():
                return sequential_forward_jacobian(f, xc)[1]
        if route == "fwd":
            return _jac_fwd(g, xc, d, in_shape, tangent_chunk)
        if route == "rev":
            return _jac_rev(g, xc, n, d, tangent_chunk)
        return _jac_rev_loop(g, xc, n, d)


def jacobian_chunks(f: Callable, xb: torch.Tensor, in_shape, *, mode="auto", chunk_size=None,
                    tangent_chunk=None, n: int | None = None):
    """Yield ``(start, J_chunk)`` with ``J_chunk`` shape=[B, n, d] over point chunks of ``xb``.

    Probes ``f`` once (batch consistency, output shape) unless ``n`` is given by a caller that
    already did; falls back route by route (see the module docstring)."""
    if n is None:
        n = probe_model(f, xb)[0]
    d = prod(in_shape)
    route = _pick_mode(f, mode, n, d)
    g = flat_fn(f, in_shape)
    ntan = d if route == "fwd" else n
    per_point = n * d if route == "closed" else ntan * (n + d)
    step = auto_chunk(chunk_size, per_point, xb.shape[0])
    chain = RouteChain("Jacobian", f, _CHAINS[route])
    for s in range(0, xb.shape[0], step):
        xc = xb[s:s + step]
        J = chain.run(lambda r: _jac_route(r, f, g, xc, n, d, in_shape, tangent_chunk))
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


def _check_second_order(f, xb, in_shape, H, tol, what):
    """``sum_j u_j H_j v`` at the first point against forward-over-reverse (jvp of a vjp), for one
    random ``u, v``: O(1) passes. Raises :class:`RouteCheckFailed` on disagreement."""
    n, d = H.shape[1], H.shape[-1]
    gen = torch.Generator(device="cpu").manual_seed(20301)
    u = torch.randn(n, generator=gen, dtype=torch.float64).to(H)
    v = torch.randn(d, generator=gen, dtype=torch.float64).to(H)

    def one(z):
        return f(z.reshape(1, *in_shape)).reshape(-1)

    def pulled(z):
        return vjp(one, z)[1](u)[0]

    x0 = xb[0].reshape(-1)
    ref = jvp(pulled, (x0,), (v,))[1].detach()
    got = torch.einsum("j,jab,b->a", u, H[0], v)
    scale = float(u.norm() * v.norm() * H[0].flatten(1).norm(dim=1).max()) + torch.finfo(H.dtype).tiny
    err = float((got - ref).norm())
    if not err <= tol * scale:
        raise RouteCheckFailed(f"{what} second derivatives disagree with forward-over-reverse at the first point "
                               f"(relative {err / scale:.1e} > {tol:.1e}); an op's higher-order forward-mode "
                               "rule is wrong in this torch build (e.g. layer_norm)")


def _hessian_vmap(f, xb, in_shape, n, d, step, inner=None):
    def one(xp):
        return f(xp.reshape(1, *in_shape)).reshape(-1)

    inner = inner or (jacfwd if d <= n else jacrev)

    def jac_aux(xp):
        J = inner(one)(xp)
        return J, J

    both = vmap(jacfwd(jac_aux, has_aux=True))
    Js, Hs = [], []
    for s in range(0, xb.shape[0], step):
        H, J = both(xb[s:s + step].reshape(-1, d))
        Js.append(J.detach())
        Hs.append(H.detach())
    return torch.cat(Js), torch.cat(Hs)


def _hessian_autograd(f, xb, in_shape, n, d, step):
    """J and H by plain autograd, no vmap and no forward mode: reverse over reverse on the batch
    sums (samples independent), n (d + 1) backward passes per chunk."""
    Js, Hs = [], []
    for s in range(0, xb.shape[0], step):
        with torch.enable_grad():
            x = xb[s:s + step].detach().requires_grad_(True)
            y = f(x).reshape(x.shape[0], -1)
            B = x.shape[0]
            J = x.new_zeros(B, n, d)
            H = x.new_zeros(B, n, d, d)
            for j in range(n):
                gj = torch.autograd.grad(y[:, j].sum(), x, create_graph=True, retain_graph=True,
                                         allow_unused=True)[0]
                if gj is None:
                    continue
                gj = gj.reshape(B, d)
                J[:, j] = gj.detach()
                if not gj.requires_grad:  # f is affine in x: no second derivative
                    continue
                for mu in range(d):
                    h = torch.autograd.grad(gj[:, mu].sum(), x, retain_graph=True, allow_unused=True)[0]
                    if h is not None:
                        H[:, j, mu] = h.reshape(B, d)
        Js.append(J)
        Hs.append(H.detach())
    return torch.cat(Js), torch.cat(Hs)


def jacobian_hessian(f: Callable, x, *, in_shape: Sequence[int] | None = None,
                     chunk_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Jacobian and Hessian of each feature at each point (exact, nested forward/reverse AD).

    Returns ``J`` shape=[N, n, d] and ``H`` shape=[N, n, d, d] with
    ``H[b, j, mu, nu] = d^2 Phi_j / dx_mu dx_nu`` (symmetric in mu, nu). For one point the
    leading N is dropped. Cost ~ d (d + 1) / 2 + d forward-pass equivalents per point when d <= n.
    The route is checked at the first point against forward-over-reverse along one random
    direction (O(1) passes, once per map, route, dtype and device while the map's parameters are
    unchanged: :func:`._inputs.check_once`): torch's second-order forward rules are not all right (LayerNorm's is
    wrong in torch 2.14), and a failed check moves on to vmapped forward-over-reverse (n VJPs per
    point). Models torch.func cannot transform (no forward-mode rule, vmap-incompatible in-place
    writes) fall back to plain autograd, reverse over reverse. Each fallback is noted once per
    route and model class (:class:`RouteFallbackWarning`).
    """
    xb, single, in_shape = as_points(x, in_shape)
    J, H = checked_jacobian_hessian(f, xb, in_shape, chunk_size, *probe_model(f, xb))
    return (J[0], H[0]) if single else (J, H)


def checked_jacobian_hessian(f: Callable, xb: torch.Tensor, in_shape: tuple, chunk_size: int | None,
                             n: int, wdt: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`jacobian_hessian` on a batch ``xb`` shape=[N, *in_shape] that the caller has already
    checked (:func:`._inputs.as_points`) and probed (``n, wdt`` from :func:`._inputs.probe_model`):
    one probe per public call."""
    d = prod(in_shape)
    step = auto_chunk(chunk_size, n * d * (d + 1) * 4, xb.shape[0])
    routes = ("forward over forward", "forward over reverse") if d <= n else ("forward over reverse",)
    chain = RouteChain("Hessian", f, (*routes, "plain autograd (reverse over reverse)"))
    tol = probe_tolerance(wdt)

    def run(route):
        if route.startswith("plain"):
            return _hessian_autograd(flat_fn(f, in_shape), xb, in_shape, n, d, step)
        J, H = _hessian_vmap(f, xb, in_shape, n, d, step, inner=jacfwd if route == "forward over forward" else jacrev)
        check_once(f, ("second order", route, tuple(in_shape), H.dtype, H.device.type),  # once per map and route
                   lambda: _check_second_order(f, xb, in_shape, H, tol, f"vmap({route})"))
        return J, H

    J, H = chain.run(run)
    bad = ~(torch.isfinite(J).flatten(1).all(1) & torch.isfinite(H).flatten(1).all(1))
    if bad.any():
        raise ValueError(f"Jacobian or Hessian has non-finite entries at {int(bad.sum())} point(s), "
                         f"first index {int(bad.nonzero()[0])}")
    return J, 0.5 * (H + H.transpose(-1, -2))


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
