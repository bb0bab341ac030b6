"""benchmarks/deblur_default.py: each method is the command line's, and a tiny run writes the table."""

from __future__ import annotations

import json

import torch

from liftinv.deblurring.classical import tv_deconvolve, wiener_deconvolve
from liftinv.deblurring.cli import TV_WEIGHT, WIENER_BALANCE
from liftinv.deblurring.physics import parse_kernel


def test_methods_are_the_command_lines(load_script):
    study = load_script("benchmarks/deblur_default.py")
    kernel, y = parse_kernel("box:3"), torch.rand(1, 16, 16)
    want = wiener_deconvolve(y, kernel, WIENER_BALANCE * 0.02)
    torch.testing.assert_close(study.restore("wiener", y, kernel, 0.02), want)
    torch.testing.assert_close(study.restore("tv", y, kernel, 0.02), tv_deconvolve(y, kernel, TV_WEIGHT * 0.02))
    assert torch.equal(study.restore("blurred input", 1.5 * y, kernel, 0.02), (1.5 * y).clamp(0, 1))


def test_tiny_run_writes_the_table(load_script, tmp_path):
    study = load_script("benchmarks/deblur_default.py")
    assert study.main(["--kernels", "box:3", "--sigmas", "2.55", "--crop", "24", "--out", str(tmp_path)]) == 0
    (row,) = json.loads((tmp_path / "deblur_default.json").read_text())["rows"]
    assert set(row["psnr"]) == set(study.METHODS) and row["psnr"]["pnp"] > row["psnr"]["blurred input"]
    assert "| box:3 | 2.55 |" in (tmp_path / "deblur_default.md").read_text()
