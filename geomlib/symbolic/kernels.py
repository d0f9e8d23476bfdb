"""NNGP kernels of one hidden layer and their metrics on the diagonal (Methods: T1(a), T5, T6).

For ``z_x = w.x + b``, ``w ~ N(0, sigma_w^2 I)``, ``b ~ N(0, sigma_b^2)``, the kernel
``k(x, y) = E[phi(z_x) phi(z_y)]`` depends on x, y only through

    a = q_xx = sigma_w^2 |x|^2 + sigma_b^2,   b = q_yy,   c = q_xy = sigma_w^2 x.y + sigma_b^2.

* arc-cosine degree m (Cho & Saul 2009, without their factor 2; integer m >= 0)::

      k = (ab)^{m/2} / (2 pi) J_m(theta),   cos theta = c / sqrt(ab),
      J_m(theta) = (-1)^m sin(theta)^{2m+1} (1/sin(theta) d/dtheta)^m ((pi - theta)/sin(theta))

  (J_0 = pi - theta, J_1 = sin + (pi - theta) cos, J_2 = 3 sin cos + (pi - theta)(1 + 2 cos^2)).
* erf(z/sqrt 2) (Williams 1997): ``k = 2/pi asin(c / sqrt((1+a)(1+b)))``; erf(z): replace q by 2q.

:meth:`DotProductKernel.metric` takes the metric g = d_x d_y k |_{y=x} **as an exact limit**: the
arc-cosine kernels are singular on the diagonal (theta = 0, where d theta/dc is infinite) while
their metric is finite for m >= 1. With x = (r, 0) and y = (r, t) (perpendicular approach; the
limit is path independent because k is C^2 there for m >= 1), chain rule gives

    g_11 = sigma_w^2 K_c + sigma_w^4 u (4 K_ab + 2 K_ac + 2 K_bc + K_cc),   g_22 = sigma_w^2 (K_c + 2 tau^2 K_bc)

at a = q(u), b = a + tau^2, c = a, tau = sigma_w t; on this path tan(theta) = tau / sqrt(a), so
every term is an explicit function of theta whose series at theta = 0 gives the limit. The
distance form ``(k(y,y) - 2k(x,y) + k(x,x)) / t^2 -> g_22`` is checked too: it diverges exactly
when the kernel has a cusp (degree 0), and then :class:`DegenerateMetricError` is raised.

**Numerical form of the kernels.** ``acos(c/sqrt(ab))`` and ``sqrt(1 - c^2/(ab))`` are 0/0 at zero
norm and round to acos(1 + eps) = NaN or sqrt(-eps) = NaN on the diagonal. The expressions returned
here avoid both: with ``D = ab - c^2`` (>= 0; a sum of squares in the coordinates, Lagrange's
identity ``D = sigma_w^4 sum_{i<j} (x_i y_j - x_j y_i)^2 + sigma_w^2 sigma_b^2 |x - y|^2``),
``sin theta = sqrt(D)/sqrt(ab)``, ``cos theta = c/sqrt(ab)`` and ``theta = pi/2 - atan2(c, sqrt D)``,
the arc-cosine kernel is a polynomial in (sqrt D, c, ab) plus (pi - theta) times another, with no
division (J_1: ``k = (sqrt D + (pi - theta) c) / (2 pi)``); erf: ``2/pi atan2(c, sqrt(1 + a + b + D))``
(q -> 2q for erf(z)). Evaluated through :func:`geomlib.symbolic.to_torch` / ``to_numpy`` they are
finite everywhere, including x = y and zero-norm inputs (where theta = pi/2, i.e. Heaviside(0) = 1/2
for the step), to ~1e-15 relative to the diagonal values k(x,x), k(y,y) (the kernel itself is 0 at
antiparallel inputs without bias, where relative accuracy of k(x, y) alone is not available);
first derivatives by autograd are finite on the diagonal too (sqrt D is evaluated as a norm).
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .activations import Activation, DegenerateMetricError, activation as _as_activation
from .metric import RotationInvariantMetric, check_sigma
from .rotation import U
from .simplify import bounded_simplify, is_zero

QA, QB, QC = sp.symbols("q_xx q_yy q_xy", positive=True)
QD = sp.Symbol("q_D", nonnegative=True)  # q_xx q_yy - q_xy^2 (>= 0 by Cauchy-Schwarz)
THETA = sp.Symbol("theta", positive=True)


def arccos_J(m: int) -> sp.Expr:
    """Cho-Saul angular function J_m(theta) (integer m >= 0)."""
    if not (isinstance(m, (int, sp.Integer)) and int(m) >= 0):
        raise ValueError(f"the closed-form arc-cosine kernel needs an integer degree m >= 0, got {m!r}")
    f = (sp.pi - THETA) / sp.sin(THETA)
    for _ in range(int(m)):
        f = sp.diff(f, THETA) / sp.sin(THETA)
    J = sp.simplify((-1) ** int(m) * sp.sin(THETA) ** (2 * int(m) + 1) * f)
    # powers of sin/cos of theta only (no sin(2 theta)): substituting theta = acos(w) then gives exact
    # algebraic terms (cos(acos w) = w, sin(acos w) = sqrt(1 - w^2)). SymPy 1.14 evaluates
    # sin(2*acos(w)) to 0 for rationals w close to 1 (e.g. w = 1519999/1520000), which made numeric
    # values of the kernel wrong near the diagonal.
    return sp.expand(sp.expand_trig(J))


def arccos_kernel_stable(m: int) -> sp.Expr:
    """(q_xx q_yy)^(m/2) J_m(theta) / (2 pi) in (QA, QB, QC, QD) without division or acos (module
    docstring): sin -> sqrt(QD)/r, cos -> QC/r, times r^m (only even powers of r remain: r^2 = QA QB),
    pi - theta = pi/2 + atan2(QC, sqrt(QD))."""
    sn, cs, r, P = sp.symbols("_sn _cs _r _P", real=True)  # P stands for pi - theta
    J = arccos_J(m)
    e = sp.expand(J.subs({sp.sin(THETA): sn / r, sp.cos(THETA): cs / r}).subs(THETA, sp.pi - P) * r ** int(m))
    out = sp.S.Zero
    for term in sp.Add.make_args(e):
        p = term.as_powers_dict().get(r, 0)
        if p % 2:
            raise AssertionError(f"odd power of r in the arc-cosine kernel of degree {m}")
        out += term.subs(r, 1) * (QA * QB) ** (p // 2)
    out = sp.collect(sp.expand(out), P)
    sqd = sp.sqrt(QD)
    # pi - theta = pi/2 + atan2(c, sqrt D): theta = pi/2 at zero norm (c = D = 0), i.e. Heaviside(0) = 1/2
    return out.subs({sn: sqd, cs: QC, P: sp.pi / 2 + sp.atan2(QC, sqd)}, simultaneous=True)


def gram_gap(x, y, sigma_w, sigma_b) -> sp.Expr:
    """q_xx q_yy - q_xy^2 written as a sum of squares (Lagrange's identity), never negative in floats."""
    d = len(x)
    wedge = sum((x[i] * y[j] - x[j] * y[i]) ** 2 for i in range(d) for j in range(i + 1, d))
    diff = sum((x[i] - y[i]) ** 2 for i in range(d))
    return sigma_w**4 * wedge + sigma_w**2 * sigma_b**2 * diff


@dataclass
class DotProductKernel:
    """NNGP kernel ``K(q_xx, q_yy, q_xy)`` of a one-hidden-layer network.

    ``K``: expression in ``QA, QB, QC`` (finite for every admissible a, b, c: D = ab - c^2 clamped at
    0); ``K_theta``: the same in ``QA, QB, THETA`` (when the kernel is singular on the diagonal);
    ``diagonal``: K(q, q, q) as an expression in ``QA``; ``degree``: homogeneity degree in (a, b, c)
    when homogeneous (arc-cosine: m); ``K_gap``: the kernel in ``QA, QB, QC, QD`` (QD = ab - c^2),
    used by :meth:`expr` with QD as a sum of squares.
    """

    name: str
    activation: Activation
    sigma_w: sp.Expr
    sigma_b: sp.Expr
    K: sp.Expr
    diagonal: sp.Expr
    K_theta: sp.Expr | None = None
    degree: int | None = None
    K_gap: sp.Expr | None = None

    def q(self, x_dot_y) -> sp.Expr:
        return self.sigma_w**2 * x_dot_y + self.sigma_b**2

    def expr(self, x, y, *, stable: bool = True) -> sp.Expr:
        """k(x, y) in explicit coordinates (sequences of symbols or numbers of equal length d >= 1).

        ``stable=True`` (default): written so that it evaluates finite and accurate everywhere through
        ``to_torch``/``to_numpy``, including x = y and zero-norm inputs (module docstring).
        ``stable=False``: the textbook form (acos / asin of c/sqrt(ab)), easier for SymPy to simplify,
        not for numerical evaluation (NaN on the diagonal for the arc-cosine kernels)."""
        x, y = list(x), list(y)
        if len(x) != len(y) or len(x) < 1:
            raise ValueError("x and y must have the same length d >= 1")
        X, Y = sp.Matrix(x), sp.Matrix(y)
        sub = {QA: self.q(X.dot(X)), QB: self.q(Y.dot(Y)), QC: self.q(X.dot(Y))}
        if not stable:
            K = self.K if self.K_theta is None else self.K_theta.subs(THETA, sp.acos(QC / sp.sqrt(QA * QB)))
            return K.subs(sub, simultaneous=True)
        if self.K_gap is None:
            return self.K.subs(sub, simultaneous=True)
        sub[QD] = gram_gap(x, y, self.sigma_w, self.sigma_b)
        return self.K_gap.subs(sub, simultaneous=True)

    def metric(self) -> RotationInvariantMetric:
        """g = A(u) I + B(u) x x^T from d_x d_y k at y = x (exact limit; see module docstring)."""
        sw2 = self.sigma_w**2
        qu = self.q(U)
        if self.K_theta is None:
            K = self.K
            Kc = sp.diff(K, QC)
            X = 4 * sp.diff(K, QA, QB) + 2 * sp.diff(K, QA, QC) + 2 * sp.diff(K, QB, QC) + sp.diff(K, QC, 2)
            on = {QA: qu, QB: qu, QC: qu}
            Lc, LX = (bounded_simplify(e.subs(on, simultaneous=True), seconds=60) for e in (Kc, X))
            if any(e.has(sp.zoo, sp.nan, sp.oo, -sp.oo) for e in (Lc, LX)):
                raise DegenerateMetricError(f"{self.name}: the kernel's derivatives are infinite on the diagonal")
            A, B = sw2 * Lc, sw2**2 * LX
            how = "T1a: d_x d_y k at y = x (regular on the diagonal, direct substitution)"
        else:
            Lc, LX, Lbc, Ld = self._theta_limits()
            Lc, LX, Lbc, Ld = (e.subs(QA, qu) for e in (Lc, LX, Lbc, Ld))
            if not is_zero(Ld - (Lc + 2 * Lbc), seconds=60):
                raise AssertionError(f"{self.name}: distance form {Ld} disagrees with d_x d_y k = {Lc + 2 * Lbc}")
            A = bounded_simplify(sw2 * (Lc + 2 * Lbc), seconds=60)
            B = bounded_simplify(sw2**2 * LX - 2 * sw2 * Lbc / U, seconds=60)
            how = "T1a: exact limit y -> x of d_x d_y k (series in theta along the perpendicular approach)"
        A, B = bounded_simplify(A, seconds=60), bounded_simplify(B, seconds=60)
        return RotationInvariantMetric(A, B, label=f"{self.name} kernel", method=how)

    def _theta_limits(self):
        a, b = QA, QB
        K = self.K_theta
        ta = sp.cot(THETA) / (2 * a)
        tb = sp.cot(THETA) / (2 * b)
        tc = -1 / (sp.sqrt(a * b) * sp.sin(THETA))

        def Da(f):
            return sp.diff(f, a) + ta * sp.diff(f, THETA)

        def Db(f):
            return sp.diff(f, b) + tb * sp.diff(f, THETA)

        def Dc(f):
            return tc * sp.diff(f, THETA)

        KbcK = Db(Dc(K))
        X = 4 * Da(Db(K)) + 2 * Da(Dc(K)) + 2 * KbcK + Dc(Dc(K))
        tau2 = a * sp.tan(THETA) ** 2
        D = (self.diagonal.subs(QA, b) - 2 * K + self.diagonal) / tau2
        m = self.degree
        # homogeneity K(l a, l b, l c) = l^m K lets us set a = 1 and restore the power of a
        parts = [(Dc(K), None if m is None else m - 1), (X, None if m is None else m - 2),
                 (tau2 * KbcK, None if m is None else m - 1), (D, None if m is None else m - 1)]
        names = ["d_c k", "X = 4k_ab + 2k_ac + 2k_bc + k_cc", "tau^2 k_bc", "distance form D/tau^2"]
        out = []
        for (e, power), nm in zip(parts, names):
            e = e.subs(b, a / sp.cos(THETA) ** 2)
            if power is not None:
                e = e.subs(a, 1)
            ser = sp.series(e, THETA, 0, 1).removeO()
            if ser.has(THETA) or ser.has(sp.zoo, sp.oo, -sp.oo, sp.nan):
                raise DegenerateMetricError(
                    f"{self.name}: {nm} diverges as y -> x ({bounded_simplify(ser, seconds=10)} with theta -> 0): the kernel has a "
                    "cusp on the diagonal, so the metric is infinite (degree-0 arc-cosine: E[delta^2] = oo; Methods: T6)")
            lim = bounded_simplify(ser, seconds=60)
            lim = sp.nsimplify(lim) if power is not None else lim
            out.append(lim * a**power if power is not None else lim)
        return out


def nngp_kernel(act, sigma_w=1, sigma_b=1) -> DotProductKernel:
    """Closed-form NNGP kernel of ``act`` (arc-cosine of integer degree, erf in either convention).

    Other activations have no closed-form kernel here (their *metric* is still available from
    :func:`geomlib.symbolic.shallow_metric`, which needs only E[phi'^2]): NotImplementedError.
    """
    act = _as_activation(act)
    sw, sb = check_sigma("sigma_w", sigma_w), check_sigma("sigma_b", sigma_b)
    if act.family == "arccos":
        m = act.m
        if not (m.is_Integer and m >= 0):
            raise NotImplementedError(f"closed-form arc-cosine kernel needs an integer degree, got m = {m} "
                                      "(the metric for general m comes from shallow_metric)")
        m = int(m)
        Kt = (QA * QB) ** sp.Rational(m, 2) / (2 * sp.pi) * arccos_J(m)
        Kg = arccos_kernel_stable(m) / (2 * sp.pi)
        K = Kg.subs(QD, sp.Max(0, QA * QB - QC**2))
        diag = sp.factorial2(2 * m - 1) * QA**m / 2
        name = act.name if m >= 2 else f"{act.name} (arc-cosine m={m})"
        return DotProductKernel(name, act, sw, sb, K, diag, K_theta=Kt, degree=m, K_gap=Kg)
    if act.family == "erf":
        c = 1 if act.convention == "sqrt2" else 2
        K = 2 / sp.pi * sp.asin(c * QC / sp.sqrt((1 + c * QA) * (1 + c * QB)))
        Kg = 2 / sp.pi * sp.atan2(c * QC, sp.sqrt(1 + c * QA + c * QB + c**2 * QD))
        diag = 2 / sp.pi * sp.asin(c * QA / (1 + c * QA))
        return DotProductKernel(act.name, act, sw, sb, K, diag, K_gap=Kg)
    raise NotImplementedError(f"no closed-form NNGP kernel for {act.name}; its metric comes from "
                              "shallow_metric(...) (T3), by SymPy integration or Gauss-Hermite quadrature")
