"""The paper's experiments, as the book's chapters run them.

One sub-package per figure group, each with the same inner shape:

| group | experiments | chapters |
|---|---|---|
| :mod:`~geomlib.experiments.twod` | XOR, sinusoid, deep sinusoid (two-dimensional inputs) | 20-22 |
| :mod:`~geomlib.experiments.mnist` | lines and planes between MNIST digits | 30-31 |
| :mod:`~geomlib.experiments.deep` | supervised CIFAR ResNets | 40 |
| :mod:`~geomlib.experiments.ssl` | self-supervised: Barlow Twins, SimCLR | 41-42 |

- ``settings``: what each profile (``tiny`` | ``quick`` | ``paper``) runs;
- ``run``: the training runs (cached, resumable, snapshots from true initialisation);
- ``measure``: the geometry of the trained models (:mod:`geomlib.numeric`) and the statistics
  that turn it into numbers (:mod:`geomlib.stats`);
- ``figures``: the chapters' plots (presentation only: not part of the cache key).

Beside them, shared by the groups: :mod:`~geomlib.experiments.training` (the resumable training
loop and minibatches), :mod:`~geomlib.experiments.data` (datasets), :mod:`~geomlib.experiments.models`
(MLPs, ResNets, self-supervised heads) and :mod:`~geomlib.experiments.imaging` (the image pipeline
of the deep and self-supervised groups).

The experiments build on the core (:mod:`geomlib.numeric`, :mod:`geomlib.symbolic`,
:mod:`geomlib.stats`) and the book machinery (:mod:`geomlib.book`: profiles, seeding,
provenance); neither imports from here.
"""
