"""The image pipeline shared by the deep chapters (40-42): what the supervised
(:mod:`geomlib.experiments.deep`) and self-supervised (:mod:`geomlib.experiments.ssl`) figure
groups have in common, with the same inner shape as a figure group:

- :mod:`~geomlib.experiments.imaging.settings`: the run recipe, the network and the scan grids
  per profile, the authors' class triples;
- :mod:`~geomlib.experiments.imaging.run`: data preparation, resumable training of a recipe with
  a :class:`~geomlib.experiments.imaging.run.Method` (what each group contributes), snapshots;
- :mod:`~geomlib.experiments.imaging.measure`: plane and line scans through held-out images,
  cached per snapshot, and the claim as numbers;
- :mod:`~geomlib.experiments.imaging.figures`: planes, stages, lines, spectra, anchor images.
"""
