"""Training runs of the MNIST slice experiments: the ``[784, w, 10]`` MLP trained
with Adam from true initialisation, cached and resumable, and the float64 copies of its snapshots
whose feature map ``Phi(x) = phi(W1 x + b1)`` the geometry is measured on.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...book.profiles import seed_everything
from ...cache import artifact_path, cached
from ..models.mlp import ShallowMLP
from ..training import fit, minibatches
from .settings import MNISTSettings

ACT_MODULES = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU}


def _dtype(name: str) -> torch.dtype:
    return {"float32": torch.float32, "float64": torch.float64}[name]


def _train_subset(data, n: int | None, seed: int):
    """The first ``n`` training images of a seeded permutation (all if ``n`` is None or larger)."""
    N = len(data.train_y)
    if n is None or n >= N:
        return data.train_x, data.train_y
    idx = torch.from_numpy(np.random.default_rng(seed).permutation(N)[:n])
    return data.train_x[idx], data.train_y[idx]


def data_params(data) -> dict:
    """The parts of a dataset's source record that identify it (for cache keys)."""
    return {k: data.source.get(k) for k in ("dataset", "origin", "n_train", "n_test", "split", "scaling")}


def train_mnist(data, s: MNISTSettings, seed: int, act: str = "sigmoid", *, device=None,
                progress: bool = True, refresh: bool = False):
    """Train the ``[784, w, 10]`` MLP of settings ``s`` (Adam, cross-entropy, N(0,1) init, Methods: MNIST protocol,
    F4) and return its :class:`~geomlib.experiments.training.TrainResult` (snapshots at ``s.snapshot_epochs``).

    Cached under ``artifacts/mnist_train`` by (settings, seed, act, data source); an interrupted
    run resumes from its checkpoint. ``evals`` record train accuracy (on <= 5000 training
    images), test accuracy and test loss.
    """
    if act not in ACT_MODULES:
        raise ValueError(f"unknown activation {act!r}: choose one of {', '.join(ACT_MODULES)}")
    dev = torch.device(device) if device is not None else torch.device("cpu")
    params = {"settings": s.params(), "seed": int(seed), "act": act, "data": data_params(data)}
    dt = _dtype(s.train_dtype)

    def compute():
        x, y = _train_subset(data, s.n_train, seed)
        x, y = x.to(dev, dt), y.to(dev)
        tx, ty = data.test_x.to(dev, dt), data.test_y.to(dev)
        seed_everything(seed)
        model = ShallowMLP(x.shape[1], s.width, 10, act, dtype=dt, device=dev)
        opt = torch.optim.Adam(model.parameters(), lr=s.lr, weight_decay=s.weight_decay)

        def step(m, batch):
            xb, yb = batch
            return nn.functional.cross_entropy(m(xb), yb)

        def evaluate(m):
            tr = m(x[:5000]).argmax(-1).eq(y[:5000]).double().mean()
            logits = m(tx)
            return {"train_acc": tr.item(), "test_acc": logits.argmax(-1).eq(ty).double().mean().item(),
                    "test_loss": nn.functional.cross_entropy(logits, ty).item()}

        ckpt = artifact_path("mnist_train_ckpt", params)
        res = fit(model, step, minibatches(x, y, s.batch_size, seed, drop_last=False), opt, epochs=s.epochs,
                  snapshot_epochs=s.snapshot_epochs, checkpoint=ckpt, device=dev, progress=progress,
                  desc=f"MNIST {act} w={s.width} seed={seed}", eval_fn=evaluate,
                  eval_every=max(1, s.epochs // 20), meta=params)
        res.meta.update(n_train_used=len(y), device=str(dev))
        return res

    return cached("mnist_train", params, compute, refresh=refresh)


def geometry_model(s: MNISTSettings, act: str, state: dict, device=None) -> ShallowMLP:
    """A float64 eval-mode copy of the network with snapshot ``state`` loaded."""
    m = ShallowMLP(784, s.width, 10, act, dtype=torch.float64, device=device)
    m.load_state_dict(state)
    return m.eval()


def feature_module(model: ShallowMLP) -> nn.Sequential:
    """``Phi = phi(W1 x + b1)`` as an ``nn.Sequential`` sharing ``model``'s parameters."""
    return nn.Sequential(model.hidden, ACT_MODULES[model.act_name]()).eval()
