"""The training loop shared by every experiment: a resumable :func:`fit` with snapshots from true
initialisation (:mod:`geomlib.experiments.training.fit`) and deterministic minibatches
(:mod:`geomlib.experiments.training.batches`), data-parallel training under ``torchrun``
(:mod:`geomlib.experiments.training.distributed`). What is trained, on what and for how long is each
figure group's ``settings``/``run``; the models are in :mod:`geomlib.experiments.models`.
"""
from .batches import epoch_seed, minibatches
from .fit import TrainResult, cpu_state, cpu_threads, fit

__all__ = ["TrainResult", "cpu_state", "cpu_threads", "epoch_seed", "fit", "minibatches"]
