"""Linear probe: multinomial logistic regression on frozen backbone features (Methods: linear probe).

The authors fit sklearn ``LogisticRegression()`` with its defaults (max_iter 100, unscaled
features). We standardise the features (mean 0, std 1 per feature, training statistics) and allow
``max_iter >= 1000`` so the fit converges, and report train and test accuracy. The probe's class
probabilities give the predictions and entropies on plane scan points of the SSL chapters.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .resnet import feature_map


def _np(a) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().double().numpy()
    return np.asarray(a, dtype=np.float64)


@dataclass
class LinearProbe:
    """A fitted probe. ``pipeline``: StandardScaler -> LogisticRegression (sklearn)."""

    pipeline: object
    train_accuracy: float
    test_accuracy: float | None
    converged: bool
    n_iter: int

    def predict_proba(self, feats) -> np.ndarray:
        """Class probabilities ``shape=[N, classes]`` for features ``shape=[N, n]``."""
        return self.pipeline.predict_proba(_np(feats))

    def predict(self, feats) -> np.ndarray:
        return self.pipeline.predict(_np(feats))

    def accuracy(self, feats, labels) -> float:
        return float((self.predict(feats) == _np(labels).astype(np.int64)).mean())


def fit_probe(train_feats, train_y, test_feats=None, test_y=None, *, max_iter: int = 1000,
              C: float = 1.0, seed: int = 0) -> LinearProbe:
    """Fit a standardised logistic-regression probe; ``*_feats shape=[N, n]``, ``*_y shape=[N]``.

    Warns (and records ``converged=False``) if lbfgs stops at ``max_iter``.
    """
    if max_iter < 1000:
        raise ValueError(f"max_iter must be >= 1000 (Methods: linear probe: the default 100 stops early), got {max_iter}")
    X, y = _np(train_feats), _np(train_y).astype(np.int64)
    if X.ndim != 2 or len(X) != len(y):
        raise ValueError(f"expected features shape=[N, n] and labels shape=[N], got {X.shape}, {y.shape}")
    if not np.isfinite(X).all():
        raise ValueError("probe features contain NaN or inf")
    if len(np.unique(y)) < 2:
        raise ValueError("the probe needs at least two classes in the training labels")
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter, C=C, random_state=seed))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        pipe.fit(X, y)
    n_iter = int(np.max(pipe[-1].n_iter_))
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    if not converged:
        warnings.warn(f"linear probe did not converge in {max_iter} iterations", RuntimeWarning, stacklevel=2)
    train_acc = float((pipe.predict(X) == y).mean())
    test_acc = None
    if test_feats is not None:
        test_acc = float((pipe.predict(_np(test_feats)) == _np(test_y).astype(np.int64)).mean())
    return LinearProbe(pipe, train_acc, test_acc, converged, n_iter)


@torch.no_grad()
def extract_features(model: torch.nn.Module, x: torch.Tensor, *, stage: int | None = None,
                     batch_size: int = 512, device: torch.device | str | None = None,
                     dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Eval-mode backbone features of images ``x[N, C, 32, 32]`` in batches; ``shape=[N, n]`` on CPU."""
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    phi = feature_map(model, stage, dtype=dtype)
    phi.module.to(dev)
    out = [phi(x[i:i + batch_size].to(dev, dtype)).cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(out)
