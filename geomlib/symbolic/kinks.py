"""Where an activation may fail to be analytic: kinks (Abs, sign, Heaviside, Min/Max, Piecewise,
non-integer powers) and jumps (floor, ceiling, frac), located symbolically.

Shared by :mod:`geomlib.symbolic.activations` (which refuses jumping activations) and
:mod:`geomlib.symbolic.quadrature` (which splits its integrals at the kinks); it imports neither.
"""
from __future__ import annotations

import sympy as sp

Z = sp.Symbol("z", real=True)  # the pre-activation variable every Activation is written in

_KINKED = (sp.Abs, sp.sign, sp.Heaviside, sp.Min, sp.Max, sp.Piecewise)
_JUMPY = (sp.floor, sp.ceiling, sp.frac)


def kinks(f: sp.Expr, z: sp.Symbol = Z) -> list[float]:
    """Real points where ``f`` (an expression in ``z``) may fail to be analytic, sorted.

    From the arguments of Abs/sign/Heaviside, the differences of Min/Max arguments, the conditions of
    Piecewise and the bases of non-integer powers. Raises ``NotImplementedError`` when they cannot be
    located (infinitely many, or not numbers), and for floor/ceiling/frac (jumps)."""
    f = sp.sympify(f)
    for j in _JUMPY:
        if any(a.has(z) for a in f.atoms(j)):
            raise NotImplementedError(f"{j.__name__} has jumps: its Gaussian expectation's derivatives involve Dirac "
                                      "deltas, which geomlib does not integrate")
    args = []
    for a in f.atoms(sp.Abs, sp.sign, sp.Heaviside):
        args.append(a.args[0])
    for a in f.atoms(sp.Min, sp.Max):
        xs = list(a.args)
        args += [xs[i] - xs[j] for i in range(len(xs)) for j in range(i + 1, len(xs))]
    for pw in f.atoms(sp.Piecewise):
        for _, cond in pw.args:
            for rel in ([cond] if isinstance(cond, sp.Rel) else list(cond.atoms(sp.Rel))):
                args.append(rel.lhs - rel.rhs)
    for p in f.atoms(sp.Pow):
        if p.base.has(z) and not p.exp.is_Integer:
            args.append(p.base)
    pts = set()
    for a in args:
        if not a.has(z):
            continue
        sol = sp.solveset(a, z, sp.S.Reals)
        if not isinstance(sol, sp.FiniteSet):
            raise NotImplementedError(f"cannot locate the kinks of {f}: {a} = 0 has solutions {sol}")
        for r in sol:
            if not r.is_number:
                raise NotImplementedError(f"cannot locate the kinks of {f}: {a} = 0 at {r}")
            pts.add(float(r))
    return sorted(pts)


def is_smooth(f: sp.Expr, z: sp.Symbol = Z) -> bool:
    """True when no kink-producing function of ``z`` occurs in ``f`` (then f is analytic on R)."""
    f = sp.sympify(f)
    if any(a.has(z) for a in f.atoms(*_KINKED, *_JUMPY)):
        return False
    return not any(p.base.has(z) and not p.exp.is_Integer for p in f.atoms(sp.Pow))
