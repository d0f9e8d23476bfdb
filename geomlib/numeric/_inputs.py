"""Input checking shared by geomlib.numeric: point batches, feature-map outputs, eval mode.

Conventions used throughout the package
---------------------------------------
A *feature map* ``f`` takes a batch ``[B, *in_shape]`` and returns ``[B, n]`` (trailing output
dimensions are flattened, so ``[B, C, H, W]`` outputs are allowed). It must act on each sample
independently (an ``nn.Module`` in eval mode does): batched Jacobians rely on it.
Points are ``[*in_shape]`` (one point) or ``[N, *in_shape]``. Without ``in_shape`` the shape is
inferred from ``x.ndim``: 1 = one vector, 2 = a batch of vectors, 3 = one image ``[C, H, W]``,
4 = a batch of images; pass ``in_shape`` for anything else (e.g. one ``[H, W]`` image).
"""
from __future__ import annotations

import contextlib
import math
import warnings
from typing import Callable, Sequence

import torch
from torch import nn

from ._memo import check_once

def quiet_forward_ad() -> None:
    """Load torch's forward-AD decompositions once, hiding torch's own ``torch.jit.script``
    FutureWarning (raised inside torch on the first ``jvp``; nothing for users to act on)."""
    load = getattr(torch.autograd.forward_ad, "_maybe_load_decompositions", None)
    if load is None:
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*deprecated", category=FutureWarning)
        load()


_FLOATS = (torch.float64, torch.float32)


def as_points(x, in_shape: Sequence[int] | None = None, *, name: str = "x"):
    """Return ``(xb, single, in_shape)``: ``xb`` shape=[N, *in_shape], ``single`` True if one point.

    Raises ``TypeError`` for non-tensors of the wrong kind or non-floating dtypes and
    ``ValueError`` for non-finite values, empty batches or shapes that do not match ``in_shape``.
    """
    if not isinstance(x, torch.Tensor):
        try:
            x = torch.as_tensor(x, dtype=torch.get_default_dtype())
        except Exception as exc:  # noqa: BLE001 - re-raised with a clear message
            raise TypeError(f"{name} must be a torch.Tensor (or array-like of numbers), got {type(x).__name__}") from exc
    if x.dtype not in _FLOATS:
        raise TypeError(f"{name} has dtype {x.dtype}: pass float64 (recommended) or float32; integer, complex "
                        "and half-precision inputs are not supported for geometry")
    if in_shape is None:
        if x.ndim in (1, 3):
            in_shape, single = tuple(x.shape), True
        elif x.ndim in (2, 4):
            in_shape, single = tuple(x.shape[1:]), False
        else:
            raise ValueError(
                f"{name} has shape {tuple(x.shape)}: cannot tell points from batches; expected "
                "[d], [N, d], [C, H, W] or [N, C, H, W], or pass in_shape=..."
            )
    else:
        in_shape = tuple(int(s) for s in in_shape)
        k = len(in_shape)
        if tuple(x.shape[x.ndim - k:]) != in_shape or x.ndim not in (k, k + 1):
            raise ValueError(f"{name} has shape {tuple(x.shape)}, expected {list(in_shape)} or [N, *{list(in_shape)}]")
        single = x.ndim == k
    xb = x.unsqueeze(0) if single else x
    if xb.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (N = 0)")
    if xb.numel() == 0:
        raise ValueError(f"{name} has a zero-sized input shape {tuple(in_shape)}")
    if not bool(torch.isfinite(xb.sum())):  # one cheap pass; locate the culprits only if needed
        bad = ~torch.isfinite(xb)
        if not bad.any():
            return xb, single, tuple(in_shape)  # finite values whose sum overflowed
        rows = bad.reshape(xb.shape[0], -1).any(dim=1).nonzero().flatten()
        raise ValueError(f"{name} has non-finite values at {len(rows)} point(s), first index {int(rows[0])}")
    return xb, single, tuple(in_shape)


def check_outputs(y: torch.Tensor, batch: int, *, what: str = "f") -> torch.Tensor:
    """Check a feature-map output ``[B, *out]`` and return it flattened to ``[B, n]``."""
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"{what} must return a tensor, got {type(y).__name__}")
    if y.ndim < 2 or y.shape[0] != batch:
        raise ValueError(f"{what} returned shape {tuple(y.shape)} for a batch of {batch}: expected [{batch}, n]")
    y = y.reshape(batch, -1)
    bad = ~torch.isfinite(y)
    if bad.any():
        rows = bad.any(dim=1).nonzero().flatten()
        raise ValueError(f"{what} returned non-finite values at {len(rows)} point(s), first index {int(rows[0])}")
    return y


def flat_fn(f: Callable, in_shape: tuple[int, ...]) -> Callable:
    """Wrap ``f`` so that it returns ``[B, n]`` (trailing output dims flattened)."""

    def g(xb):
        y = f(xb)
        return y.reshape(y.shape[0], -1)

    return g


COUPLING = "batch statistics couple the points"


class BatchCouplingError(ValueError):
    """The feature map's output at a point depends on the other points of the batch (training-mode
    or statistics-free BatchNorm, or anything else the batch-consistency probe catches): per-point
    Jacobians of such a map are not the geometry of any fixed map, so geomlib refuses it."""


def check_eval_mode(f: Callable) -> None:
    """Raise if ``f`` is a module (or a bound method / ``functools.partial`` of one, or has a
    ``.module`` attribute) whose BatchNorm/Dropout is in training mode, or whose BatchNorm keeps no
    running statistics (``track_running_stats=False``: it normalises with batch statistics even in
    eval mode).

    Training-mode BatchNorm couples the samples of a batch (and updates running statistics),
    so batched Jacobians would be wrong; dropout makes ``f`` random. Call ``model.eval()`` first.
    Models that couple samples in other ways are caught by :func:`probe_model`.
    """
    for owner in _owner_modules(f):
        _check_module_eval(owner)


def _owner_modules(f: Callable) -> list[nn.Module]:
    """The modules behind ``f``: itself, a bound method's, a wrapper's ``.module``, a partial's."""
    owners = [f, getattr(f, "__self__", None), getattr(f, "module", None),
              getattr(getattr(f, "func", None), "__self__", None)]
    return [o for o in owners if isinstance(o, nn.Module)]


def _check_module_eval(owner: nn.Module) -> None:
    for name, m in owner.named_modules():
        label = f"module {name or type(owner).__name__!r} ({type(m).__name__})"
        if m.training and isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd)):
            raise BatchCouplingError(
                f"{label} is in training mode: call model.eval() before taking Jacobians ({COUPLING})")
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and (m.running_mean is None or m.running_var is None):
            raise BatchCouplingError(
                f"{label} has no running statistics (track_running_stats=False), so it normalises with "
                f"the statistics of the batch even after model.eval(): give it running statistics "
                f"(track_running_stats=True, then train or set them) before taking Jacobians ({COUPLING})")


def probe_tolerance(dtype: torch.dtype, device=None) -> float:
    """Relative tolerance of the batch-consistency probe: ``8 sqrt(eps)`` of the working dtype
    (1.2e-7 in float64, 2.8e-3 in float32: batched and single evaluations of an honest model
    differ by summation order only), 2e-2 for float32 on CUDA when TF32 is enabled (kernels
    chosen per batch size may round inputs to 10 mantissa bits)."""
    tol = 8.0 * math.sqrt(torch.finfo(dtype).eps)
    if dtype == torch.float32 and device is not None and torch.device(device).type == "cuda":
        if torch.backends.cuda.matmul.allow_tf32 or torch.backends.cudnn.allow_tf32:
            tol = max(tol, 2e-2)
    return tol


def working_dtype(f: Callable, *tensors) -> torch.dtype:
    """The least precise floating dtype among ``tensors`` and the parameters of the modules behind
    ``f``: a float32 model evaluated on float64 points is still accurate to float32 only, and
    every tolerance (ranks, residuals, conditioning, the probe) follows this dtype."""
    dts = [t.dtype for t in tensors if isinstance(t, torch.Tensor) and t.is_floating_point()]
    for owner in _owner_modules(f):
        p = next((p for p in owner.parameters() if p.is_floating_point()), None)
        if p is not None:
            dts.append(p.dtype)
    return max(dts, key=lambda dt: torch.finfo(dt).eps) if dts else torch.float64


def _companion(xb: torch.Tensor) -> torch.Tensor:
    """A second point unlike the first for the probe: another point of the batch if one differs,
    else the first point flipped, else (a constant point) a deterministic perturbation of it."""
    x0 = xb[0]
    for cand in (xb[-1], xb[xb.shape[0] // 2]):
        if not torch.equal(cand, x0):
            return cand
    flipped = x0.flatten().flip(0).reshape(x0.shape)
    if not torch.equal(flipped, x0):
        return flipped
    gen = torch.Generator(device="cpu").manual_seed(12345)
    noise = torch.rand(x0.shape, generator=gen, dtype=torch.float64).to(dtype=x0.dtype, device=x0.device)
    return x0 + (0.5 + x0.abs().mean()) * (noise - 0.5)


def probe_model(f: Callable, xb: torch.Tensor, *, what: str = "f") -> tuple[int, torch.dtype]:
    """Batch-consistency probe (:func:`_probe_model`), run once per map, input shape, dtype and
    device while the map's state (:func:`model_state`: parameters, buffers, captured tensors,
    module flags and plain attributes) is unchanged (:func:`check_once`): three small forward
    passes cost as much as the whole geometry of a few points of a ResNet. The eval-mode check
    runs on every call; failures are never memoised."""
    check_eval_mode(f)
    key = ("probe", what, tuple(xb.shape[1:]), xb.dtype, xb.device.type)
    return check_once(f, key, lambda: _probe_model(f, xb, what=what))


def _probe_model(f: Callable, xb: torch.Tensor, *, what: str = "f") -> tuple[int, torch.dtype]:
    """One cheap check that ``f`` acts on each sample independently; returns
    ``(n, dtype)``: the feature dimension and the working dtype (:func:`working_dtype`).

    ``f`` is evaluated (no grad) on the first point alone, on a pair ``[x0, x1]`` and on the
    reversed pair ``[x1, x0]`` (``x1``: another point of the batch, or a companion made from
    ``x0``), five samples in all. Each point must get the same output in every batch, up to
    :func:`probe_tolerance` of the working dtype relative to the outputs' scale; otherwise
    :class:`BatchCouplingError` (a ValueError) is raised: batch statistics, batch-mixing layers,
    randomness. Also checks the output shape and finiteness (as :func:`check_outputs`).
    """
    check_eval_mode(f)
    x0 = xb[:1]
    with torch.no_grad():
        x1 = _companion(xb).unsqueeze(0)
        try:
            y0 = f(x0)
        except (RuntimeError, ValueError) as exc:
            if isinstance(exc, RuntimeError):
                _raise_if_mismatched(f, xb, exc)
            try:
                f(torch.cat([x0, x1]))
            except Exception:  # noqa: BLE001 - fails on two points as well: not a coupling
                raise exc from None
            raise BatchCouplingError(
                f"{what} fails on a batch of one point ({type(exc).__name__}: {str(exc)[:120]}) but runs on "
                f"two: its output depends on the batch. Call model.eval() and use normalisation with running "
                f"statistics ({COUPLING})") from exc
        y0 = check_outputs(y0, 1, what=what)
        try:
            pair = check_outputs(f(torch.cat([x0, x1])), 2, what=what)
            rev = check_outputs(f(torch.cat([x1, x0])), 2, what=what)
        except ValueError as exc:
            if "non-finite" in str(exc):  # the companion left f's domain: nothing to compare
                return y0.shape[1], working_dtype(f, xb, y0)
            raise
    dt = working_dtype(f, xb, y0)
    scale = max(float(pair.abs().max()), float(y0.abs().max()), torch.finfo(dt).tiny)
    diff = max(float((pair[0] - y0[0]).abs().max()), float((rev[1] - y0[0]).abs().max()),
               float((rev[0] - pair[1]).abs().max()))
    tol = probe_tolerance(dt, xb.device)
    if not diff <= tol * scale:
        raise BatchCouplingError(
            f"{what}'s output at a point changes with the rest of the batch (relative change "
            f"{diff / scale:.1e} between the point alone, in a pair and in the reversed pair; tolerance "
            f"{tol:.1e} for {dt}): geometry needs a map acting on each sample independently. Call "
            f"model.eval(), use normalisation with running statistics (or per-sample norms such as "
            f"LayerNorm/GroupNorm) and no batch-mixing or random ops ({COUPLING})")
    return y0.shape[1], dt


class RouteFallbackWarning(UserWarning):
    """A fast route (forward mode, vmap, closed form, stacked engine) could not run on this model
    and a slower exact route (reverse mode, per-sample loops, plain autograd) was used instead.
    Shown once per route and model class."""


_NOTED: set = set()


def note_fallback(route: str, f: Callable, taken: str, exc: BaseException | None = None) -> None:
    """Warn once per (route, model class) that ``route`` could not run and ``taken`` ran instead."""
    owner = _owner_modules(f)
    cls = type(owner[0]).__name__ if owner else getattr(f, "__qualname__", type(f).__name__)
    key = (route, taken, cls)
    if key in _NOTED:
        return
    _NOTED.add(key)
    why = f" ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})" if exc is not None else ""
    fails = "fails its self-check" if isinstance(exc, RouteCheckFailed) else "cannot run"
    warnings.warn(f"geomlib: the {route} route {fails} on {cls}{why}; using {taken} instead "
                  "(exact, slower). This note is shown once per route and model class.",
                  RouteFallbackWarning, stacklevel=4)


class RouteCheckFailed(RuntimeError):
    """A fast route ran but failed its cheap self-check against an independent route at one point
    (e.g. torch's higher-order forward-mode rule of ``native_layer_norm`` is wrong in torch 2.14,
    so forward-over-forward Hessians of LayerNorm models are silently wrong): the next route runs."""


FALLBACK_ERRORS = (NotImplementedError, RuntimeError, TypeError)


def fallback_worthy(exc: BaseException) -> bool:
    """Errors that mean "this route cannot run here" (missing forward-AD or batching rules, vmap
    in-place restrictions, ops the stacked engine does not know), not "the input is wrong"."""
    return isinstance(exc, FALLBACK_ERRORS) and not isinstance(exc, ValueError)


@contextlib.contextmanager
def decomposed_kernels():
    """Run fused kernels through their decomposed, fully differentiable forms: scaled dot-product
    attention on the math backend (the fused CPU/GPU kernels have no forward-mode rule and no
    double backward) and nn.MultiheadAttention/TransformerEncoderLayer without their inference
    fast path. Same function, different kernels (results equal up to round-off)."""
    with contextlib.ExitStack() as stack:
        try:
            from torch.nn.attention import SDPBackend, sdpa_kernel

            stack.enter_context(sdpa_kernel([SDPBackend.MATH]))
        except (ImportError, RuntimeError):  # pragma: no cover - older torch
            pass
        mha = getattr(torch.backends, "mha", None)
        prev = mha.get_fastpath_enabled() if mha is not None else None
        if mha is not None:
            mha.set_fastpath_enabled(False)
        try:
            yield
        finally:
            if mha is not None:
                mha.set_fastpath_enabled(prev)


class RouteChain:
    """Runs one computation by the first route that works, in order, each route first as is and
    then under :func:`decomposed_kernels`; remembers what worked (for the next chunk) and notes
    each fallback once (:func:`note_fallback`). ``quiet``: (route, exception type) pairs that are
    routine and not worth a note (the stacked engine's UnsupportedOp)."""

    def __init__(self, what: str, f: Callable, routes: Sequence[str], quiet=()):
        self.what, self.f, self.quiet = what, f, tuple(quiet)
        self.states = [(r, dec) for r in routes for dec in (False, True)]
        self.i = 0

    @property
    def route(self) -> str:
        return self.states[self.i][0]

    def run(self, call: Callable[[str], object]):
        first, failed = None, []
        while True:
            route, dec = self.states[self.i]
            try:
                if dec:
                    with decomposed_kernels():
                        out = call(route)
                else:
                    out = call(route)
            except Exception as exc:  # noqa: BLE001 - only route failures move on
                if not fallback_worthy(exc) or self.i + 1 >= len(self.states):
                    if first is not None and fallback_worthy(exc):
                        raise first from exc
                    raise
                first = first or exc
                if not any(route == r and isinstance(exc, t) for r, t in self.quiet):
                    failed.append((route, exc))
                self.i += 1
                continue
            if failed:
                taken = f"'{route}'" + (" with decomposed attention kernels" if dec else "")
                note_fallback(f"{self.what} '{failed[0][0]}'", self.f, taken, failed[0][1])
            return out


def output_dim(f: Callable, xb: torch.Tensor) -> int:
    """Feature dimension n, from the batch-consistency probe (:func:`probe_model`)."""
    return probe_model(f, xb)[0]


def _raise_if_mismatched(f: Callable, xb: torch.Tensor, exc: Exception) -> None:
    """Turn torch's dtype/device mismatch error into one that says which cast to make."""
    for owner in _owner_modules(f):
        p = next((p for p in owner.parameters() if p.is_floating_point()), None)
        if p is not None and (p.dtype != xb.dtype or p.device != xb.device):
            raise TypeError(
                f"the model's parameters are {p.dtype} on {p.device} but the points are {xb.dtype} on "
                f"{xb.device}: cast one to match, e.g. model.to(torch.float64) (geometry is float64 by "
                "default) or build the points with dtype=torch.float64") from exc


def auto_chunk(chunk_size: int | None, per_point: int, n_points: int, budget: int = 2**24) -> int:
    """Points per chunk: ``chunk_size`` if given, else as many as keep ``per_point`` elements each
    under ``budget`` elements (128 MiB in float64)."""
    if chunk_size is not None:
        if int(chunk_size) < 1:
            raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
        return int(chunk_size)
    return max(1, min(n_points, budget // max(1, per_point)))


def prod(shape) -> int:
    return int(math.prod(shape))
