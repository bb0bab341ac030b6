"""Bad input to the Python API, as a researcher would give it: a 0-255 or uint8 image to the
classical deconvolutions, PnP and the metrics, a noise level on the wrong scale in a hand-written
task or a blur physics, sizes and options of the wrong type, a training set that does not fit the
network.  Each is named in one message (the argument, why, what to do) before any work; before,
these gave a white image or a NaN one without a word, or a traceback from inside torch."""

from __future__ import annotations

import math
import re

import pytest
import torch

from liftinv.deblurring.physics import parse_kernel


@pytest.fixture(scope="module")
def blurred():
    torch.manual_seed(0)
    return torch.rand(1, 1, 24, 24) * 0.8 + 0.1, parse_kernel("gaussian:1.0")


def _deconvolutions():
    from liftinv.deblurring.classical import richardson_lucy, tv_deconvolve, wiener_deconvolve
    from liftinv.deblurring.pnp import pnp_dpir, pnp_hqs

    denoiser = torch.nn.Conv2d(1, 1, 3, padding=1)
    return {
        "wiener_deconvolve": lambda y, k: wiener_deconvolve(y, k, 0.01),
        "tv_deconvolve": lambda y, k: tv_deconvolve(y, k, 0.01, iters=3),
        "richardson_lucy": lambda y, k: richardson_lucy(y, k, 3),
        "pnp_hqs": lambda y, k: pnp_hqs(y, k, 0.01, denoiser, 0.05, iters=2),
        "pnp_dpir": lambda y, k: pnp_dpir(y, k, 0.01, denoiser=lambda x, sigma: x),
    }


@pytest.mark.parametrize("method", sorted(_deconvolutions()))
@pytest.mark.parametrize("bad, error, words", [
    (lambda y: (y * 255).to(torch.uint8), TypeError, "y: expected a floating tensor with values in [0, 1], got dtype "
                                                     "torch.uint8 (convert uint8 images with x.float() / 255)"),
    (lambda y: y * 255, ValueError, "y has values up to"),
    (lambda y: torch.full_like(y, math.nan), ValueError, "y: contains NaN or Inf"),
    (lambda y: y[0, 0], ValueError, "y: expected shape (B, C, H, W) or (C, H, W), got (24, 24) (add a channel dim to "
                                    "a grayscale (H, W) image with y[None])"),
], ids=["uint8", "0-255", "nan", "HW"])
def test_deconvolution_refuses_what_is_not_an_image_on_the_unit_scale(method, bad, error, words, blurred):
    """Before: a 0-255 or uint8 image came back all white (clipped) from Wiener, TV and RL, PnP-HQS
    said it diverged and advised a larger --sigma, NaN came back as NaN, (H, W) gave 'not enough
    values to unpack'."""
    y, kernel = blurred
    with pytest.raises(error, match=re.escape(f"{method}: {words}")):
        _deconvolutions()[method](bad(y), kernel)
    assert _deconvolutions()[method](y, kernel).shape == y.shape


@pytest.mark.parametrize("call, words", [
    (lambda y, k, m: m.tv_deconvolve(y, k, -0.1), "tv_deconvolve: weight: expected a finite number >= 0, got -0.1"),
    (lambda y, k, m: m.tv_deconvolve(y, k, math.nan), "tv_deconvolve: weight: expected a finite number >= 0, got nan"),
    (lambda y, k, m: m.tv_deconvolve(y, k, 0.1, iters=-5), "tv_deconvolve: iters: expected an integer >= 0, got -5"),
    (lambda y, k, m: m.richardson_lucy(y, k, 2.5), "richardson_lucy: iters: expected an integer >= 0, got 2.5"),
    (lambda y, k, m: m.pnp_hqs(y, k, 0.01, torch.nn.Identity(), 0.05, scale=0),
     "pnp_hqs: scale: expected a finite number > 0, got 0"),
])
def test_deconvolution_settings_are_named(call, words, blurred):
    """Before: a negative or NaN TV weight gave a wrong or NaN image, negative iterations returned y,
    2.5 iterations were 2, scale=0 was a ZeroDivisionError."""
    import liftinv.deblurring.classical as classical
    import liftinv.deblurring.pnp as pnp

    methods = type("M", (), {"tv_deconvolve": staticmethod(classical.tv_deconvolve),
                             "richardson_lucy": staticmethod(classical.richardson_lucy),
                             "pnp_hqs": staticmethod(pnp.pnp_hqs)})
    with pytest.raises(ValueError, match=re.escape(words)):
        call(*blurred, methods)


@pytest.mark.parametrize("images, error, words", [
    ([torch.rand(1, 16, 16) * 255], ValueError, "blurred_test_set: images[0]: values in"),
    ([(torch.rand(1, 16, 16) * 255).to(torch.uint8)], TypeError, "blurred_test_set: images[0]: expected a floating"),
    ([torch.rand(16, 16)], ValueError, "blurred_test_set: images[0]: expected shape"),
    ([torch.rand(2, 1, 16, 16)], ValueError, "images[0] has shape (2, 1, 16, 16); expected one (C, H, W) image"),
])
def test_blurred_test_set_refuses_images_off_the_unit_scale(images, error, words):
    """Before: 0-255 and uint8 images were blurred as given (values 82-162 with noise of 0.01)."""
    from liftinv.deblurring.physics import blurred_test_set

    with pytest.raises(error, match=re.escape(words)):
        blurred_test_set(images, parse_kernel("box:3"), 0.01)


@pytest.mark.parametrize("task", [{"task": "denoising"}, {"task": "deblurring", "kernel": [[1.0]]}])
def test_a_hand_written_task_without_its_noise_level_is_named(task):
    """Before: KeyError: 'sigma'."""
    from liftinv.restoration import make_physics

    with pytest.raises((TypeError, ValueError), match=re.escape("task['sigma']")):
        make_physics(task)
    with pytest.raises(ValueError, match="needs its 'kernel'"):
        make_physics({"task": "deblurring", "sigma": 0.01})


@pytest.mark.parametrize("metric", ["psnr", "ssim"])
def test_metrics_refuse_an_estimate_on_the_0_255_scale(metric):
    """Before: psnr(x * 255, x) scored 4.8 dB (the estimate clamped to white) without a word."""
    import liftinv.metrics as metrics

    x = torch.rand(1, 1, 16, 16)
    with pytest.raises(ValueError, match=r"x has values up to .* divide it by 255 .*clip=False"):
        getattr(metrics, metric)(x * 255, x)
    assert math.isinf(float(metrics.psnr(x, x)))
    assert float(metrics.psnr(x * 255, x, clip=False)) < -30  # scored as it is when asked


def test_a_diverged_inversion_estimate_is_still_scored():
    """The inversion's PSNR history clamps its estimate: a diverged one scores low, it does not stop the run."""
    from liftinv.inversion.result import psnr_values

    x = torch.rand(2, 1, 8, 8)
    assert (psnr_values(x * 1e3, x) < 10).all()


@pytest.mark.parametrize("denoise", ["tv_denoise", "bm3d_denoise"])
def test_classical_denoisers_refuse_a_0_255_image(denoise):
    """Before: tv_denoise of a 0-255 image returned a clipped, almost white image without a word."""
    import liftinv.denoising.classical as classical

    if denoise == "bm3d_denoise" and not classical.bm3d_available():
        pytest.skip("the optional bm3d package is not installed")
    with pytest.raises(ValueError, match="z has values up to .*divide a 0-255 image by 255"):
        getattr(classical, denoise)(torch.rand(1, 1, 16, 16) * 255, 0.1)


@pytest.mark.parametrize("build, words", [
    (lambda m: m.DFBPNN((8, 8)), "DFBPNN in_shape: expected (C, H, W)"),  # was a conv error about 8 channels
    (lambda m: m.DFBPNN((1, 8, 8), features=0), "DFBPNN features: expected an integer >= 1, got 0"),
    (lambda m: m.DFBPNN((1, 8, 8), depth=2.5), "DFBPNN depth: expected an integer >= 1, got 2.5"),
    (lambda m: m.DFBPNN((1, 8, 8), nu=0), "DFBPNN nu: expected a finite number > 0, got 0"),  # 'math domain error'
    (lambda m: m.SccpPNN((1, 8, 8), features=-1), "SccpPNN features: expected an integer >= 1, got -1"),
    (lambda m: m.SccpPNN((1, 8, 8), nu=-0.1), "SccpPNN nu"),
    (lambda m: m.MLP(784), "MLP sizes: expected the layer widths (n_in, h_1, ..., n_out)"),  # 'int' not iterable
    (lambda m: m.CNN((1, 16, 16), channels=8), "CNN channels: expected a sequence of integers, e.g. (8, 16), got 8"),
])
def test_network_constructors_name_a_bad_setting(build, words):
    import liftinv.models as models

    with pytest.raises(ValueError, match=re.escape(words)):
        build(models)


def test_fit_checks_its_metrics_and_callbacks_before_training():
    """Before: metrics=fn trained a whole epoch, then "'function' object is not iterable"."""
    from liftinv import MLP, LiftedProblem
    from liftinv.solvers import BCD, fit

    solver = BCD(LiftedProblem(MLP([4, 8, 2])))
    x, y = torch.randn(16, 4), torch.randn(16, 2)
    with pytest.raises(TypeError, match=re.escape("metrics: expected a dict of name -> fn(output, y), got function")):
        fit(solver, x, y, epochs=1, metrics=lambda out, t: 0.0, progress=False)
    with pytest.raises(TypeError, match="callback: expected a function, got int"):
        fit(solver, x, y, epochs=1, callback=1, progress=False)
    assert solver._steps == 0


@pytest.mark.parametrize("build, error, words", [
    (lambda s, net: s.BCD(s.LiftedProblem(net), weights={"name": "adam", "lr": "1e-3"}), ValueError,
     "Adam lr: expected a number, got '1e-3' (str; convert it with float())"),  # as YAML reads 1e-3
    (lambda s, net: s.ProxGrad(step_scale="0.5"), ValueError, "ProxGrad step_scale: expected a number"),
    (lambda s, net: s.ISGM(s.LiftedProblem(net), tau="1"), ValueError, "ISGM tau: expected a number, got '1'"),
    (lambda s, net: s.Backprop(net, lr="1e-3"), ValueError, "Backprop lr: expected a number"),
    (lambda s, net: s.Backprop("mlp"), TypeError, "Backprop trains a network (a torch.nn.Module or a LiftedProblem)"),
    (lambda s, net: s.Backprop(torch.nn.ReLU()), ValueError, "Backprop: the network (ReLU) has no trainable"),
])
def test_solver_settings_of_the_wrong_type_are_named(build, error, words):
    """Before: 'must be real number, not str', "'<' not supported between instances of 'int' and
    'str'", "'str' object has no attribute 'parameters'", 'optimizer got an empty parameter list'."""
    import liftinv.lifting as lifting
    import liftinv.solvers as solvers
    from liftinv import MLP

    namespace = type("S", (), {**{k: getattr(solvers, k) for k in solvers.__all__},
                               "LiftedProblem": lifting.LiftedProblem})
    with pytest.raises(error, match=re.escape(words)):
        build(namespace, MLP([4, 8, 2]))


@pytest.mark.parametrize("images, patch, words", [
    ([torch.rand(3, 24, 24)], 8, "the training patches are (3, 8, 8) (C, H, W: the images' 3 channel(s), config.patch "
                                 "8) but the network (dfb) was built for (1, 8, 8)"),
    ([torch.rand(1, 24, 24)], 16, "default_arch(name, channels=1, patch=16)"),
])
def test_training_images_that_do_not_fit_the_network_are_named_before_any_step(images, patch, words):
    """Before: 'input x0 has shape (4, 3, 8, 8); expected (batch, 1, 8, 8)' from the first step."""
    from liftinv.denoising.models import default_arch
    from liftinv.denoising.task import describe
    from liftinv.restoration import TrainConfig, train_network

    config = TrainConfig(epochs=1, batch_size=4, patch=patch, device="cpu")
    with pytest.raises(ValueError, match=re.escape(words)):
        train_network(default_arch("dfb", 1, 8, 2, 4), describe(0.1), images, config, progress=False)
