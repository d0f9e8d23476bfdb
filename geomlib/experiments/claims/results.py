"""Summary of the claims run: per-plane arrays, the paired statistics of each claim with their
intervals and verdicts (:mod:`geomlib.stats.paired`), provenance; saved to
``artifacts/paper/claims-<profile>.json`` (statistics, verdicts, accuracies, provenance) and
``claims-<profile>.npz`` (per-plane statistics), and loaded and rendered by the chapters.

Claims (expected sign +1: the claim predicts a positive difference):

| id | claim of the paper | statistic (over planes) | comparison |
|---|---|---|---|
| ``contrast`` | training magnifies areas along decision boundaries | boundary contrast of the log10 area element, trained minus init, distinct-class planes | paired |
| ``correlation`` | area grows with prediction entropy | Pearson r(log10 area, entropy), trained minus init, distinct-class planes | paired |
| ``same_class`` | not for same-class planes | the trained-minus-init change of the contrast, distinct-class minus same-class planes | independent |
| ``smooth_vs_relu`` | weaker (or different) for ReLU | the change of the contrast, smooth (sigmoid/GELU) minus ReLU, same anchors | paired |
| ``stage_s`` | layer by layer (ResNet stages 1-4) | per-stage contrast, trained minus init | paired |
| ``eff_contrast`` | the same with the authors' effective volume (subset) | as ``contrast`` | paired |
| ``contrast_same`` | (shown, no verdict: the paper predicts no change) | the change of the contrast on same-class planes alone | paired |
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ...cache import showcase_dir
from ...stats.paired import MIN_N, independent_difference, one_sample, paired_difference, verdict

SMOOTH_PAIRS = {"mnist-sigmoid": "mnist-relu", "resnet-gelu": "resnet-relu"}
LABELS = {"mnist-sigmoid": "MNIST MLP, sigmoid", "mnist-relu": "MNIST MLP, ReLU",
          "resnet-gelu": "ResNet-18, GELU", "resnet-relu": "ResNet-18, ReLU",
          "barlow": "Barlow Twins (GELU)", "simclr": "SimCLR (GELU)"}
CLAIM_TEXT = {
    "contrast": "training magnifies area at the boundaries (contrast, trained - init)",
    "correlation": "area correlates with entropy after training (Pearson r, trained - init)",
    "same_class": "the effect is specific to planes that cross classes (change, distinct - same)",
    "smooth_vs_relu": "the effect is weaker with ReLU (change, smooth - ReLU)",
    "eff_contrast": "effective volume (authors'): contrast, trained - init (subset of planes)",
    "contrast_trained": "boundary contrast after training, against 0 (undefined at init: no class change on the planes)",
    "eff_contrast_trained": "effective volume (authors'): contrast after training, against 0 (undefined at init; subset)",
    "same_class_trained": "contrast after training, distinct - same-class planes (undefined at init)",
    "smooth_vs_relu_trained": "contrast after training, smooth - ReLU (undefined at init)",
}


def n_and_p(c) -> str:
    """``n = 60, p = 0.0002`` (``n = 60 vs 25`` for two groups; ``p = n/a`` when undefined)."""
    n = f"{c.n_a} vs {c.n_b}" if c.kind == "independent" and c.n_a is not None else f"{c.n}"
    return f"n = {n}, p = {'n/a' if not math.isfinite(c.p_value) else f'{c.p_value:.2g}'}"


def _stack(recs: dict, n_planes: int, key) -> np.ndarray:
    out = np.full(n_planes, np.nan)
    for i, r in recs.items():
        v = key(r)
        out[int(i)] = np.nan if v is None else float(v)
    return out


def plane_arrays(wd: Path, name: str, epochs, part, n_planes: int, seed_tag: str = "",
                 anchors: list | None = None) -> dict:
    """Per-plane statistics of model ``name`` (training seed ``seed_tag``) as arrays over the plane
    index (NaN: not scanned). ``anchors``: the run's planes; a piece scanned on other images raises
    ``ValueError`` (its statistics must not be averaged with another seed's plane)."""
    from .pieces import load_pieces, scan_file, stale_planes
    out = {}
    for e, tag in zip(epochs, ("init", "trained")):
        path = scan_file(wd, name, e, part, seed_tag)
        recs = load_pieces(path)
        if anchors is not None:
            bad = stale_planes(recs, anchors)
            if bad:
                raise ValueError(f"{path.name}: planes {bad[:5]}{'...' if len(bad) > 5 else ''} were scanned on other "
                                 f"images than the run's anchors; rerun `python -m geomlib.experiments.claims` to rescan them")
        for meas in ("area", "eff"):
            for stat in ("contrast", "pearson", "spearman"):
                out[f"{tag}/{meas}_{stat}"] = _stack(recs, n_planes, lambda r: (r.get(meas) or {}).get(stat))
        stages = sorted({s for r in recs.values() for s in (r.get("stages") or {})})
        for s in stages:
            out[f"{tag}/stage{s}_contrast"] = _stack(recs, n_planes, lambda r: (r["stages"].get(s) or {}).get("contrast"))
            out[f"{tag}/stage{s}_pearson"] = _stack(recs, n_planes, lambda r: (r["stages"].get(s) or {}).get("pearson"))
        out[f"{tag}/scanned"] = _stack(recs, n_planes, lambda r: 1.0) == 1.0
    return out


def mean_over_seeds(per_seed: list[dict]) -> dict:
    """Average each plane's statistics over training seeds (NaN if any seed's is undefined: a
    plane counts only where every seed defines it); ``scanned``: scanned for every seed."""
    keys = sorted(set().union(*per_seed))
    out = {}
    for k in keys:
        stack = np.stack([a[k] if k in a else np.full_like(per_seed[0][next(iter(per_seed[0]))], np.nan, dtype=float)
                          for a in per_seed])
        out[k] = stack.all(0) if k.endswith("/scanned") else stack.astype(float).mean(0)
    return out


HEADLINE = ("contrast", "correlation", "contrast_trained", "same_class", "smooth_vs_relu")


def _claims_of(arrays: dict, kinds: np.ndarray, seed: int) -> dict:
    d, s = kinds == "distinct", kinds == "same"
    res = {}
    for name, arr in arrays.items():
        a = arr
        c = {}
        c["contrast"] = paired_difference(a["trained/area_contrast"][d], a["init/area_contrast"][d], seed=seed)
        c["correlation"] = paired_difference(a["trained/area_pearson"][d], a["init/area_pearson"][d], seed=seed)
        c["contrast_same"] = paired_difference(a["trained/area_contrast"][s], a["init/area_contrast"][s], seed=seed)
        ch = a["trained/area_contrast"] - a["init/area_contrast"]
        c["same_class"] = independent_difference(ch[d], ch[s], seed=seed)
        c["eff_contrast"] = paired_difference(a["trained/eff_contrast"][d], a["init/eff_contrast"][d], seed=seed)
        c["eff_correlation"] = paired_difference(a["trained/eff_pearson"][d], a["init/eff_pearson"][d], seed=seed)
        for k in sorted(a):
            if k.startswith("trained/stage") and k.endswith("_contrast"):
                st = k.split("/")[1].split("_")[0]
                c[f"{st}_contrast"] = paired_difference(a[k][d], a[f"init/{st}_contrast"][d], seed=seed)
        if name in SMOOTH_PAIRS and SMOOTH_PAIRS[name] in arrays:
            r = arrays[SMOOTH_PAIRS[name]]
            chr_ = r["trained/area_contrast"] - r["init/area_contrast"]
            c["smooth_vs_relu"] = paired_difference(ch[d], chr_[d], seed=seed)
            c["smooth_vs_relu_trained"] = paired_difference(a["trained/area_contrast"][d], r["trained/area_contrast"][d],
                                                            seed=seed)
        # after training only: for networks whose initial predictions do not change over a plane
        # (e.g. a ResNet at initialisation predicting one class everywhere), the contrast at init
        # is undefined and so is the paired change; these compare the trained contrast with 0
        c["contrast_trained"] = one_sample(a["trained/area_contrast"][d], seed=seed)
        c["eff_contrast_trained"] = one_sample(a["trained/eff_contrast"][d], seed=seed)
        c["same_class_trained"] = independent_difference(a["trained/area_contrast"][d], a["trained/area_contrast"][s],
                                                         seed=seed)
        for k in sorted(a):
            if k.startswith("trained/stage") and k.endswith("_contrast"):
                st = k.split("/")[1].split("_")[0]
                c[f"{st}_trained"] = one_sample(a[k][d], seed=seed)
        res[name] = c
    return res


def wall_log(wd: Path) -> list[dict]:
    """The invocations recorded in ``<wd>/wall.log``: start (UTC), wall seconds, status, and the
    commit each ran at (``None`` where an older log did not record it; ``dirty`` ``None`` where
    unknown)."""
    path = wd / "wall.log"
    out = []
    for line in (path.read_text().splitlines() if path.exists() else []):
        line, _, note = line.partition(" # ")  # a note a person added to the line (pauses, reruns)
        f = line.split()
        if len(f) < 2:
            continue
        start = datetime.fromtimestamp(int(f[0]), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if f[0].isdigit() else f[0]
        out.append({"started_utc": start,
                    "wall_s": float(f[1]), "status": f[2] if len(f) > 2 else None,
                    "commit": f[3] if len(f) > 3 and f[3] != "?" else None,
                    "dirty": bool(int(f[4])) if len(f) > 4 and f[4] in ("0", "1") else None,
                    "note": note.strip() or None})
    return out


def summarize_run(profile: str, s, *, work: Path | None = None, out_dir: Path | None = None) -> Path:
    """Write ``<out_dir>/claims-<profile>.{json,npz}`` (default ``artifacts/paper``) from the
    finished pieces of the run in ``work`` (default :func:`~.run.work_dir`)."""
    from .pieces import MODELS, load_pieces, provenance, work_dir
    wd = work or work_dir(profile, create=False)
    meta = load_pieces(wd / "meta.pkl")
    if not meta:
        raise FileNotFoundError(
            f"no finished pieces of the {profile!r} claims run in {wd} (meta.pkl missing): run "
            f"`python -m geomlib.experiments.claims --profile {profile}` first, or point $GEOMLIB_ARTIFACTS "
            f"at the folder that holds claims_{profile}/")
    from .settings import seed_tag
    n_planes = s.n_distinct + s.n_same
    names = [n for n in MODELS if n in meta["epochs"]]
    parts = {n: s.mlp if n.startswith("mnist") else s.deep for n in names}
    per_seed = {sd: {n: plane_arrays(wd, n, meta["epochs"][n], parts[n], n_planes, seed_tag(s, sd), meta["anchors"][n])
                     for n in names}
                for sd in meta.get("seeds", [s.seed])}
    # the first seed always; a further seed only once every model has every plane at both snapshots
    seeds = [sd for sd in per_seed if sd == s.seed or all(
        per_seed[sd][n][f"{t}/scanned"].all() for n in names for t in ("init", "trained"))]
    arrays, npz = {}, {}
    for name in names:
        arrays[name] = mean_over_seeds([per_seed[sd][name] for sd in seeds])
        for k, v in arrays[name].items():
            npz[f"{name}/{k}"] = v
        if len(seeds) > 1:
            for sd in seeds:
                for k, v in per_seed[sd][name].items():
                    npz[f"{name}/seed{sd}/{k}"] = v
        npz[f"{name}/kind"] = np.array([a["kind"] for a in meta["anchors"][name]])
        npz[f"{name}/classes"] = np.array([a["classes"] for a in meta["anchors"][name]])
        npz[f"{name}/index"] = np.array([a["index"] for a in meta["anchors"][name]])
    kinds = np.array([a["kind"] for a in next(iter(meta["anchors"].values()))])
    comps = _claims_of(arrays, kinds, seed=s.seed)
    by_seed = {}
    if len(seeds) > 1:
        for sd in seeds:
            cs = _claims_of(per_seed[sd], kinds, seed=s.seed)
            by_seed[str(sd)] = {n: {k: v.as_dict() for k, v in c.items() if k in HEADLINE} for n, c in cs.items()}
    invocations = wall_log(wd)
    walls = [i["wall_s"] for i in invocations]
    record = {
        "profile": profile, "settings": s.params(), "provenance": provenance(), "data": meta["data"],
        "accuracy": meta["accuracy"], "epochs": meta["epochs"], "eff_planes": meta["eff_planes"],
        "seeds": seeds, "accuracy_seeds": {str(sd): meta.get("accuracy_seeds", {}).get(str(sd), meta["accuracy"] if sd == s.seed else {})
                                           for sd in seeds},
        "comparisons_by_seed": by_seed,
        "wall_s": {"invocations": walls, "total": sum(walls)},
        "invocations": invocations,
        "planes_scanned": {n: {t: int(a[f"{t}/scanned"].sum()) for t in ("init", "trained")} for n, a in arrays.items()},
        "planes_note": "per-plane statistics averaged over the training seeds in 'seeds'" if len(seeds) > 1 else None,
        "comparisons": {n: {k: v.as_dict() for k, v in c.items()} for n, c in comps.items()},
        "command": f"python -m geomlib.experiments.claims --profile {profile}",
    }
    out = (out_dir or showcase_dir()) / f"claims-{profile}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1, default=str))
    np.savez_compressed(out.with_suffix(".npz"), **npz)
    return out


# ---- loading and rendering (the chapters) ----

# The sign each comparison's claim predicts; ``None``: no direction predicted, shown without a verdict.
# ``contrast_same`` (the change on same-class planes alone) is such a row: the paper predicts *no*
# magnification there, which a test against 0 cannot confirm (an equivalence test would be needed);
# the claim is tested by ``same_class`` (distinct minus same).
EXPECTED = {"contrast": +1, "correlation": +1, "same_class": +1, "smooth_vs_relu": +1, "eff_contrast": +1,
            "eff_correlation": +1, "contrast_same": None}
DESCRIPTIVE = "descriptive (no direction predicted)"


def claim_verdict(c, claim: str) -> str:
    """The verdict on comparison ``c`` of ``claim``: :func:`geomlib.stats.paired.verdict` with the
    sign the claim predicts; ``DESCRIPTIVE`` for a claim without one; says when no plane was usable."""
    sign = EXPECTED.get(claim, +1)
    if c.n == 0:
        return ("n/a" if sign is None else "inconclusive") + " (no usable plane)"
    return DESCRIPTIVE if sign is None else verdict(c, sign)


@dataclass
class ClaimsResults:
    """The committed results: ``record`` (the JSON), ``planes`` (the per-plane arrays)."""

    record: dict
    planes: dict
    path: Path

    @property
    def models(self) -> list[str]:
        return list(self.record["comparisons"])

    def comparison(self, model: str, claim: str):
        from ...stats.paired import Comparison
        d = self.record["comparisons"].get(model, {}).get(claim)
        return None if d is None else Comparison(**d)

    def resolved(self, model: str, claim: str, alt: str | None = None) -> str:
        """``claim``, or its after-training-only variant ``alt`` (default ``<claim>_trained``) when
        fewer than :data:`~geomlib.stats.paired.MIN_N` planes have the paired change (no class change
        at init) and the variant has enough."""
        c = self.comparison(model, claim)
        alt = alt or f"{claim}_trained"
        if (c is None or c.n < MIN_N or (c.n_a or MIN_N) < MIN_N or (c.n_b or MIN_N) < MIN_N) \
                and self.comparison(model, alt) is not None:
            ca = self.comparison(model, alt)
            if ca.n >= MIN_N:
                return alt
        return claim

    def stage_key(self, model: str, key: str) -> str:
        """``stage<s>_contrast``, or ``stage<s>_trained`` (after training vs 0): :meth:`resolved`."""
        return self.resolved(model, key, alt=key.replace("_contrast", "_trained"))

    def seed_comparisons(self, model: str, claim: str) -> dict:
        """``{seed: Comparison}``: each training seed's own ``claim`` (empty for a one-seed run)."""
        from ...stats.paired import Comparison
        by = self.record.get("comparisons_by_seed") or {}
        return {sd: Comparison(**comps[model][claim]) for sd, comps in by.items() if claim in comps.get(model, {})}

    def seeds_differ(self, model: str, claim: str) -> str:
        """`` (seeds differ: 1401 supported, 1402 not supported)`` when the training seeds' own
        verdicts on ``claim`` differ, else ``""``: an average over seeds must not hide that."""
        vs = {sd: claim_verdict(c, claim) for sd, c in self.seed_comparisons(model, claim).items()}
        if len(set(vs.values())) > 1:
            return " (seeds differ: " + ", ".join(f"{sd} {v}" for sd, v in vs.items()) + ")"
        return ""

    def verdict(self, model: str, claim: str) -> str:
        c = self.comparison(model, claim)
        return "not tested" if c is None else claim_verdict(c, claim)

    def table(self, models) -> "pd.DataFrame":
        """One row per (model, claim): mean difference with its 95% CI, p-value, planes, verdict."""
        import pandas as pd
        rows = []
        for m in models:
            for claim, c in self.record["comparisons"].get(m, {}).items():
                cc = self.comparison(m, claim)
                rows.append({"model": LABELS.get(m, m), "comparison": claim, "mean [95% CI]": cc.interval(),
                             "p (perm.)": "n/a" if not math.isfinite(cc.p_value) else f"{cc.p_value:.3g}",
                             "planes": cc.n if cc.kind != "independent" else f"{cc.n_a} vs {cc.n_b}",
                             "verdict": self.verdict(m, claim)})
        return pd.DataFrame(rows).set_index(["model", "comparison"])

    def verdict_lines(self, models, claims=("contrast", "correlation", "same_class", "smooth_vs_relu")) -> str:
        """Markdown: one line per (model, claim) with its interval and verdict, written from the numbers."""
        out = []
        for m in models:
            for claim0 in claims:
                claim = self.resolved(m, claim0)
                c = self.comparison(m, claim)
                if c is None:
                    continue
                out.append(f"- **{LABELS.get(m, m)}**, {CLAIM_TEXT[claim]}: {c.interval()} "
                           f"({n_and_p(c)}) → **{self.verdict(m, claim)} at this scale**{self.seeds_differ(m, claim)}")
        return "\n".join(out)

    def accuracy_line(self, model: str) -> str:
        """Held-out (or linear-probe) accuracy at init and after training, per training seed."""
        seeds = self.record.get("seeds") or []
        if len(seeds) > 1:
            accs = [self.record["accuracy_seeds"].get(str(sd), {}).get(model, {}) for sd in seeds]
            which = "; seeds " + " / ".join(str(sd) for sd in seeds)
        else:
            accs, which = [self.record["accuracy"].get(model, {})], ""
        a = accs[0]

        def vals(key):
            return " / ".join(f"{x.get(key, math.nan):.3f}" for x in accs)
        if "test_acc" in a:
            return (f"{LABELS.get(model, model)}: held-out accuracy {vals('test_acc')} after training "
                    f"({vals('test_acc_init')} at init{which}), {a['n_train']} training / {a['n_test']} held-out images")
        if "probe_test_acc" in a:
            return (f"{LABELS.get(model, model)}: linear-probe held-out accuracy {vals('probe_test_acc')} after "
                    f"training ({vals('probe_test_acc_init')} on the features at init{which}), "
                    f"{a['n_train']} / {a['n_test']} images")
        return f"{LABELS.get(model, model)}: no accuracy recorded"

    def seed_lines(self, models, claims=("contrast", "correlation")) -> str:
        """Markdown: each training seed's own interval for the headline claims (empty for one seed)."""
        out = []
        for m in models:
            for claim0 in claims:
                claim = self.resolved(m, claim0)
                parts = [f"seed {sd}: {c.interval()} ({n_and_p(c)}; {claim_verdict(c, claim)})"
                         for sd, c in self.seed_comparisons(m, claim).items()]
                if parts:
                    out.append(f"- **{LABELS.get(m, m)}**, {CLAIM_TEXT[claim]}: " + "; ".join(parts))
        return "\n".join(out)

    def plot(self, models, measures=("area_contrast", "area_pearson")):
        """Per-plane init-vs-trained distributions: one panel per (measure, model); lines join the
        two values of a plane; distinct-class planes in blue, same-class in orange."""
        import matplotlib.pyplot as plt
        models = [m for m in models if f"{m}/kind" in self.planes]
        fig, axes = plt.subplots(len(measures), len(models), figsize=(3.2 * len(models), 2.8 * len(measures)),
                                 squeeze=False)
        for j, m in enumerate(models):
            kind = self.planes[f"{m}/kind"]
            for i, meas in enumerate(measures):
                ax = axes[i, j]
                a, b = self.planes[f"{m}/init/{meas}"], self.planes[f"{m}/trained/{meas}"]
                for k, (col, off) in {"distinct": ("C0", -0.12), "same": ("C1", 0.12)}.items():
                    sel = (kind == k) & np.isfinite(a) & np.isfinite(b)
                    for x0, x1 in zip(a[sel], b[sel]):
                        ax.plot([0 + off, 1 + off], [x0, x1], color=col, alpha=0.25, lw=0.8)
                    ax.scatter(np.full(sel.sum(), 0 + off), a[sel], s=8, color=col, label=f"{k}-class ({sel.sum()})")
                    ax.scatter(np.full(sel.sum(), 1 + off), b[sel], s=8, color=col)
                ax.axhline(0, color="k", lw=0.5)
                ax.set_xticks([0, 1], ["init", "trained"])
                ax.set_title(f"{LABELS.get(m, m)}\n{meas.replace('_', ' ')}", fontsize=9)
                if j == 0 and i == 0:
                    ax.legend(fontsize=7)
        fig.tight_layout()
        return fig

    def provenance_line(self) -> str:
        """Markdown: the command, each invocation (start, wall time, commit), and the summarising
        process (commit, CPU, threads, date)."""
        p, w = self.record["provenance"], self.record["wall_s"]

        def commit(c, dirty):
            return "commit unknown" if not c else f"commit {c[:10]}" + {
                True: " with uncommitted edits", None: " (uncommitted edits not recorded)"}.get(dirty, "")
        inv = self.record.get("invocations") or []
        status = {"running": ", still running or killed", "interrupted": ", interrupted", None: ""}
        runs = "; ".join(f"{i['started_utc']} for {i['wall_s'] / 60:.0f} min{status.get(i.get('status'), '')} at "
                         f"{commit(i['commit'], i['dirty'])}" + (f", {i['note']}" if i.get("note") else "") for i in inv)
        return (f"Run `{self.record['command']}`: wall time {w['total'] / 60:.0f} min over "
                f"{len(w['invocations'])} invocation(s){' (' + runs + ')' if runs else ''}. Summarised "
                f"{p.get('date_utc')} at {commit(p.get('commit'), p.get('dirty'))} on {p.get('cpu')} "
                f"({p.get('cpu_count')} cores; torch {p.get('torch')}, {p.get('torch_threads')} threads).")


def load_results(profile: str = "reduced", root: Path | None = None) -> ClaimsResults | None:
    """The committed results of ``profile``, or ``None`` when ``claims-<profile>.json`` is absent."""
    base = (root or showcase_dir()) / f"claims-{profile}.json"
    if not base.exists() or not base.with_suffix(".npz").exists():
        return None
    record = json.loads(base.read_text())
    with np.load(base.with_suffix(".npz"), allow_pickle=False) as z:
        planes = {k: z[k] for k in z.files}
    return ClaimsResults(record, planes, base)


STAGE_TEXT = {"contrast": "per-stage contrast, trained - init (layerwise claim)",
              "trained": "per-stage contrast after training, against 0 (layerwise claim; undefined at init: no class change)"}


def render_section(models, *, profile: str = "reduced", stages: bool = False, root: Path | None = None) -> ClaimsResults | None:
    """Display the committed results of ``models`` in a chapter: provenance, accuracies, the
    per-plane figure, the CI table and one verdict line per claim (all from the numbers). When
    the results file is absent, say so and return ``None`` (the chapter does not fail)."""
    from IPython.display import Markdown, display
    import matplotlib.pyplot as plt
    res = load_results(profile, root=root)
    if res is None:
        display(Markdown(f"*The committed `{profile}` results (`artifacts/paper/claims-{profile}.json`) are not "
                         f"in this checkout; regenerate them with `python -m geomlib.experiments.claims --profile {profile}`.*"))
        return None
    models = [m for m in models if m in res.record["comparisons"]]
    lines = [res.provenance_line(), ""] + [f"- {res.accuracy_line(m)}" for m in models]
    sc, st = res.record["planes_scanned"], res.record["settings"]
    seeds = res.record.get("seeds") or [st.get("seed")]
    lines += ["", f"Training seeds: {', '.join(map(str, seeds))}"
              + (" (each plane's statistics averaged over them)" if len(seeds) > 1 else "")
              + f"; planes per model: {st['n_distinct']} distinct-class + {st['n_same']} same-class; "
              + "planes scanned (init / trained): " + "; ".join(f"{LABELS[m]} {sc[m]['init']} / {sc[m]['trained']}" for m in models)]
    display(Markdown("\n".join(lines)))
    fig = res.plot(models)
    plt.show()
    table = res.table(models)
    display(table)
    notes = []
    unscanned = [LABELS.get(m, m) for m in models if not sc[m]["init"] or not sc[m]["trained"]]
    if unscanned:
        notes.append(f"No planes scanned yet at both snapshots for {', '.join(unscanned)} (a partial run): "
                     "their rows are empty.")
    if (table["planes"].astype(str).isin(["0", "0 vs 0"])).any() and len(unscanned) < len(models):
        notes.append("Rows with `n/a` and 0 planes have no usable plane: the network predicts one class over every "
                     "plane at initialisation, so the boundary contrast there (and every change of it) is undefined; "
                     "the `..._trained` rows use the contrast after training instead (against 0, or between groups of planes).")
    if table["verdict"].eq(DESCRIPTIVE).any():
        moved = [f"{LABELS.get(m, m)} {c.interval()}" for m in models
                 if (c := res.comparison(m, "contrast_same")) is not None and c.n >= MIN_N
                 and c.p_value < 0.05 and (c.ci_low > 0 or c.ci_high < 0)]
        notes.append("`contrast_same` (the change on same-class planes alone) has no verdict: the paper predicts no "
                     "magnification there, which a test against 0 cannot confirm; `same_class` (distinct minus same) "
                     "tests the claim." + (f" It does move here, interval off 0: {'; '.join(moved)}; so the "
                                           "specificity holds only relatively, as the `same_class` row measures." if moved else ""))
    if notes:
        display(Markdown("\n\n".join(notes)))
    claims = ("contrast", "correlation", "same_class") + (("smooth_vs_relu",) if any(m in SMOOTH_PAIRS for m in models) else ())
    text = res.verdict_lines(models, claims)
    if stages:
        for m in models:
            st = sorted(k for k in res.record["comparisons"][m] if k.startswith("stage") and k.endswith("_contrast"))
            for k0 in st:
                k = res.stage_key(m, k0)
                c = res.comparison(m, k)
                text += (f"\n- **{LABELS[m]}**, {STAGE_TEXT[k.split('_')[-1]]}, stage {k[5:].split('_')[0]}: {c.interval()} "
                         f"({n_and_p(c)}) → **{res.verdict(m, k)} at this scale**")
    display(Markdown("**Verdicts at this scale** (supported: the whole 95% interval on the side the paper "
                     "predicts and permutation p < 0.05; not supported: both on the other side; inconclusive: otherwise):\n\n" + text))
    per_seed = res.seed_lines(models)
    if per_seed:
        display(Markdown(f"**Each training seed alone** (the verdicts above use each plane's average over the "
                         f"{len(seeds)} seeds):\n\n" + per_seed))
    return res


# ---- the summary page: one row per claim of the paper ----

SCALE = {
    "mnist": "MLP 784-2000-10, {mlp_train} MNIST images, {mlp_epochs} epochs; {planes} planes {mlp_n}x{mlp_n}",
    "resnet": "ResNet-18 x1/16, {deep_train} Fashion-MNIST images, {sup_epochs} epochs; {planes} planes {deep_n}x{deep_n}",
    "ssl": "ResNet-18 x1/16, {deep_train} Fashion-MNIST images, {ssl_epochs} epoch(s), linear probe; {planes} planes {deep_n}x{deep_n}",
}
PAPER_ADDS = {
    "mnist": "full MNIST, 200 epochs, 6 seeds, 60x60 planes (float64 training)",
    "resnet": "ResNet-34 on CIFAR-10, 200 epochs (GPU); the real dataset and a converged network",
    "ssl": "ResNet-34 on CIFAR-10, 1000 epochs (GPU); features that are actually good",
}
# (claim of the paper, chapter, model, comparison key, scale group)
PAPER_CLAIMS = (
    ("MNIST MLP: training magnifies area along decision boundaries", "31_mnist_planes", "mnist-sigmoid", "contrast", "mnist"),
    ("MNIST MLP: area grows with prediction entropy", "31_mnist_planes", "mnist-sigmoid", "correlation", "mnist"),
    ("MNIST MLP: the same with the authors' effective volume", "31_mnist_planes", "mnist-sigmoid", "eff_contrast", "mnist"),
    ("MNIST MLP: not on same-class planes", "31_mnist_planes", "mnist-sigmoid", "same_class", "mnist"),
    ("MNIST MLP: weaker for ReLU", "31_mnist_planes", "mnist-sigmoid", "smooth_vs_relu", "mnist"),
    ("ResNet: training magnifies area along decision boundaries", "40_resnet_planes", "resnet-gelu", "contrast", "resnet"),
    ("ResNet: area grows with prediction entropy", "40_resnet_planes", "resnet-gelu", "correlation", "resnet"),
    ("ResNet: the same with the authors' effective volume", "40_resnet_planes", "resnet-gelu", "eff_contrast", "resnet"),
    ("ResNet: layer by layer (stages 1-4)", "40_resnet_planes", "resnet-gelu", "stages", "resnet"),
    ("ResNet: not on same-class planes", "40_resnet_planes", "resnet-gelu", "same_class", "resnet"),
    ("ResNet: weaker for ReLU", "40_resnet_planes", "resnet-gelu", "smooth_vs_relu", "resnet"),
    ("Barlow Twins: magnification along (probe) boundaries", "41_barlow_twins", "barlow", "contrast", "ssl"),
    ("Barlow Twins: area grows with (probe) entropy", "41_barlow_twins", "barlow", "correlation", "ssl"),
    ("SimCLR: magnification along (probe) boundaries", "42_simclr", "simclr", "contrast", "ssl"),
    ("SimCLR: area grows with (probe) entropy", "42_simclr", "simclr", "correlation", "ssl"),
)


def summary_rows(res: ClaimsResults) -> list[dict]:
    """One row per claim of :data:`PAPER_CLAIMS`: where tested, scale, statistic with its 95%
    interval, verdict (from :func:`geomlib.stats.paired.verdict`), what ``paper`` would add."""
    st = res.record["settings"]
    acc = res.record["accuracy"]
    mnist_n = acc.get("mnist-sigmoid", {}).get("n_train", "?")
    fmt = dict(mlp_train=mnist_n, mlp_epochs=st["mlp"]["epochs"], deep_train=acc.get("resnet-gelu", {}).get("n_train", st["deep"]["n_train"] or "all"),
               sup_epochs=st["deep"]["sup_epochs"], ssl_epochs=st["deep"]["ssl_epochs"],
               planes=f"{st['n_distinct']}+{st['n_same']}", mlp_n=st["mlp"]["n"], deep_n=st["deep"]["n"])
    rows = []
    for claim, chapter, model, key, group in PAPER_CLAIMS:
        if key == "stages":
            keys = sorted(k for k in res.record["comparisons"].get(model, {}) if k.startswith("stage") and k.endswith("_contrast"))
            keys = [res.stage_key(model, k) for k in keys]
            cs = [(k, res.comparison(model, k)) for k in keys]
            stat = "; ".join(f"s{k[5:].split('_')[0]}{'' if k.endswith('_contrast') else ' (trained)'}: {c.interval()}"
                             for k, c in cs) or "n/a"
            vs = [res.verdict(model, k) for k in keys]
            if not vs:
                v = "not tested"
            elif all(x == "supported" for x in vs):
                v = "supported"
            elif all(x == "not supported" for x in vs):
                v = "not supported"
            else:
                def which(verd):
                    ks = [k[5:].split("_")[0] for k, x in zip(keys, vs) if x == verd]
                    return f"stage{'s' if len(ks) > 1 else ''} {', '.join(ks)} {verd}" if ks else ""
                v = "inconclusive (" + "; ".join(w for w in map(which, ("supported", "not supported", "inconclusive")) if w) + ")"
            n = cs[0][1].n if cs else 0
        else:
            key = res.resolved(model, key)
            c = res.comparison(model, key)
            stat = "n/a" if c is None else c.interval()
            v = res.verdict(model, key) + res.seeds_differ(model, key)
            n = 0 if c is None else (c.n if c.kind != "independent" else f"{c.n_a} vs {c.n_b}")
        rows.append({"claim of the paper": claim, "chapter": chapter, "statistic": STAT_NAMES.get(key, key),
                     "scale": SCALE[group].format(**fmt), "mean [95% CI]": stat, "planes": n,
                     "verdict at this scale": v, "what paper would add": PAPER_ADDS[group]})
    return rows


STAT_NAMES = {"contrast": "boundary contrast of log10 area, trained - init",
              "correlation": "Pearson r(log10 area, entropy), trained - init",
              "eff_contrast": "boundary contrast of the effective volume, trained - init (subset)",
              "same_class": "change of contrast, distinct-class - same-class planes",
              "smooth_vs_relu": "change of contrast, smooth - ReLU (same planes)",
              "stages": "per-stage boundary contrast, trained - init (after training vs 0 where init has no class change)",
              "contrast_trained": "boundary contrast of log10 area after training, vs 0 (init: no class change)",
              "eff_contrast_trained": "boundary contrast of the effective volume after training, vs 0 (subset; init: no class change)",
              "same_class_trained": "contrast after training, distinct - same-class planes (init: no class change)",
              "smooth_vs_relu_trained": "contrast after training, smooth - ReLU (init: no class change)"}
