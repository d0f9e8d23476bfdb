"""benchmarks/gpu_check.py without a GPU: a clean exit with a clear message, and the projection of
GPU-hours from a (fake) measured throughput."""
import math

import pytest
import torch

from benchmarks import gpu_check


def test_without_cuda_it_exits_cleanly_and_writes_nothing(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "g.json"
    assert gpu_check.main(["--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "no CUDA device" in err and "nothing checked" in err
    assert not out.exists()


def test_paper_jobs_follow_the_recipes():
    jobs = {j["method"]: j for j in gpu_check.paper_jobs()}
    # supervised: batch 1024 without drop_last -> ceil(50000/1024); SSL: drop_last -> floor
    assert (jobs["supervised"]["batch_size"], jobs["supervised"]["steps_per_epoch"], jobs["supervised"]["epochs"]) == (1024, 49, 200)
    assert (jobs["barlow"]["batch_size"], jobs["barlow"]["steps_per_epoch"], jobs["barlow"]["epochs"]) == (1024, 48, 1000)
    assert (jobs["simclr"]["batch_size"], jobs["simclr"]["steps_per_epoch"], jobs["simclr"]["epochs"]) == (512, 97, 1000)
    assert jobs["supervised"]["runs"] == 2 and jobs["barlow"]["runs"] == 1  # GELU and the ReLU control
    assert {j["method"]: j["runs"] for j in gpu_check.paper_jobs({"supervised": 12})}["supervised"] == 12


def test_projection_arithmetic_on_a_fake_measurement():
    jobs = gpu_check.paper_jobs({"simclr": 3})
    rows = {r["method"]: r for r in gpu_check.project(jobs, {"supervised": 4.9, "barlow": 2.4})}
    s = rows["supervised"]
    assert s["steps_per_run"] == 49 * 200
    assert math.isclose(s["gpu_hours_per_run"], 49 * 200 / 4.9 / 3600) and math.isclose(s["gpu_hours_per_run"], 5 / 9)
    assert math.isclose(s["gpu_hours_total"], 2 * 5 / 9)
    assert math.isclose(rows["barlow"]["gpu_hours_total"], 48 * 1000 / 2.4 / 3600)
    assert rows["simclr"]["gpu_hours_per_run"] is None and rows["simclr"]["gpu_hours_total"] is None  # not measured
    table = gpu_check.format_table(list(rows.values()))
    assert "supervised" in table and "1.1" in table and "5.6" in table
    total_line = table.splitlines()[-1]
    assert total_line.startswith("total") and float(total_line.split()[-1]) == pytest.approx(10 / 9 + 50 / 9, abs=0.05)
    # what the workflow reads for the paper jobs' time limits: per-run hours by run kind, unmeasured left out
    costs = gpu_check.workflow_costs(list(rows.values()))["paper_gpu_hours"]
    assert costs == {"deep-train": pytest.approx(5 / 9), "ssl-barlow": pytest.approx(48 * 1000 / 2.4 / 3600)}


def test_check_functions_dry_run_on_cpu(one_thread):
    """The GPU-side code paths of gpu_check, on CPU at toy size (a GPU session must not be lost to a
    typo): plane scan, curvature and the training-throughput loop of each paper recipe."""
    pl = gpu_check.plane_check(n=2, n_eff=2, device="cpu", width=1 / 16)
    assert pl["cuda_float64_max_dlog10_area"] < 1e-9 and pl["cuda_float32_max_dlog10_area"] < 1e-3
    c = gpu_check.curvature_check(n=3, width=8, device="cpu")
    assert c["cuda_float64_max_rel_diff"] < 1e-12 and c["cuda_float32_max_rel_diff"] < 1e-2
    for method in ("supervised", "barlow", "simclr"):
        old = torch.get_default_dtype()
        torch.set_default_dtype(torch.float32)
        try:
            tr = gpu_check.train_throughput(method, steps=1, warmup=1, n_images=16, num_workers=0, device="cpu",
                                            width=1 / 16, batch_size=8, amp=True)
        finally:
            torch.set_default_dtype(old)
        assert tr["steps"] == 1 and tr["steps_per_s"] > 0 and math.isfinite(tr["final_loss"])
