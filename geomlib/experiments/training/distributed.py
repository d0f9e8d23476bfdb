"""Data-parallel training with ``torchrun`` and :class:`torch.nn.parallel.DistributedDataParallel`.

A run started as ``torchrun --nproc_per_node=N -m geomlib.experiments.imaging.train ...`` has
``WORLD_SIZE=N`` processes; :func:`init_from_env` opens the process group (NCCL on CUDA, gloo on
CPU) and :func:`geomlib.experiments.training.fit` then trains the DDP-wrapped model. One global
batch of the recipe's size is split into ``N`` contiguous shards, one per rank
(:func:`shard_bounds`, the split of :func:`torch.tensor_split`), so the optimisation is the
single-process one with the same global batch:

* gradients are averaged over ranks by DDP; a per-sample loss is averaged over the **global**
  batch with :func:`global_mean` (correct for unequal shards too);
* losses that couple samples (Barlow Twins' cross-correlation, SimCLR's negatives) are computed
  on the global batch: :func:`gather` concatenates every rank's embeddings in rank order with
  ``torch.distributed.nn.functional.all_gather``, whose backward sums the gradients over ranks,
  so with DDP's averaging the gradient is the single-process one;
* BatchNorm normalises with the statistics of the global batch: :class:`torch.nn.SyncBatchNorm`
  on CUDA, and on CPU (where SyncBatchNorm refuses to run) :class:`GlobalBatchNorm`, the same
  computation with differentiable all-reduces (:func:`convert_batchnorm`).

With one process every function here is the identity (or the single-process computation).
"""
from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn


@contextmanager
def _quiet_deprecation():
    """torch 2.14 marks ``torch.distributed.nn.functional`` deprecated (FutureWarning) in favour of
    the private ``_functional_collectives``; it is still the public differentiable all-gather."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.distributed\.nn.*")
        warnings.filterwarnings("ignore", category=FutureWarning, message=r".*torch\.distributed\.nn\.functional.*")
        yield


def active() -> bool:
    """True when a process group with more than one process is open."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank_world() -> tuple[int, int]:
    """``(rank, world_size)``; ``(0, 1)`` without an open process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    """True on rank 0 (the only rank that writes checkpoints and artifacts)."""
    return rank_world()[0] == 0


def barrier() -> None:
    """Wait for every rank (no-op with one process)."""
    if active():
        dist.barrier()


def init_from_env(device: str | torch.device | None = None, timeout_s: float = 1800.0) -> torch.device:
    """Open the process group that ``torchrun`` describes (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``,
    ``MASTER_ADDR``/``MASTER_PORT`` in the environment) when ``WORLD_SIZE > 1``; return this rank's
    device.

    ``device``: ``"cuda"`` (or ``None`` with CUDA present) gives ``cuda:LOCAL_RANK`` and the NCCL
    backend; ``"cpu"`` gives gloo. With ``WORLD_SIZE`` unset or 1 nothing is opened and the device
    is returned as given (``cuda`` if available for ``None``). Raises ``RuntimeError`` when more
    processes than GPUs are asked for on one host.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if dev.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if world > 1 and local >= torch.cuda.device_count():
            raise RuntimeError(f"LOCAL_RANK {local} but only {torch.cuda.device_count()} GPU(s) on this host: "
                               "give torchrun --nproc_per_node <= the number of GPUs")
        dev = torch.device("cuda", local if world > 1 else (dev.index or 0))
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", timeout=timedelta(seconds=timeout_s))
    return dev


def shard_bounds(n: int, rank: int, world: int) -> tuple[int, int]:
    """``[start, stop)`` of rank ``rank``'s contiguous shard of ``n`` items (sizes differ by at most
    one, larger shards first: :func:`torch.tensor_split`'s split)."""
    q, r = divmod(int(n), int(world))
    start = rank * q + min(rank, r)
    return start, start + q + (1 if rank < r else 0)


def shard(batch, rank: int | None = None, world: int | None = None):
    """This rank's shard of a batch (a tensor, or a tuple/list of tensors split along dim 0)."""
    if rank is None or world is None:
        rank, world = rank_world()
    if world == 1:
        return batch
    if isinstance(batch, torch.Tensor):
        a, b = shard_bounds(len(batch), rank, world)
        return batch[a:b]
    return type(batch)(shard(t, rank, world) for t in batch)


def global_mean(per_sample: torch.Tensor) -> torch.Tensor:
    """Mean of per-sample values ``shape=[n_local]`` over the global batch, scaled so that DDP's
    gradient averaging over ranks gives the gradient of the global mean: ``sum * world / N``
    (``N`` all-reduced). With one process: ``per_sample.mean()``."""
    if not active():
        return per_sample.mean()
    world = dist.get_world_size()
    n = torch.tensor([float(per_sample.shape[0])], dtype=torch.float64, device=per_sample.device)
    dist.all_reduce(n)
    return per_sample.sum() * (world / float(n.item()))


def gather(z: torch.Tensor) -> torch.Tensor:
    """Every rank's ``z`` (``shape=[B_local, ...]``, equal on all ranks) concatenated in rank
    order, differentiable (``torch.distributed.nn.functional.all_gather``: the backward sums the
    gradients over ranks). With one process: ``z``."""
    if not active():
        return z
    from torch.distributed.nn.functional import all_gather

    with _quiet_deprecation():
        return torch.cat(all_gather(z.contiguous()), 0)


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm with the statistics of the global batch across ranks, for CPU (gloo) where
    :class:`torch.nn.SyncBatchNorm` does not run: the same normalisation, running-statistics
    update (unbiased variance, ``momentum``) and gradients as one process over the global batch.
    Without an open process group, or in eval mode, it is plain BatchNorm."""

    def _check_input_dim(self, x):
        if x.dim() < 2:
            raise ValueError(f"expected at least 2-D input, got {x.dim()}-D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and active()):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce

        dims = [0] + list(range(2, x.dim()))
        shape = [1, -1] + [1] * (x.dim() - 2)
        n_local = x.numel() // x.shape[1]
        with _quiet_deprecation():
            s = all_reduce(torch.cat([x.sum(dims), x.new_tensor([float(n_local)])]))
            count = s[-1].detach()
            mean = s[:-1] / count
            xc = x - mean.view(shape)
            var = all_reduce(xc.pow(2).sum(dims)) / count
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = (1.0 / float(self.num_batches_tracked)) if self.momentum is None else self.momentum
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * (count / (count - 1)), alpha=m)
        y = xc / torch.sqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def convert_batchnorm(module: nn.Module, device: torch.device | str) -> nn.Module:
    """Replace every BatchNorm layer of ``module`` (in place; same parameters and buffers, same
    ``state_dict`` keys) by one that normalises over the global batch: :class:`torch.nn.SyncBatchNorm`
    on CUDA, :class:`GlobalBatchNorm` elsewhere. Returns the module."""
    if torch.device(device).type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)

    def convert(m):
        out = m
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and not isinstance(m, GlobalBatchNorm):
            out = GlobalBatchNorm(m.num_features, m.eps, m.momentum, m.affine, m.track_running_stats,
                                  device=None, dtype=None)
            if m.affine:
                out.weight, out.bias = m.weight, m.bias
            out.running_mean, out.running_var = m.running_mean, m.running_var
            out.num_batches_tracked = m.num_batches_tracked
            out.training = m.training
        for name, child in m.named_children():
            out.add_module(name, convert(child))
        return out

    return convert(module)


def wrap(model: nn.Module, device: torch.device | str, *, find_unused_parameters: bool = False) -> nn.Module:
    """``model`` with global-batch BatchNorm (:func:`convert_batchnorm`, in place) wrapped in
    :class:`~torch.nn.parallel.DistributedDataParallel`; ``model`` itself when not distributed.
    ``find_unused_parameters``: for models with parameters the loss never reaches (the unused
    classifier of a self-supervised backbone); DDP then leaves their gradients ``None``, as one
    process does, so the optimiser skips them."""
    if not active():
        return model
    dev = torch.device(device)
    model = convert_batchnorm(model, dev)
    return nn.parallel.DistributedDataParallel(model, device_ids=[dev] if dev.type == "cuda" else None,
                                               find_unused_parameters=find_unused_parameters)
