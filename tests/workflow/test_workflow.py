"""The reproduction as a Snakemake workflow (workflow/Snakefile, config/config.yaml): run lists per
figure group and profile, the run command filling exactly the cache entries the chapters read, the
paper profile's dry run with resources, a local tiny run (artifacts, pages, nothing to do the second
time) and the simulated cluster (cluster-generic executor, 2 jobs) producing the same artifacts."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from geomlib.book.runner import discover
from geomlib.experiments import jobs
from geomlib.experiments.mnist.settings import settings_for
from geomlib.experiments.twod.run import _width_key
from geomlib.experiments.twod.settings import SETTINGS, settings

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
CHAPTERS = {p.stem for p in discover(REPO / "book" / "src")}


@pytest.mark.parametrize("profile", ["tiny", "quick", "paper"])
def test_run_lists_per_group_and_profile(profile):
    seed = 401
    twod = jobs.runs("twod", profile, seed)
    expected = {f"{t}-w{_width_key(w)}-s{s}" for t in SETTINGS for w in settings(t, profile).widths
                for s in settings(t, profile).seeds}
    assert [r.id for r in twod] and {r.id for r in twod} == expected and len(twod) == len(expected)
    S = settings_for(profile, seed)
    trained = [f"{a}-s{s}" for a, ss in (("sigmoid", S.seeds), ("relu", S.relu_seeds)) for s in ss]
    mnist = {r.id: r for r in jobs.runs("mnist", profile, seed)}
    assert set(mnist) == {f"{k}-{t}" for k in ("train", "lines", "planes") for t in trained}
    assert all(mnist[f"lines-{t}"].needs == (f"train-{t}",) for t in trained)
    assert {r.id for r in jobs.runs("deep", profile, seed)} == {"supervised-gelu-s401", "supervised-relu-s401"}
    assert {r.id for r in jobs.runs("ssl", profile, seed)} == {"barlow-gelu-s401", "simclr-gelu-s401"}
    every = jobs.all_runs(profile, seed)
    assert len({(r.group, r.id) for r in every}) == len(every)
    for r in every:
        assert set(r.chapters) <= CHAPTERS, r
        assert all(any(o.group == r.group and o.id == n for o in every) for n in r.needs), r
    # every experiment chapter has runs
    assert {c for r in every for c in r.chapters} == {c for c in CHAPTERS if c[:1] in "234"}


def test_list_command_and_bad_names(capsys):
    assert jobs.main(["list", "twod", "--profile", "tiny"]) == 0
    assert capsys.readouterr().out.split() == [r.id for r in jobs.runs("twod", "tiny")]
    assert jobs.main(["run", "twod", "no-such-run", "--profile", "tiny"]) == 2
    assert "xor-w10-s401" in capsys.readouterr().err
    assert jobs.main(["list", "cifar", "--profile", "tiny"]) == 2
    assert "twod, mnist, deep, ssl" in capsys.readouterr().err


@pytest.mark.slow
def test_run_command_fills_exactly_what_the_chapter_loads(tmp_path, monkeypatch):
    """After `run twod ...` and `run mnist ...` the chapters' own calls are cache hits: their compute
    functions are replaced by ones that fail."""
    monkeypatch.setenv("GEOMLIB_ARTIFACTS", str(tmp_path))
    env = {**os.environ, "PYTHONPATH": str(REPO), "GEOMLIB_ARTIFACTS": str(tmp_path)}
    for args in (["twod", "xor-w10-s401"], ["mnist", "train-sigmoid-s401"], ["mnist", "lines-sigmoid-s401"]):
        subprocess.run([sys.executable, "-m", "geomlib.experiments", "run", *args, "--profile", "tiny",
                        "--device", "cpu"], cwd=REPO, env=env, check=True, capture_output=True, text=True)
        assert jobs.done_path(args[0], args[1], "tiny", "cpu", 401, root=tmp_path).is_file()
    import geomlib
    from geomlib import cache
    from geomlib.experiments.data import load_mnist
    from geomlib.experiments.mnist import measure
    from geomlib.experiments.mnist.run import train_mnist
    from geomlib.experiments.twod import run as twod_run

    def refuse(*a, **k):
        raise AssertionError("computed instead of loaded from the cache")

    ctx = geomlib.setup("tiny", "cpu", 401, quiet=True)
    monkeypatch.setattr(twod_run, "compute_run", refuse)
    runs = twod_run.run_all("xor", settings("xor", "tiny"), device=ctx.device, progress=False)  # the chapter's call
    assert list(runs) == [("10", 401)]
    real_cached = cache.cached

    def load_only(name, params, compute, **kw):
        return real_cached(name, params, refuse, **kw)

    monkeypatch.setattr("geomlib.experiments.mnist.run.cached", load_only)
    monkeypatch.setattr("geomlib.experiments.mnist.measure.cached", load_only)
    S = settings_for("tiny", 401)
    data = load_mnist(seed=0)
    r = train_mnist(data, S, 401, "sigmoid", device=ctx.device)
    ev = measure.evaluate_lines(data, S, 401, "sigmoid", r, device=ctx.device)
    assert ev


def _snakemake(root: Path, *args, env=None, timeout=2400) -> subprocess.CompletedProcess:
    return subprocess.run([str(SNAKEMAKE), *args], cwd=root, env=env or os.environ.copy(), capture_output=True,
                          text=True, timeout=timeout)


def test_paper_dry_run_lists_every_job_with_resources():
    # -F: the listing must not depend on what this checkout has built (after `make book` the site
    # exists, and notebooks built outside Snakemake carry no metadata to trigger a profile switch)
    proc = _snakemake(REPO, "-n", "-F", "--config", "profile=paper", "--directory", str(REPO), timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    blocks = re.findall(r"rule (run|chapter|site):\n((?:    .*(?:\n|$))+)", out)
    every = jobs.all_runs("paper", 401)
    run_blocks = {re.search(r"run_id=(\S+)", b).group(1).rstrip(","): b for kind, b in blocks if kind == "run"}
    assert set(run_blocks) == {r.id for r in every}  # ids are unique across groups
    assert sum(kind == "chapter" for kind, _ in blocks) == len(CHAPTERS)
    for r in every:
        res = dict(re.findall(r"(\w+)=([^,\s]+)", re.search(r"resources: (.*)", run_blocks[r.id]).group(1)))
        assert int(res["runtime"]) > 0 and int(res["mem_mb"]) > 0, (r.id, res)
        gpu = int(res["gpu"])
        assert gpu == (0 if r.group == "twod" else 1), (r.id, res)
    deep = run_blocks["supervised-gelu-s401"]
    assert "runtime=720" in deep and "gpu=1" in deep


def _copy_repo(dest: Path) -> Path:
    """The tracked files of the checkout (no artifacts but the committed paper results, no build)."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for rel in filter(None, files.decode().split("\0")):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def _cache_files(root: Path) -> set[str]:
    art = root / "artifacts"
    return {str(p.relative_to(art)) for p in art.rglob("*.pt")
            if p.parts[len(art.parts)] not in ("paper", "checkpoints", "deep_checkpoints")
            and "ckpt" not in p.parts[len(art.parts)]}


SUBSET = ("20_xor", "30_mnist_lines")  # a 2-D group and a scan that needs its training run
SUBSET_CONFIG = ("--config", "profile=tiny", 'chapters=["20_xor","30_mnist_lines"]', "site=false")


def _same(a, b) -> bool:
    """Exact equality of nested results (dicts, lists, arrays, tensors, numbers)."""
    import numpy as np
    import torch

    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b, equal_nan=True)
    if isinstance(a, float) and a != a:
        return b != b
    return a == b


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """`snakemake --cores 2` in a copy of the repository, tiny profile, on two chapters (the whole
    book with its site takes ~20 min on the shared 2-core machine: see the README's measured times)."""
    root = _copy_repo(tmp_path_factory.mktemp("wf") / "repo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEOMLIB_")}
    first = _snakemake(root, "--cores", "2", *SUBSET_CONFIG, env=env)
    return {"root": root, "first": first, "env": env}


@pytest.mark.slow
def test_local_tiny_workflow_builds_artifacts_and_pages_then_has_nothing_to_do(local_run):
    root, first = local_run["root"], local_run["first"]
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    wanted = [r for r in jobs.all_runs("tiny", 401) if set(r.chapters) & set(SUBSET)]
    markers = list((root / "artifacts" / "workflow" / "tiny-auto-s401").rglob("*.json"))
    assert sorted(p.stem for p in markers) == sorted(r.id for r in wanted)
    cached = _cache_files(root)
    for name in ("twod-xor", "mnist_train", "mnist_lines"):
        assert any(c.startswith(name + "/") for c in cached), (name, sorted(cached))
    assert not any(c.startswith(("twod-sinusoid", "mnist_planes")) for c in cached)  # not asked for
    for ch in SUBSET:
        nb = (root / "book" / "chapters" / f"{ch}.ipynb").read_text()
        assert '"status": "ok"' in nb and "Traceback" not in nb, ch
    report = (root / "book" / "chapters" / "report.md").read_text()
    assert all(f"| {ch} | ✅ ok |" in report for ch in SUBSET), report
    again = _snakemake(root, "--cores", "2", *SUBSET_CONFIG, env=local_run["env"])
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.slow
def test_simulated_cluster_produces_the_same_artifacts(local_run, tmp_path):
    """The cluster-generic executor with the repository's local submit/status scripts, 2 jobs at a
    time, on the MNIST lines chapter (scans wait for their training jobs): the same cache entries as
    the local run, with identical results."""
    from geomlib import cache

    assert local_run["first"].returncode == 0
    root = _copy_repo(tmp_path / "repo")
    proc = _snakemake(root, "--workflow-profile", "workflow/profiles/local-cluster", "--config", "profile=tiny",
                      'chapters=["30_mnist_lines"]', "site=false", env=local_run["env"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    submitted = list((root / ".snakemake" / "local-cluster").glob("*.rc"))
    assert len(submitted) == len([r for r in jobs.all_runs("tiny", 401) if "30_mnist_lines" in r.chapters]) + 1
    assert all(p.read_text().strip() == "0" for p in submitted)
    mine, theirs = _cache_files(root), _cache_files(local_run["root"])
    assert {c.split("/")[0] for c in mine} >= {"mnist_train", "mnist_lines"}
    assert {c for c in mine if c.startswith("mnist")} == {c for c in theirs if c.startswith("mnist")}
    for c in mine:
        if c.startswith("mnist_lines"):
            assert _same(cache.load(root / "artifacts" / c), cache.load(local_run["root"] / "artifacts" / c)), c
    assert '"status": "ok"' in (root / "book" / "chapters" / "30_mnist_lines.ipynb").read_text()
