"""Infinite-width metrics: the rotation-invariant form, the shallow-network metric (Methods: T3), the
metric of any explicit kernel on the diagonal (T1a) and the conformal change of a kernel (T1b).

:class:`RotationInvariantMetric` holds ``g(x) = A(u) I + B(u) x x^T`` (u = |x|^2) either
symbolically (A, B SymPy expressions in :data:`~geomlib.symbolic.rotation.U`) or numerically
(A, B torch functions of u, from adaptive quadrature; derivatives in u by the heat-equation
identity, see :mod:`geomlib.symbolic.quadrature`). Either way it evaluates the metric, the volume
element and the scalar curvature (T4a) on torch tensors of points, shape=[N, d], on any device, in
float64 (results are cast to the points' dtype when that is another floating dtype; never
``torch.get_default_dtype()``). Numeric metrics reach relative 1e-10 in A, B and their
u-derivatives (Methods: numerical accuracy), or warn with the estimated error.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import sympy as sp
import torch

from .activations import Activation, DegenerateMetricError, activation as _as_activation
from .gaussian import S, GaussianExpectation, expect_phi_prime_sq
from .simplify import MAX_OPS, bounded_simplify, is_zero
from .rotation import (U, rotation_invariant_matrix, t4a_log_volume, t4a_scalar_curvature,
                       t4a_volume_element)


def check_sigma(name: str, value) -> sp.Expr:
    """Validate a standard deviation (sigma_w, sigma_b): a real number >= 0 or a non-negative symbol."""
    if isinstance(value, torch.Tensor):
        value = value.item()
    try:
        v = sp.sympify(value)
    except (sp.SympifyError, TypeError):
        raise TypeError(f"{name} must be a number or SymPy symbol, got {type(value).__name__}") from None
    if v.is_number:
        if not v.is_real:
            raise ValueError(f"{name} must be real, got {value!r}")
        if v < 0:
            raise ValueError(f"{name} = {value} is negative: it is a standard deviation (>= 0); "
                             f"the variance is {name}^2. Pass abs({name}) if you meant the variance {value}^2.")
        if v.is_Float:
            # short decimals (1.3) become exact rationals; others (1/sqrt(1000)) stay floats,
            # whose exact binary rationals would carry 30-digit integers into every expression
            q = sp.Rational(repr(float(v)))
            v = q if q.q <= 10**6 else sp.Float(float(v), 17)
        return v
    if v.is_nonnegative is not True:
        raise ValueError(f"symbolic {name} must be declared non-negative, e.g. sp.Symbol('{v}', positive=True)")
    return v


class DegenerateMetricWarning(UserWarning):
    """Points where g is singular (e.g. the apex of the cone of a bias-free arc-cosine metric)."""


def _flag_singular(A, B, u, what: str):
    bad = (A <= 0) | (A + u * B <= 0)
    if bool(bad.any()):
        import warnings

        warnings.warn(f"{what}: the metric is singular at {int(bad.sum())} of {bad.numel()} points (det g = 0, e.g. "
                      "the apex |x| = 0 of a bias-free arc-cosine cone); volume 0 there, curvature undefined (NaN)",
                      DegenerateMetricWarning, stacklevel=3)
    return bad


class RotationInvariantMetric:
    """``g(x) = A(u) I + B(u) x x^T``, u = |x|^2 (shape of g: [d, d]; d is free).

    Symbolic: ``A``, ``B`` SymPy expressions in ``U``. Numeric: ``A``, ``B`` torch callables
    u[...] -> [...] (differentiable twice by autograd), or additionally ``jet``: (u, derivatives) ->
    (A, A', A'', B, B'), or (A, B) when ``derivatives`` is False (used instead of autograd when given). ``method`` says how A and B were obtained.
    """

    def __init__(self, A, B, *, label: str = "", method: str = "explicit", jet=None):
        self.symbolic = isinstance(A, sp.Basic) and isinstance(B, sp.Basic)
        if not self.symbolic and not (callable(A) and callable(B)):
            raise TypeError("A and B must both be SymPy expressions in u or both torch callables of u")
        if self.symbolic:
            extra = (A.free_symbols | B.free_symbols) - {U}
            self.params = sorted(extra, key=str)
        else:
            self.params = []
        self.A, self.B, self.label, self.method = A, B, label, method
        self.jet = jet
        self._fns = None

    def __repr__(self) -> str:
        if self.symbolic:
            return f"RotationInvariantMetric({self.label}: A = {self.A}, B = {self.B}; {self.method})"
        return f"RotationInvariantMetric({self.label}: numeric; {self.method})"

    # ---------------------------------------------------------------- symbolic views
    def _need_symbolic(self, what):
        if not self.symbolic:
            raise TypeError(f"{what} needs a symbolic metric; this one is numeric ({self.method}): "
                            "use the torch methods (volume, curvature) instead")

    def matrix(self, coords: Sequence[sp.Symbol]) -> sp.Matrix:
        """Explicit SymPy matrix in coordinates ``coords`` (shape=[d, d])."""
        self._need_symbolic("matrix()")
        return rotation_invariant_matrix(self.A, self.B, coords)

    @property
    def e_omega(self) -> sp.Expr | None:
        """e^Omega if the metric has the T3/T4b form B = 2 A' (then A = e^Omega), else None."""
        self._need_symbolic("e_omega")
        return self.A if is_zero(self.B - 2 * sp.diff(self.A, U)) else None

    def volume_element(self, d) -> sp.Expr:
        """sqrt(det g) as a SymPy expression in u (T4a)."""
        self._need_symbolic("volume_element()")
        return t4a_volume_element(self.A, self.B, U, d)

    def scalar_curvature(self, d, *, simplify=True) -> sp.Expr:
        """Scalar curvature R(u) in dimension d, closed form T4a (sign of Methods: curvature conventions).

        ``simplify=True`` (default): simplified when R has at most 400 operations and SymPy finishes
        within 10 s, otherwise the unsimplified closed form (exact all the same; see
        :mod:`geomlib.symbolic.simplify`); ``"full"``: unbounded ``sympy.simplify``; ``False``: none."""
        self._need_symbolic("scalar_curvature()")
        R = t4a_scalar_curvature(self.A, sp.diff(self.A, U), sp.diff(self.A, U, 2), self.B, sp.diff(self.B, U), U, d)
        if simplify == "full":
            return sp.simplify(R)
        return bounded_simplify(R, max_ops=MAX_OPS) if simplify else R

    def subs(self, *args, **kw) -> "RotationInvariantMetric":
        self._need_symbolic("subs()")
        return RotationInvariantMetric(self.A.subs(*args, **kw), self.B.subs(*args, **kw),
                                       label=self.label, method=self.method)

    def scaled(self, c) -> "RotationInvariantMetric":
        """c * g (e.g. the Cho-Saul factor 2: volume x c^{d/2}, R / c)."""
        if self.symbolic:
            return RotationInvariantMetric(c * self.A, c * self.B, label=self.label, method=self.method)
        A, B, jet = self.A, self.B, self.jet
        cj = None if jet is None else (lambda u, derivatives=True: tuple(c * p for p in jet(u, derivatives)))
        return RotationInvariantMetric(lambda u: c * A(u), lambda u: c * B(u), label=self.label, method=self.method,
                                       jet=cj)

    # ---------------------------------------------------------------- torch evaluation
    def _symbolic_fns(self):
        if self._fns is None:
            if self.params:
                raise ValueError(f"metric has free parameters {self.params}: substitute numbers first (.subs)")
            from .bridge import to_torch

            A, B = self.A, self.B
            self._fns = [to_torch(e, (U,)) for e in (A, sp.diff(A, U), sp.diff(A, U, 2), B, sp.diff(B, U))]
        return self._fns

    def parts(self, u: torch.Tensor, *, derivatives: bool = True):
        """(A, A', A'', B, B') at ``u`` (tensor, shape=[...]); without derivatives (A, B). float64
        unless ``u`` is a floating tensor (then its dtype)."""
        if not (isinstance(u, torch.Tensor) and u.is_floating_point()):
            u = torch.as_tensor(u, dtype=torch.float64)
        if self.symbolic:
            fns = self._symbolic_fns()
            if not derivatives:
                return fns[0](u), fns[3](u)
            return tuple(f(u) for f in fns)
        if self.jet is not None:
            return tuple(torch.as_tensor(p, dtype=u.dtype, device=u.device).detach()
                         for p in self.jet(u.detach(), derivatives))
        if not derivatives:
            return self.A(u).detach(), self.B(u).detach()
        with torch.enable_grad():
            uu = u.detach().clone().requires_grad_(True)
            A = self.A(uu)
            (Ap,) = torch.autograd.grad(A.sum(), uu, create_graph=True)
            (App,) = torch.autograd.grad(Ap.sum(), uu, allow_unused=True)
            B = self.B(uu)
            (Bp,) = torch.autograd.grad(B.sum(), uu, allow_unused=True)
        z = torch.zeros_like(u)
        return (A.detach(), Ap.detach(), z if App is None else App.detach(), B.detach(), z if Bp is None else Bp.detach())

    @staticmethod
    def _points(x) -> tuple[torch.Tensor, torch.dtype]:
        """Points as float64 [N, d] and the dtype results are returned in (that of x if floating)."""
        x = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x, dtype=float))
        dtype = x.dtype if x.is_floating_point() else torch.float64
        x = x.to(torch.float64)
        if x.dim() == 1:
            x = x.unsqueeze(0)
        if x.dim() != 2 or x.shape[-1] < 1:
            raise ValueError(f"points must have shape [N, d] with d >= 1, got {tuple(x.shape)}")
        return x, dtype

    def evaluate(self, x) -> torch.Tensor:
        """g at points ``x`` (shape=[N, d]) -> shape=[N, d, d]."""
        x, dtype = self._points(x)
        A, B = self.parts((x * x).sum(-1), derivatives=False)
        eye = torch.eye(x.shape[-1], dtype=x.dtype, device=x.device)
        return (A[:, None, None] * eye + B[:, None, None] * x[:, :, None] * x[:, None, :]).to(dtype)

    def log_volume(self, x) -> torch.Tensor:
        """1/2 log det g at x (shape=[N, d]) -> [N]; -inf with a :class:`DegenerateMetricWarning` where g is singular."""
        x, dtype = self._points(x)
        u = (x * x).sum(-1)
        A, B = self.parts(u, derivatives=False)
        bad = _flag_singular(A, B, u, "log_volume")
        out = t4a_log_volume(torch.where(bad, torch.ones_like(A), A), torch.where(bad, torch.zeros_like(B), B), u, x.shape[-1])
        return torch.where(bad, torch.full_like(out, -torch.inf), out).to(dtype)

    def volume(self, x) -> torch.Tensor:
        """sqrt(det g) at x (shape=[N, d]) -> [N]."""
        return torch.exp(self.log_volume(x))

    def curvature(self, x) -> torch.Tensor:
        """Scalar curvature R at x (shape=[N, d]) -> [N] (T4a); NaN with a
        :class:`DegenerateMetricWarning` where g is singular."""
        x, dtype = self._points(x)
        u = (x * x).sum(-1)
        A, Ap, App, B, Bp = self.parts(u)
        bad = _flag_singular(A, B, u, "curvature")
        R = t4a_scalar_curvature(torch.where(bad, torch.ones_like(A), A), Ap, App, B, Bp, u, x.shape[-1])
        return torch.where(bad, torch.full_like(R, torch.nan), R).to(dtype)

    def metric_fn(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """``x[N, d] -> g[N, d, d]`` (for geomlib.numeric.scalar_curvature_from_metric)."""
        return self.evaluate


def shallow_metric(act, sigma_w=1, sigma_b=1, *, cho_saul: bool = False, rtol: float | None = None,
                   try_sympy: bool = True, nodes: int | None = None) -> RotationInvariantMetric:
    """Infinite-width metric of a one-hidden-layer network (Methods: T3)::

        g = e^Omega(u) [I + 2 Omega'(u) x x^T],   e^Omega = sigma_w^2 E_{z~N(0, sigma_w^2 u + sigma_b^2)}[phi'(z)^2]

    ``act``: an :class:`Activation` (or SymPy expression / name). Symbolic when the expectation has
    a closed form, otherwise numeric by adaptive quadrature (``method`` says so): A = e^Omega and its
    u-derivatives (so B, B' and R) to relative ``rtol`` (default 1e-10) for any variance, or a
    :class:`~geomlib.symbolic.quadrature.QuadratureAccuracyWarning` with the estimated error.
    ``cho_saul=True`` multiplies by 2 (Cho & Saul's k_m = 2 E[.]; arc-cosine family only).
    ``nodes``: deprecated, ignored. Raises :class:`DegenerateMetricError` for the step (degree 0).
    """
    act = _as_activation(act)
    sw, sb = check_sigma("sigma_w", sigma_w), check_sigma("sigma_b", sigma_b)
    if sw == 0:
        raise DegenerateMetricError("sigma_w = 0: every unit ignores the input, the metric is zero")
    if cho_saul and act.family != "arccos":
        raise ValueError("the Cho-Saul factor 2 is a convention of the arc-cosine kernels only")
    E: GaussianExpectation = expect_phi_prime_sq(act, rtol=rtol, try_sympy=try_sympy, nodes=nodes)
    factor = 2 if cho_saul else 1
    label = f"{act.name}, sigma_w={sw}, sigma_b={sb}" + (", Cho-Saul x2" if cho_saul else "")
    if E.exact:
        eO = bounded_simplify(factor * sw**2 * E.expr.subs(S, sw**2 * U + sb**2), max_ops=MAX_OPS)
        return RotationInvariantMetric(eO, bounded_simplify(2 * sp.diff(eO, U), max_ops=MAX_OPS), label=label,
                                       method=E.method)
    if not (sw.is_number and sb.is_number):
        raise ValueError(f"{act.name}: E[phi'^2] has no closed form, so its metric is numeric (quadrature) and "
                         f"needs numeric sigma_w, sigma_b (got {sw}, {sb})")
    swf, sbf = float(sw), float(sb)
    Q = E.integral
    c = factor * swf**2

    def A(u):
        return c * Q(swf**2 * u + sbf**2)

    def B(u):
        with torch.enable_grad():
            uu = u if u.requires_grad else u.detach().clone().requires_grad_(True)
            (dA,) = torch.autograd.grad(A(uu).sum(), uu, create_graph=True)
        return 2 * dA

    def jet(u, derivatives=True):
        s = swf**2 * u + sbf**2
        if not derivatives:
            E0, E1 = Q.derivatives(s, (0, 1))
            return c * E0, 2 * c * swf**2 * E1
        E0, E1, E2 = Q.derivatives(s, (0, 1, 2))
        Ap, App = c * swf**2 * E1, c * swf**4 * E2
        return c * E0, Ap, App, 2 * Ap, 2 * App

    return RotationInvariantMetric(A, B, label=label, method=E.method, jet=jet)


def metric_from_kernel(k: sp.Expr, x: Sequence[sp.Symbol], y: Sequence[sp.Symbol], *, form: str = "mixed",
                       at: Sequence | None = None) -> sp.Matrix:
    """Metric on the diagonal of an explicit kernel k(x, y) (Methods: T1(a); Burges 1999), shape=[d, d]::

        mixed:     g_{mu nu} = d_{x_mu} d_{y_nu} k |_{y=x}
        diagonal:  g_{mu nu} = 1/2 d_mu d_nu k(x, x) - d_{y_mu} d_{y_nu} k |_{y=x}

    Differentiates first, then sets y = x. Where that is singular (e.g. arccos/arcsin kernels whose
    argument reaches 1 on the diagonal) it takes the limit along y = x + t e_d exactly (series in t)
    and raises :class:`DegenerateMetricError` if the limit is infinite. ``at``: exact coordinates
    (e.g. rationals) to evaluate at, substituted after differentiating and before the limit; needed
    when the limit at a general symbolic point involves signs SymPy cannot decide (|.| terms).
    For dot-product kernels the faster exact route is :meth:`geomlib.symbolic.kernels.DotProductKernel.metric`.
    """
    x, y = tuple(x), tuple(y)
    d = len(x)
    if d < 1 or len(y) != d:
        raise ValueError(f"x and y must be sequences of the same length d >= 1, got {len(x)} and {len(y)}")
    if form == "mixed":
        M = sp.Matrix(d, d, lambda i, j: sp.diff(k, x[i], y[j]))
    elif form == "diagonal":
        kxx = k.subs(dict(zip(y, x)), simultaneous=True)
        M = sp.Matrix(d, d, lambda i, j: sp.diff(kxx, x[i], x[j]) / 2 - sp.diff(k, y[i], y[j]))
    else:
        raise ValueError(f"form must be 'mixed' or 'diagonal', got {form!r}")
    point = {} if at is None else dict(zip(x, [sp.nsimplify(v, rational=True) for v in at]))
    if at is not None and len(at) != d:
        raise ValueError(f"'at' must give {d} coordinates, got {len(at)}")
    on_diag = {y[q]: point.get(x[q], x[q]) for q in range(d)}
    out = sp.zeros(d, d)
    t = sp.Symbol("t", positive=True)
    for i in range(d):
        for j in range(i, d):
            val = M[i, j].subs(point).subs(on_diag, simultaneous=True)
            if val.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
                path = {y[q]: point.get(x[q], x[q]) + (t if q == d - 1 else 0) for q in range(d)}
                try:
                    ser = sp.series(M[i, j].subs(point).subs(path, simultaneous=True), t, 0, 1).removeO()
                except NotImplementedError as exc:
                    raise NotImplementedError(
                        f"SymPy cannot take the diagonal limit of g[{i},{j}] at a symbolic point ({exc}); pass exact "
                        "coordinates with at=(...) or use DotProductKernel.metric()") from None
                if ser.has(t) or ser.has(sp.zoo, sp.oo, -sp.oo, sp.nan):
                    raise DegenerateMetricError(f"g[{i},{j}] diverges on the diagonal: the kernel is not "
                                                "twice differentiable at y = x, the metric is infinite")
                val = ser
            out[i, j] = out[j, i] = bounded_simplify(val, seconds=60)
    return out


def conformal_metric(g: sp.Matrix, k: sp.Expr, c: sp.Expr, x: Sequence[sp.Symbol], y: Sequence[sp.Symbol]) -> sp.Matrix:
    """Metric of the conformally transformed kernel c(x) c(y) k(x, y) (Amari & Wu 1999; Methods: T1(b))::

        g~ = c^2 g + grad c grad c^T k(x,x) + c (grad c k_.^T + k_. grad c^T),   k_mu = d_{y_mu} k |_{y=x}

    ``g``: the metric of k (shape=[d, d]); ``c``: expression in ``x``.
    """
    x, y = tuple(x), tuple(y)
    d = len(x)
    on_diag = dict(zip(y, x))
    kxx = k.subs(on_diag, simultaneous=True)
    kmu = sp.Matrix([sp.diff(k, y[m]).subs(on_diag, simultaneous=True) for m in range(d)])
    grad = sp.Matrix([sp.diff(c, xm) for xm in x])
    return sp.Matrix(g) * c**2 + grad * grad.T * kxx + c * (grad * kmu.T + kmu * grad.T)
