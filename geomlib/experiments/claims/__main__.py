"""``python -m geomlib.experiments.claims --profile reduced``: train, scan (resuming), summarise
into ``artifacts/paper/claims-<profile>.json`` and ``.npz``."""
from __future__ import annotations

import argparse

from .pieces import MODELS
from .run import run_claims


def main(argv=None) -> None:
    """Command line of the reduced-scale claims run (resumable; ``--summarize-only`` rebuilds the summary)."""
    ap = argparse.ArgumentParser(prog="python -m geomlib.experiments.claims", description=__doc__)
    ap.add_argument("--profile", default="reduced", choices=("reduced", "tiny"))
    ap.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--summarize-only", action="store_true", help="only rebuild the summary from the finished pieces")
    ap.add_argument("--progress", action="store_true")
    ap.add_argument("--eff-planes", type=int, default=None,
                    help="cap on the planes with the authors' effective volume per model (default: the profile's, 8)")
    a = ap.parse_args(argv)
    if a.summarize_only:
        from .results import summarize_run
        from .settings import claims_settings
        print(summarize_run(a.profile, claims_settings(a.profile)))
        return
    print(run_claims(a.profile, models=tuple(a.models), progress=a.progress, threads=a.threads,
                     eff_planes=a.eff_planes))


if __name__ == "__main__":
    main()
