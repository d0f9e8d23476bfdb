"""The infinite-width symmetric metric of a shallow network at initialisation (SPEC T3), by quadrature.

With ``w ~ N(0, sigma_w^2 I)``, ``b ~ N(0, sigma_b^2)`` and ``u = |x|^2``, the width-normalised
metric converges to ``g = e^Omega(u) [I + 2 Omega'(u) x x^T]`` with
``e^Omega = sigma_w^2 E[phi'(z)^2]``, ``z ~ N(0, s)``, ``s = sigma_w^2 u + sigma_b^2``. Since
``d/ds E_{N(0,s)} f = E f'' / 2``, ``Omega' = sigma_w^2 E[(phi'^2)''] / (2 E[phi'^2])``. The volume
element is ``e^{d Omega / 2} sqrt(1 + 2 u Omega')``. For the sigmoid there is no closed form: the
expectations use 200-node Gauss-Hermite quadrature (probabilists' weights), as SPEC T3 says.
Reference (sigmoid, ``sigma_w = sigma_b = 1``, d = 2; SPEC §7): vol 0.044836 at 0, 0.030629 at |x| = 1.
"""
from __future__ import annotations

import numpy as np
from numpy.polynomial.hermite_e import hermegauss


def _sigmoid_derivatives(z):
    """phi', phi'', phi''' of the logistic sigmoid (SPEC T2: phi'' = phi'(1-2s), phi''' = phi'(1-6s+6s^2))."""
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
