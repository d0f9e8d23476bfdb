"""``python -m geomlib.book run|list``: run the chapters (see :mod:`geomlib.book.runner`)."""
import sys

from .runner import main

if __name__ == "__main__":
    sys.exit(main())
