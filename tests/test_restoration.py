"""The shared restoration layer: configuration as data, one training function, checkpoints,
fixed-seed test sets, atomic outputs and the command line's shared options."""

from __future__ import annotations

import argparse
import os

import pytest
import torch

from liftinv.checkpoint import load_checkpoint, load_weights, save_checkpoint
from liftinv.denoising.models import build_denoiser, default_arch
from liftinv.denoising.task import describe
from liftinv.restoration import TrainConfig, degraded_test_set, make_physics, train_network
from liftinv.utils.files import write_text_atomic


def _images(n=2, size=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    base = torch.linspace(0, 1, size)
    return [(0.5 * base[None, :, None] + 0.3 * base[None, None, :] + 0.1 * torch.rand(1, size, size, generator=g))
            .clamp(0, 1) for _ in range(n)]


def test_config_round_trips_and_refuses_bad_settings():
    config = TrainConfig.with_defaults({"lr": 2e-3, "batch_size": 16}, epochs=3, lr=None, seed=4)
    assert config.lr == 2e-3 and config.seed == 4 and config.patch_stride == 20
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown training settings"):
        TrainConfig.from_dict({"epochs": 1, "learning_rate": 1})
    for bad, match in (({"trainer": "sgd"}, "trainer"), ({"batch_size": 0}, "batch_size"), ({"lr": -1.0}, "lr"),
                       ({"lr": float("nan")}, "lr"), ({"epochs": 0}, "epochs"), ({"budget": 0.0}, "budget")):
        with pytest.raises(ValueError, match=match):
            TrainConfig(**{"epochs": 1, **bad})
    with pytest.raises(ValueError, match="budget"):
        TrainConfig()  # neither a budget nor epochs


def test_checkpoint_carries_config_and_task_and_resumes(tmp_path):
    ckpt = tmp_path / "run.pt"
    images = _images(2, 24)
    arch = default_arch("dfb", 1, 16, depth=3, features=4)
    config = TrainConfig(trainer="backprop", epochs=2, batch_size=8, patch=16, stride=8)
    net, hist = train_network(arch, describe(0.1), images, config, checkpoint=ckpt, progress=False)
    assert [p.name for p in tmp_path.iterdir()] == ["run.pt"]  # no temporary file left
    state = load_checkpoint(ckpt)
    assert state["arch"] == arch and len(state["history"]) == 2
    assert TrainConfig.from_dict(state["config"]) == config and state["task"] == describe(0.1)
    # resume: continues from epoch 2 to epoch 3 and keeps the weights it had
    net2, hist2 = train_network(arch, describe(0.1), images, config.replace(epochs=3), checkpoint=ckpt, resume=True,
                                progress=False)
    assert [r["epoch"] for r in hist2] == [1, 2, 3] and hist2[1]["iterations"] == hist[1]["iterations"]
    with pytest.raises(ValueError, match="was trained for"):  # another noise level is another task
        train_network(arch, describe(0.2), images, config.replace(epochs=4), checkpoint=ckpt, resume=True,
                      progress=False)
    other = build_denoiser(default_arch("dfb", 1, 16, depth=4, features=4))
    with pytest.raises(ValueError, match="depth: checkpoint 3 vs network 4"):
        load_weights(other, default_arch("dfb", 1, 16, depth=4, features=4), state)
    torch.save({"weights": 1}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="not a liftinv checkpoint"):
        load_checkpoint(tmp_path / "bad.pt")
    save_checkpoint(tmp_path / "x.pt", arch=arch, network=net2)
    assert load_checkpoint(tmp_path / "x.pt")["arch"] == arch


def test_training_is_reproducible_from_its_config():
    images = _images(2, 24, seed=3)
    arch = default_arch("dfb", 1, 16, depth=2, features=4)
    # bit for bit on the CPU (cuDNN's convolutions need not be deterministic, so no GPU here)
    config = TrainConfig(trainer="lifted", epochs=1, batch_size=8, patch=16, stride=8, seed=5, device="cpu")
    nets = [train_network(arch, describe(0.1), images, config, progress=False)[0] for _ in range(2)]
    for a, b in zip(nets[0].parameters(), nets[1].parameters()):
        assert torch.equal(a, b)


def test_degraded_test_set_is_fixed_by_its_seed():
    images = _images(3, 16)
    physics = make_physics(describe(0.1))
    first, again = degraded_test_set(physics, images), degraded_test_set(physics, images)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[0] - images[0], first[1] - images[1])  # one noise draw per image
    other = degraded_test_set(physics, images, seed=1)
    assert not torch.equal(first[0], other[0])
    assert abs(float((first[0] - images[0]).std()) - 0.1) < 0.02


def test_atomic_writes_refuse_non_regular_files_and_leave_no_temporary(tmp_path):
    target = tmp_path / "report.md"
    write_text_atomic(target, "one")
    write_text_atomic(target, "two")
    assert target.read_text() == "two" and sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]
    (tmp_path / "folder").mkdir()
    os.symlink(target, tmp_path / "link.md")
    os.mkfifo(tmp_path / "fifo")
    for path in ("folder", "link.md", "fifo"):
        with pytest.raises(ValueError, match="not a regular file"):
            write_text_atomic(tmp_path / path, "x")
    assert target.read_text() == "two"


def test_every_training_command_takes_the_same_options():
    from liftinv.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))

    def options(name):
        return {s for a in sub.choices[name]._actions for s in a.option_strings}

    train, deblur = options("train"), options("train-deblur")
    shared = {"--trainer", "--budget", "--epochs", "--batch-size", "--lr", "--lam", "--patch", "--seed", "--data",
              "--color", "--device", "--output", "-o", "--resume", "--nproc", "--threads", "--no-progress"}
    assert shared <= train and shared <= deblur
    for name in ("denoise", "deblur", "invert", "bench"):
        assert "--output" in options(name) or name == "bench"


def test_python_training_refuses_to_replace_a_checkpoint_and_a_blur_the_network_does_not_model(tmp_path):
    """Re-running a notebook cell must not replace a finished run; a deblurring network built
    for one kernel must not be trained on data blurred by another."""
    from liftinv.deblurring.models import default_deblur_arch
    from liftinv.deblurring.task import describe as describe_blur
    from liftinv.denoising.models import default_arch
    from liftinv.denoising.task import describe
    from liftinv.restoration import TrainConfig, train_network

    images = [torch.rand(1, 24, 24, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    config = TrainConfig(epochs=1, batch_size=4, patch=12, max_patches=8)
    arch = default_arch("dfb", 1, 12, 2, 4)
    path = tmp_path / "run.pt"
    train_network(arch, describe(0.1), images, config, checkpoint=path, progress=False)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="already exists: resume=True continues that run, overwrite=True replaces"):
        train_network(arch, describe(0.1), images, config, checkpoint=path, progress=False)
    assert path.read_bytes() == before
    train_network(arch, describe(0.1), images, config, checkpoint=path, overwrite=True, progress=False)
    with pytest.raises(ValueError, match="the network's blur kernel .* is not the task's"):
        train_network(default_deblur_arch("gaussian:1.0", iters=1, features=4), describe_blur("box:5", 0.01), images,
                      config, progress=False)
