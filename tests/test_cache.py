import json

import torch

from geomlib import cache


def test_cached_computes_once_and_reloads(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"x": torch.arange(3.0)}

    a = cache.cached("demo", {"w": 3}, compute, root=tmp_path, verbose=False)
    b = cache.cached("demo", {"w": 3}, compute, root=tmp_path, verbose=False)
    assert len(calls) == 1 and torch.equal(a["x"], b["x"])
    cache.cached("demo", {"w": 4}, compute, root=tmp_path, verbose=False)
    assert len(calls) == 2  # other parameters, other key
    meta = json.loads(cache.artifact_path("demo", {"w": 3}, root=tmp_path).with_suffix(".json").read_text())
    assert meta["params"] == {"w": 3} and meta["source_hash"] == cache.source_hash()


def test_atomic_save_leaves_no_partial_file(tmp_path):
    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("interrupted")

    path = tmp_path / "a.pt"
    try:
        cache.atomic_save({"bad": Unpicklable()}, path)
    except RuntimeError:
        pass
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_source_hash_tracks_computation_not_presentation(tmp_path):
    import shutil

    pkg = tmp_path / "geomlib"
    shutil.copytree(cache.PACKAGE_DIR, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    h0 = cache.source_hash(pkg)
    assert h0 == cache.source_hash(cache.PACKAGE_DIR)
    (pkg / "experiments" / "twod" / "figures.py").write_text("# a figure tweak\n", "utf-8")
    (pkg / "experiments" / "imaging" / "figures.py").write_text("# a figure tweak\n", "utf-8")
    (pkg / "book" / "runner.py").write_text("# runner change\n", "utf-8")
    (pkg / "book" / "provenance.py").write_text("# provenance change\n", "utf-8")
    assert cache.source_hash(pkg) == h0
    with open(pkg / "book" / "profiles.py", "a") as fh:  # seeding: can change results
        fh.write("\n# a change to seeding\n")
    h1 = cache.source_hash(pkg)
    assert h1 != h0
    with open(pkg / "numeric" / "metric.py", "a") as fh:
        fh.write("\n# a change that could alter results\n")
    assert cache.source_hash(pkg) not in (h0, h1)
