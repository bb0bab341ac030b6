"""Bad and extreme numeric, device and combined options: a one-line error naming the option,
before any data is loaded or anything is written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_bad_common import TINY, TINY_DFB, refused, run, ws  # noqa: F401  (ws is a fixture)

from liftinv import cli

# (option, value) pairs refused by argparse (exit status 2) in `liftinv train`
TRAIN_OPTIONS = [
    ("--lr", "nan"), ("--lr", "-1"), ("--lr", "0"), ("--lr", "inf"), ("--lr", "fast"),
    ("--epochs", "0"), ("--epochs", "-3"), ("--epochs", "1.5"),
    ("--budget", "0"), ("--budget", "nan"), ("--budget", "-1"), ("--budget", "inf"),
    ("--depth", "0"), ("--features", "0"), ("--features", "-4"),
    ("--sigma", "-5"), ("--sigma", "nan"), ("--sigma", "inf"), ("--sigma", "300"),
    ("--sigma", "0"),  # before: trained a denoiser of noiseless images (the identity) without a word
    ("--patch", "0"), ("--threads", "-1"), ("--threads", "0"), ("--nproc", "0"),
    ("--batch-size", "0"), ("--max-patches", "0"), ("--seed", "-1"),
    ("--lam", "0"), ("--lam", "-1"), ("--lam", "nan"), ("--nu", "0"), ("--nu", "-0.01"), ("--nu", "nan"),
    ("--device", "gpu"), ("--device", "meta"), ("--device", "cdua"), ("--device", "cuda:x"),
    ("--checkpoint-every", "0"), ("--checkpoint-every", "5x"), ("--checkpoint-every", "-1m"),
]


@pytest.mark.parametrize("option, value", TRAIN_OPTIONS)
def test_train_refuses_out_of_range_options(option, value, ws, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "run.pt"
    line = refused(["train", "--data", ws / "data", *TINY_DFB, "--epochs", "1", option, value, "-o", out],
                   capsys, tmp_path, ws, status=2, names=[option])
    assert "expected" in line or "unknown device" in line
    assert not out.exists()


@pytest.mark.parametrize("command, argv, option", [
    ("train-deblur", ["--sigma", "-5"], "--sigma"),
    ("train-deblur", ["--iters", "0"], "--iters"),
    ("train-deblur", ["--features", "0"], "--features"),
    ("train-deblur", ["--epochs", "0"], "--epochs"),
    ("deblur", ["IN", "-o", "OUT", "--sigma", "-5"], "--sigma"),
    ("deblur", ["IN", "-o", "OUT", "--sigma", "nan"], "--sigma"),
    ("deblur", ["IN", "-o", "OUT", "--device", "gpu"], "--device"),
    ("denoise", ["IN", "-o", "OUT", "--checkpoint", "CKPT", "--device", "meta"], "--device"),
    ("invert", ["--input", "IN", "-o", "OUT", "--checkpoint", "CKPT", "--layer", "0"], "--layer"),
    ("invert", ["--input", "IN", "-o", "OUT", "--checkpoint", "CKPT", "--layer", "1", "--iters", "0"], "--iters"),
    ("invert", ["--input", "IN", "-o", "OUT", "--checkpoint", "CKPT", "--layer", "1", "--noise", "-1"], "--noise"),
    ("invert", ["--input", "IN", "-o", "OUT", "--checkpoint", "CKPT", "--layer", "1", "--alpha", "nan"], "--alpha"),
    ("invert", ["--input", "IN", "-o", "OUT", "--checkpoint", "CKPT", "--layer", "1", "--lam", "0"], "--lam"),
    ("invert", ["--input", "IN", "-o", "OUT", "--checkpoint", "CKPT", "--layer", "1", "--beta", "-1"], "--beta"),
    # before: exit 1 with the Python API's messages (a 0-1 remedy for --sigma; no option named)
    ("train-deblur", ["--sigma", "300"], "--sigma"),
    ("deblur", ["IN", "-o", "OUT", "--sigma", "300"], "--sigma"),
    ("denoise", ["IN", "-o", "OUT", "--sigma", "300"], "--sigma"),
    ("invert", ["--input", "IN", "-o", "OUT", "--checkpoint", "CKPT", "--layer", "1", "--solver", "bcd",
                "--beta", "1"], "--beta"),
    ("invert", ["--input", "IN", "-o", "OUT", "--checkpoint", "CKPT", "--layer", "5"], "--layer 5"),
    # before: accepted and ignored (the gradient methods have no lifted solver)
    ("invert", ["--input", "IN", "-o", "OUT", "--checkpoint", "CKPT", "--layer", "1", "--method", "adam",
                "--solver", "bcd", "--beta", "0.9"], "--solver, --beta"),
    ("invert", ["--input", "IN", "-o", "OUT", "--checkpoint", "CKPT", "--layer", "1", "--method", "lbfgs",
                "--data-term", "lifted"], "--data-term"),
    ("train-deblur", ["--kernel", "gaussian:2"], "--patch 8"),  # a 15x15 kernel: before, 'a larger image'
])
def test_other_commands_refuse_out_of_range_options(command, argv, option, ws, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "out.png"
    subs = {"IN": ws / "gray.png", "OUT": out, "CKPT": ws / "gray.pt"}
    argv = [subs.get(a, a) for a in argv]
    if command == "train-deblur":
        argv = ["--data", ws / "data", *TINY, "--epochs", "1", "-o", tmp_path / "d.pt", *argv]
    refused([command, *argv], capsys, tmp_path, ws, status=2, names=[option])
    assert not out.exists() and not (tmp_path / "d.pt").exists()


@pytest.mark.parametrize("argv, names", [
    (["--batch-size", "3", "--nproc", "2"], ["--batch-size", "--nproc"]),
    (["--resume", "--overwrite"], ["--resume", "--overwrite"]),
])
def test_train_refuses_inconsistent_options(argv, names, ws, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "run.pt"
    refused(["train", "--data", ws / "data", *TINY_DFB, "--epochs", "1", *argv, "-o", out], capsys, tmp_path, ws,
            status=2, names=names)
    assert not out.exists()


def test_train_needs_a_budget_or_epochs(ws, tmp_path, capsys):  # noqa: F811
    refused(["train", "--data", ws / "data", *TINY_DFB, "-o", tmp_path / "run.pt"], capsys, tmp_path, status=2,
            names=["--budget", "--epochs"])



def test_kernel_and_kernel_file_together(ws, tmp_path, capsys):  # noqa: F811
    refused(["deblur", ws / "gray.png", "-o", tmp_path / "o.png", "--kernel", "box:3", "--kernel-file", "k.npy"],
            capsys, tmp_path, status=2, names=["--kernel", "--kernel-file"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("command", ["train", "denoise"])
def test_cuda_without_a_gpu_is_refused_before_any_work(command, ws, tmp_path, capsys):  # noqa: F811
    if command == "train":
        argv = ["train", "--data", tmp_path / "no-such-folder", *TINY_DFB[:-2], "--epochs", "1", "--device", "cuda",
                "-o", tmp_path / "run.pt"]
    else:
        argv = ["denoise", ws / "gray.png", "-o", tmp_path / "o.png", "--checkpoint", ws / "gray.pt",
                "--device", "cuda"]
    line = refused(argv, capsys, tmp_path, ws, names=["--device", "cuda"])
    assert "no CUDA device" in line


def test_a_network_that_is_not_lifted_asks_for_backprop_before_any_work(ws, tmp_path, capsys):  # noqa: F811
    refused(["train", "--model", "dncnn", "--data", ws / "data", *TINY, "--epochs", "1", "-o", tmp_path / "d.pt"],
            capsys, tmp_path, status=2, names=["--model dncnn", "--trainer backprop"])


def test_deblur_says_which_options_a_checkpoint_overrides(ws, tmp_path, capsys):  # noqa: F811
    status, out, err = run(["deblur", ws / "gray.png", "-o", tmp_path / "o.png", "--checkpoint", ws / "gray.pt",
                            "--method", "rl", "--sigma", "0", "--kernel", "box:3"], capsys)
    assert "--method rl is ignored" in out and "PnP-HQS" in out
    assert "--sigma 0 is below the rounding noise" in out
    # the workspace's denoiser (one epoch on noise images) cannot hold the iteration: said so
    assert status == 0 or "PnP-HQS diverged" in err


def test_invert_with_noise_keeps_the_codes_in_the_layer_s_range(ws, tmp_path, capsys):  # noqa: F811
    """--noise on a DFB layer (a clip to [-1, 1]): the noisy codes were clamped at 0 from below only
    (negative features wiped out: L-BFGS 87.9 -> 12.5 dB), and the lifted solver refused them."""
    import torch

    from liftinv.activations import Clip
    from liftinv.inversion.noise import noisy_code

    code = torch.linspace(-1, 1, 50).reshape(1, 50)
    noisy = noisy_code(code, 0.5, 0, Clip(-1.0, 1.0))
    assert float(noisy.min()) == -1.0 and float(noisy.max()) == 1.0 and float((noisy < 0).float().mean()) > 0.3
    common = ["invert", "--input", ws / "gray.png", "-o", tmp_path / "x.png", "--checkpoint", ws / "gray.pt",
              "--layer", "2", "--iters", "20", "--no-progress"]
    status, _, err = run([*common, "--noise", "0.05"], capsys)  # lifted: refused the codes before
    assert status == 0, err
    psnr = {}
    for noise in ("0", "0.0001"):  # a tiny noise changes little (it wiped out the negative features)
        status, out, err = run([*common, "--method", "lbfgs", "--noise", noise], capsys)
        assert status == 0, err
        psnr[noise] = float(out.split("PSNR ")[1].split(" dB")[0])
    assert abs(psnr["0.0001"] - psnr["0"]) < 3.0, psnr


def test_invert_caps_the_penalty_growth_and_reports_the_iterations_run(ws, tmp_path, capsys, monkeypatch):  # noqa: F811
    from liftinv.inversion import lifted

    seen = {}
    original = lifted.LiftedInversion.run

    def spy(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        seen.update(result.settings)
        return result

    monkeypatch.setattr(lifted.LiftedInversion, "run", spy)
    status, out, err = run(["invert", "--input", ws / "gray.png", "-o", tmp_path / "x.png", "--checkpoint",
                            ws / "gray.pt", "--layer", "3", "--solver", "bcd", "--lam-growth", "1.1", "--iters", "300",
                            "--no-progress"], capsys)
    assert status == 0, err
    assert seen["iterations"] > 0 and seen["lam_final"] == [1e3] * len(seen["lam_final"])  # grown, capped
    assert f"(lifted bcd, {seen['iterations']} iterations," in out


@pytest.mark.parametrize("command, argv, option", [
    ("denoise", ["IN", "-o", "IN", "--checkpoint", "CKPT"], "the input"),
    ("deblur", ["IN", "-o", "IN", "--kernel", "box:3"], "the input"),
    ("deblur", ["IN", "-o", "CLEAN", "--kernel", "box:3", "--clean", "CLEAN"], "--clean"),
])
def test_an_output_that_is_an_input_file_is_refused(command, argv, option, ws, tmp_path, capsys):  # noqa: F811
    """Before: `liftinv denoise same.png -o same.png` replaced the noisy input with its result."""
    import shutil
    shutil.copy(ws / "gray.png", tmp_path / "in.png")
    shutil.copy(ws / "gray.png", tmp_path / "clean.png")
    subs = {"IN": tmp_path / "in.png", "CLEAN": tmp_path / "clean.png", "CKPT": ws / "gray.pt"}
    refused([command, *[subs.get(a, a) for a in argv]], capsys, tmp_path, ws, status=2, names=["-o/--output", option])


def test_bench_checks_its_kernels_before_any_work(tmp_path, capsys):
    """Before: 9 s of work, then 'kernel ...' (exit 1) and an empty output folder."""
    out = tmp_path / "bench"
    refused(["bench", "deblur", "--kernels", "gaussian:", "--budget", "1", "-o", out, "--no-progress"], capsys,
            tmp_path, status=2, names=["--kernels"])
    assert not out.exists()


def test_invert_prints_no_ssim_for_a_narrow_image_and_succeeds(ws, tmp_path, capsys):  # noqa: F811
    """Before: the image was written, then 'SSIM needs images of at least 11x11' and exit 1."""
    import numpy as np
    import skimage.io
    narrow = tmp_path / "narrow.png"
    skimage.io.imsave(narrow, (np.random.default_rng(0).random((24, 6)) * 255).astype(np.uint8), check_contrast=False)
    code, out, err = run(["invert", "--checkpoint", ws / "gray.pt", "--layer", "1", "--input", narrow,
                          "-o", tmp_path / "i.png", "--iters", "2", "--no-progress"], capsys)
    assert code == 0, err
    assert "SSIM n/a" in out and (tmp_path / "i.png").exists()


def test_invert_asks_for_another_prior_on_a_one_pixel_image(ws, tmp_path, capsys):  # noqa: F811
    """Before: exit 1 and the Python API's advice (regulariser='tikhonov', nn.Flatten())."""
    import numpy as np
    import skimage.io
    skimage.io.imsave(tmp_path / "dot.png", np.array([[128]], np.uint8), check_contrast=False)
    refused(["invert", "--checkpoint", ws / "gray.pt", "--layer", "1", "--input", tmp_path / "dot.png",
             "-o", tmp_path / "i.png", "--no-progress"], capsys, tmp_path, ws, status=2,
            names=["--regulariser tv", "--regulariser tikhonov"])


DEVICE_DEMOS = ["denoising", "deblurring", "inversion", "lifted_training", "where_lifting_wins"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("demo", DEVICE_DEMOS)
def test_a_demo_refuses_cuda_without_a_gpu_in_one_line_before_any_work(demo, load_script, tmp_path, capsys):
    """Before: a ValueError traceback (lifted_training also left an empty output folder)."""
    script, out = load_script(f"demos/{demo}.py"), tmp_path / "out"
    status = cli.report_errors(f"demos/{demo}.py", lambda: script.main(["--device", "cuda", "-o", str(out)]))
    lines = capsys.readouterr().err.strip().splitlines()
    assert status == 1 and len(lines) == 1, lines  # as `liftinv train --device cuda`
    assert lines[0].startswith(f"demos/{demo}.py: error: --device: 'cuda' was requested but no CUDA device")
    assert not out.exists()
    assert f'report_errors("demos/{demo}.py", main)' in Path(script.__file__).read_text()  # as a script too


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_demo_run_as_a_script_prints_one_error_line(tmp_path):
    proc = subprocess.run([sys.executable, "demos/denoising.py", "--device", "cuda", "-o", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 1 and proc.stderr.strip().splitlines() == [
        "demos/denoising.py: error: --device: 'cuda' was requested but no CUDA device is available; use 'cpu'"]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv, option", [(["--kernel", "foo"], "--kernel"), (["--sigma", "300"], "--sigma"),
                                          (["--kernel", "gaussian:"], "--kernel")])
def test_the_deblurring_demo_checks_its_kernel_and_noise_when_parsing(argv, option, load_script, capsys):
    """Before: --kernel foo failed with a traceback after training the PnP denoisers (minutes)."""
    with pytest.raises(SystemExit) as exc:
        load_script("demos/deblurring.py").build_parser().parse_args(argv)
    assert exc.value.code == 2 and f"argument {option}:" in capsys.readouterr().err


def test_quick_inversion_keeps_the_options_given(load_script):
    """Before: --quick replaced every size option, --size 48 included."""
    demo = load_script("demos/inversion.py")
    a = demo.parse_args(["--quick", "--size", "48", "--iters", "7", "--dfb-budget", "3"])
    assert (a.size, a.iters, a.dfb_budget) == (48, 7, 3.0)
    assert (a.m, a.perceptron_iters, a.ae_budget, a.crop) == (256, 300, 10.0, 32)  # the quick defaults
    full = demo.parse_args(["--m", "100"])
    assert (full.size, full.m, full.iters) == (64, 100, 300)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_bench_checks_the_device_before_making_its_folder(tmp_path, capsys):
    """Before: the folder was made, then `liftinv bench: error: device: ...`."""
    out = tmp_path / "scale"
    line = refused(["bench", "scale", "-o", out, "--device", "cuda"], capsys, tmp_path)
    assert line.startswith("liftinv bench scale: error: --device: 'cuda' was requested")
    assert not out.exists()


@pytest.mark.parametrize("argv, words", [
    (["--main-sigma", "300"], "argument --main-sigma: expected a noise std on the 0-255 scale"),
    (["--main-sigma", "20"], "--main-sigma 20 is not among --sigmas 15 25 50"),
    (["--sigmas", "15", "50", "--main-sigma", "25"], "--main-sigma 25 is not among --sigmas 15 50"),
])
def test_bench_denoise_refuses_a_main_sigma_it_does_not_run(argv, words, tmp_path, capsys):
    """Before: accepted; no level got --budget (300: a 0-255 level above 255)."""
    out = tmp_path / "bench"  # --data: a run that got past the check would stop there, not train for minutes
    line = refused(["bench", "denoise", *argv, "--data", tmp_path / "no-such-folder", "-o", out], capsys, tmp_path,
                   status=2, names=[words])
    assert line.startswith("liftinv bench denoise: error:") and not out.exists()
