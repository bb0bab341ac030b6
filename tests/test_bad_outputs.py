"""Bad output paths: no or an unknown extension, a parent that is a file, a folder, a link or a
FIFO at the path.  Each is refused before data is loaded or a network is trained (the training
cases name a data folder that does not exist: the output error must come first)."""

from __future__ import annotations

import os
import stat
import threading

import pytest
import torch
from test_bad_common import TINY_DFB, refused, ws  # noqa: F401  (ws is a fixture)

from liftinv.data import save_image
from liftinv.utils.files import atomic_write, check_output_path

BAD = {  # name -> (how to make it under tmp_path, the path to give, words of the message)
    "no-extension": (None, "result", "no file extension"),
    "unknown-extension": (None, "result.xyz", "unknown extension"),
    "parent-is-a-file": ("file", "afile/result.EXT", "is a file, not a folder"),
    "is-a-folder": ("dir", "adir.EXT", "not a regular file"),
    "is-a-folder-without-extension": ("dir", "adir", "is a folder"),  # before: 'no file extension'
    "is-a-link": ("link", "alink.EXT", "not a regular file"),
    "is-a-fifo": ("fifo", "afifo.EXT", "not a regular file"),
}


def _make(tmp_path, kind, name):
    target = tmp_path / name
    if kind == "file":
        (tmp_path / "afile").write_text("keep me")
    elif kind == "dir":
        target.mkdir()
    elif kind == "link":
        (tmp_path / "elsewhere").write_text("keep me")
        os.symlink(tmp_path / "elsewhere", target)
    elif kind == "fifo":
        os.mkfifo(target)
    return target


def _command(command, root, tmp_path, out):
    if command == "train":
        return ["train", "--data", tmp_path / "no-such-folder", *TINY_DFB, "--epochs", "1", "-o", out]
    if command == "train-deblur":
        return ["train-deblur", "--data", tmp_path / "no-such-folder", *TINY_DFB[:-4], "--epochs", "1", "-o", out]
    if command == "invert":
        return ["invert", "--checkpoint", root / "gray.pt", "--layer", "1", "--input", root / "gray.png", "-o", out,
                "--iters", "2", "--no-progress"]
    if command == "denoise":
        return ["denoise", root / "gray.png", "-o", out, "--checkpoint", root / "gray.pt"]
    return ["deblur", root / "gray.png", "-o", out, "--kernel", "box:3"]


# the extension cases are the same code for every command: the checkpoint and the image kind
CASES = [(command, case) for command in ("train", "train-deblur", "denoise", "deblur", "invert") for case in sorted(BAD)
         if BAD[case][0] is not None or command in ("train", "denoise")]


@pytest.mark.parametrize("command, case", CASES)
def test_bad_output_paths_are_refused_first(command, case, ws, tmp_path, capsys):  # noqa: F811
    kind, name, words = BAD[case]
    name = name.replace("EXT", "pt" if command.startswith("train") else "png")
    out = _make(tmp_path, kind, name)
    status = 2 if kind is None else 1  # a malformed name (the extension cases), or a file problem
    line = refused(_command(command, ws, tmp_path, str(out)), capsys, tmp_path, ws, status=status,
                   names=["-o/--output"])
    assert words in line
    if kind == "link":
        assert (tmp_path / "elsewhere").read_text() == "keep me"
    if kind == "fifo":
        assert stat.S_ISFIFO(os.lstat(out).st_mode)


def test_save_image_refuses_an_unknown_extension_and_writes_nothing(tmp_path):
    with pytest.raises(ValueError, match="unknown extension '.xyz'"):
        save_image(tmp_path / "x.xyz", torch.rand(1, 4, 4))
    with pytest.raises(ValueError, match="no file extension"):
        save_image(tmp_path / "x", torch.rand(1, 4, 4))
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_keeps_permissions_and_uses_unique_temporaries(tmp_path):
    target = tmp_path / "out.txt"
    atomic_write(target, lambda tmp: tmp.write_text("one"))
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask  # not mkstemp's owner-only mode
    os.chmod(target, 0o640)
    names = []

    def write(tmp):
        names.append(tmp.name)
        assert tmp.suffix == ".txt"  # writers that choose a format by extension see the real one
        tmp.write_text("two")

    threads = [threading.Thread(target=atomic_write, args=(target, write)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(names)) == 4 and target.read_text() == "two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # the replaced file's permissions
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_check_output_path_accepts_missing_folders(tmp_path):
    assert check_output_path(tmp_path / "new" / "deeper" / "x.png", {".png"}).name == "x.png"
    assert not (tmp_path / "new").exists()  # created only when writing


@pytest.mark.parametrize("task", ["denoise", "deblur", "invert", "scale"])
def test_a_benchmark_refuses_a_file_as_its_output_folder_before_any_work(task, tmp_path, capsys):
    target = tmp_path / "report.txt"
    target.write_text("keep me")
    refused(["bench", task, "-o", target], capsys, tmp_path, names=["-o/--output", str(target), "is a file"])


@pytest.mark.parametrize("argv, option", [
    (["bench", "denoise", "--budget", "-1"], "--budget"), (["bench", "deblur", "--sigmas", "-2"], "--sigmas"),
    (["bench", "invert", "--iters", "0"], "--iters"), (["bench", "scale", "--nproc", "0"], "--nproc"),
])
def test_benchmark_options_are_checked_by_argparse(argv, option, tmp_path, capsys):
    refused([*argv, "-o", tmp_path / "out"], capsys, tmp_path, status=2, names=[option])


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_an_output_folder_where_no_file_can_be_created_is_refused_before_training(tmp_path, capsys, monkeypatch):
    """Before: as root, os.access said /proc is writable; the error came after training and named a
    temporary file.  os.access is made to say yes here, as it does for root."""
    monkeypatch.setattr(os, "access", lambda *args, **kwargs: True)
    out = "/proc/liftinv-test-output.pt"
    line = refused(["train", "--data", tmp_path / "no-such-folder", *TINY_DFB, "--epochs", "1", "-o", out], capsys,
                   tmp_path, names=[f"-o/--output {out!r}: the folder '/proc' is not writable"])
    assert ".tmp" not in line and "--data" not in line


@pytest.mark.skipif(os.name != "posix", reason="kill -9 and process probes are POSIX")
def test_a_save_after_a_killed_one_removes_the_temporary_it_left(tmp_path):
    """A process killed (kill -9) while saving a checkpoint leaves its temporary next to it; the next
    save to that path removes it, and keeps the temporaries of live writers and of other files."""
    import subprocess
    import sys

    from liftinv.checkpoint import load_checkpoint, save_checkpoint

    target = tmp_path / "run.pt"
    killed = ("import os, signal, sys\nfrom liftinv.utils.files import atomic_write\n"
              "def write(tmp):\n    tmp.write_bytes(b'half a checkpoint')\n    os.kill(os.getpid(), signal.SIGKILL)\n"
              "atomic_write(sys.argv[1], write)\n")
    status = subprocess.run([sys.executable, "-c", killed, str(target)], capture_output=True).returncode
    assert status == -9
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".run.pt.") and left[0].endswith(".tmp.pt") and not target.exists()
    save_checkpoint(target, arch={"name": "x"}, network=torch.nn.Linear(2, 2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.pt"]  # before: the killed save's temporary too
    assert load_checkpoint(target)["arch"] == {"name": "x"}

    from liftinv.utils.files import _writer_tag
    live = tmp_path / f".run.pt.{_writer_tag()}.abcd1234.tmp.pt"  # this process's: a write in progress
    other = tmp_path / f".other.pt.{left[0][len('.run.pt.'):-len('.tmp.pt')]}.tmp.pt"  # another file's
    live.write_bytes(b"")
    other.write_bytes(b"")
    save_checkpoint(target, arch={"name": "y"}, network=torch.nn.Linear(2, 2))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other.name, "run.pt"])
