"""Where the claims run keeps its pieces (``<artifacts>/claims_<profile>/``), the planes' anchors,
and the run's provenance: shared by :mod:`.run` (which writes them) and :mod:`.results` (which
summarises them)."""
from __future__ import annotations

import os
import pickle
import platform
import subprocess
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from ...cache import artifact_key, artifact_root

MODELS = ("mnist-sigmoid", "mnist-relu", "resnet-gelu", "resnet-relu", "barlow", "simclr")


def work_dir(profile: str, create: bool = True) -> Path:
    """Folder of the run's finished pieces (``<artifacts>/claims_<profile>``; ``<artifacts>`` is
    ``$GEOMLIB_ARTIFACTS`` or ``artifacts/``), created if missing unless ``create=False``."""
    d = artifact_root() / f"claims_{profile}"
    if create:
        d.mkdir(parents=True, exist_ok=True)
    return d


def plane_anchors(labels: np.ndarray, n_distinct: int, n_same: int, seed: int) -> list[dict]:
    """``n_distinct`` triples of held-out images of three distinct random classes, then ``n_same``
    triples of three distinct images of one random class; each ``{"kind", "classes", "index"}``.
    Deterministic in ``seed``."""
    y = np.asarray(labels)
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    out = []
    for _ in range(n_distinct):
        cl = rng.choice(classes, 3, replace=False)
        idx = [int(rng.choice(np.flatnonzero(y == c))) for c in cl]
        out.append({"kind": "distinct", "classes": [int(c) for c in cl], "index": idx})
    for _ in range(n_same):
        c = int(rng.choice(classes))
        idx = [int(i) for i in rng.choice(np.flatnonzero(y == c), 3, replace=False)]
        out.append({"kind": "same", "classes": [c] * 3, "index": idx})
    return out


def plane_order(anchors: list[dict]) -> list[int]:
    """Interleave distinct- and same-class planes (2:1) so that a partial run has both kinds."""
    d = [i for i, a in enumerate(anchors) if a["kind"] == "distinct"]
    s = [i for i, a in enumerate(anchors) if a["kind"] == "same"]
    out = []
    while d or s:
        out += d[:2] + s[:1]
        d, s = d[2:], s[1:]
    return out


def scan_file(wd: Path, name: str, epoch: int, part, tag: str = "") -> Path:
    """File of one model's plane scans at one epoch, keyed by the scan settings; ``tag``: the
    training seed's (:func:`.settings.seed_tag`)."""
    return wd / f"{name}{tag}-{artifact_key(asdict(part), with_source=False)}-ep{epoch}-planes.pkl"


def stale_planes(recs: dict, anchors: list[dict]) -> list[int]:
    """The planes of ``recs`` (scan records by plane index) scanned on other images than
    ``anchors`` say: never to be averaged with another seed's plane of that index."""
    return sorted(i for i, r in recs.items() if list(r.get("index", ())) != list(anchors[int(i)]["index"]))


def load_pieces(path: Path) -> dict:
    """The pieces saved at ``path`` (empty dict if none yet)."""
    if path.exists():
        with open(path, "rb") as fh:
            return pickle.load(fh)
    return {}


def save_pieces(obj, path: Path) -> None:
    """Save pieces atomically (temporary file, then rename): an interruption never truncates them."""
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        pickle.dump(obj, fh)
    os.replace(tmp, path)


def provenance() -> dict:
    """Commit, CPU, threads and library versions of this run."""
    def git(*a):
        try:
            return subprocess.run(["git", *a], capture_output=True, text=True, timeout=10,
                                  cwd=Path(__file__).resolve().parent).stdout.strip()
        except Exception:
            return None
    cpu = None
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import scipy
    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain")), "cpu": cpu,
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "scipy": scipy.__version__, "numpy": np.__version__, "python": platform.python_version(),
            "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
