"""Scalar curvature of pullback metrics: Gauss-equation route and generic metric-derivative route.

Conventions (Methods: curvature conventions; unit 2-sphere R = +2, hyperbolic plane -2, S^d of radius a: d(d-1)/a^2)::

    Gamma^a_{mn} = 1/2 g^{ab} (d_m g_{bn} + d_n g_{bm} - d_b g_{mn})
    R_{bn} = d_a Gamma^a_{nb} - d_n Gamma^a_{ab} + Gamma^a_{al} Gamma^l_{nb} - Gamma^a_{nl} Gamma^l_{ab}
    R      = g^{bn} R_{bn}                      (in d = 2: R = 2K, K the Gaussian curvature)

Gauss route (:func:`scalar_curvature`, Methods: Gauss-equation route): for ``g = J~^T J~`` with feature Hessians
``H_j = d^2 Phi~_j`` and second fundamental form ``II = H - (tangential part)``,
``R = |tr_g II|^2 - |II|_g^2``; it needs J and H only (no third derivatives). Computed in the
orthonormal frame ``L^{-1}`` of the Cholesky factor ``g = L L^T``:
``Ht_j = L^{-1} H_j L^{-T}``, ``Gt_{a..} = sum_j (J~ L^{-T})_{ja} Ht_j`` (Christoffel symbols of the
first kind in that frame), then ``R = (sum_j tr(Ht_j)^2 - |tr Gt|^2) - (sum_j |Ht_j|_F^2 - |Gt|^2)``.

Metric route (:func:`scalar_curvature_from_metric`): Christoffel symbols and their derivatives
from ``g``, ``dg``, ``d^2 g`` (nested forward-mode autodiff of any metric function). For a
pullback metric this differentiates J twice (third derivatives of Phi); it is the slow check.

Conditioning: curvature needs ``g^{-1}``; its round-off grows like ``eps * cond(g)`` (Gauss) to
``eps * cond(g)^2``. Points with ``cond(g) > max_cond`` raise :class:`IllConditionedMetricError`,
or, with ``on_singular="nan"``, give NaN and a
:class:`~geomlib.numeric.metric.SingularMetricWarning` stating how many points. The default
``max_cond`` follows the working dtype (the least precise of the points, the model's parameters
and its outputs): ``1e12`` in float64, ``1e12 eps64 / eps32 ~ 1.9e3`` in float32, i.e.
``eps * max_cond ~ 2e-4`` either way (Methods: numerical accuracy).

float32 models: J and H come from the model in float32 (relative error ~1e-7); the curvature
formula itself then runs in float64, so R is accurate to about ``1e-7 cond(g)`` relative
(float64: ``~1e-16 cond(g)``). Models torch.func cannot transform fall back to plain autograd
(:class:`~geomlib.numeric.RouteFallbackWarning`, once per route and model class).
"""
from __future__ import annotations

import math
import warnings
from typing import Callable, Sequence

import torch
from torch.func import jacfwd, jacrev, vmap

from ._inputs import RouteChain, RouteCheckFailed, as_points, auto_chunk, check_once, probe_model, prod
from .jacobian import checked_jacobian_hessian
from .metric import SingularMetricWarning

MAX_COND = 1e12  # float64; other dtypes: default_max_cond


def default_max_cond(dtype: torch.dtype) -> float:
    """Default condition-number cap for curvature in ``dtype``: ``1e12`` scaled by
    ``eps(float64) / eps(dtype)`` (so ``eps * max_cond ~ 2e-4``; float32: ~1.9e3)."""
    return MAX_COND * torch.finfo(torch.float64).eps / torch.finfo(dtype).eps


class IllConditionedMetricError(ValueError):
    """The metric's condition number exceeds ``max_cond`` where a curvature was asked for."""


def _conditioning(g: torch.Tensor, max_cond: float, on_singular: str, what: str) -> torch.Tensor:
    """Bool mask shape=[N] of points whose ``cond(g) <= max_cond``; raise or warn for the rest."""
    if on_singular not in ("raise", "nan"):
        raise ValueError(f"on_singular must be 'raise' or 'nan', got {on_singular!r}")
    ev = torch.linalg.eigvalsh(g.double())
    lmin, lmax = ev[..., 0], ev[..., -1]
    cond = torch.where(lmin > 0, lmax / lmin.clamp_min(torch.finfo(torch.float64).tiny),
                       torch.full_like(lmax, math.inf))
    good = cond <= max_cond
    if not bool(good.all()):
        nbad = int((~good).sum())
        worst = float(cond[~good].max())
        msg = (f"{what}: metric condition number above max_cond = {max_cond:.1e} at {nbad} of "
               f"{g.shape[0]} point(s) (worst {worst:.2e}; inf = singular): curvature undefined there")
        if on_singular == "raise":
            raise IllConditionedMetricError(msg + "; pass on_singular='nan' to mark them NaN instead")
        warnings.warn(msg + "; set to NaN", SingularMetricWarning, stacklevel=3)
    return good


def gauss_scalar_curvature(J: torch.Tensor, H: torch.Tensor, *, max_cond: float | None = None,
                           on_singular: str = "raise", dtype: torch.dtype | None = None) -> torch.Tensor:
    """Scalar curvature from the Gauss equation, ``R = |tr_g II|^2 - |II|_g^2`` (Methods: Gauss-equation route).

    ``J``: shape=[N, n, d] Jacobian of the (already normalised) map; ``H``: shape=[N, n, d, d]
    its Hessians. The metric is ``g = J^T J``. Returns shape=[N] in J's dtype. The formula runs
    in float64; ``max_cond`` defaults to :func:`default_max_cond` of ``dtype`` (the precision J
    and H were computed in; default J's dtype).
    """
    if J.ndim != 3 or H.ndim != 4 or H.shape[:3] != J.shape or H.shape[-1] != J.shape[-1]:
        raise ValueError(f"expected J [N, n, d] and H [N, n, d, d], got {tuple(J.shape)} and {tuple(H.shape)}")
    out_dtype = J.dtype
    max_cond = default_max_cond(dtype or J.dtype) if max_cond is None else float(max_cond)
    J, H = J.double(), H.double()
    g = J.transpose(-1, -2) @ J
    g = 0.5 * (g + g.transpose(-1, -2))
    good = _conditioning(g, max_cond, on_singular, "scalar_curvature")
    N, n, d = J.shape
    R = torch.full((N,), math.nan, dtype=J.dtype, device=J.device)
    if not bool(good.any()):
        return R
    J, H, g = J[good], H[good], g[good]
    L = torch.linalg.cholesky(g)  # g = L L^T
    # Ht_j = L^{-1} H_j L^{-T}
    Linv = torch.linalg.solve_triangular(L, torch.eye(d, dtype=g.dtype, device=g.device).expand_as(g), upper=False)
    Ht = torch.einsum("bam,bjmn,bcn->bjac", Linv, H, Linv)
    E = torch.einsum("bjm,bam->bja", J, Linv)  # J L^{-T}: orthonormal columns
    Gt = torch.einsum("bja,bjmn->bamn", E, Ht)  # Christoffel symbols (first kind), orthonormal frame
    trH = torch.diagonal(Ht, dim1=-2, dim2=-1).sum(-1)  # [b, n]
    trG = torch.diagonal(Gt, dim1=-2, dim2=-1).sum(-1)  # [b, d]
    mean_sq = (trH * trH).sum(-1) - (trG * trG).sum(-1)
    norm_sq = (Ht * Ht).sum((-3, -2, -1)) - (Gt * Gt).sum((-3, -2, -1))
    R[good] = mean_sq - norm_sq
    return R.to(out_dtype)


def scalar_curvature(f: Callable, x, *, normalize: bool = True, route: str = "gauss",
                     chunk_size: int | None = None, in_shape: Sequence[int] | None = None,
                     max_cond: float | None = None, on_singular: str = "raise") -> torch.Tensor:
    """Scalar curvature R of the pullback metric of ``f`` at each point, shape=[N] (or scalar).

    Standard convention (unit 2-sphere +2; Methods: curvature conventions). ``route="gauss"`` (default): Jacobian and
    Hessian only; ``route="metric"``: nested autodiff of ``g`` (third derivatives), the generic
    Christoffel route of :func:`scalar_curvature_from_metric`, for checks. ``normalize`` divides g
    by the width n (Methods: pullback metric), which multiplies R by n. See the module docstring for
    ``max_cond`` / ``on_singular`` (the default cap follows the working dtype) and float32
    accuracy. The authors' convention is 3R for shallow nets:
    :func:`geomlib.numeric.authors_curvature`.
    """
    if route not in ("gauss", "metric"):
        raise ValueError(f"route must be 'gauss' or 'metric', got {route!r}")
    xb, single, in_shape = as_points(x, in_shape)
    n, wdt = probe_model(f, xb)
    max_cond = default_max_cond(wdt) if max_cond is None else max_cond
    if route == "metric":
        xf = xb.reshape(xb.shape[0], -1)
        g, dg, ddg = metric_derivatives(pullback_metric_fn(f, in_shape, normalize=normalize), xf, chunk_size,
                                        fallback=_pullback_metric_autograd(f, in_shape, normalize), owner=f)
        R = _curvature_from_derivatives(g, dg, ddg, max_cond, on_singular, "scalar_curvature_from_metric")
        return R[0] if single else R
    J, H = checked_jacobian_hessian(f, xb, in_shape, chunk_size, n, wdt)
    if normalize:
        J, H = J / math.sqrt(n), H / math.sqrt(n)
    R = gauss_scalar_curvature(J, H, max_cond=max_cond, on_singular=on_singular, dtype=wdt)
    return R[0] if single else R


def _pullback_metric_autograd(f: Callable, in_shape, normalize: bool) -> Callable:
    """``g(x)`` for one point ``[d] -> [d, d]`` by plain reverse-mode autograd (create_graph, so it
    can be differentiated twice more): the fallback of :func:`pullback_metric_fn`."""
    in_shape = tuple(in_shape)

    def metric_one(xp):
        J = torch.autograd.functional.jacobian(lambda z: f(z.reshape(1, *in_shape)).reshape(-1), xp,
                                               create_graph=True)
        g = J.T @ J
        return g / J.shape[0] if normalize else g

    return metric_one


def pullback_metric_fn(f: Callable, in_shape, *, normalize: bool = True) -> Callable:
    """A differentiable batched metric function ``[N, d] -> [N, d, d]`` for ``g = J^T J (/ n)``.

    Built from torch.func (composable with further jacfwd/vmap), for the metric route and the
    authors' autograd pattern. Inputs are flattened: ``d = prod(in_shape)``.
    """
    in_shape = tuple(in_shape)

    def one(xp):
        return f(xp.reshape(1, *in_shape)).reshape(-1)

    def metric_one(xp):
        J = jacfwd(one)(xp)
        g = J.T @ J
        return g / J.shape[0] if normalize else g

    return vmap(metric_one)


def _metric_derivatives_autograd(metric_one: Callable, xb: torch.Tensor):
    """``(g, dg, ddg)`` per point by nested torch.autograd.functional.jacobian (no vmap, no
    forward mode); ``metric_one``: ``[d] -> [d, d]``, differentiable twice by autograd."""
    gs, dgs, ddgs = [], [], []
    af = torch.autograd.functional
    for xp in xb:
        with torch.enable_grad():
            gs.append(metric_one(xp).detach())
            dgs.append(af.jacobian(metric_one, xp).detach())
            ddgs.append(af.jacobian(lambda z: af.jacobian(metric_one, z, create_graph=True), xp).detach())
    return torch.stack(gs), torch.stack(dgs), torch.stack(ddgs)


def metric_derivatives(metric_fn: Callable, xb: torch.Tensor, chunk_size: int | None = None, *,
                       fallback: Callable | None = None, owner=None):
    """``(g, dg, ddg)`` with ``dg[b, m, n, a] = d_a g_mn`` and ``ddg[b, m, n, a, c] = d_c d_a g_mn``.

    ``metric_fn``: ``[N, d] -> [N, d, d]`` (acting on points independently); ``xb``: shape=[N, d].
    Nested forward mode under vmap, checked at the first point against central differences of g
    and dg (cheap, and once per map, route, dtype and device: :func:`._inputs.check_once`; catches torch's wrong higher-order forward rules, e.g. LayerNorm's); if the
    check fails or torch.func cannot transform the metric (or the model inside it), plain
    autograd per point on ``fallback`` (``[d] -> [d, d]``; default: ``metric_fn`` on a
    batch of one), with a one-time :class:`RouteFallbackWarning`.
    """
    one = fallback if fallback is not None else (lambda z: metric_fn(z.unsqueeze(0))[0])
    who = owner if owner is not None else metric_fn
    chain = RouteChain("metric-derivative", who, ("vmap(jacfwd(jacfwd))", "per-point plain autograd (nested reverse mode)"))

    def checked(route, derivs, out):  # once per map, route, dtype and device (check_once)
        check_once(who, ("metric derivatives", route, xb.shape[-1], xb.dtype, xb.device.type),
                   lambda: _check_metric_derivatives(derivs, xb, out))

    def run(route):
        if not route.startswith("vmap"):
            out = _metric_derivatives_autograd(one, xb)
            try:
                checked(route, lambda z: _metric_derivatives_autograd(one, z), out)
            except RouteCheckFailed as exc:  # no route left: refuse rather than return a wrong R
                raise ValueError(
                    f"{exc}. Plain reverse-mode autograd disagrees too: the model's third derivatives are wrong "
                    "in this torch build (nn.LayerNorm's are, in torch 2.14), so the Christoffel (metric) route "
                    "cannot be trusted; use scalar_curvature(route='gauss'), which needs second derivatives only"
                ) from None
            return out
        out = _metric_derivatives_vmap(metric_fn, xb, chunk_size)
        checked(route, lambda z: _metric_derivatives_vmap(metric_fn, z, chunk_size), out)
        return out

    return chain.run(run)


def _check_metric_derivatives(derivs, xb, out):
    """Central differences of g and dg along one random direction at the first point (two more
    points through the same route) against dg and ddg: catches wrong higher-order forward-mode
    rules (LayerNorm in torch 2.14), which are O(1) wrong. Step ``eps^(1/3) (1 + |x|)``, tolerance
    ``1e-4`` relative in float64 (``3e-2`` in float32): truncation and round-off stay far below."""
    g, dg, ddg = out
    eps = torch.finfo(g.dtype).eps
    gen = torch.Generator(device="cpu").manual_seed(20302)
    w = torch.randn(xb.shape[-1], generator=gen, dtype=torch.float64).to(xb)
    w = w / w.norm()
    x0 = xb[0]
    h = eps ** (1 / 3) * (1 + float(x0.abs().max()))
    gp, dgp, _ = derivs(torch.stack([x0 + h * w, x0 - h * w]))
    tol = 1e-4 if g.dtype == torch.float64 else 3e-2
    for name, fd, an, ref in (("dg", (gp[0] - gp[1]) / (2 * h), dg[0] @ w, dg[0]),
                              ("ddg", (dgp[0] - dgp[1]) / (2 * h), ddg[0] @ w, ddg[0])):
        scale = float(an.abs().max().clamp_min(ref.abs().max() * 1e-3)) + torch.finfo(g.dtype).tiny
        err = float((fd - an).abs().max())
        if not err <= tol * scale:
            raise RouteCheckFailed(f"metric derivative {name} disagrees with central differences at the first point "
                                   f"(relative {err / scale:.1e} > {tol:.0e}); an op's higher-order derivative rule "
                                   "is wrong in this torch build (e.g. layer_norm)")


def _metric_derivatives_vmap(metric_fn: Callable, xb: torch.Tensor, chunk_size: int | None = None):
    d = xb.shape[-1]

    def one(xp):
        G = metric_fn(xp.unsqueeze(0))[0]
        return G, G

    def d1(xp):  # (dg, (dg, g)): dg also returned as aux for the next level
        dg, G = jacfwd(one, has_aux=True)(xp)
        return dg, (dg, G)

    def d2(xp):
        ddg, (dg, G) = jacfwd(d1, has_aux=True)(xp)
        return G, dg, ddg

    step = auto_chunk(chunk_size, d ** 4 * 16, xb.shape[0])
    outs = [vmap(d2)(xb[s:s + step]) for s in range(0, xb.shape[0], step)]
    return tuple(torch.cat([o[i] for o in outs]).detach() for i in range(3))


def christoffel_from_derivatives(g, dg, ginv=None):
    """Christoffel symbols of the second kind ``Gam[b, a, m, n] = Gamma^a_{mn}`` (Methods: curvature conventions) and
    of the first kind ``Gam1[b, k, m, n]``, from g [N, d, d] and dg [N, d, d, d] (``d_a g_mn`` last)."""
    ginv = torch.linalg.inv(g) if ginv is None else ginv
    # Gam1_{k,mn} = 1/2 (d_m g_kn + d_n g_km - d_k g_mn); dg[b, p, q, a] = d_a g_pq
    Gam1 = 0.5 * (dg.permute(0, 1, 3, 2) + dg - dg.permute(0, 3, 1, 2))
    return torch.einsum("bak,bkmn->bamn", ginv, Gam1), Gam1


def _ricci_scalar(g, dg, ddg, *, authors: bool = False, pinv: bool = False):
    """``R = g^{bn} R_{bn}`` from g [N, d, d], dg [N, d, d, d], ddg [N, d, d, d, d] (see
    :func:`metric_derivatives` for index order). ``authors=True``: the authors' autograd pattern
    (flipped Gamma-Gamma signs, Methods: the authors' curvature); ``pinv=True``: pseudo-inverse as they do."""
    ginv = torch.linalg.pinv(g, hermitian=True) if pinv else torch.linalg.inv(g)
    ginv = 0.5 * (ginv + ginv.transpose(-1, -2))
    Gam, Gam1 = christoffel_from_derivatives(g, dg, ginv)
    # d_l Gam1_{k,mn} = 1/2 (d_l d_m g_kn + d_l d_n g_km - d_l d_k g_mn); ddg[z,p,q,a,c] = d_c d_a g_pq
    dGam1 = 0.5 * (ddg.permute(0, 1, 3, 2, 4) + ddg - ddg.permute(0, 3, 1, 2, 4))  # [z,k,m,n,l]
    dginv = -torch.einsum("zap,zpql,zqk->zakl", ginv, dg, ginv)  # d_l g^{ak}
    # dGam[z, a, m, n, l] = d_l Gamma^a_{mn}
    dGam = torch.einsum("zakl,zkmn->zamnl", dginv, Gam1) + torch.einsum("zak,zkmnl->zamnl", ginv, dGam1)
    if not authors:
        t1 = torch.einsum("zanba->zbn", dGam)          # d_a Gamma^a_{nb}
        t2 = torch.einsum("zaabn->zbn", dGam)          # d_n Gamma^a_{ab}
        t3 = torch.einsum("zaal,zlnb->zbn", Gam, Gam)  # Gamma^a_{al} Gamma^l_{nb}
        t4 = torch.einsum("zanl,zlab->zbn", Gam, Gam)  # Gamma^a_{nl} Gamma^l_{ab}
    else:
        # authors' autograd `ricci` (Methods: the authors' curvature):
        # R_bn = d_a G^a_bn - d_b G^a_an + G^l_an G^a_bl - G^l_bn G^a_al
        t1 = torch.einsum("zabna->zbn", dGam)
        t2 = torch.einsum("zaanb->zbn", dGam)
        t3 = torch.einsum("zlan,zabl->zbn", Gam, Gam)
        t4 = torch.einsum("zlbn,zaal->zbn", Gam, Gam)
    Ric = t1 - t2 + t3 - t4
    return torch.einsum("zmn,zmn->z", ginv, Ric)


def scalar_curvature_from_metric(metric_fn: Callable, x, *, chunk_size: int | None = None,
                                 max_cond: float | None = None, on_singular: str = "raise") -> torch.Tensor:
    """Scalar curvature of any metric field by the Christoffel route (Methods: curvature conventions), shape=[N].

    ``metric_fn``: differentiable ``[N, d] -> [N, d, d]`` acting on points independently, e.g. a
    closed-form infinite-width metric or :func:`pullback_metric_fn`. ``x``: shape=[d] or [N, d].
    Derivatives of g by nested forward-mode autodiff under vmap (exact); metrics torch.func cannot
    transform fall back to per-point plain autograd (:class:`RouteFallbackWarning`, once).
    ``max_cond`` defaults to the cap of the dtype of g (1e12 in float64, ~1.9e3 in float32);
    the Christoffel algebra runs in float64.
    """
    if not isinstance(x, torch.Tensor) or x.ndim not in (1, 2):
        raise ValueError("scalar_curvature_from_metric takes a tensor of points [d] or [N, d]")
    xb, single, _ = as_points(x)
    g, dg, ddg = metric_derivatives(metric_fn, xb, chunk_size)
    R = _curvature_from_derivatives(g, dg, ddg, max_cond, on_singular, "scalar_curvature_from_metric")
    return R[0] if single else R


def _curvature_from_derivatives(g, dg, ddg, max_cond, on_singular, what):
    if not (torch.isfinite(g).all() and torch.isfinite(dg).all() and torch.isfinite(ddg).all()):
        raise ValueError("metric_fn returned non-finite values or derivatives")
    out_dtype = g.dtype
    max_cond = default_max_cond(g.dtype) if max_cond is None else float(max_cond)
    g, dg, ddg = g.double(), dg.double(), ddg.double()
    g = 0.5 * (g + g.transpose(-1, -2))
    good = _conditioning(g, max_cond, on_singular, what)
    R = torch.full((g.shape[0],), math.nan, dtype=g.dtype, device=g.device)
    if bool(good.any()):
        R[good] = _ricci_scalar(g[good], dg[good], ddg[good])
    return R.to(out_dtype)
