"""The deep supervised experiment (CIFAR ResNets, GELU with a ReLU control), chapter 40.

- :mod:`~geomlib.experiments.deep.settings`: the supervised recipe per profile, the activations,
  the same-class control planes;
- :mod:`~geomlib.experiments.deep.run`: the supervised :class:`~geomlib.experiments.imaging.run.Method`
  (network, augmentation, cross-entropy step, held-out accuracy) and :func:`train_supervised`;
- :mod:`~geomlib.experiments.deep.measure`: the classifier's softmax as the scans' readout;
- :mod:`~geomlib.experiments.deep.figures`: training curves.

Data preparation, the scans and their panels are shared with the self-supervised chapters in
:mod:`geomlib.experiments.imaging`.
"""
