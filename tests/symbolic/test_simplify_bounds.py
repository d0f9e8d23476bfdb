"""Bounded simplification (issue 11, case 6 and its kind): no default symbolic call runs unbounded;
when simplification is skipped or times out, the unsimplified closed form comes back, exact all the
same (oracle: autograd curvature of the metric matrix, an independent route)."""
import threading
import time

import pytest
import sympy as sp
import torch

from geomlib.symbolic import U, Z, activation, deep_metric, erf, relu, shallow_metric, to_torch
from geomlib.symbolic.activations import Activation
from geomlib.symbolic.simplify import MAX_OPS, bounded_simplify, is_zero, time_limit


def test_case6_deep_erf_curvature_returns_the_closed_form():
    layers = deep_metric(erf(), [1] * 3, [1] * 3)
    R = layers[2].scalar_curvature(2)  # was: minutes in sympy.simplify
    assert sp.count_ops(R) > MAX_OPS  # too large to simplify by default: returned as derived
    val = to_torch(R, (U,))(torch.tensor(0.25, dtype=torch.float64)).item()  # x = (0.3, -0.4)
    assert val == pytest.approx(0.3101313630, abs=5e-11)
    # independent route: the same network by quadrature (SymPy integration off), jet by the heat equation
    generic = Activation("erf(z/sqrt2), generic", erf().expr)
    numeric = deep_metric(generic, [1] * 3, [1] * 3, try_sympy=False)[2]
    x = torch.tensor([[0.3, -0.4]], dtype=torch.float64)
    assert numeric.curvature(x).item() == pytest.approx(val, rel=1e-10)
    assert layers[2].curvature(x).item() == pytest.approx(val, rel=1e-12)


def test_small_results_are_still_simplified():
    assert str(shallow_metric(erf(), 1, 1).scalar_curvature(2)) == "-2*pi*u/(3*sqrt(2*u + 3))"
    assert shallow_metric(relu(), 1, 1).scalar_curvature(3) == 0


def test_time_limit_returns_the_input_in_main_and_worker_threads():
    slow = deep_metric(erf(), [1] * 3, [1] * 3)[2].B  # sympy.simplify takes minutes on it
    t0 = time.monotonic()
    assert bounded_simplify(slow, seconds=0.3) is slow
    assert time.monotonic() - t0 < 30
    out = {}

    def worker():
        out["r"] = bounded_simplify(slow, seconds=0.3)
        with pytest.raises(TimeoutError):
            with time_limit(0.2):
                while True:
                    sp.expand((Z + 1) ** 3)

    th = threading.Thread(target=worker)
    th.start()
    th.join(60)
    assert not th.is_alive() and out["r"] is slow


def test_nested_time_limits_keep_the_outer_deadline():
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        with time_limit(0.5):
            bounded_simplify(sp.sin(Z) ** 2 + sp.cos(Z) ** 2, seconds=5)  # inner finishes, outer still armed
            while True:
                sp.expand((Z + 2) ** 4)
    assert time.monotonic() - t0 < 10


def test_identity_checks_never_hang_and_are_sound():
    assert is_zero(sp.sin(Z) ** 2 + sp.cos(Z) ** 2 - 1)
    assert not is_zero(Z - Z * sp.Heaviside(Z))  # ReLU is not the identity: points of both signs
    # an identity simplify cannot close in the time given is still decided (exact evaluation at points)
    big = deep_metric(erf(), [1] * 3, [1] * 3)[2].B
    assert is_zero(big - sp.expand(big, deep=False) * 1, seconds=0.2)
    assert not is_zero(big - big.subs(U, U + sp.Rational(1, 10)), seconds=0.2)
    assert activation(Z * sp.Heaviside(Z)) == relu() and activation(Z).family == "generic"
