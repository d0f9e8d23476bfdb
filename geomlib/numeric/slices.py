"""Slices of input space: 2-D grids, lines and planes through three anchors (Methods: slices).

Grid convention (all slices): ``values[n*n]`` are row-major with the vertical coordinate (y, or b)
along rows and the horizontal one (x, or a) along columns, so ``to_grid(values)[i, j]`` sits at
``(X[i, j], Y[i, j])`` and ``plt.pcolormesh(X, Y, to_grid(values))`` draws it the right way up.

Plane through ``x1, x2, x3`` (authors' construction, after Somepalli et al. 2022)::

    o = (x1 + x2 + x3) / 3,  e_r = x2 - x1,  e_u = (2 / sqrt 3) ((x1 + x2) / 2 - x3),
    x(a, b) = o + a e_r + b e_u,   (a, b) in [-extent, extent]^2

Anchors sit at ``x1 -> (-1/2, 1/(2 sqrt 3))``, ``x2 -> (1/2, 1/(2 sqrt 3))``, ``x3 -> (0, -1/sqrt 3)``:
an equilateral triangle of side 1 in the chart. The chart is affine, not orthonormal
(``e_u`` is orthogonal to ``e_r`` only for isosceles anchor triangles).
"""
from __future__ import annotations

import math
import warnings

import torch


class DomainWarning(UserWarning):
    """Slice points leave the stated input domain (e.g. pixels outside [0, 1])."""


def _as_anchor(x, name, ref=None) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(x, dtype=torch.get_default_dtype())
    if not x.is_floating_point():
        raise TypeError(f"{name} has dtype {x.dtype}: pass a floating tensor")
    if x.numel() == 0:
        raise ValueError(f"{name} is empty")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} has non-finite values")
    if ref is not None:
        if x.shape != ref.shape:
            raise ValueError(f"{name} has shape {tuple(x.shape)} but the first anchor has {tuple(ref.shape)}")
        x = x.to(dtype=ref.dtype, device=ref.device)
    return x


def _check_domain(points: torch.Tensor, domain, what: str) -> None:
    if domain is None:
        return
    lo, hi = domain
    out = ((points < lo) | (points > hi)).reshape(points.shape[0], -1).any(dim=1)
    if out.any():
        warnings.warn(
            f"{what}: {int(out.sum())} of {points.shape[0]} points leave the input domain [{lo}, {hi}] "
            "(values are not clipped: clipping would break the affine chart)", DomainWarning, stacklevel=3)


class Grid2D:
    """Regular grid on a rectangle of R^2: ``points() -> [n*n, 2]`` (y rows, x columns).

    ``xlim``, ``ylim``: (min, max) with min < max; ``n``: points per side (>= 2).
    ``X, Y``: meshgrids shape=[n, n] with ``X[i, j] = xs[j]``, ``Y[i, j] = ys[i]``.
    ``dtype``: float64 unless given (whatever torch's default dtype is).
    """

    def __init__(self, xlim=(-1.5, 1.5), ylim=(-1.5, 1.5), n: int = 40, *, dtype=None, device=None):
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise ValueError(f"n must be an integer >= 2, got {n!r}")
        for lim, name in ((xlim, "xlim"), (ylim, "ylim")):
            try:
                ok = len(lim) == 2 and all(math.isfinite(float(v)) for v in lim) and float(lim[0]) < float(lim[1])
            except (TypeError, ValueError):  # a bare number, or entries that are not numbers
                ok = False
            if not ok:
                raise ValueError(f"{name} must be a pair (min, max) with finite min < max, got {lim!r}")
        dtype = dtype or torch.float64  # geometry in float64 unless asked otherwise
        self.n = n
        self.xlim, self.ylim = (float(xlim[0]), float(xlim[1])), (float(ylim[0]), float(ylim[1]))
        self.xs = torch.linspace(*self.xlim, n, dtype=dtype, device=device)
        self.ys = torch.linspace(*self.ylim, n, dtype=dtype, device=device)
        self.Y, self.X = torch.meshgrid(self.ys, self.xs, indexing="ij")

    def points(self) -> torch.Tensor:
        """Grid points, shape=[n*n, 2], columns (x, y), row-major over (y, x)."""
        return torch.stack([self.X.reshape(-1), self.Y.reshape(-1)], dim=1)

    def to_grid(self, values: torch.Tensor) -> torch.Tensor:
        """Reshape ``values`` shape=[n*n, ...] to [n, n, ...] (rows y, columns x)."""
        return _to_grid(values, self.n)

    @property
    def spacing(self) -> tuple[float, float]:
        """Grid steps (dx, dy)."""
        return ((self.xlim[1] - self.xlim[0]) / (self.n - 1), (self.ylim[1] - self.ylim[0]) / (self.n - 1))


def _to_grid(values, n):
    if values.shape[0] != n * n:
        raise ValueError(f"values has {values.shape[0]} rows, expected n*n = {n * n}")
    return values.reshape(n, n, *values.shape[1:])


class Line:
    """Segment ``x(t) = xa + t (xb - xa)``, t in [0, 1] (Methods: slices).

    ``steps`` points; ``endpoint=True`` (ours) includes xb, ``endpoint=False`` reproduces the
    authors' ``t = i / steps`` (xb never reached). ``direction`` shape=[1, *in_shape] is
    ``xb - xa``: with :func:`induced_log_volume` it gives the log length element per unit t.
    ``domain=(lo, hi)`` warns (:class:`DomainWarning`) if points leave it.
    """

    def __init__(self, xa, xb, steps: int = 64, endpoint: bool = True, *, domain=None):
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
            raise ValueError(f"steps must be an integer >= 2, got {steps!r}")
        self.xa = _as_anchor(xa, "xa")
        self.xb = _as_anchor(xb, "xb", self.xa)
        if torch.equal(self.xa, self.xb):
            raise ValueError("xa and xb coincide: a line needs two distinct points")
        self.in_shape = tuple(self.xa.shape)
        self.steps, self.endpoint, self.domain = steps, endpoint, domain
        kw = dict(dtype=self.xa.dtype, device=self.xa.device)
        self.t = torch.linspace(0, 1, steps, **kw) if endpoint else torch.arange(steps, **kw) / steps
        self.direction = (self.xb - self.xa).unsqueeze(0)

    def points(self) -> torch.Tensor:
        """Points on the segment, shape=[steps, *in_shape]."""
        tt = self.t.reshape(-1, *([1] * len(self.in_shape)))
        p = self.xa + tt * self.direction
        _check_domain(p, self.domain, "Line")
        return p

    @property
    def length(self) -> float:
        """Euclidean length ``|xb - xa|`` (divide the per-t length element by it for magnification)."""
        return float(self.direction.norm())


class Plane:
    """Plane through three anchors in the coordinates of Methods: slices, sampled on an n x n chart grid.

    ``points() -> [n*n, *in_shape]`` row-major (b rows, a columns); ``A, B`` meshgrids [n, n];
    ``directions`` shape=[2, *in_shape] = ``(e_r, e_u)`` (for :func:`induced_metric`);
    ``anchor_coords`` shape=[3, 2]; ``triangle_mask()`` bool [n, n]; ``chart_area_factor =
    sqrt(det V^T V)`` (Euclidean area of a unit chart cell). Raises for coincident or collinear
    anchors. ``domain=(lo, hi)`` warns (:class:`DomainWarning`) if points leave it.
    """

    ANCHOR_COORDS = ((-0.5, 0.5 / math.sqrt(3)), (0.5, 0.5 / math.sqrt(3)), (0.0, -1.0 / math.sqrt(3)))

    def __init__(self, x1, x2, x3, n: int = 60, extent: float = 1.0, *, domain=None):
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise ValueError(f"n must be an integer >= 2, got {n!r}")
        if not (math.isfinite(float(extent)) and float(extent) > 0):
            raise ValueError(f"extent must be a positive number, got {extent!r}")
        self.x1 = _as_anchor(x1, "x1")
        self.x2 = _as_anchor(x2, "x2", self.x1)
        self.x3 = _as_anchor(x3, "x3", self.x1)
        self.in_shape = tuple(self.x1.shape)
        self.n, self.extent, self.domain = n, float(extent), domain
        self.origin = (self.x1 + self.x2 + self.x3) / 3
        e_r = self.x2 - self.x1
        e_u = (2 / math.sqrt(3)) * ((self.x1 + self.x2) / 2 - self.x3)
        self.directions = torch.stack([e_r, e_u])
        Vf = self.directions.reshape(2, -1).double()  # exact products of the anchors' values
        gram = Vf @ Vf.T
        det = float(torch.linalg.det(gram))
        # sin^2 of the angle between e_r and e_u: 1e-12 in float64, scaled by eps for other dtypes
        # (float32 anchors: 5.4e-4, about 1.3 degrees)
        if not det > 4.5e3 * torch.finfo(self.x1.dtype).eps * float(gram.diagonal().prod()) or not det > 0:
            raise ValueError("anchors are coincident or collinear: they do not span a plane")
        self.chart_area_factor = math.sqrt(det)
        kw = dict(dtype=self.x1.dtype, device=self.x1.device)
        self.a = torch.linspace(-self.extent, self.extent, n, **kw)
        self.b = torch.linspace(-self.extent, self.extent, n, **kw)
        self.B, self.A = torch.meshgrid(self.b, self.a, indexing="ij")
        self.anchor_coords = torch.tensor(self.ANCHOR_COORDS, **kw)

    def point_at(self, a, b) -> torch.Tensor:
        """``o + a e_r + b e_u`` for chart coordinates a, b of equal shape [...] -> [..., *in_shape]."""
        a = torch.as_tensor(a, dtype=self.x1.dtype, device=self.x1.device)
        b = torch.as_tensor(b, dtype=self.x1.dtype, device=self.x1.device)
        sh = (*a.shape, *([1] * len(self.in_shape)))
        return self.origin + a.reshape(sh) * self.directions[0] + b.reshape(sh) * self.directions[1]

    def points(self) -> torch.Tensor:
        """Plane points, shape=[n*n, *in_shape], row-major over (b, a)."""
        p = self.point_at(self.A.reshape(-1), self.B.reshape(-1))
        _check_domain(p, self.domain, "Plane")
        return p

    def coords_of(self, x) -> torch.Tensor:
        """Least-squares chart coordinates (a, b) of points x shape=[..., *in_shape] -> [..., 2]."""
        x = torch.as_tensor(x, dtype=self.x1.dtype, device=self.x1.device)
        r = len(self.in_shape)
        lead = x.shape[: x.ndim - r]
        Vf = self.directions.reshape(2, -1)
        rhs = (x - self.origin).reshape(-1, Vf.shape[1])
        sol = torch.linalg.lstsq(Vf.T, rhs.T).solution.T
        return sol.reshape(*lead, 2)

    def triangle_mask(self) -> torch.Tensor:
        """Chart points inside the anchor triangle ("ternary" panels), bool shape=[n, n]."""
        s3 = math.sqrt(3)
        A, B = self.A, self.B
        return (B < 0.5 / s3) & (B > s3 * A - 1 / s3) & (B > -s3 * A - 1 / s3)

    def to_grid(self, values: torch.Tensor) -> torch.Tensor:
        """Reshape ``values`` shape=[n*n, ...] to [n, n, ...] (rows b, columns a)."""
        return _to_grid(values, self.n)
