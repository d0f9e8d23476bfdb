"""Run profiles (``tiny`` | ``quick`` | ``paper``), device choice and seeding.

Every chapter starts with a papermill ``parameters`` cell (``profile``, ``device``, ``seed``) and
then calls :func:`setup`, which validates them, seeds every RNG and returns a :class:`Context`
whose :meth:`Context.pick` selects per-profile settings.
"""
from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field

import numpy as np
import torch

PROFILES = ("tiny", "quick", "paper")
DEVICES = ("auto", "cpu", "cuda")


class ConfigError(ValueError):
    """A bad profile, device or seed; the message is one line naming the valid choices."""


def check_profile(profile: str) -> str:
    """Return ``profile`` if it is one of :data:`PROFILES`, else raise :class:`ConfigError`."""
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}")
    return profile


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Map ``auto`` | ``cpu`` | ``cuda`` (or ``cuda:N``) to a :class:`torch.device`.

    ``auto`` picks CUDA when available, else CPU. Asking for ``cuda`` where none exists raises
    :class:`ConfigError` instead of failing later inside a kernel.
    """
    name = str(device)
    base = name.split(":")[0]
    if base not in DEVICES:
        raise ConfigError(f"unknown device {name!r}: choose one of {', '.join(DEVICES)}")
    if base == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if base == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"device {name!r} requested but CUDA is not available here: choose one of auto, cpu"
        )
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's (CPU and CUDA) generators."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    torch.manual_seed(int(seed))
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(int(seed))


@dataclass
class Context:
    """What a chapter runs under: profile, device, seed, and when it started."""

    profile: str
    device: torch.device
    seed: int
    started: float = field(default_factory=time.time)

    def pick(self, **by_profile):
        """Return the value given for the current profile, e.g. ``ctx.pick(tiny=10, quick=40, paper=80)``."""
        missing = [p for p in PROFILES if p not in by_profile]
        unknown = [p for p in by_profile if p not in PROFILES]
        if unknown:
            raise ConfigError(f"unknown profile(s) {unknown}: choose from {', '.join(PROFILES)}")
        if self.profile in missing:
            raise ConfigError(f"no value given for profile {self.profile!r}")
        return by_profile[self.profile]

    @property
    def is_gpu(self) -> bool:
        return self.device.type == "cuda"

    def provenance(self, **extra) -> dict:
        """Provenance record (profile, device, date, commit, versions) plus ``extra`` items."""
        from .provenance import provenance_record

        return provenance_record(self.profile, self.device, seed=self.seed, **extra)

    def elapsed(self) -> float:
        return time.time() - self.started


def setup(profile: str = "quick", device: str = "auto", seed: int = 401, *, quiet: bool = False) -> Context:
    """Validate chapter parameters, seed every RNG and return a :class:`Context`.

    Sets torch's default dtype to float64 (geometry is float64 by default in geomlib).
    """
    check_profile(profile)
    dev = resolve_device(device)
    seed_everything(seed)
    torch.set_default_dtype(torch.float64)
    ctx = Context(profile=profile, device=dev, seed=int(seed))
    if not quiet:
        name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
        print(f"geomlib: profile={profile} device={dev} ({name}) seed={seed} torch={torch.__version__}")
    return ctx


def env_flag(name: str, default: bool = False) -> bool:
    """Read a boolean environment variable (``1/true/yes`` are true)."""
    val = os.environ.get(name)
    if val is None:
        return default
    return val.strip().lower() in {"1", "true", "yes", "on"}
