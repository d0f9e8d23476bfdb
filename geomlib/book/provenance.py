"""Provenance records: what produced a result (profile, device, date, commit, versions, wall time)."""
from __future__ import annotations

import datetime as _dt
import platform
import subprocess
from pathlib import Path

import torch

from ..cache import REPO_ROOT


def git_commit(root: Path = REPO_ROOT) -> str:
    """Short commit hash of ``root``, with ``+dirty`` when the tree has uncommitted changes;
    ``unknown`` outside a git checkout."""
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def device_name(device: torch.device | str) -> str:
    """The GPU's name for a CUDA device, else ``CPU (<processor>, <threads> threads)``."""
    dev = torch.device(device)
    if dev.type == "cuda" and torch.cuda.is_available():
        return torch.cuda.get_device_name(dev)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def provenance_record(profile: str, device: torch.device | str, **extra) -> dict:
    """A JSON-serialisable record of how a result was produced."""
    rec = {
        "profile": profile,
        "device": str(device),
        "device_name": device_name(device),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git_commit(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    rec.update(extra)
    return rec


def format_provenance(rec: dict) -> str:
    """One line for a figure caption: ``profile quick · cpu (…) · 2026-11-25 · commit abc123 · 12.3 s``."""
    parts = [f"profile {rec.get('profile', '?')}", f"{rec.get('device_name', rec.get('device', '?'))}",
             rec.get("date", "?"), f"commit {rec.get('commit', '?')}"]
    if "wall_s" in rec:
        parts.append(f"wall time {float(rec['wall_s']):.1f} s")
    if "seed" in rec:
        parts.append(f"seed {rec['seed']}")
    return " · ".join(parts)
