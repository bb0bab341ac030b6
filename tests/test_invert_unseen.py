"""benchmarks/invert_unseen.py: every network converts, noisy outputs are possible outputs (the
Bregman data term's requirement), and a tiny run writes one row per network and noise level."""

from __future__ import annotations

import json

import torch

from liftinv.inversion import as_lifted


def test_every_network_converts_and_crops_come_from_the_training_images(load_script):
    study = load_script("benchmarks/invert_unseen.py")
    x = study.training_crops()
    assert x.shape == (6, 1, study.CROP, study.CROP) and 0 <= float(x.min()) and float(x.max()) <= 1
    for name, make in study.NETWORKS.items():
        torch.manual_seed(0)
        module = make().eval()
        net = as_lifted(module, in_shape=(1, study.CROP, study.CROP))
        with torch.no_grad():
            torch.testing.assert_close(net(x[:2]), module(x[:2]), rtol=1e-4, atol=1e-5, msg=name)


def test_tiny_study_writes_json_and_table(load_script, tmp_path):
    study = load_script("benchmarks/invert_unseen.py")
    assert study.main(["--networks", "relu", "--noise", "0.05", "--long", "20", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "invert_unseen.json").read_text())["rows"]
    assert [(r["network"], r["noise"]) for r in rows] == [("relu", 0.05)]
    row = rows[0]
    assert row["lifted 20"]["iterations"] == 20 and row["lifted 300"]["iterations"] == 300
    assert 100 < row["lifted"]["iterations"] <= 1000  # the plateau rule ended the default run
    assert all(row[k]["psnr"] > 20 for k in ("lifted", "lifted 300", "L-BFGS"))  # from 11 dB at mid-grey
    # L-BFGS from the lifted estimate lowers the nested objective it minimises
    assert row["lifted, then L-BFGS"]["nested_objective"] < row["lifted"]["nested_objective"]
    assert "| relu | 0.05 |" in (tmp_path / "invert_unseen.md").read_text()
