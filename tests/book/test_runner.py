"""The chapter runner: selection, errors, failure handling and the execution report."""
import json
from pathlib import Path

import pytest

from geomlib.book import runner
from geomlib.book.profiles import ConfigError

from chapter_stub import write_chapter as _chapter

def test_select_and_unknown_chapter(tmp_path):
    a = _chapter(tmp_path / "01_alpha.md", "pass")
    b = _chapter(tmp_path / "02_beta.md", "pass")
    chapters = runner.discover(tmp_path)
    assert chapters == [a, b]
    assert runner.select(chapters, ["beta"]) == [b]
    assert runner.select(chapters, ["01_alpha"]) == [a]
    with pytest.raises(ConfigError, match="choose from 01_alpha, 02_beta"):
        runner.select(chapters, ["gamma"])


def test_python_m_geomlib_book_lists_the_chapters():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "geomlib.book", "list"], capture_output=True, text=True,
                          timeout=120, cwd=runner.REPO_ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [p.stem for p in runner.discover()] and "00_notation" in proc.stdout


def test_cli_errors_are_one_line(capsys):
    assert runner.main(["run", "--profile", "huge"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "tiny, quick, paper" in err


def test_runner_keeps_going_and_reports(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    _chapter(src / "01_fails.md", "raise ValueError('boom')")
    _chapter(src / "02_ok.md", "print(profile, device, seed)\nfrom tqdm import tqdm\nfor _ in tqdm(range(3), desc='bar'):\n    pass")
    failed = runner.run("tiny", "cpu", 5, None, src, out)
    assert failed == 1
    report = json.loads((out / "report.json").read_text())["chapters"]
    status = {r["chapter"]: r for r in report}
    assert status["01_fails"]["status"] == "failed" and "boom" in status["01_fails"]["error"]
    assert status["02_ok"]["status"] == "ok" and status["02_ok"]["profile"] == "tiny"
    for key in ("wall_s", "device", "torch", "commit", "date"):
        assert key in status["02_ok"]
    # parameters reached the kernel
    nb = json.loads((out / "02_ok.ipynb").read_text())
    text = "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))
    assert "tiny cpu 5" in text
    assert "bar:" not in text  # progress bars stay off the rendered page
    # only the injected parameters (what actually ran) are shown on the page
    tags = [c["metadata"].get("tags", []) for c in nb["cells"]]
    assert ["parameters", "remove-cell"] in tags and ["injected-parameters"] in tags
    md = (out / "report.md").read_text()
    assert "01_fails" in md and "boom" in md and "| 02_ok | ✅ ok |" in md
    # a later --only run merges into the report instead of dropping other chapters
    assert runner.run("tiny", "cpu", 5, ["ok"], src, out) == 0
    assert {r["chapter"] for r in json.loads((out / "report.json").read_text())["chapters"]} == {"01_fails", "02_ok"}
