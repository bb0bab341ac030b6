"""Denoising: DFB-PNN structure, lifted training, command line, benchmark."""

import json

import pytest
import torch

from liftinv.checkpoint import load_checkpoint
from liftinv.cli import main
from liftinv.data import save_image
from liftinv.denoising import cli as dcli
from liftinv.denoising import models
from liftinv.denoising.models import default_arch
from liftinv.lifting import LiftedProblem
from liftinv.models.dfb import DFBPNN
from liftinv.restoration import TrainConfig
from liftinv.solvers import BCD


def _images(n=2, size=24, channels=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    base = torch.linspace(0, 1, size)
    ramp = 0.5 * base[None, :, None] + 0.3 * base[None, None, :]
    return [(ramp + 0.1 * torch.rand(channels, size, size, generator=g)).clamp(0, 1) for _ in range(n)]


@pytest.mark.parametrize("inertial", [False, True])
def test_dfb_objective_equals_loss(inertial):
    """(Adjointness and norms of the DFB maps: the registry in tests/test_linear_maps.py.)"""
    net = DFBPNN((1, 12, 12), depth=5, features=4, inertial=inertial).double()
    z, x = torch.rand(3, 1, 12, 12, dtype=torch.float64), torch.rand(3, 1, 12, 12, dtype=torch.float64)
    problem = LiftedProblem(net)
    states, cache = problem.init_aux(z)
    assert problem.evaluate(states, x, cache)["lifted"] == pytest.approx(problem.loss(z, x).item(), rel=1e-12)
    assert len(net.aux_groups) == (3 if inertial else 2)


def test_dfb_forward_is_the_unrolled_dual_forward_backward_iteration():
    """The fused layers equal DFB written out with torch's convolutions:
    u_{k+1} = clip(u_k - tau_k D_k D_k^* u_k + (tau_k / nu_k) D_k z, -1, 1), x = z - nu_K D_K^* u_K."""
    import torch.nn.functional as F

    torch.manual_seed(3)
    net = DFBPNN((1, 12, 12), depth=4, features=5).double()
    z = torch.rand(2, 1, 15, 13, dtype=torch.float64)
    D = lambda op, x: F.conv2d(x, op.weight, padding=1)  # noqa: E731
    Dt = lambda op, u: F.conv_transpose2d(u, op.weight, padding=1)  # noqa: E731
    u = torch.zeros(2, 5, 15, 13, dtype=torch.float64)
    for op in net.ops[:-1]:
        u = (u - op.tau * D(op, Dt(op, u)) + (op.tau / op.nu) * D(op, z)).clamp(-1, 1)
    expected = z - net.ops[-1].nu * Dt(net.ops[-1], u)
    with torch.no_grad():
        torch.testing.assert_close(net(z), expected)


@pytest.mark.parametrize("inertial", [False, True])
def test_layer_batched_sweep_matches_the_layer_loop(inertial, device, monkeypatch):
    """Colour groups updated in one grouped computation give the layer-by-layer iterates."""
    from liftinv.models import dfb

    calls = []
    dual_steps = dfb.dual_steps
    monkeypatch.setattr(dfb, "dual_steps", lambda *a: calls.append(len(a[0])) or dual_steps(*a))
    torch.manual_seed(0)
    z, x = (torch.rand(3, 1, 12, 12, dtype=torch.float64, device=device) for _ in range(2))
    net = DFBPNN((1, 12, 12), depth=6, features=4, inertial=inertial).double().to(device)
    states, _ = LiftedProblem(net).init_aux(z)
    layers = list(range(1, net.depth + 1))
    with torch.no_grad():
        for a, b in zip(net.preactivations(layers, states), [net.preactivation(l, states) for l in layers]):
            torch.testing.assert_close(a, b)
        terms = [(r, m, torch.randn((3,) + net.state_shapes[r], dtype=torch.float64, device=device))
                 for m in range(1, net.depth) for r, _ in net.readers(m)]
        for a, (r, m, g) in zip(net.adjoints(terms), terms):
            torch.testing.assert_close(a, dict(net.readers(m))[r].A_adjoint(g, net.state_shapes[m]))
    assert bool(calls) != inertial  # the plain steps are batched; inertial layers fall back
    weights = []
    for batched in (False, True):
        trained = DFBPNN((1, 12, 12), depth=6, features=4, inertial=inertial).double().to(device)
        trained.load_state_dict(net.state_dict())
        # 4 sweeps: from the forward pass fewer leave the first layers untrained (and this comparison empty)
        solver = BCD(LiftedProblem(trained), weights="adam", order="even-odd", layer_batching=batched, aux_iters=4)
        solver.prepare(3)
        for _ in range(3):
            solver.step_batch(z, x)
        weights.append(torch.cat([p.detach().flatten() for p in trained.parameters()]))
    torch.testing.assert_close(weights[0], weights[1])
    with pytest.raises(ValueError, match="even-odd"):
        BCD(LiftedProblem(net), order="backward", layer_batching=True)


def test_dfb_is_fully_convolutional_and_rejects_bad_input():
    net = DFBPNN((1, 16, 16), depth=3, features=4)
    assert net(torch.rand(1, 1, 33, 21)).shape == (1, 1, 33, 21)
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        net(torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError, match="NaN"):
        net(torch.full((1, 1, 16, 16), float("nan")))
    with pytest.raises(ValueError, match="adam"):
        BCD(LiftedProblem(net))  # the DFB layers are not linear in their parameters


def test_lifted_training_learns_to_denoise():
    from liftinv.denoising.task import describe
    from liftinv.restoration import TrainConfig, degraded_test_set, make_physics, restore_images, score, train_network

    images = _images(3, 32)
    task = describe(0.1)
    config = TrainConfig(trainer="lifted", epochs=4, batch_size=8, lr=1e-2, patch=16, stride=8)
    net, hist = train_network(default_arch("dfb", 1, 16, depth=4, features=8), task, images, config, progress=False)
    assert len(hist) == 4 and hist.final["iterations"] > 0
    noisy = degraded_test_set(make_physics(task), images)
    before = score(noisy, images)["psnr_mean"]
    after = score(restore_images(net, noisy), images)["psnr_mean"]
    assert after > before + 1.0


def test_names_on_the_command_line_match_the_library():
    from liftinv.denoising.ensemble import ENSEMBLE_SIZES
    from liftinv.restoration import TRAINERS

    assert dcli.DENOISERS == models.DENOISERS
    assert dcli.ENSEMBLE_SIZES == ENSEMBLE_SIZES
    for name in ("trainer", "batch_size", "lr", "lam", "patch"):  # the CLI's defaults are valid settings
        assert name in TrainConfig.__dataclass_fields__
    assert TrainConfig.with_defaults(dcli.TRAIN_DEFAULTS, epochs=1).trainer in TRAINERS


def test_command_line_train_then_denoise(tmp_path, capsys):
    folder = tmp_path / "imgs"
    for i, img in enumerate(_images(2, 32)):
        save_image(folder / f"img{i}.png", img)
    ckpt = tmp_path / "dfb.pt"
    assert main(["train", "--data", str(folder), "--epochs", "1", "--patch", "16", "--depth", "3",
                 "--features", "4", "--batch-size", "8", "--lr", "2e-3", "--seed", "3", "-o", str(ckpt),
                 "--no-progress"]) == 0
    state = load_checkpoint(ckpt)
    assert state["task"] == {"task": "denoising", "sigma": 25 / 255}
    assert state["config"]["lr"] == 2e-3 and state["config"]["seed"] == 3 and state["config"]["trainer"] == "lifted"
    noisy = (_images(1, 32, seed=5)[0] + 0.1 * torch.randn(1, 32, 32)).clamp(0, 1)
    save_image(tmp_path / "noisy.png", noisy)
    assert main(["denoise", str(tmp_path / "noisy.png"), "-o", str(tmp_path / "out.png"),
                 "--checkpoint", str(ckpt), "--clean", str(folder / "img0.png")]) == 0
    out = capsys.readouterr().out
    assert "PSNR input" in out and "sigma 25/255" in out and (tmp_path / "out.png").is_file()
    # clear errors, not tracebacks
    assert main(["denoise", str(tmp_path / "missing.png"), "-o", "x.png", "--checkpoint", str(ckpt)]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["train", "-o", str(ckpt)]) == 2  # options that do not go together: argparse's status
    assert "budget" in capsys.readouterr().err


def test_command_line_trains_the_shipped_recipe_and_refuses_nu_without_one(tmp_path, capsys):
    """--model sccp --nu ... --lr-schedule cosine: the options benchmarks/train_pretrained.py uses."""
    folder = tmp_path / "imgs"
    for i, img in enumerate(_images(2, 32)):
        save_image(folder / f"img{i}.png", img)
    ckpt = tmp_path / "sccp.pt"
    assert main(["train", "--data", str(folder), "--model", "sccp", "--nu", "0.003", "--epochs", "2", "--patch", "16",
                 "--depth", "2", "--features", "4", "--batch-size", "8", "--lr", "8e-3", "--lr-schedule", "cosine",
                 "-o", str(ckpt), "--no-progress"]) == 0
    state = load_checkpoint(ckpt)
    assert state["arch"]["name"] == "sccp" and state["arch"]["nu"] == 0.003
    assert state["config"]["lr_schedule"] == "cosine" and state["config"]["lr"] == 8e-3
    assert main(["train", "--data", str(folder), "--model", "dncnn", "--nu", "0.1", "--epochs", "1",
                 "-o", str(tmp_path / "d.pt"), "--no-progress"]) == 2
    assert "--nu" in capsys.readouterr().err and not (tmp_path / "d.pt").exists()


def test_benchmark_writes_tables_and_figures(tmp_path):
    from liftinv.bench.denoise import run_denoise_benchmark

    train, test = _images(2, 32, seed=1), _images(2, 32, seed=2)
    report = run_denoise_benchmark(sigmas=(15,), budget=1.0, depth=2, features=4, dncnn_depth=2,
                                   dncnn_features=4, patch=16, train_images=train, test_images=test,
                                   test_names=["a", "b"], out=tmp_path, progress=False)
    methods = {r["method"] for r in report["records"]}
    assert {"noisy input", "TV (scikit-image, tuned on train)", "DFB-PNN, lifted Bregman BCD",
            "DFB-PNN, backprop (Adam)", "DnCNN (deepinv), backprop (Adam)"} <= methods
    for r in report["records"]:
        assert len(r["psnr"]) == 2 and all(p == p for p in r["psnr"])
    saved = json.loads((tmp_path / "denoise.json").read_text())
    assert saved["meta"]["step_time"]["ratio"] > 0
    assert saved["meta"]["configs"]["DFB-PNN, lifted Bregman BCD"]["trainer"] == "lifted"
    md = (tmp_path / "denoise.md").read_text()
    assert "| DFB-PNN, lifted Bregman BCD |" in md and "sigma = 15/255" in md and "Command:" in md
    assert (tmp_path / "denoise_psnr_vs_time.png").stat().st_size > 0
    assert (tmp_path / "denoise_panels.png").stat().st_size > 0
