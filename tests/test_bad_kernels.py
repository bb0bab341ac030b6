"""Bad blur kernels: malformed or extreme specifications and files that are no kernel, in
`liftinv deblur` and `liftinv train-deblur` (refused before any data is loaded)."""

from __future__ import annotations

import numpy as np
import pytest
from test_bad_common import TINY, refused, ws  # noqa: F401  (ws is a fixture)

from liftinv.deblurring.physics import parse_kernel

SPECS = {  # --kernel -> words of the message
    "motion:inf": "length", "motion:nan": "length", "motion:3:nan": "angle", "motion:3:inf": "angle",
    "motion:0": "length", "motion:1e9": "length", "gaussian:nan": "standard deviation",
    "gaussian:-1": "standard deviation", "gaussian:0": "standard deviation", "gaussian:1e6": "standard deviation",
    "box:0": "size", "box:-2": "size", "box:1e9": "bad number", "box:2.5": "bad number", "box:100000": "size",
    "unknown:3": "expected gaussian", "gaussian": "expected gaussian", "motion:1:2:3": "expected gaussian",
    ":": "expected gaussian", "gaussian:two": "bad number", "missing.npy": "does not exist",
}


@pytest.mark.parametrize("spec", sorted(SPECS))
@pytest.mark.parametrize("command", ["deblur", "train-deblur"])
def test_bad_kernel_specifications(command, spec, ws, tmp_path, capsys):  # noqa: F811
    argv = (["deblur", ws / "gray.png", "-o", tmp_path / "o.png"] if command == "deblur" else
            ["train-deblur", "--data", tmp_path / "no-such-folder", *TINY, "--epochs", "1", "-o", tmp_path / "d.pt"])
    # a malformed named kernel is an option error (exit 2, before anything runs); a file is read later
    status = 1 if spec.endswith(".npy") else 2
    line = refused([*argv, "--kernel", spec], capsys, tmp_path, ws, status=status, names=["kernel"])
    assert SPECS[spec] in line


def _kernel_file(tmp_path, kind):
    path = tmp_path / "k.npy"
    if kind == "text":
        path.write_text("1 2 3\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "pickled-object":
        np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    elif kind == "3-d":
        np.save(path, np.ones((2, 3, 3)))
    elif kind == "nan":
        np.save(path, np.full((3, 3), np.nan))
    elif kind == "zero-sum":
        np.save(path, np.zeros((2, 2)))
    elif kind == "negative":  # a sharpening filter; rl then wrote NaN, wiener and pnp ran silently
        np.save(path, np.array([[-1.0, -1.0, -1.0], [-1.0, 9.0, -1.0], [-1.0, -1.0, -1.0]]))
    elif kind == "complex":
        np.save(path, np.ones((3, 3), complex))
    elif kind == "strings":
        np.save(path, np.array([["a", "b"]]))
    elif kind == "folder":
        path.mkdir()
    return path, {"text": "text file", "empty": "empty", "pickled-object": "not a NumPy .npy array",
                  "3-d": "2-D", "nan": "NaN", "zero-sum": "sum", "negative": "must be non-negative",
                  "complex": "real 2-D", "strings": "real 2-D",
                  "folder": "is a directory", "missing": "does not exist"}[kind]


@pytest.mark.parametrize("kind", ["text", "empty", "pickled-object", "3-d", "nan", "zero-sum", "negative", "complex",
                                  "strings", "folder", "missing"])
def test_bad_kernel_files(kind, ws, tmp_path, capsys):  # noqa: F811
    path, words = _kernel_file(tmp_path, kind)
    line = refused(["deblur", ws / "gray.png", "-o", tmp_path / "o.png", "--kernel-file", path], capsys, tmp_path,
                   names=[str(path)])
    assert words in line


def test_a_kernel_larger_than_the_image(ws, tmp_path, capsys):  # noqa: F811
    line = refused(["deblur", ws / "gray.png", "-o", tmp_path / "o.png", "--kernel", "box:40"], capsys, tmp_path,
                   names=["input image", "gray.png"])
    assert "larger than" in line


def test_good_specifications_still_parse():
    for spec in ("gaussian:2.0", "box:3", "motion:9:30", "motion:5"):
        k = parse_kernel(spec)
        assert k.dim() == 2 and abs(float(k.sum()) - 1) < 1e-5
