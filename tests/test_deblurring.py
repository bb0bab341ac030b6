"""Deblurring: blur physics, the unrolled network's maps and lifted problem, classical methods, CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from liftinv.deblurring.classical import richardson_lucy, tv_deconvolve, wiener_deconvolve
from liftinv.deblurring.models import DATA_STEPS, Layer, UnrolledDeblurNet
from liftinv.deblurring.physics import CircularBlur, blurred_test_set, parse_kernel
from liftinv.deblurring.training import blurred_batches, layer_weights
from liftinv.lifting import LiftedProblem
from liftinv.metrics import psnr
from liftinv.solvers import fit


def _smooth_images(n, size, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, size // 4, size // 4, generator=g)
    return torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


@pytest.mark.parametrize("spec", ["gaussian:1.0", "box:3", "motion:5:30"])
def test_kernels_are_normalised_and_blur_is_adjoint_and_fourier_exact(spec, device):
    k = parse_kernel(spec)
    assert abs(float(k.sum()) - 1) < 1e-5 and (k >= 0).all()
    blur = CircularBlur(k).to(device)
    x, y = torch.randn(2, 1, 20, 18, device=device), torch.randn(2, 1, 20, 18, device=device)
    lhs, rhs = (blur.A(x) * y).sum(), (x * blur.A_adjoint(y)).sum()
    assert torch.allclose(lhs, rhs, rtol=1e-4, atol=1e-4)
    h = blur.transfer(20, 18, device)
    assert torch.allclose(torch.fft.ifft2(torch.fft.fft2(x) * h).real, blur.A(x), atol=1e-5)
    assert abs(blur.norm_sq(20, 18) - 1) < 1e-4  # a non-negative kernel summing to 1


def test_kernel_errors(tmp_path):
    with pytest.raises(ValueError, match="larger than"):
        CircularBlur(parse_kernel("box:9")).A(torch.rand(1, 1, 8, 8))
    with pytest.raises(ValueError, match="positive number"):
        CircularBlur(np.array([[1.0, -1.0]]))
    with pytest.raises(ValueError, match="channel"):
        CircularBlur("box:3", channels=3).A(torch.rand(1, 1, 8, 8))
    with pytest.raises(ValueError, match="expected"):
        parse_kernel("disk:3")
    np.save(tmp_path / "k.npy", np.ones((3, 3)))
    assert torch.allclose(parse_kernel(str(tmp_path / "k.npy")), torch.full((3, 3), 1 / 9))


@pytest.mark.parametrize("data_step", DATA_STEPS)
def test_unrolled_maps_adjoint_forward_matches_lifted_and_objective_equals_loss(data_step, device):
    torch.manual_seed(0)
    net = UnrolledDeblurNet("gaussian:1.0", (1, 16, 16), iters=3, features=4, data_step=data_step).to(device)
    net.refresh(30)
    y = torch.rand(3, 1, 16, 16, device=device)
    states, pre = net.forward_states(y)
    assert torch.allclose(net(y), pre[-1], atol=1e-6)  # identity output activation
    for l in range(1, net.depth + 1):
        layer = net.layer(l)
        fused = net.preactivation(l, states)
        plain = Layer.forward(layer, states[l - 1], *(states[s] for s in layer.skip_from))
        assert torch.allclose(fused, plain, atol=1e-4), l
        for m, amap in net.sources(l):
            shape = net.state_shapes[m]
            a = torch.randn((2,) + shape, device=device)
            r = torch.randn((2,) + net.state_shapes[l], device=device)
            lhs, rhs = (amap.A(a) * r).sum(), (a * amap.A_adjoint(r, shape)).sum()
            assert torch.allclose(lhs, rhs, rtol=1e-3, atol=1e-3), (l, m, type(amap).__name__)
            if m >= 1:  # fixed norms are exact bounds, not estimates
                assert amap.op_norm_sq(shape)[0] >= 0.9 * amap.exact_norm_sq(shape)
    problem = LiftedProblem(net)
    clean = torch.rand(3, 1, 16, 16, device=device)
    st, cache = problem.init_aux(y)
    ev = problem.evaluate(st, clean, cache)
    assert ev["violation"] == pytest.approx(0.0, abs=1e-8)
    with torch.no_grad():
        loss = float(problem.loss(y, clean))
    assert ev["lifted"] == pytest.approx(loss, rel=1e-5)


def test_short_lifted_training_reduces_the_loss():
    from liftinv.denoising.training import make_solver

    torch.manual_seed(0)
    kernel = parse_kernel("gaussian:1.0")
    net = UnrolledDeblurNet(kernel, (1, 16, 16), iters=2, features=4)
    clean = _smooth_images(32, 16)
    transform = blurred_batches(kernel, 0.01, torch.device("cpu"))
    blurred, _ = transform(clean, clean, torch.Generator().manual_seed(1))
    problem = LiftedProblem(net)
    with torch.no_grad():
        before = float(problem.loss(blurred, clean))
    fit(make_solver("lifted", net, lr=5e-3), blurred, clean, epochs=15, batch_size=16, progress=False,
        eval_train=False)
    with torch.no_grad():
        after = float(problem.loss(blurred, clean))
    assert after < 0.8 * before
    lam = layer_weights(net)  # the 'balanced' rule: dual layers weighted by 1/||(tau/nu) D||^2
    assert len(lam) == net.depth - 1 and lam[0] == 1.0 and 0 < lam[1] < 0.1


def test_wiener_tv_and_rl_beat_the_blurred_input():
    clean = list(_smooth_images(2, 48, seed=3))
    kernel = parse_kernel("gaussian:1.5")
    blurred = blurred_test_set(clean, kernel, 0.01)
    for restore in (lambda y: wiener_deconvolve(y, kernel, 2e-3), lambda y: tv_deconvolve(y, kernel, 2e-3, 100),
                    lambda y: richardson_lucy(y, kernel, 20)):
        for y, c in zip(blurred, clean):
            assert float(psnr(restore(y), c)) > float(psnr(y.clamp(0, 1), c)) + 0.5


def test_command_line_deblur_end_to_end(tmp_path, capsys):
    from liftinv.cli import main
    from liftinv.data import save_image

    clean = _smooth_images(1, 32, seed=5)[0]
    blurred = blurred_test_set([clean], parse_kernel("gaussian:1.0"), 0.01)[0].clamp(0, 1)
    save_image(tmp_path / "clean.png", clean)
    save_image(tmp_path / "blur.png", blurred)
    assert main(["deblur", str(tmp_path / "blur.png"), "-o", str(tmp_path / "out.png"), "--kernel", "gaussian:1.0",
                 "--clean", str(tmp_path / "clean.png")]) == 0
    assert "PSNR input" in capsys.readouterr().out and (tmp_path / "out.png").is_file()
    ckpt = tmp_path / "net.pt"
    assert main(["train-deblur", "--kernel", "gaussian:1.0", "--budget", "2", "--iters", "1", "--features", "4",
                 "--patch", "16", "-o", str(ckpt), "--no-progress", "--device", "cpu"]) == 0
    assert main(["deblur", str(tmp_path / "blur.png"), "-o", str(tmp_path / "out2.png"), "--kernel", "box:3",
                 "--checkpoint", str(ckpt), "--clean", str(tmp_path / "clean.png")]) == 0
    assert "unrolled net" in capsys.readouterr().out
    assert main(["deblur", str(tmp_path / "blur.png"), "-o", str(tmp_path / "x.png"), "--kernel", "box:40"]) == 1
    assert "larger than" in capsys.readouterr().err


def test_cli_default_penalty_weight_matches_the_library():
    from liftinv.deblurring import cli as dcli
    from liftinv.deblurring import training

    assert dcli.DEFAULT_LAM == training.DEFAULT_LAM
