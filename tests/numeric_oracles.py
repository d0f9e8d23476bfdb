"""Slow, obviously-correct reference implementations for the geomlib.numeric tests.

Per-point loops with torch.autograd.functional and central finite differences: no vmap, no
batching tricks, no shared code with geomlib.numeric.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.autograd.functional import hessian as af_hessian
from torch.autograd.functional import jacobian as af_jacobian


def jacobian_loop(f, X):
    """J [N, n, d] by one torch.autograd.functional.jacobian call per point."""
    out = []
    for x in X:
        shp = x.shape
        J = af_jacobian(lambda z: f(z.reshape(1, *shp)).reshape(-1), x)
        out.append(J.reshape(J.shape[0], -1))
    return torch.stack(out)


def hessian_loop(f, X):
    """H [N, n, d, d] by one torch.autograd.functional.hessian call per point and feature."""
    out = []
    for x in X:
        n = f(x.unsqueeze(0)).reshape(-1).shape[0]
        out.append(torch.stack([af_hessian(lambda z, j=j: f(z.unsqueeze(0)).reshape(-1)[j], x) for j in range(n)]))
    return torch.stack(out)


def jacobian_fd(f, X, h=1e-6):
    """J [N, n, d] by central differences (error ~ h^2)."""
    N, d = X.shape[0], X[0].numel()
    cols = []
    for mu in range(d):
        e = torch.zeros(d, dtype=X.dtype, device=X.device)
        e[mu] = h
        e = e.reshape(X.shape[1:])
        cols.append((f(X + e).reshape(N, -1) - f(X - e).reshape(N, -1)) / (2 * h))
    return torch.stack(cols, dim=-1)


def metric_loop(f, X, normalize=True):
    J = jacobian_loop(f, X)
    g = J.transpose(-1, -2) @ J
    return g / J.shape[1] if normalize else g


def christoffel_scalar_curvature_loop(metric_one, X):
    """R at each point by the Christoffel route with torch.autograd.functional (per point).

    ``metric_one``: [d] -> [d, d]. Conventions of Methods: curvature conventions, index by index.
    """
    Rs = []
    for x in X:
        d = x.shape[0]
        g = metric_one(x)
        gi = torch.linalg.inv(g)

        def gamma(z):
            gz = metric_one(z)
            dg = af_jacobian(metric_one, z, create_graph=True)  # dg[m, n, a] = d_a g_mn
            giz = torch.linalg.inv(gz)
            G = torch.zeros(d, d, d, dtype=z.dtype, device=z.device)
            for a in range(d):
                for m in range(d):
                    for n in range(d):
                        G[a, m, n] = 0.5 * sum(giz[a, b] * (dg[b, n, m] + dg[b, m, n] - dg[m, n, b]) for b in range(d))
            return G

        Gam = gamma(x)
        dGam = af_jacobian(gamma, x)  # dGam[a, m, n, l] = d_l Gamma^a_mn
        R = 0.0
        for b in range(d):
            for n in range(d):
                Ric = 0.0
                for a in range(d):
                    Ric = Ric + dGam[a, n, b, a] - dGam[a, a, b, n]
                    for l in range(d):
                        Ric = Ric + Gam[a, a, l] * Gam[l, n, b] - Gam[a, n, l] * Gam[l, a, b]
                R = R + gi[b, n] * Ric
        Rs.append(R)
    return torch.stack([torch.as_tensor(r) for r in Rs])


def brioschi_fd(metric_one, x, h=1e-4):
    """2-D scalar curvature R = 2K from the metric by finite differences (Brioschi formula)."""
    def E(z): return metric_one(z)[0, 0]
    def F(z): return metric_one(z)[0, 1]
    def G(z): return metric_one(z)[1, 1]
    e1 = torch.tensor([h, 0.0], dtype=x.dtype)
    e2 = torch.tensor([0.0, h], dtype=x.dtype)

    def d1(fn, z, e): return (fn(z + e) - fn(z - e)) / (2 * h)

    def d2(fn, z, e, f):
        return (fn(z + e + f) - fn(z + e - f) - fn(z - e + f) + fn(z - e - f)) / (4 * h * h)

    Eu, Ev = d1(E, x, e1), d1(E, x, e2)
    Fu, Fv = d1(F, x, e1), d1(F, x, e2)
    Gu, Gv = d1(G, x, e1), d1(G, x, e2)
    Evv, Guu, Fuv = d2(E, x, e2, e2), d2(G, x, e1, e1), d2(F, x, e1, e2)
    e, f, g = E(x), F(x), G(x)
    M1 = torch.tensor([[-Evv / 2 + Fuv - Guu / 2, Eu / 2, Fu - Ev / 2],
                       [Fv - Gu / 2, e, f],
                       [Gv / 2, f, g]])
    M2 = torch.tensor([[0, Ev / 2, Gu / 2], [Ev / 2, e, f], [Gu / 2, f, g]])
    K = (torch.linalg.det(M1) - torch.linalg.det(M2)) / (e * g - f * f) ** 2
    return 2 * K


class TinyConvBN(nn.Module):
    """A small conv net with BatchNorm and a residual add (image inputs [B, C, H, W] -> [B, n])."""

    def __init__(self, c=3, width=4, n=6):
        super().__init__()
        self.conv1 = nn.Conv2d(c, width, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(width)
        self.fc = nn.Linear(width, n)

    def forward(self, x):
        h = nn.functional.gelu(self.bn1(self.conv1(x)))
        h = nn.functional.gelu(self.bn2(self.conv2(h)) + h)
        return torch.tanh(self.fc(h.mean(dim=(-1, -2))))


def randomize_bn(model, gen=None):
    """Give BatchNorm layers non-trivial running statistics and affine parameters."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5, generator=gen)
                m.running_var.uniform_(0.5, 2.0, generator=gen)
                m.weight.uniform_(0.5, 1.5, generator=gen)
                m.bias.uniform_(-0.3, 0.3, generator=gen)
    return model


def christoffel_curvature_autograd(metric_one, X):
    """R at each point by the Christoffel route, derivatives by nested
    torch.autograd.functional.jacobian (reverse mode, per point) and the textbook contractions
    written out with einsum (faster than :func:`christoffel_scalar_curvature_loop` for d > 3)::

        Gamma^a_mn = 1/2 g^ab (d_m g_bn + d_n g_bm - d_b g_mn)
        R_bn = d_a Gamma^a_nb - d_n Gamma^a_ab + Gamma^a_al Gamma^l_nb - Gamma^a_nl Gamma^l_ab
        R = g^bn R_bn
    """
    af = torch.autograd.functional
    Rs = []
    for x in X:
        def gamma(z):
            g = metric_one(z)
            dg = af.jacobian(metric_one, z, create_graph=True)  # dg[m, n, b] = d_b g_mn
            first = 0.5 * (dg.permute(0, 2, 1) + dg - dg.permute(2, 0, 1))  # [b, m, n]: (d_m g_bn + d_n g_bm - d_b g_mn)/2
            return torch.einsum("ab,bmn->amn", torch.linalg.inv(g), first)

        G = gamma(x)
        dG = af.jacobian(gamma, x)  # dG[a, m, n, l] = d_l Gamma^a_mn
        gi = torch.linalg.inv(metric_one(x))
        Ric = (torch.einsum("anba->bn", dG) - torch.einsum("aabn->bn", dG)
               + torch.einsum("aal,lnb->bn", G, G) - torch.einsum("anl,lab->bn", G, G))
        Rs.append(torch.einsum("bn,bn->", gi, Ric).detach())
    return torch.stack(Rs)


def gauss_curvature_projector(J, H):
    """R from the Gauss equation with the normal projector, per point (no orthonormal frames)::

        g = J^T J,  P = I - J g^{-1} J^T,  II_ab = P H[:, a, b] (a vector in R^n)
        R = g^{ac} g^{bd} (<II_ac, II_bd> - <II_ad, II_bc>)

    ``J`` [N, n, d], ``H`` [N, n, d, d] of the (already normalised) map."""
    out = []
    for Jp, Hp in zip(J, H):
        g = Jp.T @ Jp
        gi = torch.linalg.inv(g)
        P = torch.eye(Jp.shape[0], dtype=Jp.dtype, device=Jp.device) - Jp @ gi @ Jp.T
        II = torch.einsum("ij,jab->iab", P, Hp)
        R = (torch.einsum("ac,bd,iac,ibd->", gi, gi, II, II) - torch.einsum("ac,bd,iad,ibc->", gi, gi, II, II))
        out.append(R)
    return torch.stack(out)
