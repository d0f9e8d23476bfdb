"""Freshness of executed chapters: what makes a chapter stale, and the build's settings from the
environment. (The whole `jupyter-book build` path is exercised in test_book_build.py.)"""
import json
from pathlib import Path

import pytest

from geomlib.book import freshness
from geomlib.book import runner as book
from geomlib.book.profiles import ConfigError
from geomlib.book.sphinx_ext import params_from_env

from chapter_stub import write_chapter as _chapter

PARAMS = {"profile": "tiny", "device": "cpu", "seed": 5}


@pytest.fixture()
def executed(tmp_path, monkeypatch):
    """One tiny chapter executed by the runner, plus a stand-in library module recorded in its key."""
    src, out, paper = tmp_path / "src", tmp_path / "out", tmp_path / "paper"
    src.mkdir(), paper.mkdir()
    monkeypatch.setattr(book, "_paper_dir", lambda: paper)
    ch = _chapter(src / "01_alpha.md", "import geomlib.book.freshness\nprint('alpha', profile)")
    lines = []
    assert book.run("tiny", "cpu", 5, None, src, out, stale_only=True, log=lines.append) == 0
    lib = tmp_path / "lib_module.py"
    lib.write_text("X = 1\n")
    nb = out / "01_alpha.ipynb"
    return {"src": ch, "nb": nb, "paper": paper, "lib": lib, "lines": lines, "out": out, "dir": src}


def test_key_records_parameters_source_and_imported_modules(executed):
    key = freshness.read_key(executed["nb"])
    assert key["status"] == "ok" and key["params"] == dict(sorted(PARAMS.items()))
    assert key["source"] == freshness.file_hash(executed["src"])
    # modules the kernel imported, relative to the package root, with their current hashes
    assert "geomlib/book/freshness.py" in key["modules"] and "geomlib/__init__.py" in key["modules"]
    for rel, digest in key["modules"].items():
        assert freshness.file_hash(freshness.package_root() / rel) == digest
    # the recording cell is gone from the page
    cells = json.loads(executed["nb"].read_text())["cells"]
    assert not any(freshness.RECORD_TAG in c["metadata"].get("tags", []) for c in cells)
    assert "not executed yet" in executed["lines"][0] and executed["lines"][0].split()[-4] == "ok"


def test_fresh_until_something_changes(executed):
    src, nb, paper = executed["src"], executed["nb"], executed["paper"]
    assert freshness.stale_reason(src, nb, PARAMS, paper) is None
    assert "parameters changed (seed: 5 -> 6)" == freshness.stale_reason(src, nb, {**PARAMS, "seed": 6}, paper)
    assert "profile: tiny -> quick" in freshness.stale_reason(src, nb, {**PARAMS, "profile": "quick"}, paper)
    (paper / "result.json").write_text("{}")
    assert freshness.stale_reason(src, nb, PARAMS, paper) == "committed results changed"
    (paper / "result.json").unlink()
    src.write_text(src.read_text() + "\nmore prose\n")
    assert freshness.stale_reason(src, nb, PARAMS, paper) == "chapter source changed"


def test_library_change_makes_stale(executed, tmp_path):
    nb, lib = executed["nb"], executed["lib"]
    data = json.loads(nb.read_text())
    data["metadata"]["geomlib"]["modules"] = freshness.module_hashes([str(lib)], root=tmp_path)
    nb.write_text(json.dumps(data))
    args = (executed["src"], nb, PARAMS, executed["paper"])
    assert freshness.stale_reason(*args, root=tmp_path) is None
    lib.write_text("X = 2\n")
    assert freshness.stale_reason(*args, root=tmp_path) == "library source changed: lib_module.py"
    lib.unlink()
    assert freshness.stale_reason(*args, root=tmp_path) == "library module removed: lib_module.py"


def test_missing_failed_and_keyless_notebooks_are_stale(executed, tmp_path):
    src, paper = executed["src"], executed["paper"]
    assert freshness.stale_reason(src, tmp_path / "nope.ipynb", PARAMS, paper) == "not executed yet"
    data = json.loads(executed["nb"].read_text())
    data["metadata"]["geomlib"]["status"] = "failed"
    failed = tmp_path / "failed.ipynb"
    failed.write_text(json.dumps(data))
    assert freshness.stale_reason(src, failed, PARAMS, paper) == "last run failed"
    del data["metadata"]["geomlib"]
    failed.write_text(json.dumps(data))
    assert freshness.stale_reason(src, failed, PARAMS, paper) == "no freshness key"


def test_runner_skips_fresh_chapters(executed):
    lines = []
    assert book.run("tiny", "cpu", 5, None, executed["dir"], executed["out"], stale_only=True, log=lines.append) == 0
    assert "up to date, not executed" in lines[0] and "0 executed, 1 up to date" in lines[-1]


def test_settings_from_environment():
    assert params_from_env({}) == {"profile": "quick", "device": "auto", "seed": 401}
    assert params_from_env({"GEOMLIB_PROFILE": "tiny", "GEOMLIB_DEVICE": "cpu", "GEOMLIB_SEED": "7"}) == \
        {"profile": "tiny", "device": "cpu", "seed": 7}
    for env, needle in [({"GEOMLIB_PROFILE": "big"}, "GEOMLIB_PROFILE: unknown profile 'big': choose one of tiny, quick, paper"),
                        ({"GEOMLIB_DEVICE": "tpu"}, "choose one of auto, cpu, cuda"),
                        ({"GEOMLIB_SEED": "x"}, "GEOMLIB_SEED: seed must be a non-negative integer")]:
        with pytest.raises(ConfigError) as info:
            params_from_env(env)
        assert needle in str(info.value) and "\n" not in str(info.value)
