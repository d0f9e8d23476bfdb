"""Run every ``benchmarks/bench_*.py`` (or those named on the command line) and print their ratios.

Each benchmark module defines ``main(argv=None)`` that times our route against a baseline route in
the same process and prints the ratio. Timings are never pass/fail; record them in the README.
"""
import importlib
import sys
from pathlib import Path


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    here = Path(__file__).resolve().parent
    names = [p.stem for p in sorted(here.glob("bench_*.py"))]
    chosen = [n for n in names if not argv or any(a in n for a in argv)]
    if not chosen:
        print(f"no benchmark matches {argv}: choose from {', '.join(names)}", file=sys.stderr)
        return 2
    for name in chosen:
        print(f"=== {name} ===", flush=True)
        importlib.import_module(f"benchmarks.{name}").main([])
    return 0


if __name__ == "__main__":
    sys.exit(main())
