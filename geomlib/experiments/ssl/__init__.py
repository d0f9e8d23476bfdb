"""The self-supervised experiments (Barlow Twins, SimCLR), chapters 41-42.

- :mod:`~geomlib.experiments.ssl.settings`: the Barlow Twins and SimCLR recipes per profile;
- :mod:`~geomlib.experiments.ssl.run`: their :class:`~geomlib.experiments.imaging.run.Method`
  (network with projector or head, two augmented views, loss, normalisation) and
  :func:`train_ssl`;
- :mod:`~geomlib.experiments.ssl.measure`: the cached linear probe of each snapshot and its
  probabilities as the scans' readout;
- :mod:`~geomlib.experiments.ssl.figures`: training loss and probe accuracy.

Data preparation, the scans and their panels are shared with the supervised chapter in
:mod:`geomlib.experiments.imaging`.
"""
