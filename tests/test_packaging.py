"""The three places that pin dependencies agree (requirements.txt, pyproject.toml, environment.yml)."""
import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _pins(lines):
    return {m.group(1).lower(): m.group(2) for m in (re.match(r"\s*-?\s*([A-Za-z0-9_.\-]+)==(\S+)", l) for l in lines) if m}


def test_pins_agree_and_are_exact():
    req = _pins((REPO / "requirements.txt").read_text().splitlines())
    proj = _pins(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"])
    env = _pins((REPO / "environment.yml").read_text().splitlines())
    assert req == proj == env
    assert req["jupyter-book"] == "1.0.4.post1" and req["torch"] == "2.14.1" and req["torchvision"] == "0.29.1"
    lock = _pins((REPO / "constraints.txt").read_text().splitlines())
    for name, version in req.items():
        assert lock.get(name) == version, f"constraints.txt disagrees on {name}"
