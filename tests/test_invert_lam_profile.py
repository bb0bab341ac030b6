"""benchmarks/invert_lam_profile.py: its profiles have the stated shape and a tiny run writes its
tables."""

from __future__ import annotations

import json
import math

import pytest


def test_profiles_are_geometric_with_geometric_mean_one(load_script):
    study = load_script("benchmarks/invert_lam_profile.py")
    heavy = study.geometric(10.0, 0.1, 4)
    assert heavy[0] == pytest.approx(10.0) and heavy[-1] == pytest.approx(0.1)
    ratios = [b / a for a, b in zip(heavy, heavy[1:])]
    assert ratios == pytest.approx([ratios[0]] * 3)
    assert math.prod(heavy) == pytest.approx(1.0)
    assert study.geometric(10.0, 0.1, 1) == pytest.approx([1.0])
    by_label = {m["label"]: m for m in study.methods(4)}
    assert by_label["data-heavy"]["lam"] == heavy[::-1] and by_label["uniform"]["lam"] == [1.0] * 4
    assert by_label["L-BFGS"]["kind"] == "lbfgs"


def test_tiny_study_writes_json_and_table(load_script, tmp_path):
    study = load_script("benchmarks/invert_lam_profile.py")
    assert study.main(["--iters", "20", "--crops", "2", "--torch-steps", "2", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "invert_lam_profile.json").read_text())
    assert len(data["best"]) == 4 * 5  # noise levels x methods
    assert all(math.isfinite(r["nested"]) and r["curve"][-1][0] == 20 for r in data["best"])
    table = (tmp_path / "invert_lam_profile.md").read_text().splitlines()
    header = next(line for line in table if line.startswith("| code noise"))
    rows = [line for line in table if line.startswith("| 0")]
    assert len(rows) == 20 and all(r.count("|") == header.count("|") for r in rows)
