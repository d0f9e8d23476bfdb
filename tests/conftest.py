"""Shared test fixtures: devices to run on (CPU, and CUDA when present), float64 by default."""
import os

import pytest
import torch

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request):
    """Run a test on CPU and, where present, on CUDA."""
    return torch.device(request.param)


@pytest.fixture(autouse=True)
def _float64_and_isolated_artifacts(tmp_path_factory, monkeypatch):
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    monkeypatch.setenv("GEOMLIB_ARTIFACTS", str(tmp_path_factory.getbasetemp() / "artifacts"))
    yield
    torch.set_default_dtype(old)


@pytest.fixture
def one_thread():
    """Small convolutions: one thread avoids OpenMP oversubscription on the shared 2-core runner."""
    from geomlib.experiments.training.fit import cpu_threads

    with cpu_threads(1):
        yield
