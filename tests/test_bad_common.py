"""Shared by the tests/test_bad_*.py modules (bad and extreme input): a small workspace, one call
of the command line, and a check that nothing was written.  Its own tests: the error format.

Every test_bad_* case asserts the exit status, that the message names the culprit (the option or
the file), and that no file was written or changed.  The workspace is built once per session: a
folder of two 24x24 training images, a grayscale and a colour image, and a tiny trained
checkpoint (DFB-PNN, 2 layers, 4 features, 8x8 patches).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from liftinv import cli

#: Options of a training run small enough for a test (about a second).
TINY = ["--batch-size", "4", "--patch", "8", "--no-progress", "--device", "cpu"]
TINY_DFB = [*TINY, "--depth", "2", "--features", "4"]

_WORKSPACE: dict = {}


def make_workspace(root: Path) -> Path:
    """The shared files under ``root`` (created once)."""
    import skimage.io

    rng = np.random.default_rng(0)
    (root / "data").mkdir(parents=True)
    for i in range(2):
        skimage.io.imsave(root / "data" / f"im{i}.png", (rng.random((24, 24)) * 255).astype(np.uint8),
                          check_contrast=False)
    skimage.io.imsave(root / "gray.png", (rng.random((24, 24)) * 255).astype(np.uint8), check_contrast=False)
    skimage.io.imsave(root / "rgb.png", (rng.random((24, 24, 3)) * 255).astype(np.uint8), check_contrast=False)
    assert cli.main(["train", "--data", str(root / "data"), *TINY_DFB, "--epochs", "1",
                     "-o", str(root / "gray.pt")]) == 0
    assert cli.main(["train", "--data", str(root / "data"), *TINY_DFB, "--epochs", "1", "--color",
                     "-o", str(root / "rgb.pt")]) == 0
    return root


@pytest.fixture
def ws(tmp_path_factory, capsys) -> Path:
    """The shared workspace (read-only for the tests: they write under ``tmp_path``)."""
    if "root" not in _WORKSPACE:
        _WORKSPACE["root"] = make_workspace(tmp_path_factory.mktemp("bad-inputs"))
        capsys.readouterr()
    return _WORKSPACE["root"]


def snapshot(*folders: Path) -> dict:
    """Every file under ``folders`` with a hash of its content and its modification time."""
    out = {}
    for folder in folders:
        for p in sorted(Path(folder).rglob("*")):
            if p.is_file() and not p.is_symlink():
                out[str(p)] = (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            else:
                out[str(p)] = "other"
    return out


def run(argv, capsys) -> tuple[int, str, str]:
    """``liftinv argv`` in this process: ``(exit status, stdout, stderr)``."""
    status = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def refused(argv, capsys, *folders: Path, status: int = 1, names=()) -> str:
    """Run ``argv``, assert the exit ``status``, a one-line error that contains each of
    ``names`` and no traceback, and that nothing under ``folders`` was written; return the error."""
    before = snapshot(*folders)
    code, out, err = run(argv, capsys)
    assert code == status, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "error" in lines[0] and "Traceback" not in err
    for name in names:
        assert str(name) in lines[0], (name, lines[0])
    assert snapshot(*folders) == before, "a refused command wrote or changed a file"
    return lines[0]


# -- the error format itself ---------------------------------------------------------------------
@pytest.mark.parametrize("argv, status", [
    (["train", "--lr", "x", "-o", "a.pt"], 2),
    (["no-such-command"], 2),
    (["denoise", "missing.png", "-o", "out.png", "--checkpoint", "missing.pt"], 1),
])
def test_errors_are_one_line_prefixed_with_the_command(argv, status, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = refused(argv, capsys, tmp_path, status=status)
    assert line.startswith("liftinv")
    assert ": error: " in line
