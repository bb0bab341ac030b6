"""The shipped denoisers (liftinv.pretrained), the denoise command without --checkpoint, --tile,
and the small fixes of issue 15: default_arch's None-only defaults."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
import torch

import liftinv
from liftinv import cli
from liftinv.pretrained import MODELS, WEIGHTS_DIR, available, pretrained


def _require(*keys):
    missing = [MODELS[k]["file"] for k in keys if not (WEIGHTS_DIR / MODELS[k]["file"]).is_file()]
    if missing:
        pytest.skip(f"shipped weights {missing} not written yet (benchmarks/train_pretrained.py)")


@pytest.mark.parametrize("key", sorted(MODELS))
def test_every_shipped_file_loads_and_denoises(key):
    _require(key)
    spec = MODELS[key]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the trained sigma itself: no notice
        net, info = pretrained(spec["sigma"], color=spec["color"], device="cpu", color_model="rgb")
    assert not net.training
    assert info["file"] == spec["file"] and info["sigma"] == spec["sigma"] and info["trainer"] == "lifted"
    assert info["seconds"] > 0 and info["steps"] > 0
    assert (WEIGHTS_DIR / spec["file"]).stat().st_size < 1_000_000
    c = 3 if spec["color"] else 1
    z = torch.rand(1, c, 24, 20)
    with torch.no_grad():
        out = net(z)
    assert out.shape == z.shape and bool(torch.isfinite(out).all())
    assert key in {m["key"] for m in available()}


def test_weights_hold_no_optimiser_state():
    _require("gray25")
    ckpt = torch.load(WEIGHTS_DIR / MODELS["gray25"]["file"], weights_only=False)
    assert ckpt.get("solver") is None
    assert {"arch", "task", "config", "state_dict"} <= set(ckpt)


def test_an_untrained_sigma_gets_the_model_below_rescaled_with_a_notice():
    """Between trained levels: the model of the largest level below, on the image scaled so that it
    sees its own level, which is what the deepinv family denoiser does at that level (it scored
    above the nearest model as trained on the training images, +2.7 dB at sigma 35, docs)."""
    _require("gray10", "gray15", "gray25", "gray50")
    with pytest.warns(UserWarning, match=f"{MODELS['gray25']['file']} \\(sigma 25/255\\) on the image scaled by 0.714"):
        net, info = pretrained(35)
    assert info["sigma"] == 35 and info["trained_sigma"] == 25 and info["file"] == MODELS["gray25"]["file"]
    z = torch.rand(1, 1, 24, 24)
    with torch.no_grad():
        torch.testing.assert_close(net(z), liftinv.pretrained.deepinv_denoiser()(z, 35 / 255))
    with pytest.warns(UserWarning, match="the lowest.*weighted 0.5 against") as record:
        net, info = liftinv.pretrained(5)  # below every level: the lowest, blended with the input
    assert info["trained_sigma"] == 10 and info["weight"] == 0.5
    with torch.no_grad():
        torch.testing.assert_close(net(z), 0.5 * net.network(z) + 0.5 * z)
    assert record[0].filename == __file__  # the warning points at the caller's line, not liftinv's
    assert pretrained(np.float32(25.0))[1]["sigma"] == 25  # numpy scalars are numbers too


@pytest.mark.parametrize("sigma", [0, -5, float("nan"), float("inf"), "25", True, 300])
def test_bad_sigma_is_refused(sigma):
    with pytest.raises(ValueError, match="sigma"):
        pretrained(sigma)


def test_missing_file_names_it_and_the_remedy(monkeypatch, tmp_path):
    from liftinv import pretrained as module

    monkeypatch.setattr(module, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match=MODELS["gray25"]["file"] + r".*train_pretrained\.py --models gray25"):
        pretrained(25)
    assert available() == []


def test_import_is_cheap():
    import subprocess

    code = "import sys, liftinv, liftinv.pretrained as p; p.available(); print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() \
        == "False"


# -- the command line ---------------------------------------------------------------------------
def _image(path, channels, size=(40, 36)):
    import skimage.io

    rng = np.random.default_rng(1)
    shape = size if channels == 1 else (*size, 3)
    skimage.io.imsave(path, (rng.random(shape) * 255).astype(np.uint8), check_contrast=False)
    return str(path)


@pytest.mark.parametrize("channels, keys", [(1, ["gray25"]), (3, ["gray15", "gray25"])])
def test_denoise_without_checkpoint_uses_the_shipped_weights(channels, keys, tmp_path, capsys):
    """Grayscale: the model of the sigma; colour: the grayscale models in the opponent space."""
    _require(*keys)
    out = tmp_path / "out.png"
    assert cli.main(["denoise", _image(tmp_path / "in.png", channels), "-o", str(out), "--sigma", "25",
                     "--device", "cpu"]) == 0
    stdout = capsys.readouterr().out
    paths = " + ".join(str(WEIGHTS_DIR / MODELS[k]["file"]) for k in keys)
    assert f"using the shipped weights {paths}" in stdout and "sigma 25/255" in stdout
    assert ("opponent colour space" in stdout) == (channels == 3)
    from liftinv.data import load_image

    assert load_image(out).shape[0] == channels


def test_denoise_without_checkpoint_notes_the_rescaled_model(tmp_path, capsys):
    _require("gray10")
    assert cli.main(["denoise", _image(tmp_path / "in.png", 1), "-o", str(tmp_path / "o.png"), "--sigma", "12",
                     "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "note: no shipped grayscale denoiser for sigma 12/255" in out and MODELS["gray10"]["file"] in out
    assert "scaled by 0.833" in out and "trained at sigma 10/255" in out


def test_denoise_needs_sigma_or_checkpoint(tmp_path, capsys):
    out = tmp_path / "o.png"
    assert cli.main(["denoise", _image(tmp_path / "in.png", 1), "-o", str(out)]) == 2  # an option error, at once
    err = capsys.readouterr().err
    assert "--sigma" in err and "--checkpoint" in err and "--help" in err and not out.exists()


@pytest.mark.parametrize("value", ["-1", "2.5", "x", "4"])
def test_tile_is_validated(value, tmp_path, capsys):
    assert cli.main(["denoise", _image(tmp_path / "in.png", 1), "-o", str(tmp_path / "o.png"), "--sigma", "25",
                     "--tile", value]) == 2
    assert "--tile" in capsys.readouterr().err


def test_tile_matches_untiled(tmp_path, capsys):
    _require("gray25")
    from liftinv.data import load_image

    src = _image(tmp_path / "in.png", 1, size=(72, 60))
    outs = {}
    for tile in ("0", "32"):
        outs[tile] = tmp_path / f"o{tile}.png"
        assert cli.main(["denoise", src, "-o", str(outs[tile]), "--sigma", "25", "--tile", tile,
                         "--device", "cpu"]) == 0
    diff = (load_image(outs["0"]) - load_image(outs["32"])).abs().max()
    assert float(diff) <= 1.5 / 255  # the same image up to 8-bit rounding


def test_tiled_network_matches_in_float():
    _require("gray25")
    from liftinv.denoising.cli import tiled

    net, _ = pretrained(25, device="cpu")
    z = torch.rand(1, 1, 70, 58)
    with torch.no_grad():
        torch.testing.assert_close(tiled(net, 24)(z), net(z), atol=1e-4, rtol=0)
        assert tiled(net, 0) is net


# -- default_arch: only None means the default ----------------------------------------------------
@pytest.mark.parametrize("name", ["dfb", "sccp", "dncnn"])
@pytest.mark.parametrize("field", ["depth", "features"])
def test_default_arch_refuses_zero(name, field):
    from liftinv.denoising.models import default_arch

    with pytest.raises(ValueError, match=field):
        default_arch(name, **{field: 0})
    assert default_arch(name, **{field: None})[field] > 0


# -- --ensemble: the self-ensemble of liftinv denoise -----------------------------------------------
@pytest.mark.parametrize("value", ["3", "0", "x"])
def test_ensemble_is_validated(value, tmp_path, capsys):
    out = tmp_path / "o.png"
    assert cli.main(["denoise", _image(tmp_path / "in.png", 1), "-o", str(out), "--sigma", "25",
                     "--ensemble", value]) == 2
    assert "--ensemble" in capsys.readouterr().err and not out.exists()


def test_denoise_uses_the_self_ensemble_by_default(tmp_path, capsys):
    _require("gray25")
    from liftinv.data import load_image

    src = _image(tmp_path / "in.png", 1, size=(40, 48))
    for n in ("8", "1"):
        args = ["denoise", src, "-o", str(tmp_path / f"o{n}.png"), "--sigma", "25", "--device", "cpu"]
        assert cli.main(args + ([] if n == "8" else ["--ensemble", n])) == 0
        said = capsys.readouterr().out
        assert ("self-ensemble of 8" in said) == (n == "8")
    assert float((load_image(tmp_path / "o8.png") - load_image(tmp_path / "o1.png")).abs().max()) > 1 / 255


def test_denoise_writes_an_image_far_better_than_its_input(tmp_path):
    """What the command writes, not only that it wrote: the shipped sigma-25 model on a smooth image."""
    from liftinv.data import load_image, save_image
    from liftinv.metrics import psnr

    _require("gray25")
    g = torch.Generator().manual_seed(1)
    clean = torch.nn.functional.interpolate(torch.rand(1, 1, 12, 12, generator=g), size=(48, 48), mode="bilinear",
                                            align_corners=False)[0]
    save_image(tmp_path / "in.png", (clean + 25 / 255 * torch.randn(clean.shape, generator=g)).clamp(0, 1))
    assert cli.main(["denoise", str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png"), "--sigma", "25",
                     "--ensemble", "1", "--device", "cpu"]) == 0
    noisy, out = load_image(tmp_path / "in.png"), load_image(tmp_path / "out.png")
    assert float(psnr(out, clean)) > float(psnr(noisy, clean)) + 3.0


def test_a_tiny_image_with_clean_gets_its_psnr_and_no_ssim(tmp_path, capsys):
    _require("gray25")
    _image(tmp_path / "tiny.png", 1, size=(5, 7))
    assert cli.main(["denoise", str(tmp_path / "tiny.png"), "-o", str(tmp_path / "o.png"), "--sigma", "25",
                     "--clean", str(tmp_path / "tiny.png"), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "PSNR input" in out and "SSIM n/a" in out
