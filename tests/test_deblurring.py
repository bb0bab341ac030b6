"""Deblurring: blur physics, the unrolled network's maps and lifted problem, classical methods, CLI."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from liftinv.deblurring.classical import richardson_lucy, tv_deconvolve, wiener_deconvolve
from liftinv.deblurring.cli import TRAIN_DEFAULTS
from liftinv.deblurring.models import DATA_STEPS, Layer, UnrolledDeblurNet
from liftinv.deblurring.physics import CircularBlur, as_kernel, blurred_test_set, parse_kernel
from liftinv.deblurring.task import balanced_weights, describe
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
        CircularBlur(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="must be non-negative"):
        CircularBlur(np.array([[1.0, -1.0]]))
    with pytest.raises(ValueError, match="channel"):
        CircularBlur("box:3", channels=3).A(torch.rand(1, 1, 8, 8))
    with pytest.raises(ValueError, match="expected"):
        parse_kernel("disk:3")
    np.save(tmp_path / "k.npy", np.ones((3, 3)))
    assert torch.allclose(parse_kernel(str(tmp_path / "k.npy")), torch.full((3, 3), 1 / 9))


@pytest.mark.parametrize("kernel", ["gaussian:1.0", "box:2", "motion:5:30", torch.rand(1, 5), torch.rand(4, 3)])
@pytest.mark.filterwarnings("ignore:the kernel sums to")  # the random kernels are normalised, as the next test checks
def test_blur_agrees_with_deepinv_operators(kernel):
    import deepinv as dinv

    blur = CircularBlur(kernel)  # sides below 3 included: deepinv's direct circular adjoint fails there
    k = blur.kernel[None, None]
    x, y = torch.randn(2, 3, 15, 16), torch.randn(2, 3, 15, 16)
    fft = dinv.physics.BlurFFT(img_size=(3, 15, 16), filter=k)
    assert torch.allclose(blur.A(x), fft.A(x), atol=1e-5)
    assert torch.allclose(blur.A_adjoint(y), fft.A_adjoint(y), atol=1e-5)
    direct = dinv.physics.Blur(filter=k, padding="circular")
    assert torch.allclose(blur.A(x), direct.A(x), atol=1e-5)
    delta = torch.zeros(1, 1, 15, 16)
    delta[0, 0, 0, 0] = 1
    assert torch.allclose(blur.transfer(15, 16), torch.fft.fft2(direct.A(delta))[0, 0], atol=1e-5)
    assert blur.norm_sq(15, 16) == pytest.approx(float(fft.mask.max()) ** 2, rel=1e-5)
    assert torch.allclose(blur.blur_fft((3, 15, 16)).A(x), fft.A(x))


class _ResidualDenoiser(torch.nn.Module):
    """A fixed (untrained) denoiser ``x - 0.1 net(x)``."""

    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                                       torch.nn.Conv2d(4, 1, 3, padding=1))

    def forward(self, x):
        return x - 0.1 * self.net(x)


def _hqs_by_hand(y, kernel, sigma, denoiser, sigma_d, iters, scale):
    """PnP-HQS written out: the exact FFT solve of the data step, then the denoiser."""
    blur = CircularBlur(kernel)
    h = blur.transfer(y.shape[-2], y.shape[-1])
    mu = scale * sigma**2 / sigma_d**2
    num_y, den = torch.fft.fft2(y) * h.conj(), h.abs() ** 2 + mu
    z = y
    with torch.no_grad():
        for _ in range(iters):
            z = denoiser(torch.fft.ifft2((num_y + mu * torch.fft.fft2(z)) / den).real)
    return z.clamp(0, 1)


@pytest.mark.parametrize("iters, scale", [(6, 1.0), (2, 3.0), (0, 1.0)])
def test_pnp_hqs_equals_a_hand_written_hqs_loop(iters, scale):
    from liftinv.deblurring.pnp import pnp_hqs

    torch.manual_seed(0)
    denoiser = _ResidualDenoiser()
    kernel = parse_kernel("motion:5:30")
    y = torch.stack(blurred_test_set(list(_smooth_images(2, 20, seed=4)), kernel, 0.02))
    out = pnp_hqs(y, kernel, 0.02, denoiser, 0.05, iters=iters, scale=scale)
    assert out.shape == y.shape
    assert (out - _hqs_by_hand(y, kernel, 0.02, denoiser, 0.05, iters, scale)).abs().max() < 2e-5
    assert pnp_hqs(y[0], kernel, 0.02, denoiser, 0.05, iters=iters, scale=scale).shape == y[0].shape
    with pytest.raises(ValueError, match="sigma_d"):
        pnp_hqs(y, kernel, 0.02, denoiser, 0.0)


def test_wiener_and_rl_equal_their_closed_forms():
    kernel = parse_kernel("gaussian:1.0")
    blur = CircularBlur(kernel)
    y = torch.stack(blurred_test_set(list(_smooth_images(2, 24, seed=2)), kernel, 0.01))
    h = blur.transfer(24, 24)
    wiener = torch.fft.ifft2(torch.fft.fft2(y) * h.conj() / (h.abs() ** 2 + 0.05)).real.clamp(0, 1)
    assert torch.allclose(wiener_deconvolve(y, kernel, 0.05), wiener, atol=1e-5)
    x = yp = y.clamp_min(1e-3)
    for _ in range(5):
        x = x * blur.A_adjoint(yp / blur.A(x).clamp_min(1e-6)) / blur.A_adjoint(torch.ones_like(yp))
    assert torch.allclose(richardson_lucy(y, kernel, 5), x.clamp(0, 1), atol=1e-5)
    with pytest.raises(ValueError, match="balance"):
        wiener_deconvolve(y, kernel, 0.0)


@pytest.mark.parametrize("periodic", [False, True])
def test_finite_differences_are_adjoint_and_neumann_ones_match_deepinv(periodic):
    import deepinv as dinv

    from liftinv.utils.tv import div2d, grad2d, project_ball, tv_norm

    x, p = torch.randn(2, 3, 7, 9, dtype=torch.float64), torch.randn(2, 3, 2, 7, 9, dtype=torch.float64)
    assert torch.allclose((grad2d(x, periodic) * p).sum(), -(x * div2d(p, periodic)).sum())
    assert torch.allclose(tv_norm(x, periodic), grad2d(x, periodic).norm(dim=2).flatten(1).sum(1))
    assert (project_ball(p, 0.5).norm(dim=2) <= 0.5 + 1e-12).all()
    if not periodic:
        nabla = dinv.models.TVDenoiser.nabla
        assert torch.equal(grad2d(x), nabla(x).movedim(-1, 2))
        assert torch.allclose(div2d(p), -dinv.models.TVDenoiser.nabla_adjoint(p.movedim(2, -1)))
        assert torch.allclose(tv_norm(x), dinv.optim.TVPrior().fn(x))


@pytest.mark.parametrize("data_step", DATA_STEPS)
def test_unrolled_forward_matches_lifted_and_objective_equals_loss(data_step, device):
    """(Adjointness and norms of the unrolled net's maps: the registry in tests/test_linear_maps.py.)"""
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
    problem = LiftedProblem(net)
    clean = torch.rand(3, 1, 16, 16, device=device)
    st, cache = problem.init_aux(y)
    ev = problem.evaluate(st, clean, cache)
    assert ev["violation"] == pytest.approx(0.0, abs=1e-8)
    with torch.no_grad():
        loss = float(problem.loss(y, clean))
    assert ev["lifted"] == pytest.approx(loss, rel=1e-5)


def test_short_lifted_training_reduces_the_loss():
    from liftinv.restoration import TrainConfig, degraded_batches, make_physics, make_solver

    torch.manual_seed(0)
    kernel = parse_kernel("gaussian:1.0")
    net = UnrolledDeblurNet(kernel, (1, 16, 16), iters=2, features=4)
    clean = _smooth_images(32, 16)
    transform = degraded_batches(make_physics(describe(kernel, 0.01)))
    blurred, _ = transform(clean, clean, torch.Generator().manual_seed(1))
    problem = LiftedProblem(net)
    with torch.no_grad():
        before = float(problem.loss(blurred, clean))
    config = TrainConfig.with_defaults(TRAIN_DEFAULTS, epochs=15, lr=5e-3, lam=1.0, lipschitz_every=1)
    fit(make_solver(net, config), blurred, clean, epochs=15, batch_size=16, progress=False, eval_train=False)
    with torch.no_grad():
        after = float(problem.loss(blurred, clean))
    assert after < 0.8 * before
    lam = balanced_weights(net)  # the 'balanced' rule: dual layers weighted by 1/||(tau/nu) D||^2
    assert len(lam) == net.depth - 1 and lam[0] == 1.0 and 0 < lam[1] < 0.1


def test_wiener_tv_and_rl_beat_the_blurred_input():
    clean = list(_smooth_images(2, 48, seed=3))
    kernel = parse_kernel("gaussian:1.5")
    blurred = blurred_test_set(clean, kernel, 0.01)
    for restore in (lambda y: wiener_deconvolve(y, kernel, 2e-3), lambda y: tv_deconvolve(y, kernel, 2e-3, 100),
                    lambda y: richardson_lucy(y, kernel, 20)):
        for y, c in zip(blurred, clean):
            assert float(psnr(restore(y), c)) > float(psnr(y.clamp(0, 1), c)) + 0.5


@pytest.mark.parametrize("options, method", [(["--method", "wiener"], "wiener"), ([], "pnp"),
                                             (["--sigma", "1"], "pnp"), (["--method", "tv"], "tv")],
                         ids=["wiener", "auto", "auto-low-noise", "tv"])
def test_command_line_deblur_writes_the_estimate_of_its_method_and_beats_its_input(options, method, tmp_path, capsys):
    """--method auto is PnP with the shipped denoisers, at any noise level."""
    from liftinv.cli import main
    from liftinv.data import load_image, save_image
    from liftinv.deblurring.cli import TV_WEIGHT, WIENER_BALANCE
    from liftinv.deblurring.pnp import pnp_dpir

    kernel = parse_kernel("gaussian:1.0")  # a mild blur: the old Wiener balance made it worse than the input
    clean = _smooth_images(1, 48, seed=3)[0]
    sigma = 0.01 if "--sigma" not in options else 1 / 255
    save_image(tmp_path / "blur.png", blurred_test_set([clean], kernel, sigma)[0].clamp(0, 1))
    y = load_image(tmp_path / "blur.png")  # what the command reads (8 bits)
    assert main(["deblur", str(tmp_path / "blur.png"), "-o", str(tmp_path / "out.png"), "--kernel", "gaussian:1.0",
                 "--device", "cpu", *options]) == 0
    assert f"({method}" in capsys.readouterr().out
    out = load_image(tmp_path / "out.png")
    want = {"wiener": lambda: wiener_deconvolve(y, kernel, WIENER_BALANCE * sigma),
            "pnp": lambda: pnp_dpir(y, kernel, sigma),
            "tv": lambda: tv_deconvolve(y, kernel, TV_WEIGHT * sigma)}[method]()
    assert float((out - want).abs().max()) <= 1 / 255
    assert float(psnr(out, clean)) > float(psnr(y, clean)) + 1.0


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


def test_deblur_checkpoint_uses_the_kernel_it_was_trained_with(tmp_path, capsys):
    from liftinv.checkpoint import load_checkpoint
    from liftinv.cli import main
    from liftinv.data import save_image

    kernel = parse_kernel("motion:5:30")
    clean = _smooth_images(1, 32, seed=6)[0]
    save_image(tmp_path / "blur.png", blurred_test_set([clean], kernel, 0.01)[0].clamp(0, 1))
    ckpt = tmp_path / "net.pt"
    assert main(["train-deblur", "--kernel", "motion:5:30", "--epochs", "1", "--iters", "1", "--features", "4",
                 "--patch", "16", "--lam", "balanced", "--seed", "2", "-o", str(ckpt), "--no-progress"]) == 0
    state = load_checkpoint(ckpt)
    assert state["config"]["lam"] == "balanced" and state["config"]["batch_size"] == TRAIN_DEFAULTS["batch_size"]
    assert torch.allclose(torch.tensor(state["task"]["kernel"]), kernel)
    assert main(["deblur", str(tmp_path / "blur.png"), "-o", str(tmp_path / "out.png"), "--checkpoint", str(ckpt)]) == 0
    assert f"kernel {tuple(kernel.shape)}" in capsys.readouterr().out


@pytest.mark.parametrize("data_step", DATA_STEPS)
def test_a_kernel_larger_than_the_training_patch_restores_a_large_enough_image(data_step):
    """The weights do not depend on the kernel: a 25x25 kernel on a net trained on 16x16 patches
    restores a 64x64 image (it was refused), with the gradient step's gamma = 1/||A||^2 = 1."""
    torch.manual_seed(0)
    net = UnrolledDeblurNet(parse_kernel("gaussian:1.0"), (1, 16, 16), iters=2, features=4, data_step=data_step)
    big = parse_kernel("motion:25:0")
    net.set_kernel(big)
    if data_step == "gradient":
        assert net.steps[0].gamma == pytest.approx(1.0, rel=1e-6)
    y = blurred_test_set(_smooth_images(1, 64, seed=2), big, 0.01)[0][None]
    with torch.no_grad():
        assert torch.isfinite(net(y)).all()
    with pytest.raises(ValueError, match="larger than the x"):  # an image the kernel does not fit
        net(torch.rand(1, 1, 20, 20))


def test_pnp_hqs_says_when_it_diverges():
    from liftinv.deblurring.pnp import pnp_hqs

    class Amplifier(torch.nn.Module):  # a "denoiser" that pushes every iterate away from [0, 1]
        def __init__(self):
            super().__init__()
            self.gain = torch.nn.Parameter(torch.tensor(20.0))

        def forward(self, x):
            return self.gain * x + 1.0

    with pytest.raises(ValueError, match=r"PnP-HQS diverged: its iterate reached .* try a larger --sigma"):
        pnp_hqs(torch.rand(1, 16, 16), torch.ones(3, 3) / 9, 0.01, Amplifier(), 0.1)


def test_a_loaded_kernel_replaces_the_cached_spectrum():
    net = UnrolledDeblurNet("gaussian:1.0", (1, 16, 16), iters=2, features=3)
    other = UnrolledDeblurNet("motion:9:30", (1, 16, 16), iters=2, features=3)
    x = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    net.load_state_dict(other.state_dict())
    torch.testing.assert_close(net(x), other(x))
    blur = CircularBlur("gaussian:1.0")
    blur.norm_sq(16, 16)  # fills the cache
    blur.load_state_dict(CircularBlur("motion:9:30").state_dict())
    by_fft = torch.fft.ifft2(torch.fft.fft2(x) * blur.transfer(16, 16)).real
    torch.testing.assert_close(blur.A(x), by_fft, atol=1e-5, rtol=0)


def test_a_python_kernel_that_does_not_sum_to_1_is_normalised_with_a_warning():
    """Data blurred by an unnormalised kernel (deepinv's Blur takes it as given) are brighter by its
    sum, which liftinv's normalised kernel does not model: the user is told, with the remedy."""
    kernel = torch.ones(4, 6)
    with pytest.warns(UserWarning, match=r"the kernel sums to 24; .* divide them by that sum"):
        k = as_kernel(kernel)
    assert torch.allclose(k, kernel / 24)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        as_kernel(kernel / 24)  # normalised: no warning
        as_kernel("box:3")  # specs and files are normalised by definition


def test_set_kernel_keeps_the_network_s_dtype():
    """A float64 network got its new blur in float32 (its output moved by 3e-8, its state_dict held a
    float32 kernel)."""
    from liftinv.deblurring.models import UnrolledDeblurNet

    net = UnrolledDeblurNet("gaussian:1.0", (1, 16, 16), iters=2, features=4).double()
    net.set_kernel("box:3")
    assert net.blur.kernel.dtype == net.blur.physics.filter.dtype == torch.float64
