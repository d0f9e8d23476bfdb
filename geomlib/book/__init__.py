"""The book's machinery: how a chapter runs, not what it computes.

- :mod:`geomlib.book.runner`: executes the chapters (jupytext + papermill) and writes the
  execution report; ``python -m geomlib.book run|list`` (:mod:`geomlib.book.__main__`);
- :mod:`geomlib.book.profiles`: the ``tiny`` | ``quick`` | ``paper`` profiles, device choice,
  seeding and :func:`setup`, the first call of every chapter;
- :mod:`geomlib.book.freshness`: when an executed chapter is stale (the key in its metadata);
- :mod:`geomlib.book.sphinx_ext`: the Sphinx extension through which ``jupyter-book build book/``
  executes every missing or stale chapter before rendering;
- :mod:`geomlib.book.provenance`: provenance records and the one-line caption under a figure.

The artifact cache (:mod:`geomlib.cache`) sits below the core, which uses it too. The profile API
is re-exported here and, lazily, from :mod:`geomlib` (``geomlib.setup(...)``).
"""
from .profiles import PROFILES, ConfigError, Context, resolve_device, seed_everything, setup

__all__ = ["PROFILES", "ConfigError", "Context", "resolve_device", "seed_everything", "setup"]
