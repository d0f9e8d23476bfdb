"""The claims run (issue 14): train each model once, scan many paired planes at initialisation and
after training, and keep every finished piece so that an interrupted run continues.

Models (names used everywhere in the results):

| model | network | data | readout of the planes |
|---|---|---|---|
| ``mnist-sigmoid`` / ``mnist-relu`` | ``[784, 2000, 10]`` MLP | MNIST as the MNIST chapters load it | its softmax |
| ``resnet-gelu`` / ``resnet-relu`` | ResNet-18 x1/16, supervised | Fashion-MNIST (the CIFAR-10 substitute) | its softmax |
| ``barlow`` / ``simclr`` | ResNet-18 x1/16 GELU, self-supervised | Fashion-MNIST | a linear probe per snapshot |

Per plane the record holds the boundary contrast and the Pearson/Spearman correlation of the
two-JVP log10 area element with the prediction entropy (:func:`geomlib.experiments.imaging.measure.plane_stats`),
the same for the authors' effective volume on the first planes, and for ``resnet-gelu`` per stage.
Pieces live under ``<artifacts>/claims_<profile>/`` (ignored by git; keyed by explicit names,
not by geomlib's source hash, so editing the book does not restart the run).
"""
from __future__ import annotations

import json
import math
import os
import threading
import time
import warnings
from pathlib import Path

import torch

from ...book.profiles import seed_everything
from ...cache import artifact_key
from ...numeric import Plane, effective_log10_volume, induced_log_volume
from ...stats.planes import entropy_from_logits
from ..imaging.measure import plane_stats, scan_plane
from .pieces import (MODELS, load_pieces, plane_anchors, plane_order, provenance, save_pieces,
                     scan_file, stale_planes, work_dir)
from .settings import ClaimsSettings, claims_settings, seed_tag, training_fields

LN10 = math.log(10.0)








# ---- MNIST MLP ----

def mlp_scan(model, x: torch.Tensor, *, n: int, n_eff: int, k: int) -> dict:
    """Plane through ``x`` (``[3, 784]`` float64) for a :class:`ShallowMLP` (float64)."""
    from ..mnist.run import feature_module
    phi = feature_module(model)
    plane = Plane(x[0], x[1], x[2], n=n)
    pts = plane.points()
    with torch.no_grad():
        logits = model(pts)
    pred = logits.argmax(-1).numpy().reshape(n, n)
    ent = entropy_from_logits(logits).numpy().reshape(n, n)
    area = (induced_log_volume(phi, pts, plane.directions) / LN10 - math.log10(plane.chart_area_factor)).numpy()
    out = {"pred": pred, "entropy": ent, "log10_area": area.reshape(n, n),
           "stats_area": plane_stats(area.reshape(n, n), ent, pred)}
    if n_eff:
        pe = Plane(x[0], x[1], x[2], n=n_eff)
        pts = pe.points()
        with torch.no_grad():
            lg = model(pts)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*exceeds the numerical rank.*")
            vol = effective_log10_volume(phi, pts, k, method="auto").numpy().reshape(n_eff, n_eff)
        out["stats_eff"] = plane_stats(vol, entropy_from_logits(lg).numpy().reshape(n_eff, n_eff),
                                       lg.argmax(-1).numpy().reshape(n_eff, n_eff))
    return out


class MLPModel:
    """An MNIST MLP of the claims run: trains (cached) and scans its planes at initialisation and after training."""

    def __init__(self, name: str, s: ClaimsSettings, data, wd: Path, progress: bool, seed: int):
        from ..models.mlp import ShallowMLP
        from ..training import fit, minibatches
        from ..mnist.run import _train_subset
        self.name, self.s, self.data = name, s, data
        self.act = name.split("-")[1]
        p = s.mlp
        x, y = _train_subset(data, p.n_train, s.seed)
        x, y = x.float(), y
        tx, ty = data.test_x.float(), data.test_y
        seed_everything(seed)
        model = ShallowMLP(784, p.width, 10, self.act, dtype=torch.float32)
        opt = torch.optim.Adam(model.parameters(), lr=p.lr, weight_decay=p.weight_decay)

        def step(m, batch):
            return torch.nn.functional.cross_entropy(m(batch[0]), batch[1])

        def evaluate(m):
            with torch.no_grad():
                return {"test_acc": m(tx).argmax(-1).eq(ty).double().mean().item(),
                        "train_acc": m(x[:5000]).argmax(-1).eq(y[:5000]).double().mean().item()}
        self.result = fit(model, step, minibatches(x, y, p.batch_size, seed, drop_last=False), opt,
                          epochs=p.epochs, snapshot_epochs=(p.epochs,),
                          checkpoint=wd / f"{name}{seed_tag(s, seed)}-{artifact_key(training_fields(p), with_source=False)}.ckpt",
                          progress=progress, desc=name, eval_fn=evaluate, eval_every=max(1, p.epochs // 5),
                          seed=seed)
        self.n_train = len(y)
        self.epochs = (0, p.epochs)
        self.test_labels = ty.numpy()

    def accuracy(self) -> dict:
        ev = self.result.evals
        return {"test_acc_init": ev["test_acc"][0], "test_acc": ev["test_acc"][-1], "train_acc": ev["train_acc"][-1],
                "n_train": self.n_train, "n_test": len(self.test_labels), "train_wall_s": self.result.wall_s}

    def scanner(self, epoch: int):
        from ..models.mlp import ShallowMLP
        p = self.s.mlp
        m = ShallowMLP(784, p.width, 10, self.act, dtype=torch.float64)
        m.load_state_dict({k: v.double() for k, v in self.result.snapshots[epoch].items()})
        m.eval()

        def scan(anchor: dict, eff: bool) -> dict:
            x = self.data.test_x[anchor["index"]].double()
            return mlp_scan(m, x, n=p.n, n_eff=p.n_eff if eff else 0, k=p.k_eff)
        return scan


# ---- ResNets on Fashion-MNIST ----

class DeepModel:
    """A ResNet (supervised or self-supervised) of the claims run: trains (cached) and scans its planes."""

    def __init__(self, name: str, s: ClaimsSettings, data, wd: Path, progress: bool, seed: int):
        from ..imaging.run import train_deep
        from ..imaging.settings import DeepRecipe
        self.name, self.s = name, s
        p = s.deep
        if name.startswith("resnet"):
            from ..deep.run import SUPERVISED as method
            act, meth, epochs = name.split("-")[1], "supervised", p.sup_epochs
        else:
            from ..ssl.run import METHODS
            method, act, meth, epochs = METHODS[name], "gelu", name, p.ssl_epochs
        self.recipe = DeepRecipe(method=meth, profile=s.profile, depth=18, width=p.width, act=act,
                                 n_train=p.n_train, n_test=p.n_test, epochs=epochs, batch_size=p.batch_size,
                                 snapshot_epochs=(epochs,), drop_last=meth != "supervised", seed=seed)
        self.run = train_deep(self.recipe, data, method, progress=progress, checkpoint=wd / f"{name}{seed_tag(s, seed)}-{artifact_key(training_fields(p), with_source=False)}.ckpt")
        self.epochs = (0, epochs)
        # The planes' anchors come from one held-out subset for every training seed (drawn with the
        # run's first seed, as seed 1401's own), so each seed scans the same images and a plane's
        # statistics can be averaged over seeds; the run's own held-out subset (drawn with its
        # training seed) still gives its accuracy.
        from ..imaging.run import _subset
        te = _subset(data.test_y, p.n_test, s.seed + 1)
        self.scan_x, self.test_labels = data.test_x[te], data.test_y[te].numpy()
        self._probes = {}

    def readout(self, epoch: int, model):
        if self.recipe.method == "supervised":
            return self.run.readout_at(epoch, model)
        from ..ssl.measure import probe_readout
        return probe_readout(self.probe(epoch))

    def probe(self, epoch: int):
        if epoch not in self._probes:
            self._probes[epoch] = self.run.probe_at(epoch)
        return self._probes[epoch]

    def accuracy(self) -> dict:
        out = {"n_train": int(len(self.run.prep.train_y)), "n_test": int(len(self.test_labels)),
               "train_wall_s": self.run.result.wall_s, "recipe": self.recipe.describe()}
        ev = self.run.result.evals
        if "test_acc" in ev:
            out.update(test_acc_init=ev["test_acc"][0], test_acc=ev["test_acc"][-1])
        else:
            for e, tag in zip(self.epochs, ("_init", "")):
                pr = self.probe(e)
                out[f"probe_test_acc{tag}"] = pr.test_accuracy
                out[f"probe_train_acc{tag}"] = pr.train_accuracy
        return out

    def scanner(self, epoch: int):
        p = self.s.deep
        model = self.run.model_at(epoch)
        readout = self.readout(epoch, model)
        stages = p.stages if self.name == "resnet-gelu" else ()

        def scan(anchor: dict, eff: bool) -> dict:
            x = self.run.prep.net_input(self.scan_x[anchor["index"]].double())
            out = scan_plane(model, x, readout, n=p.n, n_eff=p.n_eff if eff else 0, stages=stages,
                             spectra=False, dtype=getattr(torch, p.dtype))
            out["stats_stages"] = {s: plane_stats(g, out["entropy"], out["pred"]) for s, g in out["stages"].items()}
            return out
        return scan


def build(name: str, s: ClaimsSettings, data: dict, wd: Path, progress: bool, seed: int | None = None):
    """The model wrapper (:class:`MLPModel` or :class:`DeepModel`) for a run name and training seed."""
    seed = s.seed if seed is None else seed
    if name.startswith("mnist"):
        return MLPModel(name, s, data["mnist"], wd, progress, seed)
    return DeepModel(name, s, data["images"], wd, progress, seed)


def _record(anchor: dict, out: dict) -> dict:
    rec = {**anchor, "area": out["stats_area"], "eff": out.get("stats_eff"),
           "stages": out.get("stats_stages") or {}}
    return rec





def merge_meta(old: dict, *, seed: int, first_seed: int, seed_order, accuracy: dict, anchors: dict, epochs: dict,
               eff_planes: dict, data: dict) -> dict:
    """The run's meta after training ``seed`` on the models in ``accuracy`` (and its other
    per-model dicts), merged model by model with ``old`` (what earlier invocations recorded): a run
    on a subset of the models (``--models``) adds or refreshes those and never drops the others
    from the summary."""
    acc_seeds = old.get("accuracy_seeds", {})
    return {"accuracy": {**old.get("accuracy", {}), **accuracy} if seed == first_seed else old.get("accuracy", accuracy),
            "accuracy_seeds": {**acc_seeds, str(seed): {**acc_seeds.get(str(seed), {}), **accuracy}},
            "seeds": sorted(set(old.get("seeds", [])) | {seed}, key=list(seed_order).index),
            "data": data,
            "anchors": {**old.get("anchors", {}), **anchors},
            "epochs": {**old.get("epochs", {}), **epochs},
            "eff_planes": {**old.get("eff_planes", {}), **eff_planes}}


def log(msg: str) -> None:
    """One time-stamped progress line on the terminal."""
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def run_claims(profile: str = "reduced", *, models=MODELS, progress: bool = False, threads: int | None = None,
               eff_planes: int | None = None, out_dir: Path | None = None) -> Path:
    """Train and scan every model of ``profile`` (resuming), then write the summary
    (:func:`geomlib.experiments.claims.results.summarize_run`). Returns the summary's path.
    ``eff_planes`` caps the number of planes with the effective volume for every model (it does not
    enter the checkpoint keys; planes already scanned keep theirs); the meta records what was used.
    ``models``: a subset trains and scans only those; the meta keeps the other models' records, so
    the summary still covers every model with finished pieces. ``out_dir``: where the summary goes
    (default ``artifacts/paper``). ``wall.log`` in the work folder records the invocation (see
    :func:`_progress`), refreshed every minute and marked ``interrupted`` on an exception or Ctrl-C."""
    if threads:
        torch.set_num_threads(int(threads))
    s = claims_settings(profile)
    wd = work_dir(profile)
    t0 = time.time()
    _progress(wd, t0)
    stop = threading.Event()
    # a heartbeat keeps wall.log within a minute of the truth even if the process is killed
    threading.Thread(target=lambda: [_progress(wd, t0) for _ in iter(lambda: stop.wait(60), True)],
                     daemon=True).start()
    status = "interrupted"
    try:
        out = _run(profile, s, wd, t0, models, progress, eff_planes, out_dir)
        status = "done"
        return out
    finally:
        stop.set()
        _progress(wd, t0, status=status)


def _run(profile, s, wd, t0, models, progress, eff_planes, out_dir) -> Path:
    from ..data import load_cifar10_or_substitute, load_mnist
    from .results import summarize_run
    data = {"mnist": load_mnist(verbose=True), "images": load_cifar10_or_substitute(verbose=True)}
    meta = load_pieces(wd / "meta.pkl")
    for seed in s.train_seeds:  # seed by seed: the first seed's results are complete first
        built = {}
        for name in models:
            log(f"train {name} (seed {seed})")
            built[name] = build(name, s, data, wd, progress, seed)
            log(f"  {name}: {json.dumps(built[name].accuracy(), default=str)}")
            _progress(wd, t0)
        anchors = {n: plane_anchors(m.test_labels, s.n_distinct, s.n_same, s.seed + 7) for n, m in built.items()}
        eff_sets = {}
        for n in built:
            k = s.mlp.eff_planes if n.startswith("mnist") else s.deep.eff_planes
            k = k if eff_planes is None else min(k, eff_planes)
            eff_sets[n] = set([i for i, a in enumerate(anchors[n]) if a["kind"] == "distinct"][:k])
        meta = merge_meta(meta, seed=seed, first_seed=s.seed, seed_order=s.train_seeds,
                          accuracy={n: m.accuracy() for n, m in built.items()}, anchors=anchors,
                          epochs={n: list(m.epochs) for n, m in built.items()},
                          eff_planes={n: sorted(v) for n, v in eff_sets.items()},
                          data={"mnist": data["mnist"].source, "images": data["images"].source})
        save_pieces(meta, wd / "meta.pkl")  # before the scans: an interrupted run can still be summarised
        _scan_all(s, wd, t0, built, anchors, eff_sets, seed_tag(s, seed))
    return summarize_run(profile, s, out_dir=out_dir)


def _scan_all(s: ClaimsSettings, wd: Path, t0: float, built: dict, anchors: dict, eff_sets: dict, tag: str) -> None:
    """Scan every model's planes at each snapshot, in rounds of 6 planes over the models (a partial
    run has planes for every model), saving each plane as it finishes."""
    orders = {n: plane_order(a) for n, a in anchors.items()}
    chunk = 6
    n_total = max(len(o) for o in orders.values())
    scanners = {}
    for start in range(0, n_total, chunk):
        for name, m in built.items():
            for epoch in m.epochs:
                path = scan_file(wd, name, epoch, s.mlp if name.startswith("mnist") else s.deep, tag)
                done = load_pieces(path)
                stale = stale_planes(done, anchors[name])
                if stale:  # scanned on other images (an older anchoring): rescan, never average them in
                    log(f"  {name}{tag} ep{epoch}: {len(stale)} planes were scanned on other images; rescanning them")
                    for i in stale:
                        del done[i]
                    save_pieces(done, path)
                todo = [i for i in orders[name][start:start + chunk] if i not in done]
                if not todo:
                    continue
                key = (name, epoch)
                if key not in scanners:
                    scanners[key] = m.scanner(epoch)
                t1 = time.time()
                for i in todo:
                    done[i] = _record(anchors[name][i], scanners[key](anchors[name][i], i in eff_sets[name]))
                    save_pieces(done, path)
                _progress(wd, t0)
                log(f"  {name}{tag} ep{epoch}: planes {len(done)}/{len(orders[name])} "
                    f"({(time.time() - t1) / len(todo):.1f} s/plane)")


_COMMITS: dict[int, str] = {}
_WALL_LOCK = threading.Lock()


def _progress(wd: Path, t0: float, status: str = "running") -> None:
    """Record this invocation's wall time so far in ``wall.log``: one line per invocation
    (``<start unix time> <seconds> <running|done|interrupted> <commit> <dirty: 0|1>``; ``running``
    on a finished invocation: killed without a chance to say so; optionally followed by
    `` # <note>`` that a person adds, e.g. about pauses), rewritten as it runs, so an interrupted
    invocation still counts and the summary can say which code made each part."""
    path = wd / "wall.log"
    tag = f"{int(t0)}"
    with _WALL_LOCK:  # the heartbeat thread and the main thread both write it
        if int(t0) not in _COMMITS:
            p = provenance()
            _COMMITS[int(t0)] = f"{p['commit'] or '?'} {int(p['dirty'])}"
        lines = path.read_text().splitlines() if path.exists() else []
        lines = [ln for ln in lines if not ln.startswith(tag + " ")]
        lines.append(f"{tag} {time.time() - t0:.1f} {status} {_COMMITS[int(t0)]}")
        lines.sort(key=lambda ln: (ln.split() or [""])[0].zfill(20))  # by start time
        tmp = path.with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + "\n")
        os.replace(tmp, path)
