"""Smoke test of the benchmarks at toy sizes: they run, and the routes they time agree.

Timings are never asserted (DEVELOPERS: speed is a benchmark ratio, not a pass/fail test); what is
asserted is that every route a benchmark compares returns the same numbers, so a recorded ratio
always compares equal work.
"""
import math
import re

from benchmarks import __main__ as runner
from benchmarks import bench_deep_plane, bench_numeric_curvature, bench_numeric_plane, bench_symbolic

NUM = r"([0-9.]+(?:e[+-]?[0-9]+)?)"


def _floats(pattern, text):
    return [float(m) if not isinstance(m, tuple) else tuple(map(float, m)) for m in re.findall(pattern, text)]


def _ratios_positive(text):
    ratios = _floats(r"ratio\s+" + NUM, text) + _floats(r"=\s+" + NUM + r"x", text)
    assert ratios, text
    assert all(math.isfinite(r) and r > 0 for r in ratios), ratios


def test_symbolic_bench_routes_agree(capsys):
    rows = bench_symbolic.main(["--dims", "2", "--repeats", "1"])  # raises if |dR| or |dvol| > 1e-10
    assert [r[0] for r in rows] == [2]
    assert all(t > 0 for _, *ts in rows for t in ts), rows
    dR, dvol = _floats(r"\n 2 +" + NUM + " +" + NUM + " +" + NUM + "x +" + NUM + " +" + NUM, capsys.readouterr().out)[0][3:]
    assert dR < 1e-10 and dvol < 1e-10


def test_curvature_bench_routes_agree(capsys):
    bench_numeric_curvature.main(["--n", "4", "--repeat", "1", "--baseline-points", "1", "--threads", "1"])
    out = capsys.readouterr().out
    rel = _floats(r"max \|diff\| = " + NUM + r" \(max \|R\| = " + NUM + r"\)", out)
    assert len(rel) == 2, out  # shallow and deep, our nested route
    assert all(d / r < 1e-12 for d, r in rel), rel
    authors = _floats(r"authors' pattern\).*max \|diff\| = " + NUM, out)
    assert len(authors) == 2 and max(authors) < 1e-8, out
    closed = _floats(r"max \|gauss - closed\| = " + NUM, out)
    assert len(closed) == 1 and closed[0] < 1e-10, out
    _ratios_positive(out)


def test_plane_bench_routes_agree(capsys):
    bench_numeric_plane.main(["--n", "3", "--resnet-n", "2", "--eff-points", "2", "--authors-points", "1",
                              "--repeat", "1", "--threads", "1"])
    out = capsys.readouterr().out
    diffs = (_floats(r"max disagreement between routes: " + NUM, out)
             + _floats(r"max disagreement stacked vs jvp: " + NUM, out)
             + _floats(r"max \|ours - authors'-style\| = " + NUM, out))
    assert len(diffs) == 3, out
    assert max(diffs) < 1e-10, diffs
    _ratios_positive(out)


def test_deep_plane_bench_runs(capsys):
    bench_deep_plane.main(["--points", "2"])
    out = capsys.readouterr().out
    assert "two-JVP area element" in out
    _ratios_positive(out)


def test_runner_rejects_unknown_name(capsys):
    assert runner.main(["no_such_bench"]) == 2
    assert "choose from" in capsys.readouterr().err

