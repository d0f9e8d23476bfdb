"""When is an executed chapter stale? The key recorded in each executed notebook.

An executed notebook ``book/chapters/<stem>.ipynb`` is **fresh** when all of these are unchanged
since papermill made it, and **stale** otherwise:

- the run parameters (profile, resolved device, seed);
- the chapter source ``book/src/<stem>.md`` (its bytes);
- every geomlib module the chapter's kernel had imported when it finished (recorded at run time by
  a last, removed cell, so lazily imported modules count too), by content hash;
- the committed results under ``artifacts/paper/`` that chapters render.

A chapter whose last run failed, or whose notebook has no key, is always stale. The key lives in
the notebook's metadata under ``"geomlib"``.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

META = "geomlib"
KEY_VERSION = 1

# The last cell appended to every chapter before papermill runs it: it writes the files of the
# geomlib modules the kernel has loaded. The runner removes it from the executed notebook.
RECORD_TAG = "geomlib-record-modules"
RECORD_CELL = """\
import json as _json, sys as _sys
with open({path!r}, "w") as _f:
    _json.dump(sorted({{getattr(_m, "__file__", None) or "" for _n, _m in list(_sys.modules.items())
                       if _n == "geomlib" or _n.startswith("geomlib.")}} - {{""}}), _f)
"""


def package_root() -> Path:
    """The folder that holds the ``geomlib`` package (module paths are recorded relative to it)."""
    return Path(__file__).resolve().parents[2]


def file_hash(path: Path) -> str:
    """SHA-256 of a file's bytes, first 16 hex digits."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def module_hashes(files: list[str], root: Path | None = None) -> dict[str, str]:
    """``{path relative to the package root: content hash}`` for the given module files."""
    root = package_root() if root is None else root
    out = {}
    for f in files:
        p = Path(f).resolve()
        try:
            rel = p.relative_to(root).as_posix()
        except ValueError:  # a geomlib imported from elsewhere: key it by its absolute path
            rel = p.as_posix()
        out[rel] = file_hash(p)
    return dict(sorted(out.items()))


def committed_results_hash(paper_dir: Path) -> str:
    """Hash of the committed result files a chapter may render (names and bytes)."""
    h = hashlib.sha256()
    if Path(paper_dir).is_dir():
        for p in sorted(Path(paper_dir).iterdir()):
            if p.is_file():
                h.update(p.name.encode())
                h.update(p.read_bytes())
    return h.hexdigest()[:16]


def chapter_key(src: Path, params: dict, modules: dict[str, str], results: str) -> dict:
    """The freshness key stored in an executed notebook's metadata."""
    return {"version": KEY_VERSION, "params": dict(sorted(params.items())), "source": file_hash(src),
            "modules": modules, "results": results}


def read_key(notebook: Path) -> dict | None:
    """The key stored in an executed notebook, or ``None`` (missing, unreadable, or no key)."""
    try:
        meta = json.loads(Path(notebook).read_text())["metadata"]
    except (OSError, ValueError, KeyError):
        return None
    return meta.get(META)


def stale_reason(src: Path, notebook: Path, params: dict, paper_dir: Path,
                 root: Path | None = None) -> str | None:
    """Why ``notebook`` must be re-executed from ``src`` under ``params``; ``None`` when fresh."""
    root = package_root() if root is None else root
    key = read_key(notebook)
    if key is None:
        return "not executed yet" if not Path(notebook).exists() else "no freshness key"
    if key.get("version") != KEY_VERSION:
        return "key format changed"
    if key.get("status") != "ok":
        return "last run failed"
    if key.get("params") != dict(sorted(params.items())):
        old = key.get("params") or {}
        changed = [k for k in params if old.get(k) != params[k]]
        return "parameters changed (" + ", ".join(f"{k}: {old.get(k)} -> {params[k]}" for k in changed) + ")"
    if key.get("source") != file_hash(src):
        return "chapter source changed"
    for rel, digest in (key.get("modules") or {}).items():
        path = Path(rel) if Path(rel).is_absolute() else root / rel
        if not path.exists():
            return f"library module removed: {rel}"
        if file_hash(path) != digest:
            return f"library source changed: {rel}"
    if key.get("results") != committed_results_hash(paper_dir):
        return "committed results changed"
    return None
