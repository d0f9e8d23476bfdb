"""The accuracy checks of geomlib.numeric run once per map, route, dtype and device (issue 11:
"accuracy checks must be cheap"), and run again whenever the map's state changes."""
from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import geomlib.numeric as gn
import functools
import importlib

from geomlib.numeric import _inputs, _memo

jacobian = importlib.import_module("geomlib.numeric.jacobian")
curvature = importlib.import_module("geomlib.numeric.curvature")
from numeric_oracles import gauss_curvature_projector, hessian_loop, jacobian_loop


def _mlp(device, seed=3):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 7), nn.Tanh(), nn.Linear(7, 5), nn.Tanh()).double().to(device).eval()


@pytest.fixture
def counted(monkeypatch):
    """Counts of the Hessian route's and the metric route's self-checks."""
    calls = {"second": 0, "metric": 0}
    second, metric = jacobian._check_second_order, curvature._check_metric_derivatives

    def c2(*a, **k):
        calls["second"] += 1
        return second(*a, **k)

    def cm(*a, **k):
        calls["metric"] += 1
        return metric(*a, **k)

    monkeypatch.setattr(jacobian, "_check_second_order", c2)
    monkeypatch.setattr(curvature, "_check_metric_derivatives", cm)
    return calls


@pytest.fixture
def probes(monkeypatch):
    """Count of batch-consistency probes actually run (not answered from the memo)."""
    count = {"n": 0}
    real = _inputs._probe_model

    def counted(*a, **k):
        count["n"] += 1
        return real(*a, **k)

    monkeypatch.setattr(_inputs, "_probe_model", counted)
    return count


def _oracle_R(m, x):
    n = m(x[:1]).shape[1]
    return gauss_curvature_projector(jacobian_loop(m, x) / n ** 0.5, hessian_loop(m, x) / n ** 0.5)


def test_self_check_runs_once_per_map_and_again_after_a_parameter_change(device, counted):
    m = _mlp(device)
    x = torch.tensor([[0.3, -0.5], [1.1, 0.4], [-0.2, 0.9]], dtype=torch.float64, device=device)
    R1 = gn.scalar_curvature(m, x)
    R2 = gn.scalar_curvature(m, x[1:])  # other points, same map: no new check
    assert counted["second"] == 1
    torch.testing.assert_close(R1[1:], R2, rtol=1e-12, atol=1e-12)
    with torch.no_grad():
        m[0].weight.mul_(1.3)  # an optimiser step changes parameters in place
    R3 = gn.scalar_curvature(m, x)
    assert counted["second"] == 2
    torch.testing.assert_close(R3, _oracle_R(m, x), rtol=1e-9, atol=1e-9)
    m.load_state_dict(_mlp(device, seed=4).state_dict())
    gn.scalar_curvature(m, x)
    assert counted["second"] == 3
    gn.scalar_curvature(m.float(), x.float())  # another dtype: its own check
    assert counted["second"] == 4


def test_metric_route_check_memoised_and_dtype_keyed(device, counted):
    m = _mlp(device)
    x = torch.tensor([[0.3, -0.5], [1.1, 0.4]], dtype=torch.float64, device=device)
    Ra = gn.scalar_curvature(m, x, route="metric")
    Rb = gn.scalar_curvature(m, x, route="metric")
    assert counted["metric"] == 1
    torch.testing.assert_close(Ra, Rb)
    torch.testing.assert_close(Ra, _oracle_R(m, x), rtol=1e-8, atol=1e-8)


def test_failed_checks_are_not_memoised(device, monkeypatch):
    """A route that fails its check falls back on every call (never memoised as passed)."""
    m = _mlp(device)
    x = torch.tensor([[0.3, -0.5], [1.1, 0.4]], dtype=torch.float64, device=device)
    fails = {"n": 0}

    def always_fails(f, xb, in_shape, H, tol, what):
        if "forward over forward" in what:
            fails["n"] += 1
            raise _inputs.RouteCheckFailed("simulated wrong forward-over-forward rule")

    monkeypatch.setattr(jacobian, "_check_second_order", always_fails)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gn.RouteFallbackWarning)
        R1 = gn.scalar_curvature(m, x)
        first = fails["n"]  # as is, then with decomposed kernels
        R2 = gn.scalar_curvature(m, x)
    assert first >= 1 and fails["n"] == 2 * first
    torch.testing.assert_close(R1, R2)
    torch.testing.assert_close(R1, _oracle_R(m, x), rtol=1e-9, atol=1e-9)


class _Slotted:
    """A callable that cannot be weakly referenced: checked on every call."""
    __slots__ = ("m",)

    def __init__(self, m):
        self.m = m

    def __call__(self, x):
        return self.m(x)


def test_unreferenceable_maps_are_checked_every_call(device, counted):
    f = _Slotted(_mlp(device))
    x = torch.tensor([[0.3, -0.5]], dtype=torch.float64, device=device)
    gn.scalar_curvature(f, x)
    gn.scalar_curvature(f, x)
    assert counted["second"] == 2


def test_closure_state_changes_rerun_the_check(device, counted):
    """A plain function over a captured tensor: an in-place change of it reruns the check."""
    W = torch.randn(6, 2, dtype=torch.float64, device=device)

    def f(x):
        return torch.tanh(x @ W.T)

    x = torch.tensor([[0.3, -0.5], [0.2, 0.1]], dtype=torch.float64, device=device)
    gn.scalar_curvature(f, x)
    gn.scalar_curvature(f, x)
    assert counted["second"] == 1
    W.mul_(0.5)
    gn.scalar_curvature(f, x)
    assert counted["second"] == 2


def test_train_mode_is_refused_after_a_memoised_call(device):
    """Memoised checks never hide a later change that makes the map batch-coupled."""
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(2, 6), nn.BatchNorm1d(6), nn.Tanh(), nn.Linear(6, 4)).double().to(device).eval()
    x = torch.tensor([[0.3, -0.5], [1.1, 0.4]], dtype=torch.float64, device=device)
    gn.scalar_curvature(m, x)
    m.train()
    with pytest.raises(gn.BatchCouplingError):
        gn.scalar_curvature(m, x)


class _Switchable(nn.Module):
    """Honest until ``couple`` is set: then each output gets the batch mean added."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 4).double()
        self.couple = False

    def forward(self, x):
        y = torch.tanh(self.lin(x))
        return y + y.mean(0, keepdim=True) if self.couple else y


def test_probe_memoised_but_rerun_after_any_state_change(device, probes):
    m = _Switchable().to(device).eval()
    x = torch.tensor([[0.3, -0.5], [1.1, 0.4]], dtype=torch.float64, device=device)
    V = torch.eye(2, dtype=torch.float64, device=device)
    a = gn.induced_log_volume(m, x, V)
    b = gn.induced_log_volume(m, x[1:], V)
    gn.log_volume(m, x)
    assert probes["n"] == 1
    torch.testing.assert_close(a[1:], b)
    m.couple = True  # a plain attribute: part of the map's state
    with pytest.raises(gn.BatchCouplingError):
        gn.induced_log_volume(m, x, V)
    with pytest.raises(gn.BatchCouplingError):  # failures are never memoised
        gn.induced_log_volume(m, x, V)
    m.couple = False
    gn.induced_log_volume(m, x, V)
    n_before = probes["n"]
    with torch.no_grad():
        m.lin.bias.add_(0.1)
    gn.induced_log_volume(m, x, V)
    assert probes["n"] == n_before + 1


# ---- every kind of change a user can make after a memoised call (found by trying to break the memo) ----

class _Mix(nn.Module):
    def forward(self, z):
        return z - z.mean(0, keepdim=True)


class _Flagged(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 6), nn.Tanh(), nn.Linear(6, 4)).double()
        self.cfg = {"mix": False}
        self.mixt = torch.tensor(0.0, dtype=torch.float64)  # a tensor attribute, not a buffer

    def forward(self, z):
        y = self.net(z)
        if self.cfg["mix"]:
            y = y - y.mean(0)
        return y + self.mixt * y.mean(0)


_NET = None  # a notebook's global model, used by the global wrappers below


def _global_wrapper(z):
    return _NET(z)


def _with_global_net():
    global _NET
    _NET = nn.Sequential(nn.Linear(2, 6), nn.BatchNorm1d(6), nn.Tanh(), nn.Linear(6, 4)).double().eval()
    return _global_wrapper


def _seq():
    return nn.Sequential(nn.Linear(2, 6), nn.Tanh(), nn.Linear(6, 4)).double().eval()


CHANGES = {
    "forward hook": (_seq, lambda m: m[1].register_forward_hook(lambda mod, i, o: o - o.mean(0))),
    "forward pre-hook": (_seq, lambda m: m[0].register_forward_pre_hook(lambda mod, i: (i[0] - i[0].mean(0),))),
    "parameter-free module swapped": (_seq, lambda m: m.__setitem__(1, _Mix())),
    "flag in a dict attribute": (_Flagged, lambda m: m.cfg.__setitem__("mix", True)),
    "non-buffer tensor attribute": (_Flagged, lambda m: m.mixt.fill_(1.0)),
    "instance forward patched": (_seq, lambda m: setattr(m, "forward", lambda z: _Mix()(nn.Sequential.forward(m, z)))),
    "global function over a global net": (_with_global_net, lambda f: _NET.train()),
    "partial over a net": (lambda: functools.partial(lambda net, z: net(z), _with_global_net() and _NET),
                           lambda f: f.args[0].train()),
}


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_memo_never_hides_a_batch_coupling_change(device, name):
    build, change = CHANGES[name]
    f = build()
    if isinstance(f, nn.Module):
        f.to(device)
    elif _NET is not None:
        _NET.to(device)
    x = torch.tensor([[0.3, -0.5], [1.1, 0.4], [-0.7, 0.2]], dtype=torch.float64, device=device)
    gn.log_volume(f, x)  # passes and is memoised
    change(f)
    with pytest.raises(gn.BatchCouplingError):
        gn.log_volume(f, x)


def test_swapped_layernorm_reruns_the_hessian_self_check(device):
    """A silently wrong Hessian if the self-check were skipped: the forward-over-forward rule of
    layer_norm is wrong in torch 2.14; swapping it in after a memoised call must rerun the check."""
    class LN(nn.Module):
        def forward(self, z):
            return torch.nn.functional.layer_norm(z, z.shape[-1:])

    torch.manual_seed(5)
    m = nn.Sequential(nn.Linear(2, 6), nn.Tanh(), nn.Linear(6, 8), nn.Tanh()).double().to(device).eval()
    x = torch.tensor([[0.3, -0.5], [1.1, 0.4]], dtype=torch.float64, device=device)
    gn.jacobian_hessian(m, x)
    m[1] = LN()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gn.RouteFallbackWarning)
        _, H = gn.jacobian_hessian(m, x)
    torch.testing.assert_close(H, hessian_loop(m, x), rtol=1e-10, atol=1e-10)


def test_clear_check_cache_after_writes_through_data(device):
    """Writes through ``.data`` bypass the version counter (documented); clear_check_cache helps."""
    f = _Flagged().to(device).eval()
    x = torch.tensor([[0.3, -0.5], [1.1, 0.4]], dtype=torch.float64, device=device)
    gn.log_volume(f, x)
    f.mixt.data.fill_(1.0)
    gn.clear_check_cache()
    with pytest.raises(gn.BatchCouplingError):
        gn.log_volume(f, x)


def test_large_reachable_state_is_checked_every_call(device, monkeypatch, probes):
    monkeypatch.setattr(_memo, "MAX_NODES", 10)
    m = _seq().to(device)
    assert _memo.model_state(m) is None
    x = torch.tensor([[0.3, -0.5]], dtype=torch.float64, device=device)
    gn.log_volume(m, x)
    gn.log_volume(m, x)
    assert probes["n"] == 2
