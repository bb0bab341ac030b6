"""Resuming and rerunning: --resume of a missing file or of another run is refused, a rerun
without --resume never overwrites a checkpoint (unless --overwrite), Ctrl-C says what was kept
and how to continue, --checkpoint-every writes mid-epoch checkpoints that resume."""

from __future__ import annotations

import re
import shutil

import pytest
import torch
from test_bad_common import TINY, TINY_DFB, refused, run, snapshot, ws  # noqa: F401  (ws is a fixture)

from liftinv.checkpoint import load_checkpoint
from liftinv.restoration import training


def _train(root, out, *extra):
    return ["train", "--data", root / "data", *TINY_DFB, "--epochs", "1", *extra, "-o", out]


@pytest.fixture
def run_pt(ws, tmp_path):  # noqa: F811
    """A copy of the workspace's checkpoint (1 epoch at sigma 25, depth 2, features 4)."""
    path = tmp_path / "run.pt"
    shutil.copy(ws / "gray.pt", path)
    return path


@pytest.mark.parametrize("extra, words", [
    (["--sigma", "50"], "sigma 50/255 now vs 25/255"),
    (["--depth", "3"], "depth 3 now vs 2"),
    (["--features", "8"], "features 8 now vs 4"),
    (["--lr", "0.01"], "lr 0.01 now vs 0.001"),
    (["--trainer", "backprop"], "trainer 'backprop' now vs 'lifted'"),
    (["--batch-size", "8"], "batch_size 8 now vs 4"),
    (["--seed", "3"], "seed 3 now vs 0"),
    (["--model", "dfb-inertial"], "name 'dfb-inertial' now vs 'dfb'"),
    (["--color"], "channels 3 now vs 1"),
])
def test_resume_refuses_another_run(extra, words, ws, run_pt, tmp_path, capsys):  # noqa: F811
    line = refused(_train(ws, run_pt, "--resume", *extra), capsys, tmp_path, ws, names=["--resume", str(run_pt)])
    assert words in line


def test_resume_of_a_missing_checkpoint_is_refused(ws, tmp_path, capsys):  # noqa: F811
    refused(_train(ws, tmp_path / "none.pt", "--resume"), capsys, tmp_path, names=["--resume", "none.pt"])
    assert not (tmp_path / "none.pt").exists()


def test_resume_of_a_file_that_is_no_checkpoint_is_refused(ws, tmp_path, capsys):  # noqa: F811
    (tmp_path / "notes.pt").write_text("just text")
    refused(_train(ws, tmp_path / "notes.pt", "--resume"), capsys, tmp_path, names=["notes.pt", "text file"])


@pytest.mark.parametrize("command", ["train", "train-deblur"])
def test_a_rerun_without_resume_does_not_overwrite(command, ws, run_pt, tmp_path, capsys):  # noqa: F811
    argv = _train(ws, run_pt) if command == "train" else \
        ["train-deblur", "--data", ws / "data", *TINY, "--epochs", "1", "-o", run_pt]
    line = refused(argv, capsys, tmp_path, ws, names=[str(run_pt), "--resume", "--overwrite"])
    assert "already holds a checkpoint (epoch 1" in line


def test_resume_with_another_kernel_is_refused(ws, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "d.pt"
    base = ["train-deblur", "--data", ws / "data", *TINY, "--epochs", "1", "--iters", "2", "--features", "4"]
    assert run([*base, "--kernel", "box:3", "-o", out], capsys)[0] == 0
    line = refused([*base, "--kernel", "box:5", "--resume", "--epochs", "2", "-o", out], capsys, tmp_path,
                   names=["--resume"])
    assert "kernel a 5x5 kernel now vs a 3x3 kernel in the checkpoint" in line


def test_overwrite_replaces_and_resume_continues(ws, run_pt, tmp_path, capsys):  # noqa: F811
    assert run(_train(ws, run_pt, "--overwrite", "--epochs", "2"), capsys)[0] == 0
    assert [r["epoch"] for r in load_checkpoint(run_pt)["history"]] == [1, 2]
    status, out, _ = run(_train(ws, run_pt, "--resume", "--epochs", "3"), capsys)
    assert status == 0 and "checkpoint" in out
    assert [r["epoch"] for r in load_checkpoint(run_pt)["history"]] == [1, 2, 3]


def _interrupt_at(monkeypatch, step):
    original, count = training._Watched.step_batch, {"n": 0}

    def step_batch(self, *args):
        count["n"] += 1
        if count["n"] == step:
            raise KeyboardInterrupt
        return original(self, *args)

    monkeypatch.setattr(training._Watched, "step_batch", step_batch)


def test_ctrl_c_says_where_the_checkpoint_is_and_how_to_resume(ws, tmp_path, capsys, monkeypatch):  # noqa: F811
    out = tmp_path / "run.pt"
    _interrupt_at(monkeypatch, 20)  # in epoch 2 (13 steps an epoch)
    status, _, err = run(_train(ws, out, "--epochs", "5"), capsys)
    assert status == 130
    assert "interrupted" in err and str(out) in err and "--resume" in err and "epoch 1" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert [r["epoch"] for r in load_checkpoint(out)["history"]] == [1]


def test_ctrl_c_before_the_first_checkpoint_says_nothing_was_written(ws, tmp_path, capsys, monkeypatch):  # noqa: F811
    out = tmp_path / "run.pt"
    _interrupt_at(monkeypatch, 2)
    status, _, err = run(_train(ws, out), capsys)
    assert status == 130 and "nothing was written" in err and not out.exists()


def test_ctrl_c_with_overwrite_before_a_checkpoint_keeps_the_earlier_run(ws, run_pt, tmp_path, capsys,  # noqa: F811
                                                                         monkeypatch):
    before = snapshot(tmp_path)
    _interrupt_at(monkeypatch, 2)
    status, _, err = run(_train(ws, run_pt, "--overwrite"), capsys)
    assert status == 130 and "still holds the earlier run" in err
    assert snapshot(tmp_path) == before


def test_checkpoint_every_steps_writes_mid_epoch_checkpoints_that_resume(ws, tmp_path, capsys,  # noqa: F811
                                                                         monkeypatch):
    """A run interrupted after a mid-epoch checkpoint and resumed takes the epoch's remaining steps
    on the batches and noise of one uninterrupted run, and ends with its weights, bit for bit."""
    out = tmp_path / "run.pt"
    _interrupt_at(monkeypatch, 9)  # epoch 1 has 13 steps: checkpoints at steps 4 and 8
    status, _, err = run(_train(ws, out, "--checkpoint-every", "4"), capsys)
    assert status == 130 and "8 steps" in err
    history = load_checkpoint(out)["history"]
    assert history == [{"epoch": 0, "iterations": 8, "seconds": history[0]["seconds"], "epoch_steps": 8,
                        "partial": True}]
    monkeypatch.undo()
    assert run(_train(ws, out, "--checkpoint-every", "4", "--resume"), capsys)[0] == 0
    state = load_checkpoint(out)
    assert [r["epoch"] for r in state["history"]] == [1] and state["history"][0]["iterations"] == 13
    assert not any(r.get("partial") for r in state["history"])
    whole = load_checkpoint(ws / "gray.pt")["state_dict"]  # the same run, uninterrupted
    assert all(torch.equal(whole[k], v) for k, v in state["state_dict"].items())


def test_a_run_stopped_by_its_budget_resumes_inside_its_epoch(ws, tmp_path, capsys, monkeypatch):  # noqa: F811
    """--budget ends a run inside an epoch: its last record is partial, and --resume with more budget
    takes the rest of that epoch, not the next one (the uninterrupted run's weights, bit for bit)."""
    out = tmp_path / "run.pt"
    original = training._Watched.step_batch
    calls = {"n": 0}

    def step_batch(self, *args):  # the budget runs out at step 5 (13 steps an epoch)
        calls["n"] += 1
        stats = original(self, *args)
        if calls["n"] == 5:
            import time
            time.sleep(0.6)
        return stats

    monkeypatch.setattr(training._Watched, "step_batch", step_batch)
    assert run(_train(ws, out, "--epochs", "1", "--budget", "0.5"), capsys)[0] == 0
    history = load_checkpoint(out)["history"]
    assert [(r["epoch"], r["iterations"], r.get("partial"), r.get("epoch_steps")) for r in history] == [
        (0, 5, True, 5)]
    monkeypatch.undo()
    assert run(_train(ws, out, "--epochs", "1", "--budget", "1000", "--resume"), capsys)[0] == 0
    state = load_checkpoint(out)
    assert [(r["epoch"], r["iterations"]) for r in state["history"]] == [(1, 13)]
    whole = load_checkpoint(ws / "gray.pt")["state_dict"]
    assert all(torch.equal(whole[k], v) for k, v in state["state_dict"].items())


def test_checkpoint_writing_spends_no_budget(ws, tmp_path, capsys, monkeypatch):  # noqa: F811
    """The mid-epoch checkpoints are written outside the timed steps: a slow disk does not eat the
    training budget (the steps' seconds exclude it)."""
    import time

    original = training.save_checkpoint

    def slow_save(*args, **kwargs):
        time.sleep(0.2)
        return original(*args, **kwargs)

    monkeypatch.setattr(training, "save_checkpoint", slow_save)
    out = tmp_path / "run.pt"
    assert run(_train(ws, out, "--checkpoint-every", "1"), capsys)[0] == 0
    history = load_checkpoint(out)["history"]
    assert history[-1]["iterations"] == 13 and history[-1]["seconds"] < 0.2 * 12


def test_checkpoint_every_minutes_parses():
    from liftinv.restoration.arguments import every

    assert every("2m") == (None, 120.0) and every("30s") == (None, 30.0) and every("100") == (100, None)


def test_resume_on_other_images_is_refused(ws, run_pt, tmp_path, capsys):  # noqa: F811
    other = tmp_path / "other"
    shutil.copytree(ws / "data", other)
    (other / "im1.png").unlink()
    refused(["train", "--data", other, *TINY_DFB, "--epochs", "2", "--resume", "-o", run_pt], capsys, tmp_path, ws,
            names=["--resume", str(run_pt), "other images", "--data"])


def test_resume_of_a_finished_run_says_to_raise_the_budget(ws, run_pt, tmp_path, capsys):  # noqa: F811
    refused(_train(ws, run_pt, "--resume"), capsys, tmp_path, ws,
            names=["--resume", str(run_pt), "has finished its run", "--epochs"])


def test_resume_of_a_denoiser_by_the_deblurring_command_names_both_tasks(ws, run_pt, tmp_path, capsys):  # noqa: F811
    line = refused(["train-deblur", "--data", ws / "data", *TINY, "--epochs", "2", "--resume", "-o", run_pt], capsys,
                   tmp_path, ws, names=["--resume"])
    assert "was trained for 'denoising', not 'deblurring'" in line


def test_a_run_does_not_replace_a_checkpoint_another_run_wrote(ws, tmp_path, capsys, monkeypatch):  # noqa: F811
    """Two runs given one output: the one that finds the file changed since its own last save stops
    with one line naming the file, and the other run's checkpoint stays."""
    out = tmp_path / "run.pt"
    original = training._Watched.step_batch
    calls = {"n": 0}

    def step_batch(self, *args):
        calls["n"] += 1
        if calls["n"] == 3:  # another run writes the same output
            shutil.copy(ws / "gray.pt", out)
        return original(self, *args)

    monkeypatch.setattr(training._Watched, "step_batch", step_batch)
    status, _, err = run(_train(ws, out, "--checkpoint-every", "2", "--overwrite"), capsys)
    assert status == 1 and "written by another process" in err and str(out) in err
    assert out.read_bytes() == (ws / "gray.pt").read_bytes()


def _with_history(path, history):
    state = load_checkpoint(path)
    state["history"] = history
    torch.save(state, path)


@pytest.mark.parametrize("history, words", [
    ("garbage", "its 'history' is str 'garbage', not a list of epoch records"),
    (None, "its 'history' is None"),
    ({"epoch": 1}, "its 'history' is dict"),
    ([{"epoch": 1, "iterations": 13, "seconds": "x"}], "'history' record 0 has seconds = 'x', expected a finite"),
    ([{"epoch": "1", "iterations": 13, "seconds": 1.0}], "'history' record 0 has epoch = '1', expected an integer"),
    ([{"epoch": 1, "iterations": 13, "seconds": 1.0}, "x"], "'history' record 1 is str 'x'"),
])
def test_resume_of_a_checkpoint_with_a_garbage_history_names_the_file_and_the_field(  # noqa: F811
        history, words, ws, run_pt, tmp_path, capsys):  # noqa: F811
    """Before: raw tracebacks (AttributeError, KeyError: -1, 'dictionary update sequence element #0',
    'Unknown format code') from the command line and from train_network(resume=True), or a resumed
    run counting from a wrong epoch."""
    _with_history(run_pt, history)
    line = refused(_train(ws, run_pt, "--resume", "--epochs", "2"), capsys, tmp_path, ws, names=[str(run_pt)])
    assert words in line and "start a new run" in line
    line = refused(_train(ws, run_pt, "--epochs", "2"), capsys, tmp_path, ws, names=[str(run_pt), "--overwrite"])
    assert "already holds" in line  # a rerun without --resume: still the one-line refusal

    from liftinv.data import load_folder
    from liftinv.denoising.models import default_arch
    from liftinv.denoising.task import describe
    from liftinv.restoration import TrainConfig, train_network
    config = TrainConfig(epochs=2, batch_size=4, patch=8, device="cpu")
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match=re.escape(words)):
        train_network(default_arch("dfb", 1, 8, 2, 4), describe(25 / 255), load_folder(ws / "data"), config,
                      checkpoint=run_pt, resume=True, progress=False)
    assert snapshot(tmp_path) == before


def test_resuming_a_float64_checkpoint_into_a_float32_network_warns(ws, tmp_path):  # noqa: F811
    """Before: the float64 weights were cast to float32 by load_state_dict and the run went on in
    float32 without a word."""
    from liftinv.data import load_folder
    from liftinv.denoising.models import default_arch
    from liftinv.denoising.task import describe
    from liftinv.restoration import TrainConfig, make_physics, train_network
    from liftinv.restoration.registry import build_network

    arch, task, out = default_arch("dfb", 1, 8, 2, 4), describe(0.1), tmp_path / "f64.pt"
    images = [im.double() for im in load_folder(ws / "data")]
    training.train(build_network(arch, device="cpu", seed=0).double(), make_physics(task), images,
                   TrainConfig(epochs=1, batch_size=4, patch=8, device="cpu"), arch=arch, task=task, checkpoint=out,
                   progress=False)
    assert all(v.dtype == torch.float64 for v in load_checkpoint(out)["state_dict"].values() if v.is_floating_point())
    with pytest.warns(UserWarning, match=r"weights are torch\.float64 but the network is torch\.float32.*"
                                         r"net\.to\(torch\.float64\)"):
        net, history = train_network(arch, task, images, TrainConfig(epochs=2, batch_size=4, patch=8, device="cpu"),
                                     checkpoint=out, resume=True, progress=False)
    assert [r["epoch"] for r in history] == [1, 2] and next(net.parameters()).dtype == torch.float32
