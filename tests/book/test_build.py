"""End to end: every chapter in the tiny profile through the runner, the book built with -W, and
the rendered site loaded in headless Chromium (math typeset by the local MathJax, figures present).

Runs in a temporary copy of ``book/`` so the site built by ``make book`` is left alone.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from geomlib.book import runner

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1280,900", "--virtual-time-budget=8000"]


@pytest.fixture(scope="module")
def built_book(tmp_path_factory):
    root = tmp_path_factory.mktemp("site") / "book"
    shutil.copytree(REPO / "book", root, ignore=shutil.ignore_patterns("_build", "chapters"))
    failed = runner.run("tiny", "cpu", 401, None, root / "src", root / "chapters", timeout=900)
    report = json.loads((root / "chapters" / "report.json").read_text())["chapters"]
    proc = subprocess.run([str(Path(sys.executable).parent / "jupyter-book"), "build", "-W", "-n",
                           "--keep-going", str(root)], capture_output=True, text=True)
    return {"root": root, "failed": failed, "report": report, "build": proc}


def test_every_chapter_runs_in_tiny_profile(built_book):
    bad = [f"{r['chapter']}: {r.get('error')}" for r in built_book["report"] if r["status"] != "ok"]
    assert built_book["failed"] == 0 and not bad, bad
    assert {r["chapter"] for r in built_book["report"]} == {p.stem for p in runner.discover(REPO / "book" / "src")}


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


def test_toc_lists_every_chapter():
    toc = (REPO / "book" / "_toc.yml").read_text()
    listed = set(re.findall(r"file:\s*chapters/(\w+)", toc)) - {"report"}
    assert listed == {p.stem for p in runner.discover(REPO / "book" / "src")}


def test_book_builds_with_warnings_as_errors(built_book):
    proc = built_book["build"]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (built_book["root"] / "_build" / "html" / "index.html").exists()


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
    assert built_book["build"].returncode == 0
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
