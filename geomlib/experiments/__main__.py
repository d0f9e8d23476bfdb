"""``python -m geomlib.experiments list|run``: see :mod:`geomlib.experiments.jobs`."""
import sys

from .jobs import main

if __name__ == "__main__":
    sys.exit(main())
