"""The README's quick-start block runs as written (so the front page never shows stale API)."""
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _quick_start_code() -> str:
    text = README.read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "the quick start should hold exactly one python block"
    return blocks[0]


def test_readme_quick_start_runs(capsys):
    ns: dict = {}
    exec(compile(_quick_start_code(), str(README), "exec"), ns)
    R, logvol, area = ns["R"], ns["logvol"], ns["area"]
    assert R.shape == logvol.shape == (41 * 41,)
    assert area.shape == (30 * 30,)
    assert R.isfinite().all() and logvol.isfinite().all() and area.isfinite().all()
    assert "sqrt(2*u + 3)" in capsys.readouterr().out  # Methods: T5: erf R(u) at sigma_w = sigma_b = 1, d = 2
