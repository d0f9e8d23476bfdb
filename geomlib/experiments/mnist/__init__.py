"""The MNIST slice experiments (lines and planes between held-out digits), chapters 30-31.

- :mod:`~geomlib.experiments.mnist.settings`: the MLP, its training and the slices, per profile;
- :mod:`~geomlib.experiments.mnist.run`: the cached, resumable training run and its snapshots;
- :mod:`~geomlib.experiments.mnist.measure`: lines and planes through held-out digits (two volume
  measures, entropy, spectra) and their statistics;
- :mod:`~geomlib.experiments.mnist.figures`: the chapters' figures and summary tables.
"""
