"""End to end: the design card's command. In a temporary copy of ``book/`` (what a fresh clone
has: no executed chapters, no site), ``GEOMLIB_PROFILE=tiny jupyter-book build book/`` executes
every chapter with papermill and renders every page with no warning; a second build executes
nothing; editing one chapter re-executes that chapter only; a failing chapter fails the build
(non-zero, named, in the report) but not the site; an unknown profile stops the build at once.
The rendered site is then loaded in headless Chromium (math typeset by the local MathJax, figures).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from geomlib.book import runner

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
JB = str(Path(sys.executable).parent / "jupyter-book")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1280,900", "--virtual-time-budget=8000"]
LINE = re.compile(r"^\[\s*\d+/\d+\] (\S+)\s+profile=(\w+)\s+(.*)$", re.M)


def jupyter_book(root: Path, **env) -> subprocess.CompletedProcess:
    """``jupyter-book build <root>``, plain, with ``GEOMLIB_*`` settings from ``env``."""
    full = {**os.environ, "GEOMLIB_DEVICE": "cpu", **env}
    t0 = time.time()
    proc = subprocess.run([JB, "build", str(root)], capture_output=True, text=True, env=full, cwd=root.parent)
    proc.wall_s = time.time() - t0
    return proc


def executed(proc) -> dict[str, str]:
    """``{chapter: status line}`` for the chapters the build executed (not the up-to-date ones)."""
    return {m.group(1): m.group(3) for m in LINE.finditer(proc.stdout) if "up to date" not in m.group(3)}


def toc_pages(root: Path) -> list[str]:
    return re.findall(r"file:\s*(\S+)", (root / "_toc.yml").read_text())


@pytest.fixture(scope="module")
def built_book(tmp_path_factory):
    root = tmp_path_factory.mktemp("clone") / "book"
    shutil.copytree(REPO / "book", root, ignore=shutil.ignore_patterns("_build", "chapters"))
    first = jupyter_book(root, GEOMLIB_PROFILE="tiny")
    report = json.loads((root / "chapters" / "report.json").read_text())["chapters"]
    return {"root": root, "build": first, "report": report}


def test_first_build_executes_and_renders_every_chapter(built_book):
    root, proc = built_book["root"], built_book["build"]
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "WARNING:" not in out, [line for line in out.splitlines() if "WARNING:" in line]  # Sphinx's
    chapters = {p.stem for p in runner.discover(root / "src")}
    assert set(executed(proc)) == chapters, proc.stdout[-3000:]
    assert all(re.search(r"s  ok \(not executed yet\)$", line) for line in executed(proc).values()), executed(proc)
    assert {m[1] for m in LINE.findall(proc.stdout)} == {"tiny"}
    for page in toc_pages(root):
        assert (root / "_build" / "html" / f"{page}.html").exists(), page
    bad = [f"{r['chapter']}: {r.get('error')}" for r in built_book["report"] if r["status"] != "ok"]
    assert not bad and {r["chapter"] for r in built_book["report"]} == chapters, bad


def test_toc_lists_every_chapter():
    toc = (REPO / "book" / "_toc.yml").read_text()
    listed = set(re.findall(r"file:\s*chapters/(\w+)", toc)) - {"report"}
    assert listed == {p.stem for p in runner.discover(REPO / "book" / "src")}


def test_no_progress_bars_on_pages(built_book):
    """Training progress bars belong on the terminal, not in the executed notebooks the site shows."""
    bar = re.compile(r"\d+%\|[^|\n]*\|")
    hits = []
    for nb_path in sorted((built_book["root"] / "chapters").glob("*.ipynb")):
        for cell in json.loads(nb_path.read_text())["cells"]:
            for out in cell.get("outputs", []):
                text = "".join(out.get("text", "")) + "".join(out.get("data", {}).get("text/plain", ""))
                if m := bar.search(text):
                    hits.append(f"{nb_path.stem}: {m.group(0)}")
    assert not hits, hits


def test_rebuilds_execute_only_what_changed(built_book):
    root = built_book["root"]
    stamps = {p.name: p.stat().st_mtime_ns for p in (root / "chapters").glob("*.ipynb")}
    again = jupyter_book(root, GEOMLIB_PROFILE="tiny")
    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
    assert executed(again) == {}, again.stdout[-3000:]
    assert again.stdout.count("up to date, not executed") == len(stamps)
    assert {p.name: p.stat().st_mtime_ns for p in (root / "chapters").glob("*.ipynb")} == stamps
    # editing one chapter's source re-executes that chapter only
    src = root / "src" / "00_notation.md"
    src.write_text(src.read_text() + "\nEdited after the first build.\n")
    third = jupyter_book(root, GEOMLIB_PROFILE="tiny")
    assert third.returncode == 0, (third.stdout + third.stderr)[-3000:]
    assert list(executed(third)) == ["00_notation"], third.stdout[-3000:]
    assert "chapter source changed" in executed(third)["00_notation"]
    assert "Edited after the first build." in (root / "_build" / "html" / "chapters" / "00_notation.html").read_text()


def test_failing_chapter_fails_the_build_not_the_site(built_book, tmp_path):
    root = tmp_path / "book"
    shutil.copytree(built_book["root"], root, ignore=shutil.ignore_patterns("_build"))
    broken = root / "src" / "99_broken.md"
    broken.write_text((root / "src" / "00_notation.md").read_text().split("# Notation")[0]
                      + "# Broken\n\n```{code-cell} ipython3\nraise RuntimeError('deliberately broken')\n```\n")
    toc = root / "_toc.yml"
    toc.write_text(toc.read_text().replace("      - file: gpu\n", "      - file: chapters/99_broken\n      - file: gpu\n"))
    proc = jupyter_book(root, GEOMLIB_PROFILE="tiny")
    assert proc.returncode != 0
    assert list(executed(proc)) == ["99_broken"] and "failed" in executed(proc)["99_broken"]
    assert "chapter 99_broken failed: RuntimeError: deliberately broken" in proc.stderr
    report = (root / "chapters" / "report.md").read_text()
    assert "99_broken" in report and "deliberately broken" in report
    html = root / "_build" / "html"
    assert (html / "chapters" / "99_broken.html").exists() and (html / "chapters" / "20_xor.html").exists()


@pytest.mark.parametrize("env,needle", [({"GEOMLIB_PROFILE": "huge"}, "tiny, quick, paper"),
                                        ({"GEOMLIB_DEVICE": "tpu"}, "auto, cpu, cuda"),
                                        ({"GEOMLIB_SEED": "-3"}, "non-negative integer")])
def test_unknown_setting_fails_fast(tmp_path, env, needle):
    root = tmp_path / "book"
    shutil.copytree(REPO / "book", root, ignore=shutil.ignore_patterns("_build", "chapters"))
    proc = jupyter_book(root, **env)
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and needle in errors[0], proc.stderr[-2000:]
    assert not (root / "chapters").exists()  # nothing was executed


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("GEOMLIB_REQUIRE_BROWSER"):
        pytest.fail("headless Chromium is required (GEOMLIB_REQUIRE_BROWSER is set) but not installed")
    pytest.skip("Chromium not installed (apt-get install chromium); CI installs it")


def _dump_dom(page: Path) -> str:
    with tempfile.TemporaryDirectory() as profile_dir:
        proc = subprocess.run([_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}",
                               "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.mark.parametrize("page", ["index.html", "chapters/00_notation.html"])
def test_rendered_pages_typeset_math_offline(built_book, page):
    html = built_book["root"] / "_build" / "html" / page
    dom = _dump_dom(html)
    # MathJax 3 replaces TeX by <mjx-container> elements: present only if the local script ran.
    assert dom.count("<mjx-container") >= 3, "math was not typeset"
    assert "cdn.jsdelivr" not in html.read_text(), "MathJax must be served locally"


def test_rendered_chapter_has_figures_and_checks(built_book):
    dom = _dump_dom(built_book["root"] / "_build" / "html" / "chapters" / "00_notation.html")
    imgs = re.findall(r'<img[^>]+src="([^"]+\.png)"', dom)
    assert imgs, "no figure in the rendered notation chapter"
    for src in imgs:
        assert (built_book["root"] / "_build" / "html" / "chapters" / src).resolve().exists()
    assert "unit 2-sphere" in dom and "hyperbolic half-plane" in dom  # the checks table
    assert "Traceback" not in dom
