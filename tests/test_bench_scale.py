"""The scale benchmark's measuring worker, run in-process on a tiny network."""

from __future__ import annotations

import json

import pytest

from liftinv.bench.scale import _time_trainer, conv_flops, markdown
from liftinv.denoising.models import default_arch
from liftinv.restoration import run_metadata


@pytest.mark.parametrize("aux, storage", [("forward", "device"), ("keep", "mmap")])
def test_worker_writes_a_complete_record(aux, storage, tmp_path):
    arch = default_arch("dfb", 1, 16, depth=2, features=4)
    out = tmp_path / "r.json"
    _time_trainer("lifted", arch, 4, 2, "cpu", str(out), aux, storage, 8)
    r = json.loads(out.read_text())
    assert r["seconds_per_step"] > 0 and r["processes"] == 1
    assert r["patches_per_second"] == pytest.approx(4 / r["seconds_per_step"])
    if aux == "keep":  # 2 hidden DFB layers of 4 channels on 16x16 patches, float32, + 1 flag byte
        assert r["formula_mb"] * 2**20 == pytest.approx(8 * (2 * 4 * 16 * 16 * 4 + 1))
    report = {"meta": run_metadata("cpu", "liftinv bench scale"), "arch": arch, "batch": 4, "device": "cpu",
              "threads_per_process": 1, "steps": 2,
              "steps_records": [r, dict(r, trainer="backprop")], "parallel": [], "memory": [r],
              "step_ratio": 1.0}
    assert "| lifted | 1 |" in markdown(report)


def test_conv_flops_counts_both_convolutions_of_every_layer():
    arch = default_arch("dfb", 1, 10, depth=3, features=2)  # 4 operators, 3x3 kernels
    assert conv_flops(arch, "lifted") == 3 * 4 * 2 * (2 * 2 * 1 * 9 * 100)


def test_layers_at_once_equal_the_layer_loop():
    from liftinv.bench.scale import layer_batching

    r = layer_batching(default_arch("dfb", 1, 12, depth=3, features=4), 2, "cpu", repeats=1)
    assert r["layers"] == 2 and r["max_abs_difference"] < 1e-4 and r["speedup"] > 0
    assert all(r["solver"][k] > 0 for k in ("backward_seconds", "even_odd_loop_seconds", "even_odd_batched_seconds"))


def test_gpu_report_states_the_share_of_the_tf32_peak():
    from liftinv.bench.scale import share_of_peak, tf32_peak_tflops

    assert tf32_peak_tflops("NVIDIA H100 80GB HBM3") == 494.7 and tf32_peak_tflops("NVIDIA H100 PCIe") == 378.0
    assert tf32_peak_tflops("Some other GPU") is None
    assert share_of_peak(49470.0, 494.7) == pytest.approx(0.1) and share_of_peak(1.0, None) is None
    rec = {"trainer": "lifted", "processes": 1, "seconds_per_step": 0.01, "patches_per_second": 1e4,
           "conv_gflops_per_second": 49470.0, "peak_memory_mb": 100.0, "fraction_of_peak": 0.1}
    report = {"meta": run_metadata("cuda:0", "liftinv bench scale"),
              "arch": default_arch("dfb", 1, 40, depth=20, features=64), "batch": 128, "device": "cuda:0",
              "threads_per_process": 1, "steps": 50, "steps_records": [rec], "parallel": [], "memory": [],
              "step_ratio": 1.2, "tf32_peak_tflops": 494.7}
    assert "lifted 10.0% of the device's dense TF32 peak, 495 TFLOP/s" in markdown(report)
