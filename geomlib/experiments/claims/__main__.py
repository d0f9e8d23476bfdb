"""``python -m geomlib.experiments.claims --profile reduced``: train every model with each training
seed, scan its planes at initialisation and after training (resuming from the finished pieces in
``$GEOMLIB_ARTIFACTS/claims_<profile>/``, default ``artifacts/claims_<profile>/``), and summarise
into ``artifacts/paper/claims-<profile>.json`` and ``.npz``. The ``reduced`` profile takes about
1 h 50 min on a quiet 2-core CPU (two training seeds); ``tiny`` is the tests' toy size."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .pieces import MODELS
from .run import run_claims


def main(argv=None) -> None:
    """Command line of the reduced-scale claims run (resumable; ``--summarize-only`` rebuilds the summary)."""
    ap = argparse.ArgumentParser(prog="python -m geomlib.experiments.claims", description=__doc__)
    ap.add_argument("--profile", default="reduced", choices=("reduced", "tiny"))
    ap.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS),
                    help="train and scan only these models (default: all); the summary still covers every "
                         "model with finished pieces")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--summarize-only", action="store_true",
                    help="only rebuild the summary from the finished pieces (no training or scans; "
                         "--models, --threads and --eff-planes do not apply)")
    ap.add_argument("--progress", action="store_true", help="show a progress bar per training epoch")
    ap.add_argument("--eff-planes", type=int, default=None,
                    help="cap on the planes with the authors' effective volume per model (default: the profile's, 8)")
    ap.add_argument("--out-dir", type=Path, default=None,
                    help="folder of the summary files (default: artifacts/paper, the committed results)")
    a = ap.parse_args(argv)
    try:
        if a.summarize_only:
            from .results import summarize_run
            from .settings import claims_settings
            print(summarize_run(a.profile, claims_settings(a.profile), out_dir=a.out_dir))
            return
        print(run_claims(a.profile, models=tuple(a.models), progress=a.progress, threads=a.threads,
                         eff_planes=a.eff_planes, out_dir=a.out_dir))
    except (FileNotFoundError, ValueError) as e:  # missing or mismatched pieces: a one-line reason
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
