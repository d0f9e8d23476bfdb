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


def test_public_api_is_documented():
    """Every public function and class (each package's ``__all__``) has a docstring."""
    import importlib
    import inspect

    missing = []
    for modname in ("geomlib", "geomlib.numeric", "geomlib.symbolic", "geomlib.stats", "geomlib.book",
                    "geomlib.experiments.training", "geomlib.experiments.models", "geomlib.experiments.data"):
        mod = importlib.import_module(modname)
        assert hasattr(mod, "__all__"), f"{modname} has no __all__"
        for name in mod.__all__:
            obj = getattr(mod, name)
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and not (obj.__doc__ or "").strip():
                missing.append(f"{modname}.{name}")
    assert not missing, f"public names without a docstring: {missing}"


def test_experiments_book_and_stats_modules_are_documented():
    """Every module of the experiments, the book machinery and the statistics has a docstring, and
    so has every public function and class it defines (these modules have no ``__all__``)."""
    import importlib
    import inspect
    import pkgutil

    import geomlib.book
    import geomlib.experiments
    import geomlib.stats

    missing, seen = [], 0
    for pkg in (geomlib.experiments, geomlib.book, geomlib.stats):
        for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            mod = importlib.import_module(info.name)
            seen += 1
            if not (mod.__doc__ or "").strip():
                missing.append(info.name)
            for name, obj in vars(mod).items():
                if name.startswith("_") or not (inspect.isfunction(obj) or inspect.isclass(obj)):
                    continue
                if obj.__module__ == info.name and not (obj.__doc__ or "").strip():
                    missing.append(f"{info.name}.{name}")
    assert seen > 30
    assert not missing, f"without a docstring: {missing}"
