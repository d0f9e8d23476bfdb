"""The layout's rules, enforced: the core never imports the experiments or the book machinery, the
book machinery never imports the experiments, and geomlib's modules import each other without cycles.

Core: ``geomlib.numeric``, ``geomlib.symbolic``, ``geomlib.stats`` (and ``geomlib.cache``, the artifact
store below them that ``geomlib.symbolic`` uses). The import graph is read from the source (every
``import`` statement, at module level or inside a function: a lazy import is still a dependency).
"""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "geomlib"
CORE = ("geomlib.numeric", "geomlib.symbolic", "geomlib.stats", "geomlib.cache")
UPPER = ("geomlib.experiments", "geomlib.book")


def _modules() -> dict[str, tuple[Path, bool]]:
    """``{dotted name: (file, is_package)}`` of every module under geomlib/."""
    out = {}
    for f in sorted(PACKAGE.rglob("*.py")):
        parts = list(f.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (f, is_pkg)
    return out


def _imports(name: str, path: Path, is_pkg: bool, modules) -> set[str]:
    """The geomlib modules ``name`` imports (``from P import X`` counts as ``P.X`` when that is a module)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "geomlib"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "geomlib":
                continue
            for a in node.names:
                sub = f"{target}.{a.name}"
                out.add(sub if sub in modules else target)
    out.discard(name)
    return out


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, is_pkg, modules) for name, (path, is_pkg) in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one module (Tarjan), each a set of names."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _within(name: str, prefixes) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_graph_reader_sees_relative_lazy_and_package_imports():
    g = import_graph()
    assert "geomlib.cache" in g["geomlib.symbolic.store"]                         # from .. import cache
    assert "geomlib.book.freshness" in g["geomlib.book.runner"]                   # inside a function
    assert "geomlib.stats.planes" in g["geomlib.stats.twod"]                      # from .planes import ...
    assert {"geomlib.experiments.twod.measure", "geomlib.numeric"} <= g["geomlib.experiments.twod.run"] | \
        g["geomlib.experiments.twod.measure"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_core_imports_nothing_from_experiments_or_book():
    g = import_graph()
    core = [m for m in g if _within(m, CORE)]
    assert {*CORE, "geomlib.stats.twod", "geomlib.symbolic.store", "geomlib.numeric.metric"} <= set(core)
    bad = {m: sorted(d for d in deps if _within(d, UPPER)) for m, deps in g.items() if m in core}
    assert not {m: d for m, d in bad.items() if d}, bad
    # the package's own __init__ reaches the book lazily (module __getattr__), never at import
    assert not [d for d in g["geomlib"] if _within(d, UPPER)]


def test_book_machinery_imports_nothing_from_experiments():
    g = import_graph()
    book = [m for m in g if _within(m, ("geomlib.book",))]
    assert {"geomlib.book", "geomlib.book.runner", "geomlib.book.profiles"} <= set(book)
    bad = {m: sorted(d for d in g[m] if _within(d, ("geomlib.experiments",))) for m in book}
    assert not {m: d for m, d in bad.items() if d}, bad


def test_importing_the_core_loads_no_experiment_or_book_module():
    code = (
        "import sys, geomlib, geomlib.numeric, geomlib.symbolic, geomlib.stats, geomlib.cache\n"
        "import geomlib.symbolic.store, geomlib.symbolic.checks\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('geomlib.experiments', 'geomlib.book')))\n"
        "assert not loaded, loaded\n"
        "assert 'geomlib.numeric' in sys.modules and 'geomlib.stats.twod' in sys.modules\n"
        "geomlib.setup  # the lazy route to the book machinery works\n"
        "assert 'geomlib.book.profiles' in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=PACKAGE.parent, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_no_import_cycles_among_geomlib_modules():
    found = cycles(import_graph())
    assert not found, f"import cycles: {found}"


def test_figure_groups_share_one_inner_shape():
    groups = ("twod", "mnist", "deep", "ssl")
    for g in groups:
        files = {p.name for p in (PACKAGE / "experiments" / g).glob("*.py")}
        # jobs.py: the group's runs as workflow jobs (geomlib.experiments.jobs)
        assert {"__init__.py", "settings.py", "run.py", "measure.py", "figures.py", "jobs.py"} <= files, (g, files)
        assert files - {"__init__.py", "settings.py", "run.py", "measure.py", "figures.py", "jobs.py",
                        "__main__.py"} == set()
