"""geomlib.experiments.twod settings and runs: every task and profile covered, a run trained to the
end, a whole run measured and cached."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from geomlib.experiments.twod.run import run, train_run
from geomlib.experiments.twod.settings import SETTINGS, Settings


def test_settings_cover_every_task_and_profile():
    for task, by_profile in SETTINGS.items():
        assert set(by_profile) == {"tiny", "quick", "paper"}
        for s in by_profile.values():
            assert 0 in s.delta_epochs and s.epochs in s.delta_epochs
            assert max(s.figure_epochs) <= s.epochs and s.delta_n >= 41
    paper = SETTINGS["sinusoid"]["paper"]
    assert paper.widths == (5, 20, 250) and paper.epochs == 10000 and len(paper.seeds) == 6


def test_a_whole_run_is_cached_and_measured():
    s = Settings((10,), (401,), 300, (300,), (0, 100, 300), fig_n=8, delta_n=41, frame_every=100)
    r1 = run("xor", 10, 401, s, progress=False, frames=True)
    assert sorted(r1["fields"]) == [0, 300] and sorted(r1["frames"]) == [0, 100, 200, 300]
    assert r1["deltas"]["epoch"] == [0, 100, 300]
    f = r1["fields"][300]
    assert f["pred"].shape == (8, 8) and f["layers"][1]["log10_vol"].shape == (8, 8)
    assert np.isfinite(f["layers"][1]["R"]).all()
    assert np.allclose(f["R3"], 3 * f["layers"][1]["R"], rtol=1e-4, atol=1e-3)  # authors' 3R
    r2 = run("xor", 10, 401, s, progress=False, frames=True)  # from the cache: identical
    assert r2["deltas"] == r1["deltas"] and r2["wall_s"] == r1["wall_s"]
    with pytest.raises(ValueError, match="unknown task"):
        run("spiral", 10, 401, s)


def test_xor_trains_to_full_accuracy():
    _, res, _ = train_run("xor", 10, 401, epochs=2000, progress=False)
    assert res.evals["acc"][-1] == 1.0 and res.evals["acc"][0] < 1.0


def test_command_line_lists_tasks_and_profiles():
    proc = subprocess.run([sys.executable, "-m", "geomlib.experiments.twod", "--help"], capture_output=True,
                          text=True, timeout=120, cwd=Path(__file__).resolve().parents[3])
    assert proc.returncode == 0, proc.stderr
    assert "python -m geomlib.experiments.twod" in proc.stdout
    assert all(t in proc.stdout for t in SETTINGS) and "--showcase" in proc.stdout
