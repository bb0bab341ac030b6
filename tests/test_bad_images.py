"""Bad image files (text, empty, damaged, a folder, missing, out of range) given to every
command that reads one, and the one colour rule: an image whose channels differ from the
network's is converted to them, and the output says so."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.io
import torch
from test_bad_common import refused, run, snapshot, ws  # noqa: F401  (ws is a fixture)

from liftinv.data import load_image


def _bad_file(tmp_path, kind):
    path = tmp_path / ("bad" if kind == "folder" else "bad.png" if kind != "tiff-nan" else "bad.tif")
    if kind == "text":
        path.write_text("hello, I am not a picture\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        skimage.io.imsave(path, np.zeros((16, 16), np.uint8), check_contrast=False)
        path.write_bytes(path.read_bytes()[:30])
    elif kind == "binary":
        path.write_bytes(bytes(range(256)) * 4)
    elif kind == "folder":
        path = tmp_path / "bad.png"
        path.mkdir()
    elif kind == "tiff-nan":
        skimage.io.imsave(path, np.full((8, 8), np.nan, np.float32), check_contrast=False)
    return path, {"text": "text file", "empty": "empty", "truncated": "damaged", "binary": "damaged",
                  "folder": "is a directory", "missing": "does not exist", "tiff-nan": "NaN"}[kind]


KINDS = ["text", "empty", "truncated", "binary", "folder", "missing", "tiff-nan"]


def _argv(command, root, image, out):
    return {
        "denoise": ["denoise", image, "-o", out, "--checkpoint", root / "gray.pt"],
        "denoise --clean": ["denoise", root / "gray.png", "-o", out, "--checkpoint", root / "gray.pt",
                            "--clean", image],
        "deblur": ["deblur", image, "-o", out, "--kernel", "box:3"],
        "deblur --kernel-file": ["deblur", root / "gray.png", "-o", out, "--kernel-file", image],
        "invert": ["invert", "--checkpoint", root / "gray.pt", "--layer", "1", "--input", image, "-o", out,
                   "--iters", "2", "--no-progress"],
    }[command]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("command", ["denoise", "denoise --clean", "deblur", "deblur --kernel-file", "invert"])
def test_bad_image_files_are_named(command, kind, ws, tmp_path, capsys):  # noqa: F811
    image, words = _bad_file(tmp_path, kind)
    out = tmp_path / "out.png"
    line = refused(_argv(command, ws, image, out), capsys, tmp_path, ws, names=[str(image)])
    assert words in line
    assert not out.exists()


def test_a_folder_of_training_images_with_a_text_file_named_as_an_image(ws, tmp_path, capsys):  # noqa: F811
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "notes.png").write_text("not an image")
    line = refused(["train", "--data", tmp_path / "imgs", "--epochs", "1", "-o", tmp_path / "r.pt"], capsys, tmp_path,
                   names=["notes.png"])
    assert "text file" in line


def test_signed_negative_and_multi_page_images_are_refused(tmp_path):
    skimage.io.imsave(tmp_path / "neg.tif", np.full((8, 8), -3, np.int16), check_contrast=False)
    with pytest.raises(ValueError, match="negative"):
        load_image(tmp_path / "neg.tif")
    skimage.io.imsave(tmp_path / "pages.tif", np.zeros((3, 8, 8, 3), np.uint8), check_contrast=False)
    with pytest.raises(ValueError, match="pages.tif"):
        load_image(tmp_path / "pages.tif")


# -- the colour rule ------------------------------------------------------------------------------
@pytest.mark.parametrize("command, image, checkpoint, channels", [
    ("denoise", "rgb.png", "gray.pt", 1), ("denoise", "gray.png", "rgb.pt", 3),
    ("deblur", "rgb.png", "gray.pt", 1), ("deblur", "gray.png", "rgb.pt", 3),
    ("invert", "rgb.png", "gray.pt", 1), ("invert", "gray.png", "rgb.pt", 3),
])
def test_an_image_is_converted_to_the_networks_channels_and_the_output_says_so(
        command, image, checkpoint, channels, ws, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "out.png"
    argv = {"denoise": ["denoise", ws / image, "-o", out, "--checkpoint", ws / checkpoint],
            "deblur": ["deblur", ws / image, "-o", out, "--checkpoint", ws / checkpoint, "--kernel", "box:3"],
            "invert": ["invert", "--checkpoint", ws / checkpoint, "--layer", "1", "--input", ws / image, "-o", out,
                       "--iters", "2", "--no-progress"]}[command]
    before = snapshot(ws)
    status, stdout, err = run(argv, capsys)
    assert status == 0, err
    kind = "grayscale" if channels == 1 else "colour"
    assert "note: " in stdout and f"converted to {kind}" in stdout and image in stdout
    assert load_image(out).shape[0] == channels
    assert snapshot(ws) == before


def test_same_channels_print_no_note(ws, tmp_path, capsys):  # noqa: F811
    status, stdout, _ = run(["denoise", ws / "gray.png", "-o", tmp_path / "o.png", "--checkpoint", ws / "gray.pt"],
                            capsys)
    assert status == 0 and "note:" not in stdout
    assert torch.isfinite(load_image(tmp_path / "o.png")).all()


def test_a_broken_file_in_a_train_folder_is_named_not_skipped(ws, tmp_path, capsys):  # noqa: F811
    import shutil

    for split in ("train", "test"):
        shutil.copytree(ws / "data", tmp_path / "set" / split)
    shutil.copy(ws / "gray.png", tmp_path / "set" / "root.png")  # a flat-folder fallback would train on this
    (tmp_path / "set" / "train" / "broken.png").write_text("not an image")
    refused(["train", "--data", tmp_path / "set", "--epochs", "1", "-o", tmp_path / "r.pt"], capsys, tmp_path,
            names=["broken.png", "text file"])


def test_a_missing_data_folder_is_named_as_the_option(tmp_path, capsys):
    refused(["train", "--data", tmp_path / "nope", "--epochs", "1", "-o", tmp_path / "r.pt"], capsys, tmp_path,
            names=[f"--data {str(tmp_path / 'nope')!r} does not exist"])


@pytest.mark.parametrize("command", ["train", "bench denoise"])
@pytest.mark.parametrize("kind, words", [("file", "is a file, not a folder"), ("empty", "no images")])
def test_a_data_folder_that_is_a_file_or_empty_is_named_as_the_option(command, kind, words, ws, tmp_path, capsys):  # noqa: F811
    """Before: `load_folder: path ... is not a folder` / `load_folder: no images ...`."""
    (tmp_path / "in").mkdir()
    data = tmp_path / "in" / "imgs"
    data.write_text("x") if kind == "file" else data.mkdir()
    out = tmp_path / ("r.pt" if command == "train" else "bench")
    argv = ["train", "--epochs", "1"] if command == "train" else ["bench", "denoise"]
    line = refused([*argv, "--data", data, "-o", out], capsys, tmp_path / "in", names=[f"--data {str(data)!r}", words])
    assert "load_folder" not in line
    assert not out.exists() or kind == "empty"  # a benchmark's folder is made before its images are listed


def test_a_transparent_image_gives_a_note_not_a_python_warning(ws, tmp_path, capsys):  # noqa: F811
    """Before: `.../cli.py:138: UserWarning: image file ...` and the source line, on stderr."""
    rgba = (np.random.default_rng(0).random((24, 24, 4)) * 255).astype(np.uint8)
    rgba[..., 3] = 128
    skimage.io.imsave(tmp_path / "t.png", rgba, check_contrast=False)
    status, out, err = run(["denoise", tmp_path / "t.png", "-o", tmp_path / "o.png", "--checkpoint", ws / "gray.pt"],
                           capsys)
    assert status == 0 and "Warning" not in err and "transparent" not in err, err
    notes = [line for line in out.splitlines() if "transparent pixels" in line]
    assert len(notes) == 1 and notes[0].startswith(f"note: image file {str(tmp_path / 't.png')!r} has"), out
    with pytest.warns(UserWarning, match="transparent pixels"):  # the Python API keeps its warning
        load_image(tmp_path / "t.png")


def test_a_training_image_smaller_than_the_patch_is_named(ws, tmp_path, capsys):  # noqa: F811
    import shutil

    shutil.copytree(ws / "data", tmp_path / "imgs")
    skimage.io.imsave(tmp_path / "imgs" / "thin.png", np.zeros((3, 40), np.uint8), check_contrast=False)
    refused(["train", "--data", tmp_path / "imgs", "--epochs", "1", "--patch", "8", "-o", tmp_path / "r.pt"],
            capsys, tmp_path, names=["--patch 8", "thin (3x40)"])


def test_a_cmyk_jpeg_is_read_in_its_colours(tmp_path):
    from PIL import Image

    from liftinv.data import load_image

    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[..., 0], rgb[..., 2] = 200, 40
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "c.jpg", quality=100)
    image = load_image(tmp_path / "c.jpg", color=True)
    assert image.shape == (3, 16, 16)
    assert torch.allclose(image.mean((1, 2)), torch.tensor([200, 0, 40]) / 255, atol=0.03)


def test_a_cmyk_tiff_is_read_in_its_colours_and_a_page_stack_is_refused(tmp_path):
    import tifffile

    from liftinv.data import load_image

    cmyk = np.zeros((8, 8, 4), np.uint8)
    cmyk[..., 1] = cmyk[..., 2] = 255  # magenta + yellow: red
    tifffile.imwrite(tmp_path / "red.tif", cmyk, photometric="separated")
    assert load_image(tmp_path / "red.tif", color=True)[:, 0, 0].tolist() == [1.0, 0.0, 0.0]
    # three grey pages: skimage hands them over as one (H, W, 3) array, which read as RGB
    tifffile.imwrite(tmp_path / "stack.tif", np.zeros((3, 8, 8), np.uint8), photometric="minisblack")
    with pytest.raises(ValueError, match="multi-page TIFF \\(3 pages\\)"):
        load_image(tmp_path / "stack.tif")
