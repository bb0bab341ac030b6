"""benchmarks/train_pretrained.py, the script that makes the shipped weights: its recipe overrides,
its comparison mode on a held-out training image, and a manifest two runs can share."""

from __future__ import annotations

import json
import threading

import pytest


@pytest.fixture
def script(load_script):
    return load_script("benchmarks/train_pretrained.py")


def test_overrides_are_typed_like_the_recipe_and_unknown_keys_refused(script):
    assert script.parse_overrides("arch=sccp,depth=20,lr=0.002,nu=0.05") == \
        {"arch": "sccp", "depth": 20, "lr": 0.002, "nu": 0.05}
    assert script.parse_overrides("") == {}
    recipe = script.recipe_of("gray50", {"depth": 3})
    assert recipe["depth"] == 3 and recipe["nu"] == script.INITIAL_NU["gray50"]
    assert set(recipe) == set(script.RECIPE) | {"nu"}
    with pytest.raises(SystemExit, match="KEY one of"):
        script.parse_overrides("width=3")
    with pytest.raises(SystemExit, match="depth must be a int"):
        script.parse_overrides("depth=deep")


def test_compare_trains_each_variant_and_scores_on_the_held_out_training_image(script, tmp_path, capsys):
    assert script.main(["--compare", "1", "--variants", "", "depth=2,features=4", "--set", "depth=3", "features=4",
                        "-o", str(tmp_path), "--no-progress"]) == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    (cmp,) = manifest["comparisons"]
    assert cmp["holdout"] == "chelsea" and cmp["model"] == "gray25" and cmp["seconds"] == 1
    assert [r["recipe"]["depth"] for r in cmp["runs"]] == [3, 2]  # --set is the base, the variant on top
    assert all(r["steps"] > 0 and 10 < r["psnr"] < 60 for r in cmp["runs"])
    assert cmp["best"] in ("", "depth=2,features=4")
    readme = (tmp_path / "README.md").read_text()
    assert "Recipe comparison: gray25, 1 s each" in readme and "| depth=2,features=4 |" in readme
    assert "best:" in capsys.readouterr().out
    assert not list(tmp_path.glob("*.pt"))  # a comparison writes no weights


def test_patch_settings_reach_the_training_config(script):
    assert script.parse_overrides("stride=10,patch=32") == {"stride": 10, "patch": 32}
    recipe = script.recipe_of("color25", {"stride": 30, "depth": 1, "features": 2})
    images = [img[..., :48, :48] for img in script.load_embedded("train", color=True)[:1]]
    *_, config = script.train("color25", recipe, 0.5, 0, images, False)
    assert (config.stride, config.patch) == (30, 40)


def test_compare_a_colour_model_holds_out_a_colour_training_image(script, tmp_path):
    with pytest.raises(SystemExit, match="colour training images"):
        script.main(["--compare", "1", "--compare-model", "color25", "--holdout", "brick", "-o", str(tmp_path)])
    assert script.main(["--compare", "1", "--compare-model", "color25", "--holdout", "rocket", "--set", "depth=1",
                        "features=2", "-o", str(tmp_path), "--no-progress"]) == 0
    (cmp,) = json.loads((tmp_path / "manifest.json").read_text())["comparisons"]
    assert cmp["model"] == "color25" and cmp["holdout"] == "rocket" and 5 < cmp["runs"][0]["psnr"] < 60


def test_concurrent_manifest_updates_keep_every_entry(script, tmp_path):
    errors = []

    def add(i):
        entry = {"command": f"run {i}", "model": "gray25", "seconds": 1, "holdout": "chelsea", "note": "",
                 "best": "", "runs": [{"variant": f"depth={i}", "steps": 1, "psnr": 20.0 + i}]}
        try:
            script.update_manifest(tmp_path, lambda m: m.setdefault("comparisons", []).append(entry))
        except Exception as exc:  # noqa: BLE001  (a thread's exception would not fail the test)
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    runs = json.loads((tmp_path / "manifest.json").read_text())["comparisons"]
    assert sorted(c["command"] for c in runs) == [f"run {i}" for i in range(8)]
    assert (tmp_path / "README.md").read_text().count("## Recipe comparison") == 8


def test_baseline_records_a_scored_entry_per_recipe_and_writes_no_weights(script, tmp_path, capsys):
    common = ["--baseline", "--models", "gray25", "--budget", "1", "-o", str(tmp_path), "--no-progress"]
    assert script.main(common + ["--set", "arch=dncnn", "depth=2", "features=4", "trainer=backprop"]) == 0
    assert script.main(common + ["--set", "depth=2", "features=4", "trainer=backprop"]) == 0
    assert script.main(common + ["--set", "depth=2", "features=4", "trainer=backprop"]) == 0  # replaces
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    dncnn, sccp = manifest["baselines"]
    assert dncnn["arch"]["name"] == "dncnn" and "nu" not in dncnn["arch"] and dncnn["trainer"] == "backprop"
    assert sccp["arch"]["name"] == "sccp" and sccp["arch"]["depth"] == 2
    assert all(b["steps"] > 0 and 10 < b["psnr"] < 60 and 0 < b["ssim"] < 1 for b in (dncnn, sccp))
    assert manifest["models"] == {} and not list(tmp_path.glob("*.pt"))
    readme = (tmp_path / "README.md").read_text()
    assert "DnCNN (deepinv, depth 2, F=4) | backprop" in readme
    assert "test PSNR" in capsys.readouterr().out


def test_a_trained_model_is_scored_alone_and_in_self_ensemble_and_rescored(script, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(script, "bm3d_available", lambda: False)  # BM3D on the test images is slow
    common = ["--models", "gray25", "-o", str(tmp_path), "--no-progress"]
    assert script.main(common + ["--budget", "1", "--set", "depth=2", "features=4"]) == 0
    entry = json.loads((tmp_path / "manifest.json").read_text())["models"]["sccp_gray_s25.pt"]
    rows = entry["evaluation"]["methods"]
    assert {"noisy input", "TV (tuned on train)"} < set(rows) and "evaluation_command" not in entry
    plain, ens = (rows[k]["psnr_mean"] for k in rows if "shipped" in k)
    assert 10 < plain < 60 and 10 < ens < 60
    assert script.main(common + ["--rescore"]) == 0
    again = json.loads((tmp_path / "manifest.json").read_text())["models"]["sccp_gray_s25.pt"]
    assert "--rescore" in again["evaluation_command"] and again["steps"] == entry["steps"]
    assert again["evaluation"]["methods"] == rows  # the same weights and noise: the same scores
    assert "scored again (`--rescore`)" in (tmp_path / "README.md").read_text()
    with pytest.raises(SystemExit, match="train it first"):
        script.main(["--models", "gray50", "-o", str(tmp_path), "--rescore"])
