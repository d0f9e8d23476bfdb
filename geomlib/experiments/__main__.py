"""``python -m geomlib.experiments list|run``: see :mod:`geomlib.experiments.jobs`."""
import sys

from .jobs import main

sys.exit(main())
