"""Smoke test of benchmarks/lifted_vs_backprop.py: a --quick run writes complete, sane outputs."""

from __future__ import annotations

import json
import math

import pytest
import torch

TASKS = ("regression", "classification")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory, load_script):
    bench = load_script("benchmarks/lifted_vs_backprop.py")
    out = tmp_path_factory.mktemp("bench")
    result = bench.main(["--quick", "--out", str(out), "--no-progress", "--device", "cpu"])
    return bench, out, result


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def test_json_has_every_task_and_method(quick_run):
    bench, out, result = quick_run
    defaults = bench.parse_args([])
    data = json.loads((out / "lifted_vs_backprop.json").read_text())
    assert data == json.loads(json.dumps(result))  # what main returns is what it wrote
    methods = list(bench.METHODS)
    assert {"lifted-bregman", "mac", "fenchel", "bregman-prox-grad", "adam-backprop"} <= set(
        methods
    )
    pairs = [(r["task"], r["method"]) for r in data["records"]]
    assert sorted(pairs) == sorted((t, m) for t in TASKS for m in methods)
    for key in ("command", "torch", "threads", "cpu", "device"):
        assert data["machine"][key] not in (None, "")
    assert data["settings"]["budget"] == 2.0 and data["settings"]["quick"] is True

    for r in data["records"]:
        for key in (
            "train_loss",
            "test_loss",
            "seconds",
            "iters_per_second",
            "ms_per_step",
            "step_time_ratio",
            "test_loss_ratio",
        ):
            assert _finite(r[key]) and r[key] > 0, (r["task"], r["method"], key, r[key])
        assert isinstance(r["iterations"], int) and r["iterations"] > 0
        # the budget is checked after every step, so it is reached (the stopping step itself: the
        # fake-clock test of fit in test_solvers.py; no upper bound on a busy machine's wall clock)
        assert r["seconds"] >= 2.0
        assert r["settings"]["batch_size"] == 64
        if r["method"] != "adam-backprop":  # Adam rows: the trainers' forward-anchored gradient
            assert r["settings"]["gradient"] == ("aux" if r["method"] == "bregman-prox-grad" else "matched")
        mem = r["memory"]
        assert (
            mem["analytic_bytes"]
            == mem["parameter_bytes"] + mem["optimizer_state_bytes"] + mem["aux_batch_bytes"]
        )
        assert (
            mem["parameter_bytes"] > 0
            and mem["aux_batch_bytes"] > 0
            and mem["optimizer_state_bytes"] > 0
        )
        assert len(r["curve"]) >= 1 and all(_finite(p["test_loss"]) for p in r["curve"])
        assert [p["seconds"] for p in r["curve"]] == sorted(p["seconds"] for p in r["curve"])
        if r["task"] == "classification":
            assert 0.0 <= r["train_accuracy"] <= 1.0 and 0.0 <= r["test_accuracy"] <= 1.0
        if r["method"] == "adam-backprop":
            assert r["step_time_ratio"] == pytest.approx(1.0) and r[
                "test_loss_ratio"
            ] == pytest.approx(1.0)
        else:
            st = r["settings"]
            assert st["aux_iters"] == defaults.aux_iters and st["order"] == defaults.order
            assert st["lam"] == (1.0 if st["penalty"] == "fenchel" else defaults.lam)
            expected = "prox-grad" if r["method"] == "bregman-prox-grad" else "adam"
            assert st["weight_update"] == expected

    for task in TASKS:
        s = data["summary"][task]
        rows = {r["method"]: r for r in data["records"] if r["task"] == task}
        ratio = rows["lifted-bregman"]["test_loss"] / rows["adam-backprop"]["test_loss"]
        assert s["lifted_over_adam_test_loss"] == pytest.approx(ratio)
        assert s["target_met"] == (ratio <= s["target"]) and s["target"] == pytest.approx(1.10)


def test_markdown_and_png(quick_run):
    bench, out, result = quick_run
    md = (out / "lifted_vs_backprop.md").read_text()
    assert result["machine"]["command"] in md
    for task in TASKS:
        assert f"## {task}" in md
    table_rows = [
        ln for ln in md.splitlines() if ln.startswith("| ") and not ln.startswith("| method")
    ]
    assert len(table_rows) == len(TASKS) * len(bench.METHODS)
    for method in bench.METHODS:
        assert sum(ln.startswith(f"| {method} |") for ln in table_rows) == len(TASKS)
    assert md.count("Target (lifted Bregman") == len(TASKS)
    png = (out / "lifted_vs_backprop.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and 5_000 < len(png) < 500_000


def test_denoising_demo_warns_when_step_counts_disagree_with_step_times(load_script):
    demo = load_script("demos/denoising.py")
    assert "WARNING" not in demo.step_count_note(518, 698, 1.41)
    assert "WARNING" in demo.step_count_note(591, 276, 1.30)  # a shared CPU: backprop got half the steps
    assert "WARNING" in demo.step_count_note(100, 400, 1.30)


def test_trainer_parity_interleaves_both_trainers_on_one_stream(tmp_path, load_script):
    bench = load_script("benchmarks/trainer_parity.py")
    report = bench.main(["--levels", "25", "--seeds", "0", "1", "--steps", "2", "--eval-every", "1",
                         "--crop", "24", "--holdout", "-o", str(tmp_path)])
    assert report["settings"]["scored_on"] == ["chelsea", "coffee"]  # settings are chosen off the test images
    assert {r["seed"] for r in report["runs"]} == {0, 1}
    for run in report["runs"]:
        assert run["lifted_solver"]["gradient"] == "matched" and run["step_ratio"] > 0
        for trainer in ("lifted", "backprop"):
            assert [p["step"] for p in run["curves"][trainer]] == [1, 2]
            assert all(p["seconds"] > 0 and math.isfinite(p["psnr"]) for p in run["curves"][trainer])
    summary = report["summary"]["25.0"]
    assert summary["equal_step_gap"]["2"]["n"] == 2 and math.isfinite(summary["equal_time_gap"]["mean"])
    # the amortised ratio is what the runs paid; the lifted statistics say the step they were measured at
    paid = [r["curves"]["lifted"][-1]["seconds"] / r["curves"]["backprop"][-1]["seconds"] for r in report["runs"]]
    assert summary["step_ratio_amortised"]["mean"] == pytest.approx(sum(paid) / len(paid))
    assert all(p["monitored_step"] == p["step"] for r in report["runs"] for p in r["curves"]["lifted"])  # E = 1
    assert bench._setting({"task": "deblur"}, "kernel") == "gaussian:2.0"  # reports from before it was recorded
    assert bench._setting({"task": "denoise", "kernel": None}, "kernel") is None
    assert (tmp_path / "parity.md").read_text().count("| 25 |") >= 1 and (tmp_path / "parity.png").exists()
    assert bench.interpolate([{"seconds": 1.0, "psnr": 20.0}, {"seconds": 3.0, "psnr": 24.0}], 2.0) == 22.0
    assert bench.lifted_options(["gradient=aux", "aux_iters=2"]) == {"gradient": "aux", "aux_iters": 2}


def test_trainer_parity_runs_on_the_device_it_is_given(tmp_path, load_script, device, capsys):
    """``--device``: both networks train there and score the CPU's degraded test images (the same on
    every device); a GPU that is not there is refused before any training, naming --device."""
    bench = load_script("benchmarks/trainer_parity.py")
    if device.type == "cpu" and not torch.cuda.is_available():
        with pytest.raises(SystemExit):
            bench.parse_args(["--device", "cuda"])
        assert "--device: 'cuda' was requested but no CUDA device is available" in capsys.readouterr().err
    report = bench.main(["--levels", "25", "--seeds", "0", "--steps", "2", "--eval-every", "2", "--crop", "24",
                         "--device", str(device), "-o", str(tmp_path)])
    assert report["meta"]["device"] == str(device)
    assert all(math.isfinite(p["psnr"]) for r in report["runs"] for c in r["curves"].values() for p in c)


def test_trainer_parity_merges_seeds_run_apart(tmp_path, load_script):
    bench = load_script("benchmarks/trainer_parity.py")
    common = ["--levels", "25", "--steps", "2", "--eval-every", "1", "--crop", "24", "--holdout"]
    parts = [bench.main(common + ["--seeds", str(seed), "-o", str(tmp_path / f"s{seed}")]) for seed in (0, 1)]
    merged = bench.main(["--merge", str(tmp_path / "s0"), str(tmp_path / "s1"), "-o", str(tmp_path / "all")])
    assert merged["settings"]["seeds"] == [0, 1] and [r["seed"] for r in merged["runs"]] == [0, 1]
    gaps = [p["summary"]["25.0"]["equal_time_gap"]["mean"] for p in parts]
    assert merged["summary"]["25.0"]["equal_time_gap"]["mean"] == pytest.approx(sum(gaps) / 2)
    assert [m["folder"] for m in merged["meta"]["merged_from"]] == [str(tmp_path / "s0"), str(tmp_path / "s1")]
    assert (tmp_path / "all" / "parity.md").exists()
    with pytest.raises(SystemExit, match="appears twice"):
        bench.main(["--merge", str(tmp_path / "s0"), str(tmp_path / "s0"), "-o", str(tmp_path / "bad")])
    bench.main(common + ["--seeds", "2", "--steps", "3", "-o", str(tmp_path / "s2")])
    with pytest.raises(SystemExit, match="steps"):
        bench.main(["--merge", str(tmp_path / "s0"), str(tmp_path / "s2"), "-o", str(tmp_path / "bad")])
    # the default spelled out merges; another aux step does not
    bench.main(common + ["--seeds", "3", "--lifted", "aux_step=mirror", "-o", str(tmp_path / "s3")])
    bench.main(["--merge", str(tmp_path / "s0"), str(tmp_path / "s3"), "-o", str(tmp_path / "s03")])
    bench.main(common + ["--seeds", "4", "--lifted", "aux_step=prox", "-o", str(tmp_path / "s4")])
    with pytest.raises(SystemExit, match="lifted solver"):
        bench.main(["--merge", str(tmp_path / "s0"), str(tmp_path / "s4"), "-o", str(tmp_path / "bad")])


def test_step_ratio_times_both_trainers_for_every_activation(tmp_path, load_script):
    bench = load_script("benchmarks/step_ratio.py")
    assert bench.main(["--depths", "2", "--activations", "relu", "tanh", "--rounds", "2", "--steps", "1",
                       "--warm-up", "1", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "step_ratio.json").read_text())["rows"]
    assert [(r["activation"], r["depth"], r["method"]) for r in rows] == [
        (a, 2, m) for a in ("relu", "tanh") for m in ("lifted-bregman-matched", "lifted-bregman-mirror")]
    assert all(r["steps_timed"] == 2 and r["lifted_ms"] > 0 and r["backprop_ms"] > 0 and r["ratio_amortised"] > 0
               and abs(r["ratio"] - r["lifted_ms"] / r["backprop_ms"]) < 1e-9 for r in rows)
    assert "| tanh | 2 | lifted-bregman-mirror |" in (tmp_path / "step_ratio.md").read_text()


def test_self_ensemble_scores_every_size_on_training_images(tmp_path, load_script):
    from liftinv.pretrained import available

    if not any(m["key"] == "gray25" for m in available()):
        pytest.skip("gray25 weights not shipped in this checkout")
    bench = load_script("benchmarks/self_ensemble.py")
    assert bench.main(["--models", "gray25", "--crop", "32", "--out", str(tmp_path)]) == 0
    (row,) = json.loads((tmp_path / "self_ensemble.json").read_text())["rows"]
    assert row["images"] and "camera" not in row["images"]  # training images only
    assert sorted(map(int, row["psnr"])) == [1, 2, 4, 8] and all(20 < p < 60 for p in row["psnr"].values())
    assert "| gray25 |" in (tmp_path / "self_ensemble.md").read_text()


def test_aux_steps_compares_variants_at_equal_steps(tmp_path, load_script):
    bench = load_script("benchmarks/aux_steps.py")
    assert bench.main(["--variants", "mirror:0.0001", "prox:1", "--activations", "tanh", "--depths", "3",
                       "--seeds", "0", "1", "--epochs", "2", "--n-train", "640", "--n-test", "128",
                       "--out", str(tmp_path)]) == 0
    rows = {r["variant"]: r for r in json.loads((tmp_path / "aux_steps.json").read_text())["rows"]}
    assert set(rows) == {"backprop", "mirror:0.0001", "prox:1"}
    assert all(len(r["test_loss"]) == 2 and r["mean"] == pytest.approx(sum(r["test_loss"]) / 2) for r in rows.values())
    assert rows["backprop"]["test_loss"][0] != rows["backprop"]["test_loss"][1]  # the seeds differ
    assert "| tanh | 3 |" in (tmp_path / "aux_steps.md").read_text()
    with pytest.raises(SystemExit):
        bench.parse_variant("newton:1")


def test_color_denoisers_scores_every_variant_on_held_out_and_test_images(tmp_path, load_script):
    from liftinv.pretrained import available

    if len(available(color=False)) < 3 or not available(color=True):
        pytest.skip("shipped weights not all present in this checkout")
    bench = load_script("benchmarks/color_denoisers.py")
    assert bench.main(["--sigmas", "25", "--sets", "validation", "test", "--no-bm3d", "--crop", "24",
                       "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "color_denoisers.json").read_text())["results"]
    assert set(results) == {"validation/25", "test/25"}
    assert results["validation/25"]["images"] == list(bench.VALIDATION)
    assert "astronaut" in results["test/25"]["images"]
    methods = results["test/25"]["methods"]
    assert {"opponent (default)", "opponent (default), x8 self-ensemble", "TV (tuned on train)"} <= set(methods)
    assert all(m["psnr_mean"] > methods["noisy input"]["psnr_mean"] for k, m in methods.items() if k != "noisy input")
    assert "### sigma 25, validation images" in (tmp_path / "color_denoisers.md").read_text()


def test_pnp_family_compares_one_model_with_the_family(tmp_path, load_script):
    from liftinv.pretrained import available

    if len(available(color=False)) < 2:
        pytest.skip("shipped weights not all present in this checkout")
    bench = load_script("benchmarks/pnp_family.py")
    assert bench.main(["--split", "test", "--noises", "2.55", "--crop", "32", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "pnp_family_test.json").read_text())["rows"]
    assert [r["image"] for r in rows] == ["camera", "astronaut", "coins"]
    assert all({"blurred", "fixed 15", "family"} <= set(r) for r in rows)
    assert "family minus fixed" in (tmp_path / "pnp_family_test.md").read_text()


def test_relu_autoencoder_trains_every_method_from_one_start(tmp_path, load_script):
    """Every method trains the same initial autoencoder (one epoch here) and is scored on the test
    patches; the prox step keeps more hidden ReLU units active than back-propagation does."""
    bench = load_script("benchmarks/relu_autoencoder.py")
    assert bench.main(["--epochs", "1", "--seeds", "0", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "relu_autoencoder.json").read_text())
    rows = {r["method"]: r for r in report["rows"]}
    assert set(rows) == {"lifted-prox", "lifted-mirror", "backprop"}
    assert all(r["steps"] == rows["backprop"]["steps"] > 0 and math.isfinite(r["test_loss"]) for r in rows.values())
    assert rows["lifted-prox"]["active"] > rows["backprop"]["active"]
    assert all(len(r["curve"]) == 1 and _finite(r["curve"][0][1]) for r in rows.values())  # one epoch, its loss
    assert "| lifted-prox |" in (tmp_path / "relu_autoencoder.md").read_text()


def test_where_lifting_wins_demo_scores_both_trainers_and_writes_its_figure(tmp_path, load_script):
    """The short demo of the regime where lifting wins: both trainers for the same seconds (1 s each
    here), their test losses, ratio and active units in the JSON, and a figure."""
    demo = load_script("demos/where_lifting_wins.py")
    assert demo.main(["--budget", "1", "-o", str(tmp_path)]) is None
    summary = json.loads((tmp_path / "where_lifting_wins.json").read_text())
    results = summary["results"]
    assert set(results) == set(demo.METHODS) and summary["budget"] == 1.0
    assert all(math.isfinite(r["test_loss"]) and 0.0 <= r["active"] <= 1.0 and r["steps"] > 0 for r in results.values())
    lifted, backprop = (results[k] for k in demo.METHODS)
    assert summary["test_loss_ratio"] == backprop["test_loss"] / lifted["test_loss"]
    png = (tmp_path / "where_lifting_wins.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_deblur_runs_every_method_and_writes_its_report(tmp_path):
    from test_denoising import _images

    from liftinv.bench.deblur import run_deblur_benchmark

    train, test = _images(2, 48, seed=1), _images(2, 48, seed=2)
    report = run_deblur_benchmark(kernels=("box:3",), sigmas=(2.55,), budget=1.0, denoiser_budget=1.0, iters=1,
                                  features=4, patch=16, train_images=train, test_images=test, test_names=["a", "b"],
                                  out=tmp_path, progress=False, max_patches=64, pnp_iters=2)
    records = {r["method"]: r for r in report["records"]}
    assert {"blurred input", "Wiener (balance tuned on train)", "unrolled net, lifted BCD", "unrolled net, backprop",
            "PnP-HQS + DFB-PNN lifted"} <= set(records)
    assert all(len(r["psnr"]) == 2 for r in records.values())
    wiener, blurred = records["Wiener (balance tuned on train)"], records["blurred input"]
    assert wiener["psnr_mean"] > blurred["psnr_mean"]  # tuned on the training images, it helps on the test ones
    assert "| unrolled net, lifted BCD |" in (tmp_path / "deblur.md").read_text()


def test_bench_invert_runs_its_cases_on_small_images(tmp_path):
    from test_denoising import _images

    from liftinv.bench.invert import run_invert_benchmark

    train, test = _images(2, 48, seed=1), _images(2, 48, seed=2)
    report = run_invert_benchmark(train_images=train, test_images=test, test_names=["a", "b"], out=tmp_path,
                                  cases=("perceptron", "autoencoder", "features"), progress=False, size=16, m=32,
                                  perceptron_iters=20, n_perceptron=1, ae_budget=1.0, ae_code=8, crop=64, iters=5,
                                  alpha_grid=(1e-4, 1e-3))
    assert report["autoencoder"]["settings"]["crop"] == 48  # cut to the images (it crashed on a 64 crop)
    assert {r["method"] for r in report["autoencoder"]["records"]} >= {"lifted (apg)", "gradient (L-BFGS)"}
    assert (tmp_path / "autoencoder.pt").is_file() and "invert" in (tmp_path / "invert.md").read_text()


def test_bench_deblur_reads_its_kernels_before_training(tmp_path):
    """Before: a missing kernel file (or a bad kernel from demos/deblurring.py) failed after the PnP
    denoisers were trained, and left the output folder behind."""
    from liftinv.bench.deblur import run_deblur_benchmark

    with pytest.raises(FileNotFoundError, match="no-such-kernel.npy"):
        run_deblur_benchmark(kernels=("box:3", str(tmp_path / "no-such-kernel.npy")), budget=1.0, denoiser_budget=1.0,
                             out=tmp_path / "out", progress=False, train_images=[], test_images=[])
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("sigmas, main_sigma, expected", [([15, 25, 50], None, 25.0), ([15, 50], None, 15),
                                                          ([15, 50], 50.0, 50.0)])
def test_bench_denoise_main_sigma_is_one_of_its_sigmas(sigmas, main_sigma, expected):
    import argparse

    from liftinv.bench.denoise import check

    args = argparse.Namespace(sigmas=sigmas, main_sigma=main_sigma)
    check(args)
    assert args.main_sigma == expected
