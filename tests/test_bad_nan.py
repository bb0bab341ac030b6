"""NaN and Inf: training stops at the first non-finite loss or weight and keeps the last good
checkpoint; no checkpoint and no image with NaN is ever written."""

from __future__ import annotations

import math
import shutil
import types

import pytest
import torch
from test_bad_common import TINY, TINY_DFB, refused, snapshot, ws  # noqa: F401  (ws is a fixture)

from liftinv.checkpoint import load_checkpoint, save_checkpoint
from liftinv.data import load_folder, save_image
from liftinv.denoising.models import default_arch
from liftinv.denoising.task import describe
from liftinv.restoration import TrainConfig, train_network
from liftinv.restoration.arguments import _worker_error
from liftinv.restoration.training import TrainingDiverged


@pytest.mark.parametrize("command, trainer", [
    ("train", "lifted"), ("train", "isgm"), ("train", "backprop"), ("train-deblur", "lifted"),
])
def test_a_diverging_run_stops_and_writes_nothing(command, trainer, ws, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "run.pt"
    options = TINY_DFB if command == "train" else [*TINY, "--iters", "2", "--features", "4", "--kernel", "box:3"]
    line = refused([command, "--data", ws / "data", *options, "--epochs", "2", "--trainer", trainer, "--lr", "1e6",
                    "-o", out], capsys, tmp_path, ws, names=["--lr", str(out)])
    assert "diverged" in line and "NaN" in line and "nothing was written" in line
    assert not out.exists()


def test_a_run_that_diverges_later_keeps_the_last_good_checkpoint(ws, tmp_path):  # noqa: F811
    out = tmp_path / "run.pt"
    images = load_folder(ws / "data")
    config = TrainConfig(epochs=3, batch_size=4, patch=8)

    def poison(record, net):  # after the first epoch's checkpoint: the next step sees NaN weights
        next(net.parameters()).data.fill_(float("nan"))

    with pytest.raises(TrainingDiverged, match=r"last good checkpoint .*run.pt' \(epoch 1, 13 steps\) is kept"):
        train_network(default_arch("dfb", 1, 8, 2, 4), describe(0.1), images, config, checkpoint=out,
                      progress=False, callback=poison)
    state = load_checkpoint(out)
    assert [r["epoch"] for r in state["history"]] == [1]
    assert all(torch.isfinite(v).all() for v in state["state_dict"].values() if v.is_floating_point())


def test_without_a_checkpoint_stop_on_nan_false_trains_on(ws):  # noqa: F811
    config = TrainConfig(epochs=1, batch_size=4, patch=8, lr=1e6, trainer="backprop")
    net, history = train_network(default_arch("dfb", 1, 8, 2, 4), describe(0.1), load_folder(ws / "data"), config,
                                 progress=False, stop_on_nan=False)
    assert history.final["epoch"] == 1 and not torch.isfinite(next(net.parameters())).all()


def test_every_epoch_record_has_a_finite_objective(ws):  # noqa: F811
    config = TrainConfig(epochs=3, batch_size=8, patch=8)  # 7 steps an epoch, fewer than the 50 of monitoring
    _, history = train_network(default_arch("dfb", 1, 8, 2, 4), describe(0.1), load_folder(ws / "data"), config,
                               progress=False)
    assert all(math.isfinite(r["lifted"]) for r in history)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_save_image_refuses_non_finite_values_and_keeps_the_old_file(value, tmp_path):
    target = tmp_path / "x.png"
    save_image(target, torch.rand(1, 4, 4))
    before = snapshot(tmp_path)
    image = torch.rand(1, 4, 4)
    image[0, 1, 2] = value
    with pytest.raises(ValueError, match="NaN or Inf.*nothing written"):
        save_image(target, image)
    assert snapshot(tmp_path) == before


def test_save_checkpoint_refuses_nan_weights_and_keeps_the_old_file(ws, tmp_path):  # noqa: F811
    target = tmp_path / "run.pt"
    shutil.copy(ws / "gray.pt", target)
    before = snapshot(tmp_path)
    net = torch.nn.Linear(2, 2)
    net.weight.data[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN or Inf"):
        save_checkpoint(target, arch={"name": "x"}, network=net)
    assert snapshot(tmp_path) == before


def test_denoise_never_writes_a_nan_image(ws, tmp_path, capsys, monkeypatch):  # noqa: F811
    from liftinv.restoration import evaluation

    monkeypatch.setattr(evaluation, "restore_images", lambda net, images: [torch.full_like(images[0], float("nan"))])
    out = tmp_path / "out.png"
    refused(["denoise", ws / "gray.png", "-o", out, "--checkpoint", ws / "gray.pt"], capsys, tmp_path, ws,
            names=["NaN", str(out)])
    assert not out.exists()


def test_invert_never_writes_a_nan_image(ws, tmp_path, capsys, monkeypatch):  # noqa: F811
    from liftinv.inversion import lifted

    def diverged(sub, y, **kwargs):
        return types.SimpleNamespace(x=torch.full_like(kwargs["x_true"], float("nan")), final={})

    monkeypatch.setattr(lifted, "invert_lifted", diverged)
    out = tmp_path / "out.png"
    line = refused(["invert", "--checkpoint", ws / "gray.pt", "--layer", "1", "--input", ws / "gray.png", "-o", out,
                    "--no-progress"], capsys, tmp_path, ws, names=[str(out)])
    assert "diverged" in line


@pytest.mark.parametrize("last, words", [
    ("ValueError: bad thing", "failed: bad thing"),
    ("liftinv.restoration.training.TrainingDiverged: it diverged", "failed: it diverged"),
    ("RuntimeError: CUDA error", "failed: RuntimeError: CUDA error"),
])
def test_worker_errors_become_one_line(last, words):
    """What an ``--nproc`` worker's failure becomes (a real one: tests/test_distributed.py spawns
    processes; this stays fast)."""
    trace = f"\n\n-- Process 1 terminated with the following error:\nTraceback (most recent call last):\n  x\n{last}\n"
    error = _worker_error(Exception(trace), 2)
    assert words in str(error) and "--nproc: process" in str(error) and "\n" not in str(error)
