"""Deep fully connected networks at infinite width: the layer recursion for the metric (Methods: T7).

Network: ``h^l = W^l Phi~^{l-1} + b^l``, ``Phi~^{l-1} = n_{l-1}^{-1/2} phi(h^{l-1})``, ``Phi~^0 = x``,
``W^l_ij ~ N(0, sigma_l^2)``, ``b^l ~ N(0, sigma_{b,l}^2)``. With ``K^0(x,x) = |x|^2``,
``q_l = sigma_l^2 K^{l-1}(x,x) + sigma_{b,l}^2`` and ``h ~ N(0, q_l)``::

    g^l = sigma_l^2 E[phi'(h)^2] g^{l-1} + 1/4 E[(phi'^2)''(h)] d q_l d q_l^T,   g^0 = I,
    K^l(x,x) = E[phi(h)^2].

Derivation (T7): conditioned on the layer below, (h, d_mu h) is jointly Gaussian with
Cov(d_mu h, d_nu h) = sigma_l^2 g^{l-1}_{mu nu} and Cov(h, d_mu h) = 1/2 d_mu q_l; regress d_mu h on h
and use E[f h^2] = q E f + q^2 E f'' (Stein's lemma twice). Since q_l depends on x only through
u = |x|^2, d_mu q_l = 2 q_l'(u) x_mu and every layer stays rotation invariant::

    A_l = sigma_l^2 E[phi'^2](q_l) A_{l-1},
    B_l = sigma_l^2 E[phi'^2](q_l) B_{l-1} + E[(phi'^2)''](q_l) q_l'(u)^2,   E[(phi'^2)''](q) = 2 d/dq E[phi'^2](q).

Symbolic when E[phi'^2] and E[phi^2] have closed forms (erf, arc-cosine incl. ReLU), numeric
otherwise: adaptive quadrature (:mod:`geomlib.symbolic.quadrature`, relative 1e-10 in float64 for
any variance, or a warning with the estimated error) with the q-derivatives of E[phi'^2] and E[phi^2]
from the heat-equation identity, and the u-derivatives of A_l, B_l by the chain rule written out
(a 2-jet carried through the layers), no autograd through quadrature nodes. Note B_l != 2 A_l'
in general for l >= 2: deep metrics are rotation invariant but not of the e^Omega form.
"""
from __future__ import annotations

from typing import Sequence

import sympy as sp
import torch

from .activations import activation as _as_activation
from .gaussian import S, expect_phi_prime_sq, expect_phi_sq
from .metric import RotationInvariantMetric, check_sigma
from .rotation import U
from .simplify import bounded_simplify


def _check_layers(sigma_w, sigma_b):
    if isinstance(sigma_w, (int, float, sp.Basic)) or isinstance(sigma_b, (int, float, sp.Basic)):
        raise TypeError("sigma_w and sigma_b must be sequences, one entry per layer")
    sigma_w, sigma_b = list(sigma_w), list(sigma_b)
    if len(sigma_w) < 1 or len(sigma_w) != len(sigma_b):
        raise ValueError(f"need one sigma_w and one sigma_b per layer (>= 1 layer), got {len(sigma_w)} and {len(sigma_b)}")
    sw = [check_sigma(f"sigma_w[{i}]", s) for i, s in enumerate(sigma_w)]
    sb = [check_sigma(f"sigma_b[{i}]", s) for i, s in enumerate(sigma_b)]
    if any(s == 0 for s in sw):
        raise ValueError("a layer with sigma_w = 0 ignores its input: the metric is zero from there on")
    return sw, sb


def deep_metric(act, sigma_w: Sequence, sigma_b: Sequence, *, rtol: float | None = None,
                try_sympy: bool = True, simplify: bool = False, nodes: int | None = None) -> list[RotationInvariantMetric]:
    """Infinite-width metrics of layers 1..L (list of :class:`RotationInvariantMetric`).

    ``sigma_w[l]``, ``sigma_b[l]``: weight and bias standard deviations of layer l+1.
    Layer 1 equals :func:`geomlib.symbolic.shallow_metric`. ``simplify=True`` simplifies every layer's
    A, B, K (at most 60 s each, else left as derived). ``rtol``: accuracy of the quadrature
    route (default relative 1e-10); ``nodes``: deprecated, ignored.
    """
    act = _as_activation(act)
    sw, sb = _check_layers(sigma_w, sigma_b)
    Ep = expect_phi_prime_sq(act, rtol=rtol, try_sympy=try_sympy, nodes=nodes)
    Ek = expect_phi_sq(act, rtol=rtol, try_sympy=try_sympy)
    if Ep.exact and Ek.exact:
        return _symbolic(act, sw, sb, Ep, Ek, simplify)
    return _numeric(act, [float(s) for s in sw], [float(s) for s in sb], Ep, Ek)


def _symbolic(act, sw, sb, Ep, Ek, simplify):
    Epp = 2 * sp.diff(Ep.expr, S)
    A, B, K = sp.S.One, sp.S.Zero, U
    out = []
    method = f"T7 recursion, symbolic ({Ep.method})"
    for l, (s, b) in enumerate(zip(sw, sb)):
        q = s**2 * K + b**2
        qp = sp.diff(q, U)
        e1 = Ep.expr.subs(S, q)
        A = s**2 * e1 * A
        B = s**2 * e1 * B + Epp.subs(S, q) * qp**2
        K = Ek.expr.subs(S, q)
        if simplify:
            A, B, K = (bounded_simplify(e, seconds=60) for e in (A, B, K))
        out.append(RotationInvariantMetric(A, B, label=f"{act.name}, layer {l + 1}", method=method))
    return out


def _derivatives(E):
    """(q, n) -> [E(q), ..., E^(n)(q)] (closed form differentiated by SymPy, or quadrature in one pass)."""
    if E.exact:
        from .bridge import to_torch

        fns = [to_torch(sp.diff(E.expr, S, k), (S,)) for k in range(3)]
        return lambda q, n: [f(q) for f in fns[: n + 1]]
    Q = E.integral
    return lambda q, n: Q.derivatives(q, tuple(range(n + 1)))


def _numeric(act, sw, sb, Ep, Ek):
    E1, E0 = _derivatives(Ep), _derivatives(Ek)

    def layers(u, L):
        """(A_L, B_L) at u, differentiable in u (autograd through the quadrature's own derivatives)."""
        with torch.enable_grad():
            uu = u if u.requires_grad else u.detach().clone().requires_grad_(True)
            A, B, K = torch.ones_like(uu), torch.zeros_like(uu), uu
            for l in range(L):
                q = sw[l] ** 2 * K + sb[l] ** 2
                (qp,) = torch.autograd.grad(q.sum(), uu, create_graph=True)
                e1 = Ep.torch(q)
                (de1,) = torch.autograd.grad(e1.sum(), q, create_graph=True)  # q: non-leaf, in the graph
                A, B = sw[l] ** 2 * e1 * A, sw[l] ** 2 * e1 * B + 2 * de1 * qp**2
                K = Ek.torch(q)
        return A, B

    def jet(u, L, derivatives=True):
        """(A, A', A'', B, B') of layer L at u: the recursion differentiated by hand (module docstring);
        (A, B) only without ``derivatives`` (then E, E' suffice)."""
        u = u.detach()
        n = 2 if derivatives else 1
        A, A1, A2 = torch.ones_like(u), torch.zeros_like(u), torch.zeros_like(u)
        B, B1 = torch.zeros_like(u), torch.zeros_like(u)
        K, K1, K2 = u, torch.ones_like(u), torch.zeros_like(u)
        for l in range(L):
            s2 = sw[l] ** 2
            q, q1, q2 = s2 * K + sb[l] ** 2, s2 * K1, s2 * K2
            e, de, *r1 = E1(q, n)
            f, df, *r0 = E0(q, n)
            dde, ddf = (r1[0], r0[0]) if derivatives else (torch.zeros_like(q), torch.zeros_like(q))
            e1, e2 = de * q1, dde * q1**2 + de * q2
            D, D1 = 2 * de, 2 * dde * q1
            A, A1, A2 = s2 * e * A, s2 * (e1 * A + e * A1), s2 * (e2 * A + 2 * e1 * A1 + e * A2)
            B, B1 = s2 * e * B + D * q1**2, s2 * (e1 * B + e * B1) + D1 * q1**2 + 2 * D * q1 * q2
            K, K1, K2 = f, df * q1, ddf * q1**2 + df * q2
        return (A, A1, A2, B, B1) if derivatives else (A, B)

    method = (f"T7 recursion, numeric: E[phi'^2] by {Ep.method}; E[phi^2] by {Ek.method}; "
              "u-derivatives by the chain rule on quadrature derivatives")
    out = []
    for L in range(1, len(sw) + 1):
        out.append(RotationInvariantMetric((lambda u, L=L: layers(u, L)[0]), (lambda u, L=L: layers(u, L)[1]),
                                           label=f"{act.name}, layer {L}", method=method,
                                           jet=(lambda u, derivatives=True, L=L: jet(u, L, derivatives))))
    return out


def authors_deep_sigmas(widths: Sequence[int]) -> tuple[list[float], list[float]]:
    """sigma_w, sigma_b of the authors' deep MLP in T7's parametrisation (Methods: feature maps, T7):
    every weight and bias N(0, 1), the bias of layer l >= 2 divided by sqrt(n_{l-1}) with the weights,
    so sigma_l = 1, sigma_{b,1} = 1 and sigma_{b,l}^2 = 1/n_{l-1}. ``widths``: hidden widths n_1..n_L."""
    widths = list(widths)
    if not widths or any(int(n) < 1 for n in widths):
        raise ValueError(f"widths must be positive integers, got {widths}")
    return [1.0] * len(widths), [1.0] + [float(n) ** -0.5 for n in widths[:-1]]
