"""geomlib.experiments.claims: the summary of a run's pieces and the chapters' loader, on synthetic
pieces with known differences (no training)."""
import json
from dataclasses import replace
import math
from pathlib import Path

import numpy as np
import pytest

from geomlib.experiments.claims.results import load_results, summarize_run
from geomlib.experiments.claims.pieces import plane_anchors, plane_order, save_pieces as _save, scan_file
from geomlib.experiments.claims.settings import claims_settings, seed_tag


def test_plane_anchors_distinct_and_same():
    y = np.repeat(np.arange(10), 20)
    a = plane_anchors(y, 12, 6, seed=3)
    assert a == plane_anchors(y, 12, 6, seed=3)
    assert len(a) == 18 and [r["kind"] for r in a].count("same") == 6
    for r in a:
        labels = y[r["index"]]
        assert list(labels) == r["classes"] and len(set(r["index"])) == 3
        assert len(set(labels)) == (3 if r["kind"] == "distinct" else 1)
    order = plane_order(a)
    assert sorted(order) == list(range(18))
    assert a[order[2]]["kind"] == "same"  # both kinds early in a partial run


def _fake_run(tmp_path, shift=0.5, relu_shift=0.0, extra=None, extra_planes=None):
    """Fake pieces: every distinct-class plane's contrast moves by ``shift`` (sigmoid) or
    ``relu_shift``; ``extra``: {seed: shift} of further training seeds (``extra_planes``: how many
    planes those scanned; default all)."""
    s = replace(claims_settings("tiny"), n_distinct=6, n_same=4, extra_seeds=tuple(extra or ()))
    y = np.repeat(np.arange(10), 5)
    anchors = plane_anchors(y, s.n_distinct, s.n_same, seed=1)
    models = {"mnist-sigmoid": shift, "mnist-relu": relu_shift}
    runs = [(s.seed, models, len(anchors))] + [
        (sd, {"mnist-sigmoid": sh, "mnist-relu": relu_shift}, extra_planes or len(anchors)) for sd, sh in (extra or {}).items()]
    for sd, shifts, n_scanned in runs:
        for name, sh in shifts.items():
            for e, add in ((0, 0.0), (1, 1.0)):
                recs = {}
                for i, a in enumerate(anchors[:n_scanned]):
                    base = 0.1 * i
                    d = sh * add if a["kind"] == "distinct" else 0.0
                    st = {"contrast": base + d, "pearson": 0.01 * i + d / 2, "spearman": 0.0, "n_classes": 3}
                    recs[i] = {**a, "area": st, "eff": st if i == 0 else None, "stages": {}}
                _save(recs, scan_file(tmp_path, name, e, s.mlp, seed_tag(s, sd)))
    meta = {"anchors": {n: anchors for n in models}, "epochs": {n: [0, 1] for n in models},
            "seeds": [sd for sd, _, _ in runs],
            "eff_planes": {n: [0] for n in models}, "data": {"mnist": {"dataset": "fake"}},
            "accuracy": {"mnist-sigmoid": {"test_acc": 0.9, "test_acc_init": 0.1, "n_train": 10, "n_test": 5},
                         "mnist-relu": {"test_acc": 0.8, "test_acc_init": 0.1, "n_train": 10, "n_test": 5}}}
    _save(meta, tmp_path / "meta.pkl")
    (tmp_path / "wall.log").write_text("2026-01-01T00:00:00Z 12.5\n")
    return s


def test_summary_and_loader_known_differences(tmp_path):
    s = _fake_run(tmp_path, shift=0.5, relu_shift=0.0)
    out = summarize_run("tiny", s, work=tmp_path, out_dir=tmp_path / "paper")
    rec = json.loads(out.read_text())
    c = rec["comparisons"]["mnist-sigmoid"]
    # every distinct-class plane moves by exactly +0.5: the mean and its interval are 0.5
    assert c["contrast"]["estimate"] == pytest.approx(0.5)
    assert c["contrast"]["ci_low"] == pytest.approx(0.5) and c["contrast"]["ci_high"] == pytest.approx(0.5)
    assert c["correlation"]["estimate"] == pytest.approx(0.25)
    assert c["same_class"]["estimate"] == pytest.approx(0.5)
    assert c["smooth_vs_relu"]["estimate"] == pytest.approx(0.5)
    assert math.isnan(c["eff_contrast"]["estimate"])  # one plane only: too few
    assert rec["comparisons"]["mnist-relu"]["contrast"]["estimate"] == pytest.approx(0.0)
    assert rec["wall_s"]["total"] == pytest.approx(12.5)
    res = load_results("tiny", root=tmp_path / "paper")
    assert res.verdict("mnist-sigmoid", "contrast") == "supported"
    assert res.verdict("mnist-relu", "contrast") == "supported" or res.verdict("mnist-relu", "contrast") == "inconclusive"
    assert res.verdict("mnist-sigmoid", "eff_contrast") == "inconclusive"
    assert res.verdict("barlow", "contrast") == "not tested"
    t = res.table(["mnist-sigmoid"])
    assert t.loc[("MNIST MLP, sigmoid", "contrast"), "verdict"] == "supported"
    assert "+0.50 [+0.50, +0.50]" in res.verdict_lines(["mnist-sigmoid"])
    assert "0.900" in res.accuracy_line("mnist-sigmoid")
    assert res.planes["mnist-sigmoid/trained/area_contrast"].shape == (s.n_distinct + s.n_same,)
    fig = res.plot(["mnist-sigmoid", "mnist-relu"])
    assert len(fig.axes) == 4


def test_loader_missing_returns_none(tmp_path):
    assert load_results("reduced", root=tmp_path) is None


def test_summary_refuses_without_meta(tmp_path):
    with pytest.raises(FileNotFoundError, match="meta.pkl"):
        summarize_run("tiny", claims_settings("tiny"), work=tmp_path, out_dir=tmp_path)


def test_summary_rows_one_per_claim(tmp_path):
    from geomlib.experiments.claims.results import PAPER_CLAIMS, summary_rows
    s = _fake_run(tmp_path, shift=-0.5, relu_shift=0.0)
    summarize_run("tiny", s, work=tmp_path, out_dir=tmp_path / "paper")
    res = load_results("tiny", root=tmp_path / "paper")
    rows = summary_rows(res)
    assert len(rows) == len(PAPER_CLAIMS)
    by = {r["claim of the paper"]: r for r in rows}
    # a negative shift is the opposite of the claim: the verdict says so
    assert by["MNIST MLP: training magnifies area along decision boundaries"]["verdict at this scale"] == "not supported"
    assert by["MNIST MLP: training magnifies area along decision boundaries"]["mean [95% CI]"] == "-0.50 [-0.50, -0.50]"
    assert by["ResNet: layer by layer (stages 1-4)"]["verdict at this scale"] == "not tested"
    assert by["SimCLR: area grows with (probe) entropy"]["verdict at this scale"] == "not tested"


def test_no_boundary_at_init_falls_back_to_trained_contrast(tmp_path):
    from geomlib.experiments.claims.results import summary_rows
    s = _fake_run(tmp_path, shift=0.5)
    # make every initial contrast undefined (a network predicting one class everywhere at init)
    from geomlib.experiments.claims.pieces import load_pieces
    for name in ("mnist-sigmoid", "mnist-relu"):
        path = scan_file(tmp_path, name, 0, s.mlp)
        recs = load_pieces(path)
        for r in recs.values():
            r["area"] = {**r["area"], "contrast": float("nan")}
        _save(recs, path)
    summarize_run("tiny", s, work=tmp_path, out_dir=tmp_path / "paper")
    res = load_results("tiny", root=tmp_path / "paper")
    assert res.comparison("mnist-sigmoid", "contrast").n == 0
    assert res.resolved("mnist-sigmoid", "contrast") == "contrast_trained"
    c = res.comparison("mnist-sigmoid", "contrast_trained")
    # trained distinct-class contrasts are 0.1 i + 0.5 over the distinct planes
    kinds = res.planes["mnist-sigmoid/kind"]
    expect = np.mean([0.1 * i + 0.5 for i in range(len(kinds)) if kinds[i] == "distinct"])
    assert c.estimate == pytest.approx(expect)
    row = {r["claim of the paper"]: r for r in summary_rows(res)}["MNIST MLP: training magnifies area along decision boundaries"]
    assert "after training" in row["statistic"] and row["verdict at this scale"] == "supported"
    assert "after training, against 0" in res.verdict_lines(["mnist-sigmoid"])


def test_checkpoint_key_depends_on_training_fields_only():
    """Grids, plane counts and scan dtypes rescan without retraining; training settings retrain."""
    from geomlib.cache import artifact_key
    from geomlib.experiments.claims.settings import training_fields
    s = claims_settings("reduced")
    for part in (s.mlp, s.deep):
        key = artifact_key(training_fields(part), with_source=False)
        rescan = replace(part, n=part.n + 3, n_eff=part.n_eff + 1, eff_planes=part.eff_planes + 2)
        assert artifact_key(training_fields(rescan), with_source=False) == key
        assert scan_file(Path("."), "m", 0, rescan) != scan_file(Path("."), "m", 0, part)
        retrain = replace(part, batch_size=part.batch_size * 2)
        assert artifact_key(training_fields(retrain), with_source=False) != key


def test_two_seeds_average_each_plane_and_keep_each_seed(tmp_path):
    s = _fake_run(tmp_path, shift=0.5, extra={1402: 0.3})
    rec = json.loads(summarize_run("tiny", s, work=tmp_path, out_dir=tmp_path / "paper").read_text())
    assert rec["seeds"] == [1401, 1402]
    assert rec["comparisons"]["mnist-sigmoid"]["contrast"]["estimate"] == pytest.approx(0.4)  # (0.5 + 0.3) / 2
    by = rec["comparisons_by_seed"]
    assert by["1401"]["mnist-sigmoid"]["contrast"]["estimate"] == pytest.approx(0.5)
    assert by["1402"]["mnist-sigmoid"]["contrast"]["estimate"] == pytest.approx(0.3)
    res = load_results("tiny", root=tmp_path / "paper")
    assert "seed 1402: +0.30 [+0.30, +0.30]" in res.seed_lines(["mnist-sigmoid"])
    assert res.planes["mnist-sigmoid/seed1402/trained/area_contrast"].shape == (10,)


def test_unfinished_extra_seed_is_left_out(tmp_path):
    s = _fake_run(tmp_path, shift=0.5, extra={1402: 0.3}, extra_planes=4)
    rec = json.loads(summarize_run("tiny", s, work=tmp_path, out_dir=tmp_path / "paper").read_text())
    assert rec["seeds"] == [1401]
    assert rec["comparisons"]["mnist-sigmoid"]["contrast"]["estimate"] == pytest.approx(0.5)
    assert rec["comparisons_by_seed"] == {}
    assert load_results("tiny", root=tmp_path / "paper").seed_lines(["mnist-sigmoid"]) == ""


def test_same_class_change_alone_has_no_verdict_and_empty_rows_say_so(tmp_path):
    """The paper predicts *no* magnification on same-class planes: the change there alone is shown
    without a direction (a rise must not read 'supported'); rows without a usable plane say why."""
    s = _fake_run(tmp_path, shift=0.5)
    summarize_run("tiny", s, work=tmp_path, out_dir=tmp_path / "paper")
    res = load_results("tiny", root=tmp_path / "paper")
    table = res.table(["mnist-sigmoid"])
    assert table.loc[("MNIST MLP, sigmoid", "contrast_same"), "verdict"].startswith("descriptive")
    assert table.loc[("MNIST MLP, sigmoid", "contrast"), "verdict"] == "supported"
    rec = dict(res.record)
    rec["comparisons"] = {"mnist-sigmoid": {**rec["comparisons"]["mnist-sigmoid"], "contrast": {
        **rec["comparisons"]["mnist-sigmoid"]["contrast"], "estimate": math.nan, "ci_low": math.nan,
        "ci_high": math.nan, "p_value": math.nan, "n": 0}}}
    empty = type(res)(rec, res.planes, res.path)
    assert empty.table(["mnist-sigmoid"]).loc[("MNIST MLP, sigmoid", "contrast"), "verdict"] == "inconclusive (no usable plane)"


def test_layerwise_row_names_the_stages_of_each_verdict(tmp_path):
    from geomlib.experiments.claims.results import summary_rows
    s = _fake_run(tmp_path, shift=0.5)
    summarize_run("tiny", s, work=tmp_path, out_dir=tmp_path / "paper")
    res = load_results("tiny", root=tmp_path / "paper")
    one = lambda est, lo, hi, p: {"kind": "one-sample", "estimate": est, "ci_low": lo, "ci_high": hi, "p_value": p,
                                  "n": 64, "n_dropped": 0, "confidence": 0.95, "n_a": None, "n_b": None}
    undefined = {**one(math.nan, math.nan, math.nan, math.nan), "kind": "paired", "n": 0}
    comps = {}
    for k, c in ((1, one(-0.11, -0.14, -0.06, 2e-4)), (2, one(-0.11, -0.14, -0.07, 2e-4)),
                 (3, one(0.04, 0.01, 0.08, 0.01)), (4, one(0.17, 0.14, 0.20, 2e-4))):
        comps[f"stage{k}_contrast"], comps[f"stage{k}_trained"] = undefined, c
    rec = {**res.record, "comparisons": {**res.record["comparisons"], "resnet-gelu": comps}}
    row = {r["claim of the paper"]: r for r in summary_rows(type(res)(rec, res.planes, res.path))}["ResNet: layer by layer (stages 1-4)"]
    assert row["verdict at this scale"] == "inconclusive (stages 3, 4 supported; stages 1, 2 not supported)"
    assert row["mean [95% CI]"].startswith("s1 (trained): -0.11 [-0.14, -0.06]")


def test_seed_lines_give_n_and_p(tmp_path):
    s = _fake_run(tmp_path, shift=0.5, extra={1402: 0.3})
    summarize_run("tiny", s, work=tmp_path, out_dir=tmp_path / "paper")
    line = load_results("tiny", root=tmp_path / "paper").seed_lines(["mnist-sigmoid"])
    assert "seed 1402: +0.30 [+0.30, +0.30] (n = 6, p = " in line


def test_provenance_names_each_invocation_and_its_commit(tmp_path):
    s = _fake_run(tmp_path, shift=0.5)
    (tmp_path / "wall.log").write_text("1796077299 3241.9 done df1b855abc 0 # includes pauses\n"
                                       "1796080603 448.1 running ? \n1796081463 60 done\n")
    rec = json.loads(summarize_run("tiny", s, work=tmp_path, out_dir=tmp_path / "paper").read_text())
    inv = rec["invocations"]
    assert [i["commit"] for i in inv] == ["df1b855abc", None, None]
    assert inv[0]["started_utc"] == "2026-11-30T22:21:39Z" and inv[0]["dirty"] is False
    assert inv[0]["note"] == "includes pauses" and inv[1]["status"] == "running"
    assert rec["wall_s"]["total"] == pytest.approx(3241.9 + 448.1 + 60)
    line = load_results("tiny", root=tmp_path / "paper").provenance_line()
    assert "commit df1b855abc, includes pauses" in line and "commit unknown" in line and "over 3 invocation(s)" in line


def test_models_subset_keeps_the_other_models_in_the_meta():
    from geomlib.experiments.claims.run import merge_meta
    old = {"accuracy": {"a": 1, "b": 2}, "accuracy_seeds": {"1401": {"a": 1, "b": 2}}, "seeds": [1401],
           "anchors": {"a": "A", "b": "B"}, "epochs": {"a": [0, 1], "b": [0, 1]}, "eff_planes": {"a": [0], "b": [0]}}
    kw = dict(first_seed=1401, seed_order=(1401, 1402), data={})
    new = merge_meta(old, seed=1401, accuracy={"a": 9}, anchors={"a": "A2"}, epochs={"a": [0, 3]}, eff_planes={"a": [1]}, **kw)
    assert new["accuracy"] == {"a": 9, "b": 2} and new["anchors"] == {"a": "A2", "b": "B"}
    assert new["epochs"] == {"a": [0, 3], "b": [0, 1]} and new["eff_planes"] == {"a": [1], "b": [0]}
    later = merge_meta(new, seed=1402, accuracy={"b": 5}, anchors={"b": "B"}, epochs={"b": [0, 1]}, eff_planes={"b": [0]}, **kw)
    assert later["seeds"] == [1401, 1402] and later["accuracy"] == {"a": 9, "b": 2}
    assert later["accuracy_seeds"] == {"1401": {"a": 9, "b": 2}, "1402": {"b": 5}}


def test_summarize_only_without_pieces_exits_cleanly(tmp_path, monkeypatch):
    from geomlib.experiments.claims.__main__ import main
    monkeypatch.setenv("GEOMLIB_ARTIFACTS", str(tmp_path))
    with pytest.raises(SystemExit) as e:
        main(["--profile", "tiny", "--summarize-only", "--out-dir", str(tmp_path / "paper")])
    assert "GEOMLIB_ARTIFACTS" in str(e.value.code) and "claims_tiny" in str(e.value.code)
    assert not (tmp_path / "claims_tiny").exists() and not (tmp_path / "paper").exists()


def test_seed_disagreement_is_flagged_and_stage_without_planes_keeps_its_key(tmp_path):
    from geomlib.experiments.claims.results import n_and_p, summary_rows
    s = _fake_run(tmp_path, shift=0.5, extra={1402: -0.5})
    summarize_run("tiny", s, work=tmp_path, out_dir=tmp_path / "paper")
    res = load_results("tiny", root=tmp_path / "paper")
    # the average is 0, but the seeds go opposite ways: the verdict line and the summary say so
    assert res.seeds_differ("mnist-sigmoid", "contrast") == " (seeds differ: 1401 supported, 1402 not supported)"
    assert "seeds differ: 1401 supported, 1402 not supported" in res.verdict_lines(["mnist-sigmoid"])
    row = {r["claim of the paper"]: r for r in summary_rows(res)}["MNIST MLP: training magnifies area along decision boundaries"]
    assert row["verdict at this scale"].endswith("(seeds differ: 1401 supported, 1402 not supported)")
    assert res.seeds_differ("mnist-sigmoid", "correlation") == " (seeds differ: 1401 supported, 1402 not supported)"
    assert n_and_p(res.comparison("mnist-sigmoid", "same_class")).startswith("n = 6 vs 4, p = ")
    # a stage with no usable plane before or after training stays itself (no KeyError in chapter 40)
    undefined = {"kind": "paired", "estimate": math.nan, "ci_low": math.nan, "ci_high": math.nan, "p_value": math.nan,
                 "n": 0, "n_dropped": 6, "confidence": 0.95, "n_a": None, "n_b": None}
    rec = {**res.record, "comparisons": {**res.record["comparisons"],
                                         "resnet-gelu": {"stage1_contrast": undefined, "stage1_trained": undefined}}}
    r2 = type(res)(rec, res.planes, res.path)
    assert r2.stage_key("resnet-gelu", "stage1_contrast") == "stage1_contrast"
    assert n_and_p(r2.comparison("resnet-gelu", "stage1_contrast")) == "n = 0, p = n/a"
