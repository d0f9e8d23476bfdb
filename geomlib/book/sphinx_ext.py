"""Sphinx extension: ``jupyter-book build book/`` executes stale chapters, then renders the book.

Declared in ``book/_config.yml`` (``sphinx: extra_extensions: [geomlib.book.sphinx_ext]``). Before
Sphinx reads any page (``config-inited``, ahead of the table-of-contents extension), it runs the
chapter runner (:func:`geomlib.book.runner.run`, papermill) on every chapter of ``<book>/src`` whose
executed notebook in ``<book>/chapters`` is missing or stale (:mod:`geomlib.book.freshness`), printing
one line per chapter. Rendering itself keeps ``execute_notebooks: off``: the site shows exactly
what papermill produced.

Parameters come from the environment: ``GEOMLIB_PROFILE`` (``tiny`` | ``quick`` | ``paper``,
default ``quick``), ``GEOMLIB_DEVICE`` (``auto`` | ``cpu`` | ``cuda``, default ``auto``),
``GEOMLIB_SEED`` (default ``401``). An unknown value stops the build at once with a one-line
error naming the valid choices (exit status 2). A failing chapter does not stop the others or the
site: the build finishes, names each failed chapter with its error, and exits non-zero. Sphinx
warnings also make the exit status non-zero (warnings are errors in this book).
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ENV = {"profile": ("GEOMLIB_PROFILE", "quick"), "device": ("GEOMLIB_DEVICE", "auto"),
       "seed": ("GEOMLIB_SEED", "401")}


def params_from_env(environ=None) -> dict:
    """``{"profile", "device", "seed"}`` from ``GEOMLIB_*``; raises ``ConfigError`` (one line,
    naming the valid choices) for an unknown profile or device, or a seed that is not a
    non-negative integer."""
    from .profiles import ConfigError, check_profile, resolve_device

    environ = os.environ if environ is None else environ
    profile, device, seed = (environ.get(var, "").strip() or default for var, default in ENV.values())
    try:
        check_profile(profile)
    except ConfigError as exc:
        raise ConfigError(f"GEOMLIB_PROFILE: {exc}") from None
    try:
        resolve_device(device)
    except ConfigError as exc:
        raise ConfigError(f"GEOMLIB_DEVICE: {exc}") from None
    if not seed.isdigit():
        raise ConfigError(f"GEOMLIB_SEED: seed must be a non-negative integer, got {seed!r}")
    return {"profile": profile, "device": device, "seed": int(seed)}


def _execute(app, config) -> None:
    from . import runner as book
    from .profiles import ConfigError

    try:
        params = params_from_env()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None  # not an Exception: Sphinx and jupyter-book let it through
    root = Path(app.srcdir)
    src, out = root / "src", root / "chapters"
    if not src.is_dir():
        return
    print(f"geomlib: executing stale chapters of {root} with papermill "
          f"(profile={params['profile']}, device={params['device']}, seed={params['seed']})", flush=True)
    t0 = time.time()
    failed = book.run(params["profile"], params["device"], params["seed"], None, src, out, stale_only=True,
                      log=lambda line: print(line, flush=True))
    print(f"geomlib: chapters done in {time.time() - t0:.1f} s", flush=True)
    app.geomlib_failed = _failed_rows(out) if failed else []


def _failed_rows(out: Path) -> list[dict]:
    import json

    from . import runner as book

    listed = {p.stem for p in book.discover(out.parent / "src")}
    rows = json.loads((out / "report.json").read_text())["chapters"]
    return [r for r in rows if r["chapter"] in listed and r["status"] != "ok"]


def _finish(app, exception) -> None:
    if exception is not None:
        return
    failed = getattr(app, "geomlib_failed", [])
    for r in failed:
        print(f"geomlib: chapter {r['chapter']} failed: {r.get('error', 'unknown error')} "
              f"(see the execution report page)", file=sys.stderr, flush=True)
    warnings = getattr(app, "_warncount", 0)
    if warnings:
        print(f"geomlib: {warnings} Sphinx warning(s): this book treats warnings as errors", file=sys.stderr,
              flush=True)
    if failed or warnings:
        app.statuscode = 1


def setup(app):
    """Sphinx entry point: execute stale chapters before reading, report failures at the end."""
    # Before sphinx-external-toc (priority 900) parses the table of contents against the files.
    app.connect("config-inited", _execute, priority=100)
    app.connect("build-finished", _finish)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
