"""Data-parallel training (torchrun, DDP, gloo, 2 processes, float64) equals one process on the
same global batches: loss trajectory, evaluations and final weights (BatchNorm running statistics
included) for supervised learning, Barlow Twins and SimCLR; a DDP run interrupted inside an epoch
and resumed from its checkpoint equals the uninterrupted one. The worker is ddp_worker.py."""
import os
import subprocess
import sys
from pathlib import Path

import importlib.util

import pytest
import torch

from geomlib.experiments.models.augment import AugmentedImages, epoch_batches
from geomlib.experiments.training.distributed import shard, shard_bounds

REPO = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("ddp_worker", Path(__file__).with_name("ddp_worker.py"))
ddp_worker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ddp_worker)
# float64 with a different summation order (all-reduces): agreement to ~1e-13 relative is measured
RTOL = 1e-10


def _close(a, b):
    a, b = torch.as_tensor(a).double(), torch.as_tensor(b).double()
    return float((a - b).abs().max()) <= RTOL * max(1.0, float(b.abs().max()))


def test_shards_partition_each_global_batch():
    for n in range(1, 30):
        for world in (1, 2, 3, 4):
            bounds = [shard_bounds(n, r, world) for r in range(world)]
            assert bounds[0][0] == 0 and bounds[-1][1] == n
            assert all(bounds[r][1] == bounds[r + 1][0] for r in range(world - 1))
            sizes = [b - a for a, b in bounds]
            assert max(sizes) - min(sizes) <= 1
            assert sizes == [len(t) for t in torch.tensor_split(torch.arange(n), world)]
    x = torch.arange(10)
    assert torch.equal(torch.cat([shard((x, x), r, 3)[0] for r in range(3)]), x)


def test_sharded_epoch_batches_are_the_global_batches():
    ds = AugmentedImages(torch.rand(21, 3, 32, 32), [lambda im: im.flip(-1)], y=torch.arange(21), seed=5)
    whole = list(epoch_batches(ds, 3, 8, dtype=torch.float64))
    parts = [list(epoch_batches(ds, 3, 8, dtype=torch.float64, shard=(r, 2))) for r in range(2)]
    assert len(whole) == len(parts[0]) == len(parts[1]) == 3
    for i, (xw, yw) in enumerate(whole):
        assert torch.equal(torch.cat([parts[0][i][0], parts[1][i][0]]), xw)
        assert torch.equal(torch.cat([parts[0][i][1], parts[1][i][1]]), yw)
    assert [len(p[1]) for p in (parts[0][2], parts[1][2])] == [3, 2]  # last global batch of 5


@pytest.fixture(scope="module")
def ddp_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", TQDM_DISABLE="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(Path(__file__).with_name("ddp_worker.py")), str(out)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-6000:]
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(2)]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["supervised", "barlow", "simclr"])
def test_ddp_equals_one_process(ddp_results, method, one_thread):
    ref = ddp_worker.run_case(method)
    for res in ddp_results:  # both ranks hold the same result
        assert len(res[method]["loss"]) == len(ref["loss"])
        assert _close(res[method]["loss"], ref["loss"]), (res[method]["loss"], ref["loss"])
        assert res[method]["evals"] == ref["evals"]
        assert res[method]["state"].keys() == ref["state"].keys()
        for k, v in ref["state"].items():
            assert res[method]["state"][k].dtype == v.dtype
            assert _close(res[method]["state"][k], v), k
    # the run really trained (the comparison is not between two untouched initialisations)
    assert ref["loss"][-1] < ref["loss"][0]


@pytest.mark.slow
def test_interrupted_ddp_run_resumes_to_the_uninterrupted_one(ddp_results):
    for res in ddp_results:
        resumed, whole = res["resumed"], res["supervised"]
        assert resumed["resumed_from"] == 1 and whole["resumed_from"] is None
        assert resumed["loss"] == whole["loss"]
        assert resumed["evals"] == whole["evals"]
        for k, v in whole["state"].items():
            assert torch.equal(resumed["state"][k], v), k
