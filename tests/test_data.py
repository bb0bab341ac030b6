"""liftinv.data: embedded images, folders, patches, the patch-classification task."""

from __future__ import annotations

import json
import socket
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from liftinv.data import (
    COLOR_NAMES,
    EXCLUDED,
    TEST_NAMES,
    TRAIN_NAMES,
    check_image_range,
    dihedral,
    dihedral_all,
    embedded_names,
    extract_patches,
    list_image_files,
    load_embedded,
    load_folder,
    load_image,
    patch_classification_dataset,
)
from liftinv.data import images as images_module

REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------------------------
# embedded dataset
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("color", [False, True])
@pytest.mark.parametrize("split", ["train", "test", "all"])
def test_embedded_shapes_and_range(split, color):
    names = embedded_names(split, color)
    ims = load_embedded(split, color)
    assert len(ims) == len(names) > 0
    for name, im in zip(names, ims):
        assert isinstance(im, torch.Tensor) and im.dtype == torch.float32
        assert im.dim() == 3 and im.shape[0] == (3 if color else 1), name
        assert min(im.shape[1:]) >= 128, name
        assert float(im.min()) >= 0.0 and float(im.max()) <= 1.0, name
        assert float(im.std()) > 0.05, name  # not flat, not narrow-range
        check_image_range(im, name)


def test_embedded_split_is_fixed_and_disjoint():
    assert embedded_names("test") == ["camera", "astronaut", "coins"]
    assert embedded_names("train") == list(TRAIN_NAMES)
    assert set(TRAIN_NAMES).isdisjoint(TEST_NAMES)
    assert embedded_names("all") == list(TRAIN_NAMES) + list(TEST_NAMES)
    assert embedded_names("test", color=True) == ["astronaut"]
    assert embedded_names("train", color=True) == ["chelsea", "coffee", "rocket"]
    assert set(embedded_names("all", True)) == set(COLOR_NAMES)
    assert not set(EXCLUDED) & (set(TRAIN_NAMES) | set(TEST_NAMES))
    assert {"moon", "checkerboard", "binary_blobs", "text", "cat"} <= set(EXCLUDED)


def test_embedded_images_are_distinct():
    ims = load_embedded("all")
    sizes_and_means = {(tuple(im.shape), round(float(im.mean()), 6)) for im in ims}
    assert len(sizes_and_means) == len(ims)


def test_embedded_gray_is_rgb2gray_of_colour():
    from skimage.color import rgb2gray

    (rgb,) = load_embedded("test", color=True)
    gray = load_embedded("test")[embedded_names("test").index("astronaut")]
    expected = torch.from_numpy(rgb2gray(rgb.permute(1, 2, 0).numpy()).astype(np.float32))
    torch.testing.assert_close(gray[0], expected, atol=1e-5, rtol=0)


def test_embedded_returns_fresh_tensors():
    a = load_embedded("test")[0]
    a.zero_()
    assert float(load_embedded("test")[0].max()) > 0


def test_embedded_loads_without_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    images_module._read_embedded.cache_clear()
    assert len(load_embedded("all")) == len(TRAIN_NAMES) + len(TEST_NAMES)
    assert len(load_embedded("all", color=True)) == len(COLOR_NAMES)


def test_bad_split_is_named():
    with pytest.raises(ValueError, match="split"):
        load_embedded("validation")


def test_split_json_matches_code():
    data = json.loads((REPO / "datasets" / "embedded_split.json").read_text())
    assert data["grayscale"] == {
        "train": embedded_names("train"),
        "test": embedded_names("test"),
    }
    assert data["color"] == {
        "train": embedded_names("train", True),
        "test": embedded_names("test", True),
    }
    assert set(data["color_images"]) == set(COLOR_NAMES)
    assert data["excluded"] == EXCLUDED
    for name, im in zip(embedded_names("all"), load_embedded("all")):
        assert data["sizes_hw"][name] == list(im.shape[1:])


# --------------------------------------------------------------------------------------------
# folders
# --------------------------------------------------------------------------------------------


def _f32(a, scale):
    """What the loader computes: the integer array over its dtype maximum, as float32."""
    return (a / scale).astype(np.float32)


def _rng_image(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    hi = np.iinfo(dtype).max
    return rng.integers(0, hi, size=shape, endpoint=True).astype(dtype)


@pytest.fixture
def image_folder(tmp_path):
    """A flat folder with one file per format/depth, plus files that must be ignored."""
    import imageio.v3 as iio
    import skimage.io
    import tifffile

    folder = tmp_path / "imgs"
    folder.mkdir()
    arrays = {
        "a_gray8.png": _rng_image((20, 24), np.uint8, 1),
        "b_rgb8.png": _rng_image((20, 24, 3), np.uint8, 2),
        "c_gray16.png": _rng_image((20, 24), np.uint16, 3),
        "d_rgb16.tif": _rng_image((20, 24, 3), np.uint16, 4),
        "e_float.tiff": np.linspace(0, 1, 20 * 24, dtype=np.float32).reshape(20, 24),
        "f_rgba8.png": _rng_image((20, 24, 4), np.uint8, 5),
    }
    for name, a in arrays.items():
        if name.endswith((".tif", ".tiff")):
            tifffile.imwrite(folder / name, a)
        else:
            skimage.io.imsave(folder / name, a, check_contrast=False)
    smooth = (np.add.outer(np.arange(20), np.arange(24)) * 4).astype(np.uint8)
    iio.imwrite(folder / "g_gray.JPG", smooth, extension=".jpg", quality=95)
    iio.imwrite(folder / "h_rgb.jpeg", np.stack([smooth] * 3, -1), extension=".jpg", quality=95)
    (folder / "notes.txt").write_text("not an image")
    (folder / "sub").mkdir()
    return folder, arrays, smooth


def test_folder_loads_every_format(image_folder):
    folder, arrays, smooth = image_folder
    files = list_image_files(folder)
    assert [p.name for p in files] == sorted(list(arrays) + ["g_gray.JPG", "h_rgb.jpeg"])
    ims = load_folder(folder)
    assert len(ims) == 8
    for p, im in zip(files, ims):
        assert im.dtype == torch.float32 and im.shape == (1, 20, 24), p.name
        assert 0.0 <= float(im.min()) and float(im.max()) <= 1.0, p.name
    by_name = dict(zip((p.name for p in files), ims))
    np.testing.assert_array_equal(
        by_name["a_gray8.png"][0].numpy(), _f32(arrays["a_gray8.png"], 255)
    )
    np.testing.assert_allclose(
        by_name["c_gray16.png"][0].numpy(), arrays["c_gray16.png"] / 65535.0, atol=1e-7
    )
    np.testing.assert_array_equal(by_name["e_float.tiff"][0].numpy(), arrays["e_float.tiff"])
    np.testing.assert_allclose(by_name["g_gray.JPG"][0].numpy(), smooth / 255.0, atol=0.05)


def test_folder_colour_mode(image_folder):
    folder, arrays, _ = image_folder
    files = [p.name for p in list_image_files(folder)]
    ims = dict(zip(files, load_folder(folder, color=True)))
    assert all(im.shape == (3, 20, 24) for im in ims.values())
    np.testing.assert_array_equal(
        ims["b_rgb8.png"].permute(1, 2, 0).numpy(), _f32(arrays["b_rgb8.png"], 255)
    )
    np.testing.assert_allclose(
        ims["d_rgb16.tif"].permute(1, 2, 0).numpy(), arrays["d_rgb16.tif"] / 65535.0, atol=1e-7
    )
    np.testing.assert_array_equal(  # alpha dropped
        ims["f_rgba8.png"].permute(1, 2, 0).numpy(), _f32(arrays["f_rgba8.png"][..., :3], 255)
    )
    gray = ims["a_gray8.png"]  # grayscale files are replicated
    assert torch.equal(gray[0], gray[1]) and torch.equal(gray[0], gray[2])


def test_folder_bsds_layout(tmp_path):
    import skimage.io

    for sub, n in [("images/train", 3), ("images/val", 1), ("test", 2)]:
        d = tmp_path / sub
        d.mkdir(parents=True)
        for i in range(n):
            skimage.io.imsave(d / f"{i}.png", _rng_image((16, 18, 3), np.uint8, i))
    assert len(load_folder(tmp_path, split="train")) == 3
    assert len(load_folder(tmp_path, split="val")) == 1
    assert load_folder(tmp_path, split="test", color=True)[0].shape == (3, 16, 18)
    with pytest.raises(ValueError, match="pass split="):
        load_folder(tmp_path)
    with pytest.raises(FileNotFoundError, match="split='holdout'"):
        load_folder(tmp_path, split="holdout")


def test_folder_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_folder(tmp_path / "nope")


def test_folder_is_a_file(tmp_path):
    f = tmp_path / "x.png"
    f.write_bytes(b"")
    with pytest.raises(NotADirectoryError):
        load_folder(f)


def test_folder_empty(tmp_path):
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(ValueError, match="no images"):
        load_folder(tmp_path)


def test_folder_unreadable_file_is_named(tmp_path):
    import skimage.io

    skimage.io.imsave(tmp_path / "good.png", _rng_image((8, 8), np.uint8))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG this is not really a png")
    with pytest.raises(ValueError, match="broken.png"):
        load_folder(tmp_path)


def test_folder_float_out_of_range_is_named(tmp_path):
    import tifffile

    tifffile.imwrite(tmp_path / "hdr.tif", np.full((8, 8), 3.0, dtype=np.float32))
    with pytest.raises(ValueError, match="hdr.tif.*expected values in \\[0, 1\\]"):
        load_folder(tmp_path)


# --------------------------------------------------------------------------------------------
# patches
# --------------------------------------------------------------------------------------------


def _images():
    g = torch.Generator().manual_seed(1)
    return [torch.rand(2, 20, 30, generator=g), torch.rand(2, 17, 17, generator=g)]


def test_grid_patch_count_and_content(device):
    ims = [im.to(device) for im in _images()]
    for size, stride in [(8, None), (8, 4), (5, 3), (17, 1)]:
        s = stride or size
        p = extract_patches(ims, size, stride=stride)
        expected = sum(
            ((h - size) // s + 1) * ((w - size) // s + 1) for _, h, w in (im.shape for im in ims)
        )
        assert p.shape == (expected, 2, size, size)
        assert p.device.type == device.type and p.dtype == torch.float32
    p = extract_patches(ims, 8, stride=4)
    # first image: 4 rows x 6 columns of corners, row-major
    assert torch.equal(p[0], ims[0][:, 0:8, 0:8])
    assert torch.equal(p[1], ims[0][:, 0:8, 4:12])
    assert torch.equal(p[6], ims[0][:, 4:12, 0:8])
    assert torch.equal(p[24], ims[1][:, 0:8, 0:8])


def test_grid_accepts_batch_and_single_image():
    batch = torch.rand(3, 1, 16, 16)
    assert extract_patches(batch, 8).shape == (12, 1, 8, 8)
    assert extract_patches(batch[0], 8).shape == (4, 1, 8, 8)


def test_grid_subset_n():
    ims = _images()
    full = extract_patches(ims, 4)
    sub = extract_patches(ims, 4, n=10, seed=3)
    assert sub.shape == (10, 2, 4, 4)
    flat_full = full.flatten(1)
    assert all(any(torch.equal(r, f) for f in flat_full) for r in sub.flatten(1))
    with pytest.raises(ValueError, match="grid holds only"):
        extract_patches(ims, 4, n=10_000)


def test_random_patches_are_crops_and_seeded(device):
    ims = [im.to(device) for im in _images()]
    p = extract_patches(ims, 6, mode="random", n=50, seed=7)
    assert p.shape == (50, 2, 6, 6) and p.device.type == device.type
    every = extract_patches(ims, 6, stride=1).flatten(1)
    for row in p.flatten(1):
        assert (every == row).all(dim=1).any()
    assert torch.equal(p, extract_patches(ims, 6, mode="random", n=50, seed=7))
    assert not torch.equal(p, extract_patches(ims, 6, mode="random", n=50, seed=8))


def test_dihedral_group():
    x = torch.arange(9.0).reshape(1, 1, 3, 3)
    versions = [dihedral(x, k) for k in range(8)]
    assert torch.equal(versions[0], x)
    assert len({tuple(v.flatten().tolist()) for v in versions}) == 8
    assert torch.equal(versions[1][0, 0], torch.tensor([[2.0, 5, 8], [1, 4, 7], [0, 3, 6]]))
    assert torch.equal(versions[4][0, 0], torch.tensor([[2.0, 1, 0], [5, 4, 3], [8, 7, 6]]))
    keys = {tuple(v.flatten().tolist()) for v in versions}
    for a in versions:  # closed under composition
        for k in range(8):
            assert tuple(dihedral(a, k).flatten().tolist()) in keys
    with pytest.raises(ValueError, match="k"):
        dihedral(x, 8)


def test_augment_all_gives_eight_versions():
    ims = _images()
    plain = extract_patches(ims, 5)
    aug = extract_patches(ims, 5, augment="all")
    assert aug.shape[0] == 8 * plain.shape[0]
    for i in (0, 3, plain.shape[0] - 1):
        for k in range(8):
            assert torch.equal(aug[8 * i + k], dihedral(plain[i], k))
    assert torch.equal(dihedral_all(plain), aug)


def test_augment_random_keeps_count_and_applies_group_elements():
    ims = _images()
    plain = extract_patches(ims, 5, mode="random", n=200, seed=2)
    aug = extract_patches(ims, 5, mode="random", n=200, seed=2, augment=True)
    assert aug.shape == plain.shape
    used = set()
    for a, p in zip(aug, plain):
        ks = [k for k in range(8) if torch.equal(a, dihedral(p, k))]
        assert ks, "augmented patch is not a flip/rotation of the plain one"
        used.add(ks[0])
    assert len(used) == 8


def test_patch_larger_than_image_names_index_and_sizes():
    with pytest.raises(ValueError, match=r"images\[1\] of size 17x17"):
        extract_patches(_images(), 18)


@pytest.mark.parametrize("size", [0, -3, 2.5, True])
def test_bad_size(size):
    with pytest.raises(ValueError, match="size"):
        extract_patches(_images(), size)


def test_bad_arguments():
    ims = _images()
    with pytest.raises(ValueError, match="mode"):
        extract_patches(ims, 4, mode="tiles")
    with pytest.raises(ValueError, match="needs n"):
        extract_patches(ims, 4, mode="random")
    with pytest.raises(ValueError, match="stride"):
        extract_patches(ims, 4, stride=0)
    with pytest.raises(ValueError, match="augment"):
        extract_patches(ims, 4, augment="flips")
    with pytest.raises(ValueError, match="empty"):
        extract_patches([], 4)
    with pytest.raises(ValueError, match="channels"):
        extract_patches([torch.rand(1, 8, 8), torch.rand(3, 8, 8)], 4)
    for mode, n in (("grid", None), ("random", 3)):  # grid mode returned float64, random mode crashed
        with pytest.raises(ValueError, match="one dtype and device"):
            extract_patches([torch.rand(1, 8, 8), torch.rand(1, 8, 8, dtype=torch.float64)], 4, mode=mode, n=n)
    with pytest.raises(ValueError, match="shape"):
        extract_patches(torch.rand(8, 8), 4)


@pytest.mark.parametrize(
    "bad, message",
    [
        (1.5, r"1\.5\]; expected values in \[0, 1\]"),
        (-0.1, r"expected values in \[0, 1\]"),
        (float("nan"), "NaN or Inf"),
        (float("inf"), "NaN or Inf"),
    ],
)
def test_out_of_range_and_non_finite(bad, message):
    ims = _images()
    ims[1][0, 3, 3] = bad
    with pytest.raises(ValueError, match=r"images\[1\]"):
        extract_patches(ims, 4)
    with pytest.raises(ValueError, match=message):
        check_image_range(ims[1], "x")


def test_check_image_range_types():
    x = torch.rand(1, 4, 4)
    assert check_image_range(x) is x
    with pytest.raises(TypeError, match="floating"):
        check_image_range((x * 255).to(torch.uint8), "x")
    with pytest.raises(TypeError, match="torch.Tensor"):
        check_image_range(np.zeros((4, 4)), "x")


# --------------------------------------------------------------------------------------------
# patch classification
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("color", [False, True])
def test_classification_dataset(color):
    n_per_image, test_fraction = 100, 0.2
    x_tr, y_tr, x_te, y_te = patch_classification_dataset(
        size=16, n_per_image=n_per_image, color=color, seed=0, test_fraction=test_fraction
    )
    n_classes = len(embedded_names("all", color))
    c = 3 if color else 1
    assert x_tr.shape == (n_classes * 80, c, 16, 16) and x_te.shape == (n_classes * 20, c, 16, 16)
    assert x_tr.dtype == x_te.dtype == torch.float32
    assert y_tr.dtype == y_te.dtype == torch.int64
    assert torch.equal(torch.bincount(y_tr), torch.full((n_classes,), 80))
    assert torch.equal(torch.bincount(y_te), torch.full((n_classes,), 20))
    assert 0.0 <= float(x_tr.min()) and float(x_tr.max()) <= 1.0
    # train and test patches come from disjoint grid cells: no textured test patch is in train
    for label in range(n_classes):
        tr = x_tr[y_tr == label].flatten(1)
        for row in x_te[y_te == label].flatten(1):
            if float(row.std()) > 0:
                assert not (tr == row).all(dim=1).any()


def test_classification_seeded():
    a = patch_classification_dataset(n_per_image=20, seed=1)
    b = patch_classification_dataset(n_per_image=20, seed=1)
    c = patch_classification_dataset(n_per_image=20, seed=2)
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert not torch.equal(a[0], c[0])


def test_classification_errors():
    with pytest.raises(ValueError, match="coins"):
        patch_classification_dataset(n_per_image=1000)
    with pytest.raises(ValueError, match="test_fraction"):
        patch_classification_dataset(test_fraction=1.0)
    with pytest.raises(ValueError, match="size"):
        patch_classification_dataset(size=0)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_load_image_turns_a_photo_upright_by_its_exif_orientation(orientation, tmp_path):
    """A phone photo is stored sideways with an orientation tag; the outputs are written without it,
    so before they came out rotated.  Each of the eight tags as PIL's exif_transpose applies it."""
    from PIL import Image, ImageOps
    from skimage import data

    path = tmp_path / "photo.png"
    image = Image.fromarray(data.astronaut()[:20, :32])
    exif = image.getexif()
    exif[0x0112] = orientation
    image.save(path, exif=exif)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(path))).astype(np.float32) / 255
    got = load_image(path).permute(1, 2, 0).numpy()
    assert got.shape == expected.shape and np.abs(got - expected).max() < 1e-6


def test_load_image_warns_that_transparency_is_dropped(tmp_path):
    from PIL import Image

    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[2:5, 2:5] = (255, 0, 0, 255)
    Image.fromarray(rgba).save(tmp_path / "a.png")
    with pytest.warns(UserWarning, match="transparent pixels: its alpha channel is dropped"):
        assert load_image(tmp_path / "a.png").shape == (3, 8, 8)
    rgba[..., 3] = 255  # opaque: nothing to say
    Image.fromarray(rgba).save(tmp_path / "b.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_image(tmp_path / "b.png")
