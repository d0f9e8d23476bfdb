"""Settings of the 2-D experiments (Methods: 2-D protocols, F1-F3): the training recipe of each task, and what
each profile runs (widths, seeds, epochs, snapshots, grids).

Training recipes (:data:`RECIPES`, the same in every profile):

| task | model | optimiser (lr / momentum / wd) | batch | epochs | widths | seeds |
|---|---|---|---|---|---|---|
| ``xor`` (F1) | ``[2, w, 2]`` sigmoid | SGD 0.02 / 0.9 / 1e-4 | 4 (full) | 2000 | 2, 10, 100, 250, 500 | 401-405, 501 |
| ``sinusoid`` (F2) | ``[2, w, 2]`` sigmoid | SGD 0.1 / 0.9 / 0 | 50, drop_last | 10000 | 5, 20, 250 | 401-405, 501 |
| ``deep_sinusoid`` (F3) | ``[2, 8, 8, 8, 2]`` sigmoid | SGD 0.1 / 0.9 / 0 | 50, drop_last | 10000 | - | 402 (401) |

Cross-entropy loss on the logits, float64, N(0, 1) initialisation (Methods: notation and conventions). ``figure_epochs`` are
the epochs of the authors' gallery PDFs, counted from true initialisation here (Methods: snapshots).

Per profile (:data:`SETTINGS`, :func:`settings`): ``tiny`` (tests) one width and seed on coarse
grids, ``quick`` (``make book``) two widths or seeds, ``paper`` every width and seed above.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

SEEDS = (401, 402, 403, 404, 405, 501)


@dataclass(frozen=True)
class Recipe:
    """Training settings of one figure group (Methods: 2-D protocols)."""

    task: str
    lr: float
    momentum: float
    weight_decay: float
    batch_size: int
    epochs: int
    widths: tuple
    seeds: tuple
    figure_epochs: tuple
    n_train: int
    deep: bool = False


RECIPES = {
    "xor": Recipe("xor", 0.02, 0.9, 1e-4, 4, 2000, (2, 10, 100, 250, 500), SEEDS, (50, 500, 2000), 4),
    "sinusoid": Recipe("sinusoid", 0.1, 0.9, 0.0, 50, 10000, (5, 20, 250), SEEDS, (200, 5000, 10000), 400),
    "deep_sinusoid": Recipe("deep_sinusoid", 0.1, 0.9, 0.0, 50, 10000, ((2, 8, 8, 8, 2),), (402, 401),
                            (200, 1200, 10000), 400, deep=True),
}


def recipe(task: str) -> Recipe:
    """The :class:`Recipe` of ``task`` (``xor``, ``sinusoid`` or ``deep_sinusoid``)."""
    try:
        return RECIPES[task]
    except KeyError:
        raise ValueError(f"unknown task {task!r}: choose one of {', '.join(RECIPES)}") from None


_DELTA_LONG = (0, 50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 2500, 3000, 4000, 5000, 6000, 7000, 8000,
               9000, 10000)
_DELTA_XOR = (0, 10, 25, 50, 100, 200, 300, 500, 750, 1000, 1500, 2000)


@dataclass(frozen=True)
class Settings:
    """What one profile runs for one task (Methods: 2-D settings per profile)."""

    widths: tuple
    seeds: tuple
    epochs: int
    figure_epochs: tuple
    delta_epochs: tuple
    fig_n: int = 40
    delta_n: int = 81
    frame_every: int = 0  # snapshot every k epochs for an animation of the first run (0: none)

    def as_dict(self) -> dict:
        return asdict(self)


DEEP = (2, 8, 8, 8, 2)
SETTINGS = {
    "xor": {
        "tiny": Settings((10,), (401,), 2000, (50, 500, 2000), _DELTA_XOR, fig_n=20, delta_n=41),
        "quick": Settings((10, 100), (401, 402), 2000, (50, 500, 2000), _DELTA_XOR, frame_every=50),
        "paper": Settings((2, 10, 100, 250, 500), SEEDS, 2000, (50, 500, 2000), _DELTA_XOR, frame_every=50),
    },
    "sinusoid": {
        "tiny": Settings((20,), (402,), 3000, (200, 3000), (0, 200, 500, 1000, 2000, 3000), fig_n=20, delta_n=41),
        "quick": Settings((20, 250), (401,), 10000, (200, 5000, 10000), _DELTA_LONG),
        "paper": Settings((5, 20, 250), SEEDS, 10000, (200, 5000, 10000), _DELTA_LONG, fig_n=80),
    },
    "deep_sinusoid": {
        "tiny": Settings((DEEP,), (402,), 2000, (200, 1200, 2000), (0, 200, 500, 1000, 1200, 1500, 2000),
                         fig_n=20, delta_n=41),
        "quick": Settings((DEEP,), (402,), 10000, (200, 1200, 10000), _DELTA_LONG),
        "paper": Settings((DEEP,), (402, 401), 10000, (200, 1200, 10000), _DELTA_LONG),
    },
}


def settings(task: str, profile: str) -> Settings:
    """The :class:`Settings` of ``task`` under ``profile``."""
    recipe(task)  # validates the task name
    try:
        return SETTINGS[task][profile]
    except KeyError:
        raise ValueError(f"unknown profile {profile!r}: choose tiny, quick or paper") from None
