"""Image sources: the embedded default dataset and a user's image folder.

Every loader returns a list of float32 tensors shaped (C, H, W) with values in [0, 1]
(C = 1 in grayscale mode, C = 3 in colour mode). Stack or patch them with
:func:`liftinv.data.extract_patches`. Nothing is downloaded: the embedded images are files that ship
inside the scikit-image wheel, and folders are read from the local disk.

Embedded dataset
----------------
The natural images of ``skimage.data`` that load offline from a plain scikit-image install
(checked with scikit-image 0.26; ``skimage.data`` images that need ``pooch`` to download are out).
The split is fixed here, in :data:`TEST_NAMES` and :data:`TRAIN_NAMES`;
``datasets/embedded_split.json`` is a copy for people and other tools, and a test checks that the
two agree.

======  =====================================================================================
split   images (``skimage.data`` function names)
======  =====================================================================================
test    camera (gray, 512x512), astronaut (colour, 512x512), coins (gray, 303x384)
train   brick (gray, 512x512), chelsea (colour, 300x451), coffee (colour, 400x600),
        grass (gray, 512x512), gravel (gray, 512x512), rocket (colour, 427x640)
======  =====================================================================================

Excluded (see :data:`EXCLUDED` for the reason attached to each name):

- narrow dynamic range (1st-99th percentile spread of the grey levels below 0.35):
  ``moon`` (0.33, a low-contrast image meant for histogram equalisation) and
  ``microaneurysms`` (0.19, also only 102x102);
- already degraded: ``clock`` is motion-blurred on purpose, so it is no clean ground truth;
- synthetic, binary or text-like: ``checkerboard``, ``binary_blobs``, ``horse`` (a silhouette),
  ``shepp_logan_phantom``, ``logo``, ``colorwheel``, ``text``, ``page`` (a scanned text page);
- scientific imaging whose statistics differ from the natural-photo test images: ``cell``
  (quantitative phase microscopy with a banding artefact), ``immunohistochemistry`` (microscopy),
  ``hubble_deep_field`` (mostly black sky with point sources), ``retina`` (fundus photograph on a
  black circular mask);
- duplicates and tiny images: ``cat`` is the same array as ``chelsea``; ``lfw_subset`` is 25x25
  crops;
- no licence statement in scikit-image's docstring: ``stereo_motorcycle`` (Middlebury 2014);
- need a download (``pooch``): ``brain``, ``cells3d``, ``eagle``, ``human_mitosis``, ``kidney``,
  ``lily``, ``nickel_solidification``, ``palisades_of_vogt``, ``protein_transport``, ``skin``,
  ``vortex``.

Grayscale mode (``color=False``) uses every image; colour images are converted with
:func:`skimage.color.rgb2gray` (ITU-R 709 luma weights). Colour mode (``color=True``) *excludes* the
grayscale-only images (camera, coins, brick, grass, gravel) rather than stacking one grey channel
three times: a replicated grey image has perfectly correlated channels, so a colour method scored
on it would be measured on something that is not a colour image. The colour split is therefore
train = chelsea, coffee, rocket and test = astronaut.

Folders
-------
:func:`load_folder` reads PNG, JPEG and TIFF files from a flat folder, or one split of a
BSDS500-style layout (``path/<split>``, ``path/images/<split>`` or ``path/data/images/<split>``).
Other files (``.mat`` ground truths, ``Thumbs.db``, text files) and sub-folders are ignored.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "TEST_NAMES",
    "TRAIN_NAMES",
    "COLOR_NAMES",
    "EXCLUDED",
    "IMAGE_EXTENSIONS",
    "embedded_names",
    "load_embedded",
    "list_image_files",
    "load_folder",
    "to_float01",
    "SAVE_EXTENSIONS",
]

#: Test split of the embedded dataset (order is the order of :func:`load_embedded`).
TEST_NAMES: tuple[str, ...] = ("camera", "astronaut", "coins")
#: Training split of the embedded dataset.
TRAIN_NAMES: tuple[str, ...] = ("brick", "chelsea", "coffee", "grass", "gravel", "rocket")
#: Embedded images that are colour (RGB) photographs; the others are grayscale only.
COLOR_NAMES: frozenset[str] = frozenset({"astronaut", "chelsea", "coffee", "rocket"})

#: ``skimage.data`` images left out of the embedded dataset, with the reason.
EXCLUDED: dict[str, str] = {
    "moon": "narrow dynamic range (low-contrast image for histogram-equalisation demos)",
    "microaneurysms": "narrow dynamic range and only 102x102",
    "clock": "motion-blurred on purpose: not a clean ground truth",
    "checkerboard": "synthetic",
    "binary_blobs": "synthetic binary image",
    "horse": "binary silhouette",
    "shepp_logan_phantom": "synthetic phantom",
    "logo": "synthetic RGBA logo",
    "colorwheel": "synthetic",
    "text": "text-like corner-detection image",
    "page": "scanned text page",
    "cell": "quantitative phase microscopy with a banding artefact",
    "immunohistochemistry": "microscopy, not a natural photograph",
    "hubble_deep_field": "astronomical: mostly black sky with point sources",
    "retina": "fundus photograph on a black circular mask",
    "cat": "duplicate of chelsea",
    "lfw_subset": "25x25 crops",
    "stereo_motorcycle": "no licence statement in scikit-image's docstring",
    "brain": "needs a download (pooch)",
    "cells3d": "needs a download (pooch)",
    "eagle": "needs a download (pooch)",
    "human_mitosis": "needs a download (pooch)",
    "kidney": "needs a download (pooch)",
    "lily": "needs a download (pooch)",
    "nickel_solidification": "needs a download (pooch)",
    "palisades_of_vogt": "needs a download (pooch)",
    "protein_transport": "needs a download (pooch)",
    "skin": "needs a download (pooch)",
    "vortex": "needs a download (pooch)",
}

#: File extensions :func:`load_folder` reads (compared lower-case).
IMAGE_EXTENSIONS: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff"})

_SPLITS = ("train", "test", "all")


# --------------------------------------------------------------------------------------------
# conversion
# --------------------------------------------------------------------------------------------


def to_float01(array: np.ndarray, *, name: str = "image") -> np.ndarray:
    """Convert an image array of any usual dtype to float32 in [0, 1].

    Unsigned integers are divided by their dtype's maximum (uint8 by 255, uint16 by 65535), bools
    map to {0, 1}, floats must already lie in [0, 1]. Signed integers are accepted when
    non-negative and divided by their dtype's maximum. ``name`` appears in error messages.
    """
    a = np.asarray(array)
    if a.dtype == np.bool_:
        return a.astype(np.float32)
    if np.issubdtype(a.dtype, np.integer):
        if np.issubdtype(a.dtype, np.signedinteger) and a.size and a.min() < 0:
            raise ValueError(f"{name}: signed integer image with negative values; expected >= 0")
        return (a.astype(np.float64) / np.iinfo(a.dtype).max).astype(np.float32)
    if np.issubdtype(a.dtype, np.floating):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name}: float image contains NaN or Inf")
        if a.size and (a.min() < 0.0 or a.max() > 1.0):
            raise ValueError(
                f"{name}: float image with values in [{a.min():g}, {a.max():g}]; "
                "expected values in [0, 1]"
            )
        return a.astype(np.float32)
    raise ValueError(f"{name}: unsupported pixel type {a.dtype}")


def _to_chw(a: np.ndarray, color: bool, name: str, *, gray_to_rgb: bool) -> np.ndarray | None:
    """(H, W) / (H, W, 1|2|3|4) float array -> (C, H, W); None when it must be skipped.

    Alpha channels are dropped. In colour mode a grayscale image is replicated to three channels
    when ``gray_to_rgb`` is true and skipped (None) otherwise.
    """
    from skimage.color import rgb2gray

    if a.ndim == 3 and a.shape[-1] in (1, 2):  # gray (+ alpha)
        a = a[..., 0]
    elif a.ndim == 3 and a.shape[-1] == 4:  # RGBA
        a = a[..., :3]
    if a.ndim == 2:
        if not color:
            return a[None]
        if not gray_to_rgb:
            return None
        return np.repeat(a[None], 3, axis=0)
    if a.ndim == 3 and a.shape[-1] == 3:
        if color:
            return np.ascontiguousarray(a.transpose(2, 0, 1))
        return np.clip(rgb2gray(a), 0.0, 1.0).astype(np.float32)[None]
    raise ValueError(
        f"{name}: unsupported image shape {tuple(a.shape)}; expected (H, W) or (H, W, C) "
        "with C in 1..4 (multi-page or volumetric images are not supported)"
    )


# --------------------------------------------------------------------------------------------
# embedded dataset
# --------------------------------------------------------------------------------------------


def _check_split(split: str) -> None:
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {_SPLITS}, got {split!r}")


def embedded_names(split: str = "train", color: bool = False) -> list[str]:
    """Names (``skimage.data`` functions) of the embedded images in ``split``.

    ``split`` is ``'train'``, ``'test'`` or ``'all'`` (train then test). In colour mode the
    grayscale-only images are left out.
    """
    _check_split(split)
    names = {"train": TRAIN_NAMES, "test": TEST_NAMES, "all": TRAIN_NAMES + TEST_NAMES}[split]
    return [n for n in names if not color or n in COLOR_NAMES]


@functools.cache
def _read_embedded(name: str) -> np.ndarray:
    import skimage.data

    loader: Callable[[], np.ndarray] = getattr(skimage.data, name)
    a = loader()
    a.setflags(write=False)
    return a


def load_embedded(split: str = "train", color: bool = False) -> list[torch.Tensor]:
    """Load the embedded images of ``split`` as (C, H, W) float32 tensors in [0, 1].

    ``color=False`` gives one channel (colour photos converted with ``skimage.color.rgb2gray``);
    ``color=True`` gives three channels and only the colour photographs (see the module
    docstring). The order follows :func:`embedded_names`. Each call returns fresh tensors.
    """
    out = []
    for name in embedded_names(split, color):
        a = to_float01(_read_embedded(name), name=f"skimage.data.{name}")
        chw = _to_chw(a, color, f"skimage.data.{name}", gray_to_rgb=False)
        assert chw is not None  # colour mode only lists colour images
        out.append(torch.from_numpy(np.ascontiguousarray(chw, dtype=np.float32)))
    return out


# --------------------------------------------------------------------------------------------
# folders
# --------------------------------------------------------------------------------------------


def _images_in(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
    )


def _split_folder(root: Path, split: str, name: str = "load_folder") -> Path:
    candidates = [root / split, root / "images" / split, root / "data" / "images" / split]
    for c in candidates:
        if c.is_dir():
            return c
    tried = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"{name}: no folder for split={split!r}; looked for {tried}")


def list_image_files(path: str | Path, split: str | None = None, *, name: str = "load_folder") -> list[Path]:
    """The image files :func:`load_folder` would read, sorted by name.

    ``split=None`` reads ``path`` itself (a flat folder). A split name (``'train'``, ``'val'``,
    ``'test'``...) reads ``path/<split>``, else ``path/images/<split>``, else
    ``path/data/images/<split>`` (the layout of the BSDS500 archive). Raises
    ``FileNotFoundError`` when the folder is missing, ``NotADirectoryError`` when ``path`` is a
    file, and ``ValueError`` when the folder holds no PNG/JPEG/TIFF file; the messages begin with
    ``name`` (the command line passes its option, ``--data 'FOLDER'``).
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"{name}: path {str(root)!r} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"{name}: path {str(root)!r} is not a folder")
    folder = root if split is None else _split_folder(root, split, name)
    files = _images_in(folder)
    if not files:
        hint = ""
        if split is None:
            subs = sorted(
                s
                for s in ("train", "val", "test")
                if any((root / p / s).is_dir() for p in (".", "images", "data/images"))
            )
            if subs:
                hint = f"; it looks like a train/test layout, pass split= one of {subs}"
        raise ValueError(f"{name}: no images (PNG/JPEG/TIFF) in folder {str(folder)!r}{hint}")
    return files


def _unreadable(file: Path, exc: Exception) -> str:
    """Why ``file`` is not an image, in words a user can act on (not an imageio backend list)."""
    from ..utils.files import plain_reason

    plain = plain_reason(file)
    if plain is not None:
        return f"{plain}, not an image (PNG, JPEG or TIFF expected)"
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return f"not a PNG, JPEG or TIFF image, or a damaged one ({first[:120]})"


def _read_file(file: Path, prefix: str = "load_folder: ") -> np.ndarray:
    import skimage.io

    try:
        with warnings.catch_warnings():
            # imageio tries its legacy plugins on a broken file and warns about their deprecation
            warnings.simplefilter("ignore")
            a = skimage.io.imread(file)
    except Exception as exc:
        raise ValueError(f"{prefix}cannot read image file {str(file)!r}: {_unreadable(file, exc)}") from None
    if not isinstance(a, np.ndarray) or a.ndim < 2 or a.size == 0:
        raise ValueError(f"{prefix}cannot read image file {str(file)!r} (no pixel data)")
    suffix = Path(file).suffix.lower()
    cmyk = suffix in (".jpg", ".jpeg")  # a JPEG has no alpha: four channels are CMYK
    if suffix in (".tif", ".tiff"):
        cmyk = _check_tiff(file, prefix)
    if a.ndim == 3 and a.shape[-1] == 4 and cmyk:  # PIL converts CMYK (not a 4th channel to drop)
        from PIL import Image

        with Image.open(file) as im:
            a = np.asarray(im.convert("RGB"))
    return _upright(a, file)


#: EXIF orientation -> the numpy operation that shows the image upright (PIL's ``exif_transpose``).
_ORIENTATIONS = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
                 5: lambda a: a.swapaxes(0, 1), 6: lambda a: np.rot90(a, -1), 7: lambda a: np.rot90(a, -1)[::-1],
                 8: lambda a: np.rot90(a, 1)}


def _upright(a: np.ndarray, file: Path) -> np.ndarray:
    """``a`` turned as its EXIF orientation tag says (a phone photo is stored sideways and tagged),
    so that outputs, written without the tag, show what the input showed."""
    if Path(file).suffix.lower() not in (".jpg", ".jpeg", ".tif", ".tiff", ".png"):
        return a
    from PIL import Image

    try:
        with Image.open(file) as im:
            orientation = im.getexif().get(0x0112, 1)
    except Exception:  # no readable EXIF: as stored
        return a
    turn = _ORIENTATIONS.get(orientation)
    return a if turn is None else np.ascontiguousarray(turn(a))


def _check_tiff(file: Path, prefix: str) -> bool:
    """Refuse a multi-page TIFF (skimage reads a stack of 3 or 4 pages as one colour image);
    True when the file is CMYK (photometric 'separated')."""
    import tifffile

    try:
        with tifffile.TiffFile(file) as tif:
            pages = [p for p in tif.pages if not getattr(p, "is_reduced", False)]  # no thumbnails
            separated = tif.pages[0].photometric == tifffile.PHOTOMETRIC.SEPARATED
    except Exception:  # skimage read it: leave it as read
        return False
    if len(pages) > 1:
        raise ValueError(f"{prefix}{str(file)!r} is a multi-page TIFF ({len(pages)} pages); one image per file "
                         "is supported: save each page as its own file")
    return separated


def load_folder(
    path: str | Path, color: bool = False, split: str | None = None, *, name: str = "load_folder"
) -> list[torch.Tensor]:
    """Load every PNG/JPEG/TIFF image of a folder as (C, H, W) float32 tensors in [0, 1].

    Parameters
    ----------
    path:
        A flat folder of images, or the root of a train/test layout (see ``split``).
    color:
        ``False``: one channel (RGB converted with ``skimage.color.rgb2gray``). ``True``: three
        channels; grayscale files are replicated to three channels (a user's folder is never
        silently thinned, unlike the embedded set). Alpha channels are dropped.
    split:
        ``None`` for a flat folder, or a split name read from ``path/<split>``,
        ``path/images/<split>`` or ``path/data/images/<split>`` (BSDS500).

    uint8, uint16 (and other unsigned integer) files are scaled by their dtype's maximum; float
    files (TIFF) must already lie in [0, 1]. Files are read in name order; use
    :func:`list_image_files` for the matching names. A file that cannot be read raises
    ``ValueError`` naming it.  Every message begins with ``name``.
    """
    out = []
    for file in list_image_files(path, split, name=name):
        a = to_float01(_read_file(file, f"{name}: "), name=f"{name}: {str(file)!r}")
        chw = _to_chw(a, color, f"{name}: {str(file)!r}", gray_to_rgb=True)
        assert chw is not None
        out.append(torch.from_numpy(np.ascontiguousarray(chw, dtype=np.float32)))
    return out


# --------------------------------------------------------------------------------------------
# single files (command line)
# --------------------------------------------------------------------------------------------


#: Extensions :func:`save_image` writes (8-bit PNG/JPEG, 16-bit TIFF).
SAVE_EXTENSIONS: frozenset[str] = IMAGE_EXTENSIONS


def load_image(path: str | Path, color: bool | None = None) -> torch.Tensor:
    """One PNG/JPEG/TIFF file as a (C, H, W) float32 tensor in [0, 1].

    ``color=None`` keeps the file's own kind (1 channel for grayscale, 3 for colour);
    ``True``/``False`` converts.  A missing file raises ``FileNotFoundError``, a folder
    ``IsADirectoryError``, an empty, text or damaged file ``ValueError``, each naming the file.
    """
    from ..utils.files import check_input_file

    file = check_input_file(path, "image file")
    a = to_float01(_read_file(file, prefix=""), name=f"image file {str(file)!r}")
    if a.ndim == 3 and a.shape[-1] in (2, 4) and float(a[..., -1].min()) < 1.0:
        warnings.warn(f"image file {str(file)!r} has transparent pixels: its alpha channel is dropped, and "
                      "transparent areas take the colour stored under them", UserWarning, stacklevel=2)
    if color is None:
        color = a.ndim == 3 and a.shape[-1] in (3, 4)
    return torch.from_numpy(_to_chw(a, color, f"image file {str(file)!r}", gray_to_rgb=True).copy())


def save_image(path: str | Path, image: torch.Tensor) -> Path:
    """Write a (C, H, W) image (C = 1 or 3) in [0, 1] as 8-bit PNG/JPEG or 16-bit TIFF (by the
    extension), atomically; values outside [0, 1] are clipped.

    Refuses (``ValueError``, nothing written) an image with NaN or Inf values, another shape, and
    a path without one of the extensions of :data:`SAVE_EXTENSIONS`; ``TypeError`` for an integer
    tensor (0-255 values are not in [0, 1]).
    """
    import skimage.io

    from ..utils.files import atomic_write, check_output_path

    path = check_output_path(path, SAVE_EXTENSIONS, name="save_image:", what="an image")
    if not isinstance(image, torch.Tensor) or image.dim() != 3 or image.shape[0] not in (1, 3) or not image.numel():
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"save_image: expected a (C, H, W) tensor with C = 1 or 3, got {shape}; "
                         f"nothing written to {str(path)!r}")
    if not image.is_floating_point():  # uint8 0..255 would be clipped to white
        raise TypeError(f"save_image: expected a float tensor with values in [0, 1], got dtype {image.dtype}; "
                        f"convert 8-bit images with x.float() / 255; nothing written to {str(path)!r}")
    a = image.detach().cpu().double()
    if not bool(torch.isfinite(a).all()):
        raise ValueError(f"save_image: the image contains NaN or Inf values; nothing written to {str(path)!r}")
    a = a.clamp(0, 1).numpy()
    a = a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)
    tiff = path.suffix.lower() in (".tif", ".tiff")
    a = (a * (65535 if tiff else 255) + 0.5).astype(np.uint16 if tiff else np.uint8)
    return atomic_write(path, lambda tmp: skimage.io.imsave(tmp, a, check_contrast=False))
