import numpy as np
import pytest
import torch

import geomlib
from geomlib.book.profiles import ConfigError, check_profile, resolve_device, seed_everything


def test_profiles_and_pick():
    ctx = geomlib.setup("tiny", "cpu", 3, quiet=True)
    assert ctx.pick(tiny=1, quick=2, paper=3) == 1
    assert ctx.device == torch.device("cpu")
    assert torch.get_default_dtype() == torch.float64
    with pytest.raises(ConfigError, match="no value given for profile 'tiny'"):
        ctx.pick(quick=2, paper=3)
    with pytest.raises(ConfigError, match="unknown profile"):
        ctx.pick(tiny=1, quick=2, paper=3, huge=4)


def test_bad_profile_and_device_name_valid_choices():
    with pytest.raises(ConfigError, match="choose one of tiny, quick, paper"):
        check_profile("fast")
    with pytest.raises(ConfigError, match="choose one of auto, cpu, cuda"):
        resolve_device("tpu")
    with pytest.raises(ConfigError, match="seed must be a non-negative integer"):
        seed_everything(-1)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA error path")
def test_cuda_requested_without_cuda():
    with pytest.raises(ConfigError, match="CUDA is not available"):
        resolve_device("cuda")


def test_seed_everything_reproducible():
    seed_everything(7)
    a = (torch.rand(3), np.random.rand(3))
    seed_everything(7)
    b = (torch.rand(3), np.random.rand(3))
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])
