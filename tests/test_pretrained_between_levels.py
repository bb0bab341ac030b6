"""benchmarks/pretrained_between_levels.py: its 'below' rule is what liftinv.pretrained(sigma) runs,
its 'nearest' rule the nearest model as trained, and a tiny run writes the table."""

from __future__ import annotations

import json
import warnings

import torch

import liftinv
from liftinv.pretrained import MODELS


def test_the_rules_are_the_library_rule_and_the_nearest_model(load_script):
    study = load_script("benchmarks/pretrained_between_levels.py")
    family = liftinv.pretrained.deepinv_denoiser(device="cpu")
    z = torch.rand(1, 1, 20, 20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        shipped, _ = liftinv.pretrained(35, device="cpu")
    with torch.no_grad():
        torch.testing.assert_close(study.rule_denoiser("below", family, 35)(z), shipped(z))
        nearest = study.rule_denoiser("nearest", family, 45)  # 50 is nearer than 25
        assert nearest is family.networks[[m["sigma"] for m in MODELS.values() if not m["color"]].index(50)]


def test_tiny_run_writes_the_table(load_script, tmp_path):
    study = load_script("benchmarks/pretrained_between_levels.py")
    assert study.main(["--sigmas", "35", "--crop", "24", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "pretrained_between_levels.json").read_text())
    assert [r["sigma"] for r in data["rows"]] == [35] and set(study.RULES) <= set(data["rows"][0])
    assert "| 35 |" in (tmp_path / "pretrained_between_levels.md").read_text()


def test_colour_run_compares_the_planned_and_blended_opponent_denoisers(load_script, tmp_path):
    study = load_script("benchmarks/pretrained_between_levels.py")
    assert study.main(["--color", "--sigmas", "2", "--crop", "96", "--out", str(tmp_path)]) == 0
    (row,) = json.loads((tmp_path / "pretrained_between_levels_color.json").read_text())["rows"]
    assert set(study.COLOR_RULES) <= set(row)
    assert row["opponent, blended"] > row["opponent as planned"]  # at 2/255 the lowest model as planned over-smooths
