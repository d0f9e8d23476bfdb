"""Primal and k tangents in ONE batched forward pass: forward-mode AD over a stacked batch.

``stacked_jvp(f, x, V)`` runs ``f`` once on a tensor holding ``[x; v_1; ...; v_k]`` stacked along
the batch dimension (shape=[(1 + k) B, *in_shape]) and returns ``(f(x), [J v_1, ..., J v_k])``.
Every op sees the whole stack, so matmuls run as one call on (1 + k) B samples (convolutions too
on GPU; on CPU they run per block of B, which is faster there): the floor of ~1 + k forward
passes. What differs between the primal and the tangent parts is handled per op:

- linear maps without constant terms (reshape/flatten, pooling, means over non-batch dims, conv
  and matmul weights): applied to the whole stack;
- affine constants (conv/linear bias, BatchNorm's eval-mode shift, adding a constant tensor):
  added to the primal part only;
- elementwise nonlinearities (GELU, ReLU, sigmoid, tanh, ...): ``phi(x)`` on the primal part and
  ``phi'(x) * v`` on each tangent part (fused derivative kernels for GELU, ReLU, sigmoid and tanh;
  one forward-mode pass on the primal for the others);
- eval-mode dropout: identity;
- products of two stacked tensors: product rule.

Why not ``torch.func.jvp``: besides evaluating primal and tangents in separate calls, PyTorch's
convolution forward-AD formula also convolves the input with a materialised zero weight tangent
(one wasted convolution per layer; checked with torch 2.14 on CPU). Any op outside the
supported list raises :class:`UnsupportedOp`, and callers fall back to ``torch.func.jvp``
under ``vmap`` (always correct). The feature map must act on samples independently (eval mode).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.func import jvp

__all__ = ["UnsupportedOp", "stacked_jvp"]


class UnsupportedOp(RuntimeError):
    """An op the stacked-batch engine does not know how to split into primal and tangents."""


def _raw(t):
    return t.as_subclass(torch.Tensor) if isinstance(t, _Stacked) else t


def _wrap(t, k, N):
    out = t.as_subclass(_Stacked)
    out._k, out._N = k, N
    return out


def _unwrap_all(obj):
    if isinstance(obj, (list, tuple)):
        return type(obj)(_unwrap_all(o) for o in obj)
    if isinstance(obj, dict):
        return {key: _unwrap_all(v) for key, v in obj.items()}
    return _raw(obj)


def _call(func, args, kwargs):
    with torch._C.DisableTorchFunctionSubclass():
        return func(*_unwrap_all(args), **_unwrap_all(kwargs or {}))


def _add_to_primal(out: torch.Tensor, N: int, const) -> torch.Tensor:
    """Add ``const`` to the primal rows of ``out`` in place (``out`` must be a fresh tensor)."""
    out[:N].add_(const)
    return out


# --- handlers ----------------------------------------------------------------------------------

def _conv(func, args, kwargs, k, N):
    names = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
    a = dict(zip(names, args))
    a.update(kwargs or {})
    if isinstance(a.get("weight"), _Stacked) or isinstance(a.get("bias"), _Stacked):
        raise UnsupportedOp("convolution weights that depend on the input")
    bias = a.pop("bias", None)
    x = _raw(a.pop("input"))
    w = a.pop("weight")
    with torch._C.DisableTorchFunctionSubclass():
        if x.device.type == "cpu":
            # CPU convolution kernels slow down on larger batches (measured: 3.7x the time for 3x
            # the samples in float64), so run the primal (with bias) and each tangent block apart.
            out = torch.cat([func(x[:N], w, bias, **a)] + [func(x[N * (i + 1):N * (i + 2)], w, None, **a)
                                                            for i in range(k)])
        else:
            out = func(x, w, None, **a)
            if bias is not None:
                out = _add_to_primal(out, N, bias.reshape(1, -1, *([1] * (out.ndim - 2))))
    return _wrap(out, k, N)


def _linear(func, args, kwargs, k, N):
    a = dict(zip(("input", "weight", "bias"), args))
    a.update(kwargs or {})
    if isinstance(a.get("weight"), _Stacked) or isinstance(a.get("bias"), _Stacked):
        raise UnsupportedOp("linear weights that depend on the input")
    x, W, b = _raw(a["input"]), a["weight"], a.get("bias")
    with torch._C.DisableTorchFunctionSubclass():
        if b is None or x.ndim != 2:
            out = F.linear(x, W)
            if b is not None:
                out = _add_to_primal(out, N, b)
        else:  # bias folded into the primal rows' GEMM
            out = x.new_empty(x.shape[0], W.shape[0])
            torch.addmm(b, x[:N], W.T, out=out[:N])
            torch.mm(x[N:], W.T, out=out[N:])
    return _wrap(out, k, N)


def _batch_norm(func, args, kwargs, k, N):
    names = ("input", "running_mean", "running_var", "weight", "bias", "training", "momentum", "eps")
    a = dict(zip(names, args))
    a.update(kwargs or {})
    if a.get("training", False):
        raise UnsupportedOp("BatchNorm in training mode (call model.eval())")
    x = _raw(a["input"])
    rm, rv = a["running_mean"], a["running_var"]
    if rm is None or rv is None:
        raise UnsupportedOp("BatchNorm without running statistics")
    eps = a.get("eps", 1e-5)
    with torch._C.DisableTorchFunctionSubclass():
        scale = torch.rsqrt(rv + eps)
        if a.get("weight") is not None:
            scale = scale * a["weight"]
        shift = -rm * scale
        if a.get("bias") is not None:
            shift = shift + a["bias"]
        shp = (1, -1, *([1] * (x.ndim - 2)))
        out = torch.empty_like(x)
        torch.addcmul(shift.reshape(shp), x[:N], scale.reshape(shp), out=out[:N])
        torch.mul(x[N:], scale.reshape(shp), out=out[N:])
    return _wrap(out, k, N)


# Fused "backward" kernels give phi'(x) * v in one pass for the common activations:
# name -> (forward, (tangents, primal input, primal output) -> phi'(x) * tangents)
_aten = torch.ops.aten
# (forward writing into ``out``, derivative-times-tangent writing into ``out``)
_FUSED = {
    "gelu": (lambda z, out: _aten.gelu.out(z, out=out),
             lambda t, z, y, out: _aten.gelu_backward.grad_input(t, z, grad_input=out)),
    "sigmoid": (lambda z, out: torch.sigmoid(z, out=out),
                lambda t, z, y, out: _aten.sigmoid_backward.grad_input(t, y, grad_input=out)),
    "tanh": (lambda z, out: torch.tanh(z, out=out),
             lambda t, z, y, out: _aten.tanh_backward.grad_input(t, y, grad_input=out)),
    "relu": (lambda z, out: torch.clamp_min(z, 0, out=out),
             lambda t, z, y, out: _aten.threshold_backward.grad_input(t, z, 0, grad_input=out)),
}


def _elementwise(func, args, kwargs, k, N):
    x = args[0]
    rest, kw = args[1:], kwargs or {}
    if any(isinstance(r, _Stacked) for r in rest) or any(isinstance(v, _Stacked) for v in kw.values()):
        raise UnsupportedOp(f"{getattr(func, '__name__', func)} with several input-dependent arguments")
    kw = {key: v for key, v in kw.items() if key != "inplace"}
    name = getattr(func, "__name__", "")
    if name.endswith("_"):  # torch.relu_ etc.: compute out of place, written back by the caller
        name = name[:-1]
        func = getattr(torch, name)
    xr = _raw(x)
    shp = (k, N, *xr.shape[1:])
    with torch._C.DisableTorchFunctionSubclass():
        P = xr[:N]
        T = xr[N:].view(shp)
        out = torch.empty_like(xr)
        fused = _FUSED.get(name) if not rest and kw.get("approximate", "none") == "none" else None
        if fused is not None:
            y = fused[0](P, out[:N])
            fused[1](T, P.expand(shp), y.expand(shp), out[N:].view(shp))
        else:
            y, dy = jvp(lambda z: func(z, *rest, **kw), (P,), (torch.ones_like(P),))
            out[:N] = y
            torch.mul(T, dy, out=out[N:].view(shp))
    return _wrap(out, k, N)


def _linear_passthrough(func, args, kwargs, k, N):
    src = args[0]
    out = _call(func, args, kwargs)
    if not isinstance(out, torch.Tensor) or out.ndim == 0 or out.shape[0] != _raw(src).shape[0]:
        raise UnsupportedOp(f"{getattr(func, '__name__', func)} changes the batch dimension")
    return _wrap(out, k, N)


def _reduce_nonbatch(func, args, kwargs, k, N):
    src = _raw(args[0])
    dim = kwargs.get("dim") if kwargs and "dim" in kwargs else (args[1] if len(args) > 1 else None)
    if dim is None:
        raise UnsupportedOp(f"{getattr(func, '__name__', func)} over all dimensions (includes the batch)")
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    if any(d % src.ndim == 0 for d in dims):
        raise UnsupportedOp(f"{getattr(func, '__name__', func)} over the batch dimension")
    return _linear_passthrough(func, args, kwargs, k, N)


def _check_const(c, s_: torch.Tensor) -> None:
    if torch.is_tensor(c) and c.ndim >= s_.ndim and c.shape[0] != 1:
        raise UnsupportedOp("combining with a per-sample constant tensor")


_ADD = {"add": (0, 1, 1), "__add__": (0, 1, 1), "add_": (0, 1, 1), "__iadd__": (0, 1, 1),
        "__radd__": (1, 0, 1), "sub": (0, 1, -1), "__sub__": (0, 1, -1), "sub_": (0, 1, -1),
        "__isub__": (0, 1, -1), "__rsub__": (1, 0, -1)}
_MUL = {"mul", "__mul__", "__rmul__", "mul_", "__imul__", "div", "__truediv__", "div_", "__itruediv__"}


def _binary(func, args, kwargs, k, N):
    """``lhs + sign * alpha * rhs`` and products/quotients, split into primal and tangents."""
    name = getattr(func, "__name__", "")
    a, b = args[0], args[1]
    ar, br = _raw(a), _raw(b)
    sa, sb = isinstance(a, _Stacked), isinstance(b, _Stacked)
    with torch._C.DisableTorchFunctionSubclass():
        if name in _ADD:
            il, ir, sign = _ADD[name]
            lhs, rhs = (ar, br)[il], (ar, br)[ir]
            slhs, srhs = (sa, sb)[il], (sa, sb)[ir]
            c = sign * (kwargs or {}).get("alpha", 1)
            if slhs and srhs:
                return _wrap(lhs + rhs if c == 1 else lhs + c * rhs, k, N)
            if slhs:
                _check_const(rhs, lhs)
                return _wrap(_add_to_primal(lhs.clone(), N, rhs if c == 1 else c * rhs), k, N)
            _check_const(lhs, rhs)
            return _wrap(_add_to_primal(rhs.clone() if c == 1 else c * rhs, N, lhs), k, N)
        if name in _MUL:
            divide = "div" in name
            if sb and divide:
                raise UnsupportedOp("division by an input-dependent tensor")
            if sa and sb:  # product rule
                Pa, Pb = ar[:N], br[:N]
                T = Pa * br[N:].reshape(k, N, *br.shape[1:]) + ar[N:].reshape(k, N, *ar.shape[1:]) * Pb
                return _wrap(torch.cat([Pa * Pb, T.reshape(k * N, *T.shape[2:])]), k, N)
            _check_const(br if sa else ar, ar if sa else br)
            return _wrap(ar / br if divide else ar * br, k, N)
    raise UnsupportedOp(name)


def _inplace(name: str, kwargs) -> bool:
    return bool((kwargs or {}).get("inplace")) or name.startswith("__i") or (name.endswith("_") and not name.endswith("__"))


_META_GETTERS = {"shape", "dtype", "device", "ndim", "requires_grad", "is_cuda", "layout", "is_leaf"}
_META_METHODS = {"dim", "size", "is_floating_point", "is_contiguous", "get_device", "__len__", "numel",
                 "element_size", "is_complex"}
_PASSTHROUGH = {"reshape", "view", "flatten", "contiguous", "clone", "avg_pool1d", "avg_pool2d",
                "avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
                "__neg__", "neg", "to", "type_as", "float", "double", "detach", "unflatten"}
_ELEMENTWISE = {"gelu", "relu", "relu_", "sigmoid", "sigmoid_", "tanh_", "tanh", "silu", "softplus", "elu", "leaky_relu",
                "hardtanh", "erf", "exp", "sin", "cos", "mish", "softsign", "celu", "selu", "tanhshrink",
                "logsigmoid", "square", "log1p", "expm1"}
_REDUCE = {"mean", "sum"}
_BINARY = set(_ADD) | _MUL


class _Stacked(torch.Tensor):
    """A batch ``[primal; tangent_1; ...; tangent_k]`` (each N samples) along dim 0."""

    _k: int
    _N: int

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        st = next((a for a in list(args) + list(kwargs.values()) if isinstance(a, _Stacked)), None)
        if st is None:  # e.g. list arguments: look one level down
            for a in args:
                if isinstance(a, (list, tuple)):
                    st = next((b for b in a if isinstance(b, _Stacked)), None)
                    if st is not None:
                        break
        k, N = st._k, st._N
        name = getattr(func, "__name__", "")
        if name == "__get__":
            owner = getattr(func, "__self__", None)
            if getattr(owner, "__name__", "") in _META_GETTERS:
                return _call(func, args, kwargs)
            raise UnsupportedOp(f"attribute {getattr(owner, '__name__', owner)}")
        if name in _META_METHODS:
            return _call(func, args, kwargs)
        if func is F.conv1d or func is F.conv2d or func is F.conv3d:
            return _conv(func, args, kwargs, k, N)
        if func is F.linear:
            return _linear(func, args, kwargs, k, N)
        if func is F.batch_norm:
            return _batch_norm(func, args, kwargs, k, N)
        if name in ("dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout"):
            if kwargs.get("training", True if len(args) < 3 else args[2]):
                raise UnsupportedOp("dropout in training mode")
            return args[0]
        if name in _ELEMENTWISE:
            out = _elementwise(func, args, kwargs, k, N)
        elif name in _PASSTHROUGH:
            return _linear_passthrough(func, args, kwargs, k, N)
        elif name in _REDUCE:
            return _reduce_nonbatch(func, args, kwargs, k, N)
        elif name in _BINARY:
            out = _binary(func, args, kwargs, k, N)
        else:
            raise UnsupportedOp(f"{getattr(func, '__qualname__', name)}")
        if _inplace(name, kwargs):  # keep in-place semantics: write the result into the input
            if not isinstance(args[0], _Stacked):
                raise UnsupportedOp(f"in-place {name} on a constant")
            with torch._C.DisableTorchFunctionSubclass():
                _raw(args[0]).copy_(_raw(out))
            return args[0]
        return out


def stacked_jvp(f, xb: torch.Tensor, V: torch.Tensor, *, shared: bool = True):
    """``(f(x), T)`` with ``T[a] = J(x) v_a``, shape=[k, B, *out], from one stacked forward pass.

    ``xb``: shape=[B, *in_shape]; ``V``: shape=[k, *in_shape] (shared by all points) or
    [k, B, *in_shape]. Raises :class:`UnsupportedOp` if ``f`` uses an op the engine cannot split.
    """
    B = xb.shape[0]
    k = V.shape[0]
    T = V.unsqueeze(1).expand(k, B, *xb.shape[1:]) if shared else V
    data = torch.cat([xb, T.reshape(k * B, *xb.shape[1:])])
    with torch.no_grad():
        out = f(_wrap(data, k, B))
    if not isinstance(out, _Stacked):
        raise UnsupportedOp("f returned a tensor that does not depend on its input through supported ops")
    out = _raw(out)
    if out.shape[0] != (1 + k) * B:
        raise UnsupportedOp("f changed the batch dimension")
    return out[:B], out[B:].reshape(k, B, *out.shape[1:])
