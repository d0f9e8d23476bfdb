"""Settings of the MNIST slice experiments per profile: the ``[784, w, 10]``
MLP and its training, the snapshots, and the lines and planes scanned (digit pairs and triples,
grid sizes, the effective volume's k).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

LINE_PAIRS = ((1, 6), (1, 5), (5, 7))
PLANE_TRIPLES = ((5, 6, 1), (5, 6, 7), (7, 6, 1))
PAPER_SEEDS = (401, 402, 403, 404, 405, 501)


@dataclass(frozen=True)
class MNISTSettings:
    """Settings of one profile (Methods: MNIST protocol, F4/F5, for ``paper``; reductions for ``quick``/``tiny``).

    ``snapshot_epochs`` are counted from true initialisation (0 = before any step; Methods: snapshots).
    ``eff_stride``: the effective volume (full Jacobian) is evaluated on every ``eff_stride``-th
    plane grid point per axis (a nested, coarser grid), the induced area on every point.
    """

    profile: str
    width: int
    epochs: int
    batch_size: int
    n_train: int | None  # cap on training images (None: all)
    train_dtype: str  # "float32" | "float64"
    line_epochs: tuple
    plane_epochs: tuple
    line_steps: int
    plane_n: int
    eff_stride: int
    seeds: tuple
    relu_seeds: tuple
    lr: float = 1e-3
    weight_decay: float = 1e-4
    k_plane: int = 10
    k_line: int = 784
    eff_method: str = "gram"  # geomlib.numeric.effective_log10_volume method
    cpu_threads: int | None = 1  # torch threads on CPU (None: torch's default); see use_threads

    @property
    def snapshot_epochs(self) -> tuple:
        return tuple(sorted(set(self.line_epochs) | set(self.plane_epochs)))

    @property
    def k_line_used(self) -> int:
        """k of the line volume: 784 capped at rank(g) <= min(784, w) (Methods: effective volume)."""
        return min(self.k_line, self.width, 784)

    def params(self) -> dict:
        return asdict(self)


def settings_for(profile: str, seed: int = 401) -> MNISTSettings:
    """The settings of ``profile``: tiny uses ``seed``, quick ``(seed, seed + 1)``, paper the authors' six
    seeds (ReLU: the first one, paper the first two)."""
    if profile == "tiny":
        return MNISTSettings("tiny", width=100, epochs=3, batch_size=10, n_train=1000, train_dtype="float32",
                             line_epochs=(0, 1, 3), plane_epochs=(0, 1, 3), line_steps=16, plane_n=9,
                             eff_stride=1, seeds=(seed,), relu_seeds=(seed,))
    if profile == "quick":
        return MNISTSettings("quick", width=256, epochs=20, batch_size=100, n_train=10000, train_dtype="float32",
                             line_epochs=(0, 1, 10, 20), plane_epochs=(0, 1, 10, 20), line_steps=64, plane_n=25,
                             eff_stride=2, seeds=(seed, seed + 1), relu_seeds=(seed,))
    if profile == "paper":
        return MNISTSettings("paper", width=2000, epochs=200, batch_size=1000, n_train=None, train_dtype="float64",
                             line_epochs=(0, 1, 60, 180), plane_epochs=(0, 1, 100, 200), line_steps=64,
                             plane_n=60, eff_stride=1, seeds=PAPER_SEEDS, relu_seeds=PAPER_SEEDS[:2], eff_method="auto",
                             cpu_threads=None)
    raise ValueError(f"unknown profile {profile!r}: choose tiny, quick or paper")


def use_threads(s: MNISTSettings, device) -> int:
    """Apply ``s.cpu_threads`` on CPU and return the thread count in use.

    The small matrices of the tiny/quick runs (batches of 10-100, 100-256 hidden units) gain little
    from a second thread and lose up to 10x when the cores are shared with other processes
    (measured on the 2-core build machine), so those profiles run single-threaded.
    """
    if torch.device(device).type == "cpu" and s.cpu_threads:
        torch.set_num_threads(int(s.cpu_threads))
    return torch.get_num_threads()
