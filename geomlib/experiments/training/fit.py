"""A generic, resumable training loop with snapshots at true initialisation (Methods: snapshots).

Unlike the authors' scripts (whose "epoch 0" is taken after one epoch, Methods: snapshots), snapshot 0 is the
model **before any step**. Checkpoints are written atomically (temp file + rename) and hold the
model, the optimiser, every RNG state, the snapshots, the history and the epoch reached, so a run
that is interrupted resumes where the last checkpoint left it and ends bit-identical to an
uninterrupted run (given ``batches(epoch)`` deterministic in the epoch, as
:func:`geomlib.experiments.training.batches.minibatches` is).
"""
from __future__ import annotations

import hashlib
import math
import os
import random
import sys
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch
from tqdm.std import tqdm

from ...cache import atomic_save, load
from ...book.profiles import seed_everything
from . import distributed

CHECKPOINT_VERSION = 1


@dataclass
class TrainResult:
    """What :func:`fit` returns.

    * ``snapshots``: ``{epoch: state_dict}`` (CPU tensors); epoch 0 is the true initialisation.
    * ``history``: ``{"epoch": [1..E], "loss": [...]}``, the mean training loss over each epoch.
    * ``evals``: ``{"epoch": [...], name: [...]}``, ``eval_fn(model)`` at epoch 0, every
      ``eval_every`` epochs, at every snapshot and at the end (a float result is named ``"eval"``).
    * ``wall_s``: training wall time in seconds, summed over resumed pieces; ``cpu_s`` the
      process CPU time over the same pieces (all threads; a load-independent cost measure).
    * ``resumed_from``: the checkpoint epoch the run continued from (``None`` for a fresh run).
    """

    snapshots: dict[int, dict[str, torch.Tensor]]
    history: dict[str, list]
    evals: dict[str, list]
    wall_s: float
    epochs: int
    resumed_from: int | None = None
    meta: dict = field(default_factory=dict)
    cpu_s: float = 0.0

    def load_into(self, model: torch.nn.Module, epoch: int) -> torch.nn.Module:
        """Load snapshot ``epoch`` into ``model`` (in place, on the model's device); return it."""
        if epoch not in self.snapshots:
            raise KeyError(f"no snapshot at epoch {epoch}; have {sorted(self.snapshots)}")
        model.load_state_dict(self.snapshots[epoch])
        return model

    def eval_at(self, epoch: int) -> dict[str, float]:
        """The ``eval_fn`` values recorded at ``epoch``."""
        try:
            i = self.evals["epoch"].index(epoch)
        except ValueError:
            raise KeyError(f"no evaluation at epoch {epoch}") from None
        return {k: v[i] for k, v in self.evals.items() if k != "epoch"}


def cpu_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Detached CPU copy of ``model.state_dict()`` (safe to keep while training continues)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def state_fingerprint(state: dict[str, torch.Tensor]) -> str:
    """Hash of a state dict's names, shapes, dtypes and values (identifies an initialisation)."""
    h = hashlib.sha256()
    for k in sorted(state):
        t = state[k].detach().to("cpu").contiguous()
        h.update(f"{k}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()[:16]


def _optimizer_signature(optimizer: torch.optim.Optimizer) -> list:
    return [type(optimizer).__name__] + [
        {k: v for k, v in group.items() if k != "params" and isinstance(v, (int, float, str, bool, tuple))}
        for group in optimizer.param_groups
    ]


def _to_device(batch: Any, device: torch.device | None) -> Any:
    if device is None:
        return batch
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    return batch


def _rng_states() -> dict:
    states = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(states: dict) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available() and len(states["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(states["cuda"])


def _run_eval(eval_fn, model) -> dict[str, float]:
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = eval_fn(model)
    model.train(was_training)
    if not isinstance(out, dict):
        out = {"eval": out}
    return {k: float(v) for k, v in out.items()}


def _record_eval(evals: dict, epoch: int, values: dict[str, float]) -> None:
    if evals["epoch"] and evals["epoch"][-1] == epoch:
        return
    evals["epoch"].append(epoch)
    for k, v in values.items():
        evals.setdefault(k, []).append(v)


def fit(model: torch.nn.Module, step_fn: Callable[[torch.nn.Module, Any], torch.Tensor],
        batches: Callable[[int], Iterable[Any]], optimizer: torch.optim.Optimizer, *, epochs: int,
        snapshot_epochs: Iterable[int] = (), checkpoint: str | Path | None = None,
        device: str | torch.device | None = None, progress: bool = True, desc: str = "train",
        eval_fn: Callable[[torch.nn.Module], float | dict] | None = None, eval_every: int = 1,
        checkpoint_every: int | None = None, checkpoint_interval_s: float = 60.0,
        seed: int | None = None, meta: dict | None = None, num_threads: int | None = None,
        find_unused_parameters: bool = False) -> TrainResult:
    """Train ``model`` for ``epochs`` epochs; return snapshots, history and wall time.

    * ``step_fn(model, batch) -> loss`` (scalar tensor) for one step; ``fit`` does
      ``zero_grad``/``backward``/``step``.
    * ``batches(epoch)`` -> iterable of batches for epoch ``epoch`` (1-based), deterministic in the
      epoch so that a resumed run is identical. Tensors in a batch are moved to ``device``.
    * Snapshots (CPU state dicts) at epoch 0 = the model as passed in, before any step, and after
      each epoch in ``snapshot_epochs``.
    * ``checkpoint``: a file path. Written atomically every ``checkpoint_every`` epochs (if given),
      at least every ``checkpoint_interval_s`` seconds, and at the end. If the file exists and
      matches (same initial weights, parameter shapes, optimiser and hyper-parameters, ``meta``),
      training resumes from it; a finished checkpoint returns at once. A checkpoint that does not
      match is ignored with a warning and overwritten.
    * ``seed``: if given, :func:`geomlib.book.profiles.seed_everything` runs before the first step of a
      fresh run (for step functions that draw random numbers); resumed runs restore the RNG states.
    * ``num_threads``: torch's intra-op CPU threads during training (restored afterwards). Small
      models train fastest with 1: on a loaded 2-core machine extra threads spin and slow the
      2-D runs ten-fold.
    * Distributed data parallel: when a process group of more than one process is open (under
      ``torchrun``, :func:`geomlib.experiments.training.distributed.init_from_env`), ``step_fn``
      receives the model with global-batch BatchNorm wrapped in ``DistributedDataParallel``
      (:func:`geomlib.experiments.training.distributed.wrap`) and ``batches(epoch)`` must yield this
      rank's shard of each global batch (``step_fn`` then returns a loss whose DDP-averaged gradient
      is the global batch's: see that module). The recorded loss is the mean over ranks; snapshots,
      evaluations and the result are the same on every rank; rank 0 alone writes the checkpoint,
      and every rank resumes from it.
      ``find_unused_parameters`` is passed to DDP (models whose loss leaves parameters unused).
    * Raises ``FloatingPointError`` if the epoch's mean loss is not finite.
    """
    with cpu_threads(num_threads):
        return _fit(model, step_fn, batches, optimizer, epochs=epochs, snapshot_epochs=snapshot_epochs,
                    checkpoint=checkpoint, device=device, progress=progress, desc=desc, eval_fn=eval_fn,
                    eval_every=eval_every, checkpoint_every=checkpoint_every,
                    checkpoint_interval_s=checkpoint_interval_s, seed=seed, meta=meta,
                    find_unused_parameters=find_unused_parameters)


@contextmanager
def cpu_threads(n: int | None):
    """Temporarily set ``torch.set_num_threads(n)`` (no-op for ``None``)."""
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _bars_disabled() -> bool:
    """True when ``TQDM_DISABLE`` is set truthy (the chapter runner sets it so bars stay off pages).

    tqdm reads that variable only for arguments left at their default; ``disable`` is passed here.
    """
    return os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false", "no")


def _fit(model, step_fn, batches, optimizer, *, epochs, snapshot_epochs, checkpoint, device, progress,
         desc, eval_fn, eval_every, checkpoint_every, checkpoint_interval_s, seed, meta,
         find_unused_parameters=False) -> TrainResult:
    if int(epochs) != epochs or epochs < 0:
        raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
    epochs = int(epochs)
    snap_set = sorted({int(e) for e in snapshot_epochs if 0 < int(e) <= epochs})
    dropped = [e for e in snapshot_epochs if not 0 <= int(e) <= epochs]
    if dropped:
        warnings.warn(f"snapshot epochs {dropped} lie outside 0..{epochs} and are ignored", stacklevel=3)
    if eval_every < 1:
        raise ValueError(f"eval_every must be >= 1, got {eval_every}")
    dev = torch.device(device) if device is not None else None
    if dev is not None:
        model.to(dev)
    model.train()

    init_state = cpu_state(model)
    signature = {
        "version": CHECKPOINT_VERSION,
        "init": state_fingerprint(init_state),
        "params": {k: list(v.shape) for k, v in init_state.items()},
        "optimizer": _optimizer_signature(optimizer),
        "meta": meta or {},
    }
    snapshots: dict[int, dict[str, torch.Tensor]] = {0: init_state}
    history: dict[str, list] = {"epoch": [], "loss": []}
    evals: dict[str, list] = {"epoch": []}
    start, wall_before, cpu_before, resumed_from = 0, 0.0, 0.0, None

    path = Path(checkpoint) if checkpoint is not None else None
    ddp = distributed.active()
    main = distributed.is_main()
    if ddp:
        distributed.barrier()  # a rank that restarts waits for rank 0's last checkpoint write
    ck = None
    if path is not None and path.exists():
        try:
            ck = load(path)
        except Exception as exc:  # a corrupt file cannot come from atomic writes, but be safe
            warnings.warn(f"checkpoint {path} unreadable ({exc}); starting afresh", stacklevel=3)
            ck = None
        if ck is not None and ck.get("signature") != signature:
            warnings.warn(f"checkpoint {path} belongs to another run (initial weights, shapes, optimiser "
                          "or meta differ); starting afresh and overwriting it", stacklevel=3)
            ck = None
        if ck is not None and ck["epoch"] > epochs:
            raise ValueError(f"checkpoint {path} is at epoch {ck['epoch']}, beyond the {epochs} epochs "
                             "asked for; use a different checkpoint path or delete it")
    if ck is not None:
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        _set_rng_states(ck["rng"])
        snapshots, history, evals = ck["snapshots"], ck["history"], ck["evals"]
        start, wall_before, resumed_from = ck["epoch"], ck["wall_s"], ck["epoch"]
        cpu_before = ck.get("cpu_s", math.nan)  # NaN: a checkpoint written before CPU time was recorded
        missing = [e for e in snap_set if e <= start and e not in snapshots]
        if missing:
            warnings.warn(f"resumed at epoch {start}: snapshots {missing} were not taken by the "
                          "interrupted run and are missing", stacklevel=3)
    elif seed is not None:
        seed_everything(seed)

    def save(epoch: int, wall: float, cpu: float) -> None:
        if not main:
            return
        atomic_save({"signature": signature, "epoch": epoch, "model": cpu_state(model),
                     "optimizer": optimizer.state_dict(), "rng": _rng_states(), "snapshots": snapshots,
                     "history": history, "evals": evals, "wall_s": wall, "cpu_s": cpu}, path)

    net = (distributed.wrap(model, dev if dev is not None else next(model.parameters()).device,
                            find_unused_parameters=find_unused_parameters) if ddp else model)
    world = distributed.rank_world()[1]
    t0, c0 = time.time(), time.process_time()
    if eval_fn is not None and start == 0:
        _record_eval(evals, 0, _run_eval(eval_fn, model))
    snap_lookup = set(snap_set)
    last_save = time.time()
    bar = tqdm(total=epochs, initial=start, desc=desc, disable=not progress or not main or _bars_disabled(), file=sys.stderr,
               mininterval=1.0, dynamic_ncols=True, leave=True)
    postfix_every = max(1, epochs // 100)
    try:
        for epoch in range(start + 1, epochs + 1):
            total, steps = None, 0
            for batch in batches(epoch):
                batch = _to_device(batch, dev)
                optimizer.zero_grad(set_to_none=True)
                loss = step_fn(net, batch)
                loss.backward()
                optimizer.step()
                total = loss.detach() if total is None else total + loss.detach()
                steps += 1
            if steps == 0:
                raise ValueError(f"batches({epoch}) yielded no batch")
            if ddp:  # the recorded loss is the mean over ranks (the global batch's loss)
                total = total.to(torch.float64)
                torch.distributed.all_reduce(total)
                total = total / world
            mean = float(total) / steps
            if not math.isfinite(mean):
                raise FloatingPointError(f"{desc}: mean training loss is {mean} at epoch {epoch}")
            history["epoch"].append(epoch)
            history["loss"].append(mean)
            if epoch in snap_lookup:
                snapshots[epoch] = cpu_state(model)
            if eval_fn is not None and (epoch % eval_every == 0 or epoch in snap_lookup or epoch == epochs):
                _record_eval(evals, epoch, _run_eval(eval_fn, model))
            bar.update(1)
            if epoch % postfix_every == 0:
                bar.set_postfix(loss=f"{mean:.4g}", refresh=False)
            if path is not None and epoch < epochs and ((checkpoint_every and epoch % checkpoint_every == 0)
                                     or time.time() - last_save > checkpoint_interval_s):
                save(epoch, wall_before + time.time() - t0, cpu_before + time.process_time() - c0)
                last_save = time.time()
    finally:
        bar.close()
    wall, cpu = wall_before + time.time() - t0, cpu_before + time.process_time() - c0
    if path is not None and start < epochs:
        save(epochs, wall, cpu)  # the final checkpoint records the total wall and CPU time
    if ddp:
        distributed.barrier()  # no rank reads the checkpoint before rank 0 has written it
    return TrainResult(snapshots=snapshots, history=history, evals=evals, wall_s=wall, epochs=epochs,
                       resumed_from=resumed_from, meta=dict(meta or {}), cpu_s=cpu)
