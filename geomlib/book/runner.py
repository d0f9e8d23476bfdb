"""Chapter runner: ``python -m geomlib.book run --profile quick``.

Each chapter is a jupytext MyST notebook in ``book/src/``. The runner converts it to ``.ipynb``
(jupytext), executes it with papermill passing the ``profile``, ``device`` and ``seed``
parameters, and writes the executed notebook to ``book/chapters/``, where the book renders it
(``execute_notebooks: off``: the site shows exactly what the runner produced). It keeps going
past a failing chapter, exits non-zero at the end if any failed, and writes a per-chapter
execution report (``report.json`` and the ``report.md`` page) beside the notebooks.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path

from .profiles import DEVICES, PROFILES, ConfigError, check_profile, resolve_device
from .provenance import REPO_ROOT, device_name, git_commit

BOOK_DIR = REPO_ROOT / "book"
SRC_DIR = BOOK_DIR / "src"
OUT_DIR = BOOK_DIR / "chapters"


def discover(src: Path = SRC_DIR) -> list[Path]:
    """Chapter sources in run order (sorted file names)."""
    return sorted(p for p in Path(src).glob("*.md") if not p.name.startswith("_"))


def select(chapters: list[Path], only: list[str] | None) -> list[Path]:
    """Chapters whose stem, or stem without the ``NN_`` prefix, is in ``only``."""
    if not only:
        return chapters
    names = {}
    for p in chapters:
        names[p.stem] = p
        names[p.stem.split("_", 1)[-1]] = p
    unknown = [o for o in only if o not in names]
    if unknown:
        valid = ", ".join(p.stem for p in chapters)
        raise ConfigError(f"unknown chapter(s) {', '.join(unknown)}: choose from {valid}")
    wanted = {names[o] for o in only}
    return [p for p in chapters if p in wanted]


def execute_chapter(src: Path, out_dir: Path, *, profile: str, device: str, seed: int,
                    timeout: int | None = None, progress: bool = False, paper_dir: Path | None = None) -> dict:
    """Execute one chapter; return its report row (never raises for a failing notebook).

    The executed notebook carries its freshness key (:mod:`geomlib.book.freshness`) in its metadata:
    parameters, source hash, the hashes of the geomlib modules its kernel imported, and status.
    """
    import os

    import jupytext
    import nbformat
    import papermill as pm

    from . import freshness

    # tqdm bars inside a chapter would land on the rendered page line by line; the runner shows
    # per-cell progress itself (--progress). A user's explicit TQDM_DISABLE wins.
    os.environ.setdefault("TQDM_DISABLE", "1")

    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{src.stem}.ipynb"
    row = {"chapter": src.stem, "profile": profile, "device": device, "seed": seed}
    params = run_params(profile, device, seed)
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        record = Path(tmp) / "modules.json"
        try:
            nb = jupytext.read(src)
            nb.cells.append(nbformat.v4.new_code_cell(freshness.RECORD_CELL.format(path=str(record)),
                                                      metadata={"tags": [freshness.RECORD_TAG, "remove-cell"]}))
            ipynb = Path(tmp) / f"{src.stem}.ipynb"
            jupytext.write(nb, ipynb)
            pm.execute_notebook(
                str(ipynb), str(out),
                parameters={"profile": profile, "device": device, "seed": seed},
                kernel_name="python3", cwd=str(src.parent), progress_bar=progress,
                request_save_on_cell_execute=True, execution_timeout=timeout,
            )
            row["status"] = "ok"
        except Exception as exc:  # papermill raises PapermillExecutionError for cell errors
            row["status"] = "failed"
            name = getattr(exc, "ename", type(exc).__name__)
            value = getattr(exc, "evalue", str(exc))
            row["error"] = f"{name}: {value}".splitlines()[0][:300]
            if not hasattr(exc, "ename"):
                row["traceback"] = traceback.format_exc(limit=3)
        modules = json.loads(record.read_text()) if record.exists() else []
    row["wall_s"] = round(time.time() - t0, 2)
    if out.exists():
        key = freshness.chapter_key(src, params, freshness.module_hashes(modules),
                                    freshness.committed_results_hash(paper_dir or _paper_dir()))
        _finish_notebook(out, {**key, "status": row["status"]})
    return row


def _paper_dir() -> Path:
    """The committed results the chapters render (``<repo>/artifacts/paper``)."""
    from ..cache import showcase_dir

    return showcase_dir()


def run_params(profile: str, device: str, seed: int) -> dict:
    """The parameters a chapter's freshness depends on (the device as resolved here)."""
    return {"profile": profile, "device": resolve_device(device).type, "seed": int(seed)}


def _finish_notebook(path: Path, key: dict) -> None:
    """Drop the module-recording cell, store the freshness key, and tag the source's default
    ``parameters`` cell ``remove-cell`` so the page shows only the injected parameters that
    actually ran (papermill's ``injected-parameters`` cell)."""
    import nbformat

    from . import freshness

    nb = nbformat.read(path, as_version=4)
    nb.cells = [c for c in nb.cells if freshness.RECORD_TAG not in c.metadata.get("tags", [])]
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
    nb.metadata[freshness.META] = key
    nbformat.write(nb, path)


def _write_if_changed(path: Path, text: str) -> None:
    """Rewrite only on change, so an up-to-date build leaves the page (and Sphinx) alone."""
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def write_report(rows: list[dict], out_dir: Path, *, meta: dict) -> Path:
    """Merge ``rows`` into ``out_dir/report.json`` and render ``out_dir/report.md``."""
    import fcntl

    out_dir.mkdir(parents=True, exist_ok=True)
    # Chapters executed by parallel processes (the workflow's chapter jobs) merge into one report:
    # hold an exclusive lock from reading the old report to writing the new one.
    with open(out_dir / ".report.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _write_report_locked(rows, out_dir, meta=meta)


def _write_report_locked(rows: list[dict], out_dir: Path, *, meta: dict) -> Path:
    path = out_dir / "report.json"
    old = {}
    if path.exists():
        try:
            old = {r["chapter"]: r for r in json.loads(path.read_text())["chapters"]}
        except (ValueError, KeyError):
            old = {}
    for r in rows:
        old[r["chapter"]] = {**r, **meta}
    merged = [old[k] for k in sorted(old)]
    _write_if_changed(path, json.dumps({"chapters": merged}, indent=2))
    lines = [
        "# Execution report", "",
        "Every chapter of this book is executed with papermill before the site is rendered: "
        "`jupyter-book build book/` runs each chapter whose executed notebook is missing or stale "
        "(chapter source, the geomlib modules it imports, or the profile, device and seed changed), "
        "and the site shows the stored outputs. This table is written by that runner.",
        "",
        "| chapter | status | wall time (s) | profile | device | torch | commit | date |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in merged:
        status = "✅ ok" if r["status"] == "ok" else f"❌ {r['status']}"
        lines.append(
            f"| {r['chapter']} | {status} | {r['wall_s']:.1f} | {r['profile']} | "
            f"{r.get('device_name', r['device'])} | {r.get('torch', '?')} | {r.get('commit', '?')} | "
            f"{r.get('date', '?')} |"
        )
    failed = [r for r in merged if r["status"] != "ok"]
    if failed:
        lines += ["", "## Failures", ""]
        for r in failed:
            lines.append(f"- **{r['chapter']}**: `{r.get('error', 'unknown error')}`")
    lines += ["", f"Total wall time of listed chapters: {sum(r['wall_s'] for r in merged):.1f} s.", ""]
    _write_if_changed(out_dir / "report.md", "\n".join(lines))
    return path


def run(profile: str = "quick", device: str = "auto", seed: int = 401, only: list[str] | None = None,
        src: Path = SRC_DIR, out: Path = OUT_DIR, timeout: int | None = None, progress: bool = False,
        stale_only: bool = False, log=print) -> int:
    """Run chapters; return the number that failed (counting stale-skipped chapters whose stored
    run failed).

    ``stale_only``: execute only chapters whose executed notebook is missing or stale
    (:func:`geomlib.book.freshness.stale_reason`); fresh ones keep their stored outputs and report row.
    ``log`` receives one line per chapter: name, profile, wall time, ok/failed (or why it was skipped).
    """
    import datetime as dt

    import torch

    from . import freshness

    check_profile(profile)
    dev = resolve_device(device)
    chapters = select(discover(src), only)
    if not chapters:
        raise ConfigError(f"no chapters found in {src}")
    meta = {"device_name": device_name(dev), "torch": torch.__version__, "commit": git_commit(),
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    params = run_params(profile, device, seed)
    rows, skipped = [], 0
    width = max(len(ch.stem) for ch in chapters)
    for i, ch in enumerate(chapters, 1):
        head = f"[{i:>2}/{len(chapters)}] {ch.stem:<{width}}  profile={profile}"
        nb = Path(out) / f"{ch.stem}.ipynb"
        reason = freshness.stale_reason(ch, nb, params, _paper_dir()) if stale_only else "forced"
        if reason is None:
            skipped += 1
            log(f"{head}  up to date, not executed")
            continue
        row = execute_chapter(ch, Path(out), profile=profile, device=device, seed=seed,
                              timeout=timeout, progress=progress)
        rows.append(row)
        tail = f": {row['error']}" if "error" in row else ""
        why = f" ({reason})" if stale_only else ""
        log(f"{head}  {row['wall_s']:7.1f} s  {row['status']}{why}{tail}")
        write_report(rows, Path(out), meta=meta)  # after every chapter: nothing lost if interrupted
    report = write_report(rows, Path(out), meta=meta)
    listed = {ch.stem for ch in chapters}
    failed = [r for r in json.loads(report.read_text())["chapters"]
              if r["chapter"] in listed and r["status"] != "ok"]
    log(f"{len(chapters) - len(failed)}/{len(chapters)} chapters ok ({len(rows)} executed, {skipped} up to date); "
        f"report: {Path(out) / 'report.md'}")
    return len(failed)


def main(argv: list[str] | None = None) -> int:
    """``python -m geomlib.book run|list``: exit status 0, 1 if a chapter failed, 2 on a bad option."""
    ap = argparse.ArgumentParser(prog="python -m geomlib.book", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="execute chapters with papermill")
    r.add_argument("--profile", default="quick", help=f"one of {', '.join(PROFILES)} (default quick)")
    r.add_argument("--device", default="auto", help=f"one of {', '.join(DEVICES)} (default auto)")
    r.add_argument("--seed", type=int, default=401)
    r.add_argument("--only", nargs="+", metavar="CHAPTER", help="run just these chapters (stem or name)")
    r.add_argument("--src", type=Path, default=SRC_DIR, help="folder of MyST chapter sources")
    r.add_argument("--out", type=Path, default=OUT_DIR, help="folder for executed notebooks and the report")
    r.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds")
    r.add_argument("--progress", action="store_true", help="show papermill's per-cell progress bar")
    r.add_argument("--stale-only", action="store_true",
                   help="execute only chapters whose executed notebook is missing or stale")
    sub.add_parser("list", help="list chapters")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "list":
            for p in discover():
                print(p.stem)
            return 0
        only = [o for item in (args.only or []) for o in item.split(",") if o]
        failed = run(args.profile, args.device, args.seed, only, args.src, args.out, args.timeout, args.progress,
                     stale_only=args.stale_only)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
