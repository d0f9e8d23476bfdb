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

import math
import warnings
from typing import Callable, Sequence

import torch
from torch import nn

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


def check_eval_mode(f: Callable) -> None:
    """Raise if ``f`` is a module (or a bound method / ``functools.partial`` of one, or has a
    ``.module`` attribute) whose BatchNorm/Dropout is in training mode.

    Training-mode BatchNorm couples the samples of a batch (and updates running statistics),
    so batched Jacobians would be wrong; dropout makes ``f`` random. Call ``model.eval()`` first.
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
        if m.training and isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd)):
            raise ValueError(
                f"module {name or type(owner).__name__!r} ({type(m).__name__}) is in training mode: "
                "call model.eval() before taking Jacobians (batch statistics couple the points)"
            )


def output_dim(f: Callable, xb: torch.Tensor) -> int:
    """Feature dimension n, from one forward pass on the first point (checks the output too)."""
    with torch.no_grad():
        try:
            y = f(xb[:1])
        except RuntimeError as exc:
            _raise_if_mismatched(f, xb, exc)
            raise
    return check_outputs(y, 1).shape[1]


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
