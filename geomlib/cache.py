"""On-disk artifacts: expensive results cached by (name, parameters, geomlib source).

A utility below both the core and the experiments: :mod:`geomlib.symbolic` caches its slow
derivations here, the experiments their runs and scans, the chapters their committed results. It
imports nothing else from geomlib, so the core stays free of the book machinery and experiments.

Layout under the artifact root (``$GEOMLIB_ARTIFACTS`` or ``<repo>/artifacts``)::

    <root>/<name>/<key>.pt      result (any picklable object: dicts of arrays, tensors, scalars)
    <root>/<name>/<key>.json    parameters + provenance, human readable
    <root>/paper/<name>.pt      committed paper-profile results shown on the site (see
                                :func:`save_showcase`), independent of the source hash

``key`` hashes the JSON of the parameters together with a hash of geomlib's own source, so a
code change invalidates what it could have changed. Writes are atomic (temp file, then
``os.replace``): an interrupted run never leaves a truncated artifact behind.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent  # the checkout (book/, artifacts/, data/ live here)


def artifact_root() -> Path:
    """Root folder of cached artifacts (``$GEOMLIB_ARTIFACTS`` or ``<repo>/artifacts``)."""
    return Path(os.environ.get("GEOMLIB_ARTIFACTS", REPO_ROOT / "artifacts"))


# Modules that only present results (figures, the runner, provenance lines) cannot change a
# cached number, so editing them must not invalidate every artifact.
PRESENTATION_ONLY = ("figures.py", "book/runner.py", "book/__main__.py", "book/provenance.py", "book/freshness.py",
                     "book/sphinx_ext.py")


def source_hash(package_dir: Path = PACKAGE_DIR) -> str:
    """Hash (12 hex digits) of the geomlib source that can change a computed result: every
    ``.py`` file of the package except the presentation-only modules (:data:`PRESENTATION_ONLY`)."""
    h = hashlib.sha256()
    for path in sorted(Path(package_dir).rglob("*.py")):
        if any(path.match(pat) for pat in PRESENTATION_ONLY):
            continue
        h.update(str(path.relative_to(package_dir)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def _canonical(params: dict) -> str:
    try:
        return json.dumps(params, sort_keys=True, default=str)
    except TypeError as exc:  # pragma: no cover - default=str makes this rare
        raise TypeError(f"artifact parameters must be JSON-serialisable: {exc}") from None


def artifact_key(params: dict, *, with_source: bool = True) -> str:
    """Key of an artifact: hash of the parameters (and of geomlib's source when ``with_source``)."""
    h = hashlib.sha256(_canonical(params).encode())
    if with_source:
        h.update(source_hash().encode())
    return h.hexdigest()[:16]


def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temp file in the same folder, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(text: str, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def load(path: Path) -> Any:
    """Load an artifact written by :func:`atomic_save` (our own files: full unpickling)."""
    return torch.load(path, map_location="cpu", weights_only=False)


def artifact_path(name: str, params: dict, *, root: Path | None = None) -> Path:
    """Where :func:`cached` keeps the artifact ``name`` for ``params``."""
    return (root or artifact_root()) / name / f"{artifact_key(params)}.pt"


def cached(name: str, params: dict, compute: Callable[[], Any], *, root: Path | None = None,
           refresh: bool = False, record: dict | None = None, verbose: bool = True) -> Any:
    """Return ``compute()``'s result, loading it from disk when an artifact for
    ``(name, params, geomlib source)`` exists, else computing and saving it.

    ``record`` (e.g. a provenance dict) is stored beside the result in the ``.json`` file.
    """
    path = artifact_path(name, params, root=root)
    if path.exists() and not refresh:
        if verbose:
            print(f"cache: loaded {name} from {path.relative_to(path.parent.parent.parent) if path.is_relative_to(REPO_ROOT) else path}")
        return load(path)
    t0 = time.time()
    result = compute()
    meta = {"name": name, "params": params, "source_hash": source_hash(),
            "compute_s": round(time.time() - t0, 3), **(record or {})}
    atomic_save(result, path)
    atomic_write_text(json.dumps(meta, indent=2, default=str), path.with_suffix(".json"))
    return result


def showcase_dir() -> Path:
    """Folder of committed paper-profile results (``<repo>/artifacts/paper``)."""
    return REPO_ROOT / "artifacts" / "paper"


def save_showcase(name: str, result: Any, record: dict) -> Path:
    """Save a result for the site (committed; keep it small), with its provenance record."""
    path = showcase_dir() / f"{name}.pt"
    atomic_save(result, path)
    atomic_write_text(json.dumps(record, indent=2, default=str), path.with_suffix(".json"))
    return path


def load_showcase(name: str) -> tuple[Any, dict] | None:
    """``(result, provenance record)`` of a committed showcase artifact, or ``None`` if absent."""
    path = showcase_dir() / f"{name}.pt"
    if not path.exists():
        return None
    return load(path), json.loads(path.with_suffix(".json").read_text())
