"""The paper's runs as workflow jobs: one list of runs per figure group and profile, and one
command that executes a run into the artifact cache.

    python -m geomlib.experiments list GROUP --profile tiny [--seed 401] [--resources]
    python -m geomlib.experiments run GROUP RUN_ID --profile tiny [--device auto] [--seed 401] [--done PATH]

Each figure group (``twod``, ``mnist``, ``deep``, ``ssl``) has a ``jobs`` module with
``runs(profile, seed) -> list[Run]`` and ``execute(run_id, ctx)``. ``execute`` makes exactly the
calls its chapter makes (same functions, same arguments), so the chapter later loads the result
from the cache (:mod:`geomlib.cache`) or the finished training checkpoint instead of computing it.
The workflow (``workflow/Snakefile``) makes one job per run and tracks it by its *done marker*
(:func:`done_path`): a small JSON file whose path contains geomlib's source hash, so a code change
that invalidates the cache also makes the workflow rerun the jobs.

A run's ``kind`` names its cost class (``twod-train``, ``mnist-train``, ``deep-train``...); the
workflow's ``config/config.yaml`` gives resources (GPUs, memory, time) per kind and profile.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

GROUPS = ("twod", "mnist", "deep", "ssl")


@dataclass(frozen=True)
class Run:
    """One job of a figure group.

    ``id``: stable within the group and profile (e.g. ``sinusoid-w20-s401``); ``chapters``: the
    chapter stems that load its result; ``needs``: ids of runs of the same group it loads (a scan
    needs its training run); ``kind``: cost class for the workflow's resources.
    """

    group: str
    id: str
    kind: str
    chapters: tuple
    needs: tuple = field(default=())

    def as_dict(self) -> dict:
        return asdict(self)


def group_module(group: str):
    """The ``jobs`` module of figure group ``group``; ``ValueError`` naming the groups otherwise."""
    if group not in GROUPS:
        raise ValueError(f"unknown figure group {group!r}: choose one of {', '.join(GROUPS)}")
    return importlib.import_module(f"geomlib.experiments.{group}.jobs")


def runs(group: str, profile: str, seed: int = 401) -> list[Run]:
    """The runs of ``group`` under ``profile`` (``seed``: the chapters' seed parameter)."""
    from ..book.profiles import check_profile

    check_profile(profile)
    return group_module(group).runs(profile, int(seed))


def all_runs(profile: str, seed: int = 401) -> list[Run]:
    """Every run of every figure group under ``profile``."""
    return [r for g in GROUPS for r in runs(g, profile, seed)]


def find(group: str, run_id: str, profile: str, seed: int = 401) -> Run:
    """The run ``run_id`` of ``group``; ``ValueError`` listing the valid ids otherwise."""
    table = {r.id: r for r in runs(group, profile, seed)}
    if run_id not in table:
        raise ValueError(f"no run {run_id!r} in group {group} (profile {profile}): choose one of {', '.join(table)}")
    return table[run_id]


def done_path(group: str, run_id: str, profile: str, device: str, seed: int, *, root: Path | None = None,
              source: str | None = None) -> Path:
    """Done marker of a run: ``<artifacts>/workflow/<profile>-<device>-s<seed>/<source hash>/<group>/<id>.json``
    (``source``: geomlib's source hash if already computed)."""
    from ..cache import artifact_root, source_hash

    return ((root or artifact_root()) / "workflow" / f"{profile}-{device}-s{int(seed)}" / (source or source_hash())
            / group / f"{run_id}.json")


def execute(group: str, run_id: str, profile: str, device: str = "auto", seed: int = 401,
            done: Path | None = None) -> Path:
    """Execute one run into the artifact cache and write its done marker; return the marker's path.

    The chapter environment is reproduced first (:func:`geomlib.book.setup`: seeding, float64
    default dtype, device resolution).
    """
    from ..book.profiles import setup
    from ..book.provenance import provenance_record

    run = find(group, run_id, profile, seed)
    ctx = setup(profile, device, seed, quiet=True)
    t0 = time.time()
    info = group_module(group).execute(run.id, ctx) or {}
    wall = time.time() - t0
    path = Path(done) if done else done_path(group, run_id, profile, device, seed)
    record = {"run": run.as_dict(), "wall_s": round(wall, 2), **info,
              "provenance": provenance_record(profile, ctx.device, seed=seed)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2, default=str))
    tmp.replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    """``python -m geomlib.experiments list|run``: exit status 0, 2 on a bad group, run id or profile."""
    from ..book.profiles import ConfigError

    ap = argparse.ArgumentParser(prog="python -m geomlib.experiments", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    ls = sub.add_parser("list", help="print the run ids of a figure group")
    ls.add_argument("group", help=f"one of {', '.join(GROUPS)}, or all")
    ls.add_argument("--profile", default="quick")
    ls.add_argument("--seed", type=int, default=401)
    ls.add_argument("--resources", action="store_true", help="also print kind, chapters and needs")
    r = sub.add_parser("run", help="execute one run into the artifact cache")
    r.add_argument("group", help=f"one of {', '.join(GROUPS)}")
    r.add_argument("run_id")
    r.add_argument("--profile", default="quick")
    r.add_argument("--device", default="auto")
    r.add_argument("--seed", type=int, default=401)
    r.add_argument("--done", type=Path, default=None, help="done marker to write (default: done_path)")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "list":
            groups = GROUPS if args.group == "all" else (args.group,)
            for g in groups:
                for run in runs(g, args.profile, args.seed):
                    if args.resources:
                        print(f"{g}\t{run.id}\tkind={run.kind}\tchapters={','.join(run.chapters)}"
                              f"\tneeds={','.join(run.needs) or '-'}")
                    else:
                        print(run.id if len(groups) == 1 else f"{g}\t{run.id}")
            return 0
        t0 = time.time()
        path = execute(args.group, args.run_id, args.profile, args.device, args.seed, args.done)
        print(f"{args.group} {args.run_id}: done in {time.time() - t0:.1f} s ({path})", flush=True)
        return 0
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
