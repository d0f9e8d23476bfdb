"""Multilayer perceptrons of the 2-D and MNIST experiments, with the authors' scalings (Methods: feature maps).

Both models draw **every** weight and bias from N(0, 1) (``sigma_w = sigma_b = 1``, no 1/d; Methods: notation and conventions).
The readout is never part of the feature map Phi: ``model.features(x, layer=...)`` returns Phi,
``model(x)`` returns the logits.

* :class:`ShallowMLP` ``[d, n, c]``: ``Phi = phi(W1 x + b1)`` (shape ``[B, n]``), logits
  ``(W2 Phi + b2) / sqrt(n)`` (shape ``[B, c]``; the readout bias is scaled too).
* :class:`DeepMLP` ``[n_0, n_1, ..., n_L]`` (the authors' ``[2, 8, 8, 8, 2]``): ``h^1 = W^1 x + b^1``,
  ``h^l = (W^l Phi^{l-1} + b^l) / sqrt(n_{l-1})`` for ``l >= 2`` (bias scaled too),
  ``Phi^l = phi(h^l)``; the logits are ``h^L``. One feature map (and metric) per hidden layer.
"""
from __future__ import annotations

import math
from functools import partial

import torch
from torch import nn

ACTIVATIONS = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    # the authors' "Erf" is erf(z / sqrt 2) (Methods: T2, T5)
    "erf": lambda z: torch.special.erf(z / math.sqrt(2.0)),
    "relu": torch.relu,
    "gelu": nn.functional.gelu,
}


def activation(name: str):
    """The elementwise activation called ``name`` (one of :data:`ACTIVATIONS`)."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}: choose one of {', '.join(ACTIVATIONS)}") from None


def _normal_init_(layer: nn.Linear, generator: torch.Generator | None) -> None:
    """N(0, 1) weights and biases (the authors' init for every MLP layer)."""
    with torch.no_grad():
        layer.weight.normal_(0.0, 1.0, generator=generator)
        layer.bias.normal_(0.0, 1.0, generator=generator)


class ShallowMLP(nn.Module):
    """``[d, n, c]`` network: Phi = phi(W1 x + b1), logits = (W2 Phi + b2) / sqrt(n).

    Parameters: ``d`` input dimension, ``width`` n, ``classes`` c, ``act`` activation name,
    ``generator`` an optional ``torch.Generator`` for the N(0, 1) init (default: torch's global RNG,
    seeded by :func:`geomlib.book.profiles.seed_everything`). ``dtype``/``device`` default to torch's.
    """

    def __init__(self, d: int = 2, width: int = 20, classes: int = 2, act: str = "sigmoid", *,
                 generator: torch.Generator | None = None, dtype=None, device=None):
        super().__init__()
        if min(d, width, classes) < 1:
            raise ValueError(f"d, width and classes must be positive, got {d}, {width}, {classes}")
        self.d, self.width, self.classes, self.act_name = d, width, classes, act
        self.phi = activation(act)
        self.hidden = nn.Linear(d, width, dtype=dtype, device=device)
        self.readout = nn.Linear(width, classes, dtype=dtype, device=device)
        _normal_init_(self.hidden, generator)
        _normal_init_(self.readout, generator)

    @property
    def widths(self) -> tuple[int, ...]:
        return (self.d, self.width, self.classes)

    @property
    def n_hidden_layers(self) -> int:
        return 1

    def features(self, x: torch.Tensor, layer: int = 1) -> torch.Tensor:
        """Phi(x) = phi(W1 x + b1): ``x`` shape ``[B, d]`` -> ``[B, n]`` (``layer`` must be 1 or -1)."""
        if layer not in (1, -1):
            raise ValueError(f"a shallow MLP has one hidden layer (1 or -1), got layer={layer}")
        return self.phi(self.hidden(x))

    def feature_map(self, layer: int = 1):
        """Callable ``x [B, d] -> Phi [B, n]`` for :mod:`geomlib.numeric`."""
        self.features(torch.zeros(1, self.d, dtype=self.hidden.weight.dtype,
                                  device=self.hidden.weight.device), layer)  # validates layer
        return partial(self.features, layer=layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits, shape ``[B, c]``."""
        return self.readout(self.features(x)) / math.sqrt(self.width)

    def unit_lines(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(W1 [n, d], b1 [n])`` on CPU: hidden unit j's hyperplane is ``W1[j] . x + b1[j] = 0``."""
        return self.hidden.weight.detach().cpu().clone(), self.hidden.bias.detach().cpu().clone()


class DeepMLP(nn.Module):
    """Deep MLP with 1/sqrt(fan-in) scaling from the second layer on, bias included (Methods: feature maps).

    ``widths = (n_0, n_1, ..., n_L)``: input ``n_0``, hidden ``n_1..n_{L-1}``, classes ``n_L``.
    """

    def __init__(self, widths=(2, 8, 8, 8, 2), act: str = "sigmoid", *,
                 generator: torch.Generator | None = None, dtype=None, device=None):
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if len(widths) < 3 or min(widths) < 1:
            raise ValueError(f"widths need an input, at least one hidden layer and an output, got {widths}")
        self._widths, self.act_name = widths, act
        self.phi = activation(act)
        self.layers = nn.ModuleList(
            nn.Linear(a, b, dtype=dtype, device=device) for a, b in zip(widths[:-1], widths[1:])
        )
        for layer in self.layers:
            _normal_init_(layer, generator)

    @property
    def widths(self) -> tuple[int, ...]:
        return self._widths

    @property
    def d(self) -> int:
        return self._widths[0]

    @property
    def n_hidden_layers(self) -> int:
        return len(self._widths) - 2

    def _pre(self, l: int, prev: torch.Tensor) -> torch.Tensor:
        """h^l from the previous layer's output (``l`` 1-based)."""
        h = self.layers[l - 1](prev)
        return h if l == 1 else h / math.sqrt(self._widths[l - 1])

    def features(self, x: torch.Tensor, layer: int = -1) -> torch.Tensor:
        """Phi^layer(x) (``layer`` in 1..L-1, or negative from the last hidden layer):
        ``x [B, n_0] -> [B, n_layer]``."""
        L1 = self.n_hidden_layers
        l = layer + L1 + 1 if layer < 0 else layer
        if not 1 <= l <= L1:
            raise ValueError(f"layer must be in 1..{L1} (or -{L1}..-1), got {layer}")
        out = x
        for k in range(1, l + 1):
            out = self.phi(self._pre(k, out))
        return out

    def feature_map(self, layer: int = -1):
        """Callable ``x [B, n_0] -> Phi^layer [B, n_layer]`` for :mod:`geomlib.numeric`."""
        self.features(torch.zeros(1, self.d, dtype=self.layers[0].weight.dtype,
                                  device=self.layers[0].weight.device), layer)
        return partial(self.features, layer=layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits h^L, shape ``[B, n_L]``."""
        return self._pre(len(self.layers), self.features(x, -1))

    def unit_lines(self) -> tuple[torch.Tensor, torch.Tensor]:
        """First-layer ``(W1 [n_1, d], b1 [n_1])``: unit j's hyperplane ``W1[j] . x + b1[j] = 0``."""
        return self.layers[0].weight.detach().cpu().clone(), self.layers[0].bias.detach().cpu().clone()
