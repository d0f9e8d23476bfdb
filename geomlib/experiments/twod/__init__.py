"""The two-dimensional experiments (XOR, sinusoid, deep sinusoid), chapters 20-22.

- :mod:`~geomlib.experiments.twod.settings`: each task's training recipe and what each profile runs;
- :mod:`~geomlib.experiments.twod.run`: one cached, resumable run per (task, width, seed), and the
  small showcase of the ``paper`` profile committed under ``artifacts/paper/``;
- :mod:`~geomlib.experiments.twod.measure`: geometry on grids (predicted class, log10 volume
  element, curvature, Delta) and the infinite-width baseline;
- :mod:`~geomlib.experiments.twod.figures`: the chapters' figures.

``python -m geomlib.experiments.twod --profile paper`` runs a profile outside the book and saves
the committed showcase.
"""
