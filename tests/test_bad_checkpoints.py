"""Bad checkpoints: missing, a folder, not a torch file, not liftinv's, without settings, with
weights that do not fit their architecture or hold NaN.  Every command that reads one names the
file and writes nothing."""

from __future__ import annotations

import pytest
import torch
from test_bad_common import refused, ws  # noqa: F401  (ws is a fixture)

from liftinv.checkpoint import FORMAT, load_checkpoint


def _edit(root, tmp_path, change):
    state = load_checkpoint(root / "gray.pt")
    change(state)
    path = tmp_path / "edited.pt"
    torch.save(state, path)
    return path


def _nan(state):
    key = next(k for k, v in state["state_dict"].items() if v.is_floating_point())
    state["state_dict"][key] = torch.full_like(state["state_dict"][key], float("nan"))


def _shape(state):
    key = next(k for k, v in state["state_dict"].items() if v.dim() == 4)
    state["state_dict"][key] = torch.zeros(1, 1, 1, 1)


CASES = {  # name -> (make the file under tmp_path, words of the message)
    "missing": (lambda w, t: t / "missing.pt", "does not exist"),
    "folder": (lambda w, t: (t / "ckpt.pt").mkdir() or t / "ckpt.pt", "is a directory"),
    "text": (lambda w, t: (t / "c.pt").write_text("weights: none\n") and t / "c.pt", "text file"),
    "empty": (lambda w, t: (t / "c.pt").write_bytes(b"") or t / "c.pt", "empty"),
    "an-image": (lambda w, t: w / "gray.png", "could not be read"),
    "a-list": (lambda w, t: torch.save([1, 2], t / "c.pt") or t / "c.pt", "not a liftinv checkpoint"),
    "no-format": (lambda w, t: torch.save({"state_dict": {}}, t / "c.pt") or t / "c.pt", "not a liftinv checkpoint"),
    "no-arch": (lambda w, t: _edit(w, t, lambda s: s.pop("arch")), "no architecture"),
    "arch-without-name": (lambda w, t: _edit(w, t, lambda s: s["arch"].pop("name")), "no architecture"),
    "unknown-arch": (lambda w, t: _edit(w, t, lambda s: s["arch"].update(name="resnet-9000")), "resnet-9000"),
    "arch-lacks-a-setting": (lambda w, t: _edit(w, t, lambda s: s["arch"].pop("features")), "features"),
    "no-weights": (lambda w, t: _edit(w, t, lambda s: s.pop("state_dict")), "no weights"),
    "weights-missing": (lambda w, t: _edit(w, t, lambda s: s["state_dict"].popitem()), "do not fit"),
    "weights-wrong-shape": (lambda w, t: _edit(w, t, _shape), "do not fit"),
    "weights-nan": (lambda w, t: _edit(w, t, _nan), "NaN"),
    "no-task": (lambda w, t: _edit(w, t, lambda s: s.pop("task")), "no 'task' settings"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_denoise_names_a_bad_checkpoint(case, ws, tmp_path, capsys):  # noqa: F811
    make, words = CASES[case]
    path = make(ws, tmp_path)
    out = tmp_path / "out.png"
    line = refused(["denoise", ws / "gray.png", "-o", out, "--checkpoint", path], capsys, tmp_path, ws,
                   names=[str(path)])
    assert words in line
    assert not out.exists()


@pytest.mark.parametrize("case", ["text", "no-arch", "weights-wrong-shape", "weights-nan", "folder"])
@pytest.mark.parametrize("command", ["deblur", "invert"])
def test_deblur_and_invert_name_a_bad_checkpoint(command, case, ws, tmp_path, capsys):  # noqa: F811
    make, words = CASES[case]
    path = make(ws, tmp_path)
    out = tmp_path / "out.png"
    argv = (["deblur", ws / "gray.png", "-o", out, "--checkpoint", path] if command == "deblur" else
            ["invert", "--checkpoint", path, "--layer", "1", "--input", ws / "gray.png", "-o", out, "--iters", "2",
             "--no-progress"])
    line = refused(argv, capsys, tmp_path, ws, names=[str(path)])
    assert words in line


def test_a_foreign_format_tag_is_named(tmp_path):
    torch.save({"format": FORMAT + "-other", "arch": {"name": "dfb"}, "state_dict": {}}, tmp_path / "c.pt")
    with pytest.raises(ValueError, match="not a liftinv checkpoint"):
        load_checkpoint(tmp_path / "c.pt")


def test_a_checkpoint_of_another_task_names_the_command_that_takes_it(ws, tmp_path, capsys):  # noqa: F811
    deblurring = _edit(ws, tmp_path, lambda s: s["task"].update(task="deblurring"))
    line = refused(["denoise", ws / "gray.png", "-o", tmp_path / "o.png", "--checkpoint", deblurring], capsys,
                   tmp_path, ws, names=[str(deblurring), "'deblurring'", "liftinv deblur"])
    autoencoder = _edit(ws, tmp_path, lambda s: s.update(task={"task": "autoencoder"}))
    for command in ("denoise", "deblur"):
        line = refused([command, ws / "gray.png", "-o", tmp_path / "o.png", "--checkpoint", autoencoder], capsys,
                       tmp_path, ws, names=[str(autoencoder), "'autoencoder'", "liftinv invert"])
    assert "denoiser (for PnP-HQS)" in line


class _RunsCode:
    """Unpickling this calls ``Path.touch`` on a marker file: what a malicious checkpoint would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_opening_a_checkpoint_never_runs_code_from_it(tmp_path):
    marker = tmp_path / "ran"
    torch.save({"format": FORMAT, "arch": {"name": "dfb"}, "state_dict": {}, "config": _RunsCode(marker)},
               tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="Python objects other than tensors"):
        load_checkpoint(tmp_path / "evil.pt")
    assert not marker.exists()


@pytest.mark.parametrize("content, words", [
    (b"\x00" * 4096, "not a torch file, or a damaged one"),  # zeroed by a crash: not "a text file"
    (("a" * 511 + "\u00e9 and more text\n").encode(), "it is a text file"),  # a character cut at byte 512
])
def test_a_damaged_or_text_file_is_named_for_what_it_is(content, words, tmp_path):
    (tmp_path / "c.pt").write_bytes(content)
    with pytest.raises(ValueError, match=words):
        load_checkpoint(tmp_path / "c.pt")
